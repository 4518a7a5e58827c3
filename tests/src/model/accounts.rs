//! Accounts, deposits, withdrawals, transfers and transfer batches.
//!
//! Deposit, withdrawal and transfer ids are remembered for repeats for one to two
//! `IDEMPOTENCY_WINDOW_MS` (see [`super::Remembered`]); after that the same id is a new command.
//!
//! Rules: opening again with the same body answers as the first time, another body is
//! `already_exists`; an overdraft limit is an amount (at most 10^15). Closing needs a zero balance
//! and no holds; closing twice is fine. Deposits and withdrawals share one id space and are
//! remembered with their body; transfers are remembered only when applied (a refused transfer may
//! be retried). Checks in order: repeat, amount, same account, payer (missing, closed, currency),
//! payee (missing, closed, currency), funds (available + overdraft), payee ceiling (10^17).
//! Linked batches apply all or nothing; the failing transfer reports its reason, every other one
//! `linked_transfer_failed`.

use kassa_engine::Id;
use kassa_engine::command::{Movement, OpenAccount, Outcome, Rejection, Reply, Transfer, TransferBatch};
use kassa_engine::constants::{AMOUNT_MINOR_MAX, TRANSFER_BATCH_MAX};

use super::{Account, Model, SplitStatus, done, signed, valid_amount};

/// A transfer's body as the model remembers it: payer, payee, amount, currency.
type TransferBody = (Id, Id, u64, kassa_engine::Currency);

impl Model {
    pub(super) fn open_account(&mut self, open: &OpenAccount) -> Result<(), Rejection> {
        if let Some(existing) = self.accounts.get(&open.account) {
            let same = existing.currency == open.currency && existing.overdraft_limit == open.overdraft_limit;
            return if same { Ok(()) } else { Err(Rejection::AlreadyExists) };
        }
        if open.overdraft_limit > AMOUNT_MINOR_MAX {
            return Err(Rejection::InvalidAmount);
        }
        let account = Account {
            currency: open.currency,
            closed: false,
            posted: 0,
            held: 0,
            overdraft_limit: open.overdraft_limit,
        };
        self.accounts.insert(open.account.clone(), account);
        Ok(())
    }

    pub(super) fn close_account(&mut self, id: &Id) -> Result<(), Rejection> {
        if self.accounts.get(id).ok_or(Rejection::AccountNotFound)?.closed {
            return Ok(());
        }
        // A paid share of an open split would come back to it on a cancel or an expiry.
        let owed_back = self.splits.values().any(|split| {
            split.status == SplitStatus::Open
                && split.members.iter().zip(&split.paid).any(|(member, paid)| *paid && &member.account == id)
        });
        let account = self.accounts.get_mut(id).expect("found above");
        if account.posted != 0 || account.held != 0 || owed_back {
            return Err(Rejection::AccountNotEmpty);
        }
        account.closed = true;
        Ok(())
    }

    pub(super) fn movement(&mut self, movement: &Movement, deposit: bool) -> Result<(), Rejection> {
        let body = (deposit, movement.account.clone(), movement.amount);
        let key = (self.applying(), movement.id.clone());
        if let Some(existing) = self.movements.get(&key) {
            return if *existing == body { Ok(()) } else { Err(Rejection::IdReused) };
        }
        valid_amount(movement.amount)?;
        let account = self.accounts.get(&movement.account).ok_or(Rejection::AccountNotFound)?;
        if account.closed {
            return Err(Rejection::AccountClosed);
        }
        if deposit {
            account.can_credit(movement.amount)?;
        } else {
            account.can_debit(movement.amount)?;
        }
        let currency = account.currency;
        let totals = self.totals.entry(currency).or_default();
        let account = self.accounts.get_mut(&movement.account).expect("checked");
        if deposit {
            totals.deposited += u128::from(movement.amount);
            account.posted += signed(movement.amount);
        } else {
            totals.withdrawn += u128::from(movement.amount);
            account.posted -= signed(movement.amount);
        }
        self.movements.insert(key, body);
        Ok(())
    }

    /// A transfer, alone (`between_partitions`: its payee may live on another partition) or as
    /// a leg of a batch (which stays on its partition).
    pub(super) fn transfer(&mut self, transfer: &Transfer, between_partitions: bool) -> Result<(), Rejection> {
        let Some((key, body)) = self.new_transfer(transfer)? else { return Ok(()) };
        if !self.local(&transfer.from) {
            return Err(Rejection::CrossPartition);
        }
        if self.local(&transfer.to) {
            let from = self.usable(&transfer.from, transfer.currency, Rejection::AccountNotFound)?;
            let to = self.usable(&transfer.to, transfer.currency, Rejection::CounterpartyNotFound)?;
            from.can_debit(transfer.amount)?;
            to.can_credit(transfer.amount)?;
        } else {
            if !between_partitions {
                return Err(Rejection::CrossPartition);
            }
            // The payer's partition debits first; the payee's answers for the payee.
            let from = self.usable(&transfer.from, transfer.currency, Rejection::AccountNotFound)?;
            from.can_debit(transfer.amount)?;
            let to = self.usable(&transfer.to, transfer.currency, Rejection::CounterpartyNotFound)?;
            to.can_credit(transfer.amount)?;
        }
        self.move_money(&transfer.from, &transfer.to, transfer.amount);
        self.transfers.insert(key, body);
        Ok(())
    }

    pub(super) fn transfer_batch(&mut self, batch: &TransferBatch) -> Outcome {
        if batch.transfers.is_empty() || batch.transfers.len() > TRANSFER_BATCH_MAX {
            return Outcome::Rejected(Rejection::InvalidBatch);
        }
        if !batch.atomic {
            return self.independent_legs(batch);
        }
        // All or nothing: remember what the batch may change and put it back on failure.
        let mut saved_accounts: Vec<(Id, Account)> = Vec::new();
        let mut new_transfers: Vec<super::PartitionedId> = Vec::new();
        let mut failure = None;
        let mut paid_after: Vec<(Id, Id, u64)> = Vec::new();
        for (index, transfer) in batch.transfers.iter().enumerate() {
            for id in [&transfer.from, &transfer.to] {
                if let Some(account) = self.accounts.get(id)
                    && !saved_accounts.iter().any(|(saved, _)| saved == id)
                {
                    saved_accounts.push((id.clone(), account.clone()));
                }
            }
            let key = (self.applying(), transfer.id.clone());
            let known = self.transfers.get(&key).is_some();
            // A payee elsewhere is checked there after its payer, as for a transfer; a payer
            // elsewhere there, as it was before the batch, and paid from there after it.
            let result = if self.local(&transfer.from) {
                self.transfer(transfer, true)
            } else {
                self.leg_paid_after(transfer, &saved_accounts, &mut paid_after)
            };
            match result {
                Ok(()) if !known => new_transfers.push(key),
                Ok(()) => {}
                Err(rejection) => {
                    failure = Some((index, rejection));
                    break;
                }
            }
        }
        match failure {
            None => {
                for (from, to, amount) in paid_after {
                    self.move_money(&from, &to, amount);
                }
                Outcome::Applied(Reply::TransferBatch(vec![Outcome::Applied(Reply::Done); batch.transfers.len()]))
            }
            Some((failed, rejection)) => {
                for (id, account) in saved_accounts {
                    self.accounts.insert(id, account);
                }
                for key in new_transfers {
                    self.transfers.forget(&key);
                }
                Outcome::BatchRejected { leg: u32::try_from(failed).expect("small"), rejection }
            }
        }
    }

    /// A transfer's id, amount and accounts' distinctness: `None` for a repeat (same body),
    /// else its key and body to remember once it applies.
    fn new_transfer(&self, transfer: &Transfer) -> Result<Option<(super::PartitionedId, TransferBody)>, Rejection> {
        let body = (transfer.from.clone(), transfer.to.clone(), transfer.amount, transfer.currency);
        let key = (self.applying(), transfer.id.clone());
        if let Some(existing) = self.transfers.get(&key) {
            return if *existing == body { Ok(None) } else { Err(Rejection::IdReused) };
        }
        valid_amount(transfer.amount)?;
        if transfer.from == transfer.to {
            return Err(Rejection::SameAccount);
        }
        Ok(Some((key, body)))
    }

    /// A leg of a linked batch whose payer lives on another partition: its id remembered with
    /// the batch; its payer checked as it was before the batch (`before`), less what earlier
    /// such legs reserved of it; its payee (counting what earlier such legs pay it) next. Its
    /// money moves once the batch applies (`paid_after`), so later legs do not see it.
    fn leg_paid_after(
        &mut self,
        transfer: &Transfer,
        before: &[(Id, Account)],
        paid_after: &mut Vec<(Id, Id, u64)>,
    ) -> Result<(), Rejection> {
        let Some((key, body)) = self.new_transfer(transfer)? else { return Ok(()) };
        let payer = before.iter().find(|(id, _)| *id == transfer.from).map(|(_, account)| account);
        let mut payer = payer.ok_or(Rejection::AccountNotFound)?.clone();
        if payer.closed {
            return Err(Rejection::AccountClosed);
        }
        if payer.currency != transfer.currency {
            return Err(Rejection::CurrencyMismatch);
        }
        let sum = |account: &Id, by: fn(&(Id, Id, u64)) -> &Id| {
            paid_after.iter().filter(|leg| by(leg) == account).map(|leg| leg.2).sum::<u64>()
        };
        payer.posted -= signed(sum(&transfer.from, |leg| &leg.0));
        payer.can_debit(transfer.amount)?;
        let to = self.usable(&transfer.to, transfer.currency, Rejection::CounterpartyNotFound)?;
        to.can_credit(transfer.amount + sum(&transfer.to, |leg| &leg.1))?;
        self.transfers.insert(key, body);
        paid_after.push((transfer.from.clone(), transfer.to.clone(), transfer.amount));
        Ok(())
    }

    /// Independent legs, in order: one whose payee lives on another partition debits its payer
    /// at once and is decided where the payee lives after the batch's other legs here (a refusal
    /// refunds the payer then, and its id is not remembered); a repeat of such a leg in the same
    /// batch answers as it does. Then each leg whose payer lives on another partition, one
    /// after another, is applied there as a transfer of its id (remembered there), its payee
    /// checked where it lives after its payer.
    fn independent_legs(&mut self, batch: &TransferBatch) -> Outcome {
        let home = self.partition;
        let mut outcomes = Vec::with_capacity(batch.transfers.len());
        let mut crossing: Vec<usize> = Vec::new();
        let mut elsewhere: Vec<usize> = Vec::new();
        let mut repeats: Vec<(usize, usize)> = Vec::new();
        let body = |t: &Transfer| (t.from.clone(), t.to.clone(), t.amount, t.currency);
        for (index, transfer) in batch.transfers.iter().enumerate() {
            if !self.local(&transfer.from) {
                elsewhere.push(index);
                outcomes.push(Outcome::Applied(Reply::Done));
                continue;
            }
            let first = crossing.iter().copied().find(|first| batch.transfers[*first].id == transfer.id);
            if let Some(first) = first {
                if body(&batch.transfers[first]) == body(transfer) {
                    repeats.push((index, first));
                    outcomes.push(Outcome::Applied(Reply::Done));
                } else {
                    outcomes.push(Outcome::Rejected(Rejection::IdReused));
                }
                continue;
            }
            let leaves = !self.local(&transfer.to)
                && transfer.from != transfer.to
                && valid_amount(transfer.amount).is_ok()
                && self.transfers.get(&(self.applying(), transfer.id.clone())).is_none();
            if !leaves {
                outcomes.push(done(self.transfer(transfer, false)));
                continue;
            }
            let debited = self.usable(&transfer.from, transfer.currency, Rejection::AccountNotFound).and_then(|from| {
                from.can_debit(transfer.amount)?;
                Ok(())
            });
            outcomes.push(done(debited));
            if debited.is_ok() {
                self.account_mut(&transfer.from).posted -= signed(transfer.amount);
                crossing.push(index);
            }
        }
        for index in crossing {
            let transfer = &batch.transfers[index];
            let credited =
                self.usable(&transfer.to, transfer.currency, Rejection::CounterpartyNotFound).and_then(|to| {
                    to.can_credit(transfer.amount)?;
                    Ok(())
                });
            match credited {
                Ok(()) => {
                    self.account_mut(&transfer.to).posted += signed(transfer.amount);
                    self.transfers.insert((self.applying(), transfer.id.clone()), body(transfer));
                }
                Err(_) => self.account_mut(&transfer.from).posted += signed(transfer.amount),
            }
            outcomes[index] = done(credited);
        }
        for (index, first) in repeats {
            outcomes[index] = outcomes[first].clone();
        }
        for index in elsewhere {
            let transfer = &batch.transfers[index];
            self.partition = self.placement.of_account(&transfer.from);
            outcomes[index] = done(self.transfer(transfer, true));
        }
        self.partition = home;
        Outcome::Applied(Reply::TransferBatch(outcomes))
    }
}
