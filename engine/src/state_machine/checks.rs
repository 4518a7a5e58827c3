//! Commands that name an account of another partition check it there first: the account's
//! partition answers (usable, currency, closed, owner, merchants) and changes nothing, and the
//! command then applies from the start with the answer, as on one partition
//! (`transit/holds.rs` sends and answers the checks).

use super::StateMachine;
use crate::authority::Operation;
use crate::command::{Command, Outcome, Principal, Rejection, Reply, Submission};
use crate::partition::{CheckedAccount, Checking};
use crate::types::{Currency, Id};

impl StateMachine {
    /// A command naming an account of another partition (an `Authorize`, `OpenBill`,
    /// `RequestSplit`, `TransferBatch`, `RegisterMerchant`, or a `SettlePos` placing a hold)
    /// applies only once that partition answered a check (`transit/holds.rs`): then everything,
    /// authority included, is decided from the start as on one partition. Accounts are checked
    /// one after another, the answers carried along. `None`: apply `submission` now.
    pub(super) fn check_account_first(&mut self, submission: &Submission) -> Option<Outcome> {
        if let Some(outcome) = self.wait_for_registration(submission) {
            return Some(outcome);
        }
        let (operation, subject, unchecked) = self.account_to_check(submission)?;
        let account = unchecked?;
        if !self.checked.is_empty() {
            // Applying again with earlier answers: the next account's check.
            let known = self.checked.clone();
            return Some(self.check_account(submission, subject, &account, known));
        }
        let role = submission.principal.role();
        if crate::authority::rule(operation, role) == crate::authority::Relation::No {
            // No answer of the account's partition could let this role do it: no check.
            return Some(Outcome::Rejected(Rejection::Forbidden));
        }
        if let Some(outcome) = self.copy_of_checking(submission, &subject) {
            return Some(outcome);
        }
        Some(self.check_account(submission, subject, &account, Vec::new()))
    }

    /// What `submission` has to have checked elsewhere: its rule's operation, the check's
    /// subject, and the account to check next (none: nothing is left to check, or the command
    /// is refused whatever the answers). `None`: a command that checks nothing.
    fn account_to_check(&self, submission: &Submission) -> Option<(Operation, Checking, Option<Id>)> {
        let to_check = match &submission.command {
            Command::Authorize(authorize) => {
                let unchecked = self.unchecked([&authorize.account]);
                (Operation::Authorize, Checking::Authorization(authorize.id.clone()), unchecked)
            }
            Command::OpenBill(open) => {
                // Its account, then its merchant's account (checked here when it lives here).
                let merchant_account = self.state.merchants.get(&open.merchant).map(|merchant| &merchant.account);
                let accounts = std::iter::once(&open.account).chain(merchant_account);
                (Operation::OpenBill, Checking::Bill(open.bill.clone()), self.unchecked(accounts))
            }
            Command::RegisterMerchant(register) => {
                // A merchant registers only itself: another is refused without a check.
                let itself = match &submission.principal {
                    Principal::Merchant(merchant) => *merchant == register.merchant,
                    _ => true,
                };
                let unchecked = if itself { self.unchecked([&register.account]) } else { None };
                (Operation::RegisterMerchant, Checking::Merchant(register.merchant.clone()), unchecked)
            }
            Command::SettlePos(settle) => {
                let subject = Checking::SaleMerchant(settle.id.clone());
                (Operation::SettlePos, subject, self.unchecked_sale_merchant(submission, settle))
            }
            Command::RequestSplit(request) => {
                let unchecked = self.unchecked_split_account(submission, request);
                (Operation::RequestSplit, Checking::Split(request.split.clone()), unchecked)
            }
            Command::TransferBatch(batch) => {
                (Operation::TransferBatch, Checking::BatchPayer, self.unchecked_payer(&submission.principal, batch))
            }
            _ => return None,
        };
        Some(to_check)
    }

    /// A copy of a command waiting for its check, answered as that one will be (pending on its
    /// number), or refused as a retry of an object that exists. `None`: no such command waits.
    fn copy_of_checking(&mut self, submission: &Submission, subject: &Checking) -> Option<Outcome> {
        let (number, first) = self.state.transit.creating(subject)?;
        if let Checking::SaleMerchant(_) = subject {
            // A copy of the sale waits for the same answer (whoever of its terminal and merchant
            // sends it); another body takes the id as a recorded sale does.
            if first.command != submission.command {
                return Some(Outcome::Rejected(Rejection::IdReused));
            }
        } else {
            // Another principal's id is taken, another body is refused as the command refuses it.
            if first.principal != submission.principal {
                return Some(Outcome::Rejected(Rejection::AlreadyExists));
            }
            if let Some(rejection) = retry_differs(&first.command, &submission.command) {
                return Some(Outcome::Rejected(rejection));
            }
        }
        self.pending = Some(number);
        Some(Outcome::Applied(Reply::Done))
    }

    /// The next account of split request `request` to check (the requester's, then each
    /// member's); none once an answer already refuses it, or once the requester's account is
    /// known and the rule refuses the principal (the rule reads only it and the requester).
    fn unchecked_split_account(&self, submission: &Submission, request: &crate::command::RequestSplit) -> Option<Id> {
        let accounts = std::iter::once(&request.requester_account);
        let unchecked = self.unchecked(accounts.chain(request.members.iter().map(|member| &member.account)));
        let refuses = |(_, answer): &(Id, Result<CheckedAccount, Rejection>)| {
            answer.as_ref().is_ok_and(|found| found.closed || found.currency != request.currency) || answer.is_err()
        };
        let requester_known =
            self.lives_here(&request.requester_account) || self.checked_answer(&request.requester_account).is_some();
        let forbidden = requester_known && self.check_authority(&submission.principal, &submission.command).is_err();
        if forbidden || self.checked.iter().any(refuses) { None } else { unchecked }
    }

    /// The first payer of independent batch `batch` that lives on another partition and was not
    /// checked yet, for the batch's rule (the principal owns every payer); none for a principal
    /// the rule lets through anyway (the admin), or once a payer known here or checked shows
    /// the principal does not own it (the batch is refused whatever the others' answers).
    fn unchecked_payer(&self, principal: &Principal, batch: &crate::command::TransferBatch) -> Option<Id> {
        let role = principal.role();
        if crate::authority::rule(Operation::TransferBatch, role) != crate::authority::Relation::OwnsAccount {
            return None;
        }
        let payers = || batch.transfers.iter().map(|transfer| &transfer.from);
        let known = |payer: &Id| self.lives_here(payer) || self.checked_answer(payer).is_some();
        if payers().any(|payer| known(payer) && !crate::authority::owns_account(self, principal, payer)) {
            return None;
        }
        self.unchecked(payers())
    }

    /// The merchant's account of a sale placing a hold, if it lives on another partition and
    /// was not checked yet: the hold is decided as on one partition, the merchant's account
    /// (missing, closed, currency) in its turn. None for a sale without a hold (its money
    /// checks the merchant's account where it lives), for one the rule refuses (it reads only
    /// the terminal), and for an id already answered or in flight (answered without it).
    fn unchecked_sale_merchant(&self, submission: &Submission, settle: &crate::command::SettlePos) -> Option<Id> {
        settle.hold_until_ms?;
        let merchant = &self.state.terminals.get(&settle.terminal)?.merchant;
        let account = &self.state.merchants.get(merchant)?.account;
        if self.lives_here(account) || self.checked_answer(account).is_some() {
            return None;
        }
        // A hold of its id (here, or elsewhere as the directory said) refuses it at once.
        let held = self.state.holds.contains_key(&settle.id) || self.holds_elsewhere.contains(&settle.id);
        let known = held
            || self.state.settlements.get(&settle.id).is_some()
            || !matches!(self.pos_in_flight(&settle.id), super::transit::InFlight::Nothing);
        if known || self.check_authority(&submission.principal, &submission.command).is_err() {
            return None;
        }
        Some(account.clone())
    }

    /// The first of `accounts` that lives on another partition and was not checked yet.
    fn unchecked<'a>(&self, accounts: impl IntoIterator<Item = &'a Id>) -> Option<Id> {
        let mut accounts = accounts.into_iter();
        accounts.find(|account| !self.lives_here(account) && self.checked_answer(account).is_none()).cloned()
    }

    /// What account `id`'s partition answered, while a command applies again with its checks.
    pub(super) fn checked_answer(&self, id: &Id) -> Option<&Result<CheckedAccount, Rejection>> {
        self.checked.iter().find(|(account, _)| account == id).map(|(_, answer)| answer)
    }

    /// Whether account `id` is closed, and its currency, for a command that may name an account
    /// of another partition: that partition's answer while the command applies again with it
    /// (`check_account_first`), else the account here.
    pub(super) fn account_standing(&self, id: &Id) -> Result<(bool, Currency), Rejection> {
        match self.checked_answer(id) {
            Some(answer) => answer.as_ref().map(|found| (found.closed, found.currency)).map_err(|rejection| *rejection),
            None => {
                let account = self.state.accounts.get(id).ok_or(Rejection::AccountNotFound)?;
                Ok((account.closed, account.currency))
            }
        }
    }
}

/// How a command waiting for its account's check and a retry of its id differ, if they do: an
/// authorization's retry is the same id, user, account and limit (`id_reused` otherwise), a
/// bill's or a split's the same request (`already_exists` otherwise).
fn retry_differs(first: &Command, retry: &Command) -> Option<Rejection> {
    match (first, retry) {
        (Command::Authorize(first), Command::Authorize(retry)) => {
            let same = (&first.user, &first.account, first.limit) == (&retry.user, &retry.account, retry.limit);
            (!same).then_some(Rejection::IdReused)
        }
        (Command::OpenBill(first), Command::OpenBill(retry)) => (first != retry).then_some(Rejection::AlreadyExists),
        (Command::RequestSplit(first), Command::RequestSplit(retry)) => {
            (first != retry).then_some(Rejection::AlreadyExists)
        }
        _ => unreachable!("only the command that sent the check waits for it"),
    }
}
