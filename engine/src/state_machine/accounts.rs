//! Accounts, deposits, withdrawals and transfers (single and batched, linked or not).

use serde::{Deserialize, Serialize};

use super::StateMachine;
use crate::command::{
    Change, Event, Movement, ObjectKind, OpenAccount, Outcome, PostingCause, Rejection, Reply, Transfer, TransferBatch,
};
use crate::constants::TRANSFER_BATCH_MAX;
use crate::types::{Currency, Id};

/// An account's balances. `available = posted - held`, never below `-overdraft_limit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The account's only currency.
    pub currency: Currency,
    /// Whether it is closed (no more debits or credits).
    pub closed: bool,
    /// Posted balance in minor units.
    pub posted: i64,
    /// Sum of active holds on it, in minor units.
    pub held: u64,
    /// How far below zero `available` may go.
    pub overdraft_limit: u64,
}

impl Account {
    /// Posted balance minus held amounts.
    pub fn available(&self) -> i64 {
        // posted is within BALANCE_MINOR_MAX and held within the same order: no overflow.
        self.posted - i64::try_from(self.held).expect("held within i64")
    }
}

/// A deposit or withdrawal as recorded, for idempotent repeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MovementRecord {
    pub(crate) deposit: bool,
    pub(crate) account: Id,
    pub(crate) amount: u64,
}

/// An applied transfer, for idempotent repeats and history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TransferRecord {
    pub(crate) from: Id,
    pub(crate) to: Id,
    pub(crate) amount: u64,
    pub(crate) currency: Currency,
}

impl TransferRecord {
    fn matches(&self, transfer: &Transfer) -> bool {
        self.from == transfer.from
            && self.to == transfer.to
            && self.amount == transfer.amount
            && self.currency == transfer.currency
    }
}

fn outcome(result: Result<(), Rejection>) -> Outcome {
    match result {
        Ok(()) => Outcome::Applied(Reply::Done),
        Err(rejection) => Outcome::Rejected(rejection),
    }
}

impl StateMachine {
    pub(super) fn open_account(&mut self, open: &OpenAccount, events: &mut Vec<Event>) -> Outcome {
        if let Some(existing) = self.state.accounts.get(&open.account) {
            // Idempotent: the same open again answers as the first did.
            let same = existing.currency == open.currency && existing.overdraft_limit == open.overdraft_limit;
            return outcome(if same { Ok(()) } else { Err(Rejection::AlreadyExists) });
        }
        if open.overdraft_limit > crate::constants::AMOUNT_MINOR_MAX {
            return Outcome::Rejected(Rejection::InvalidAmount);
        }
        let account = Account {
            currency: open.currency,
            closed: false,
            posted: 0,
            held: 0,
            overdraft_limit: open.overdraft_limit,
        };
        self.state.accounts.insert(open.account.clone(), account);
        Self::changed(events, ObjectKind::Account, &open.account, Change::Opened);
        Outcome::Applied(Reply::Done)
    }

    pub(super) fn close_account(&mut self, id: &Id, events: &mut Vec<Event>) -> Outcome {
        let Some(account) = self.state.accounts.get_mut(id) else {
            return Outcome::Rejected(Rejection::AccountNotFound);
        };
        if account.closed {
            return Outcome::Applied(Reply::Done);
        }
        if account.posted != 0 || account.held != 0 {
            return Outcome::Rejected(Rejection::AccountNotEmpty);
        }
        account.closed = true;
        Self::changed(events, ObjectKind::Account, id, Change::Closed);
        Outcome::Applied(Reply::Done)
    }

    pub(super) fn deposit(&mut self, movement: &Movement, events: &mut Vec<Event>) -> Outcome {
        outcome(self.apply_movement(movement, true, events))
    }

    pub(super) fn withdraw(&mut self, movement: &Movement, events: &mut Vec<Event>) -> Outcome {
        outcome(self.apply_movement(movement, false, events))
    }

    fn apply_movement(&mut self, movement: &Movement, deposit: bool, events: &mut Vec<Event>) -> Result<(), Rejection> {
        let record = MovementRecord { deposit, account: movement.account.clone(), amount: movement.amount };
        if let Some(existing) = self.state.movements.get(&movement.id) {
            return if *existing == record { Ok(()) } else { Err(Rejection::IdReused) };
        }
        Self::check_amount(movement.amount)?;
        let account = self.state.accounts.get(&movement.account).ok_or(Rejection::AccountNotFound)?;
        if account.closed {
            return Err(Rejection::AccountClosed);
        }
        let currency = account.currency;
        let delta = i64::try_from(movement.amount).expect("amount within AMOUNT_MINOR_MAX");
        if deposit {
            self.check_credit(&movement.account, movement.amount)?;
        } else {
            self.check_debit(&movement.account, movement.amount)?;
        }
        let totals = self.state.totals.entry(currency).or_default();
        if deposit {
            totals.deposited += u128::from(movement.amount);
            self.post(&movement.account, delta, 0, PostingCause::Deposit(movement.id.clone()), events);
        } else {
            totals.withdrawn += u128::from(movement.amount);
            self.post(&movement.account, -delta, 0, PostingCause::Withdrawal(movement.id.clone()), events);
        }
        self.state.movements.insert(movement.id.clone(), record);
        Ok(())
    }

    pub(super) fn transfer_command(&mut self, transfer: &Transfer, events: &mut Vec<Event>) -> Outcome {
        outcome(self.apply_transfer(transfer, events))
    }

    /// Validates and applies one transfer; an idempotent repeat changes nothing.
    pub(super) fn apply_transfer(&mut self, transfer: &Transfer, events: &mut Vec<Event>) -> Result<(), Rejection> {
        if let Some(existing) = self.state.transfers.get(&transfer.id) {
            return if existing.matches(transfer) { Ok(()) } else { Err(Rejection::IdReused) };
        }
        self.check_transfer(transfer)?;
        self.move_money(
            &transfer.from,
            &transfer.to,
            transfer.amount,
            PostingCause::Transfer(transfer.id.clone()),
            events,
        );
        let record = TransferRecord {
            from: transfer.from.clone(),
            to: transfer.to.clone(),
            amount: transfer.amount,
            currency: transfer.currency,
        };
        self.state.transfers.insert(transfer.id.clone(), record);
        Ok(())
    }

    /// Every check of a transfer, in the order a client would want to hear about them.
    fn check_transfer(&self, transfer: &Transfer) -> Result<(), Rejection> {
        Self::check_amount(transfer.amount)?;
        if transfer.from == transfer.to {
            return Err(Rejection::SameAccount);
        }
        self.usable_account(&transfer.from, transfer.currency, Rejection::AccountNotFound)?;
        self.usable_account(&transfer.to, transfer.currency, Rejection::CounterpartyNotFound)?;
        self.check_debit(&transfer.from, transfer.amount)?;
        self.check_credit(&transfer.to, transfer.amount)
    }

    /// Applies a batch. Linked (`atomic`) batches apply all-or-nothing: on the first failure every
    /// transfer applied so far is undone, the failing one reports its reason and all the others
    /// `LinkedTransferFailed`.
    pub(super) fn transfer_batch(&mut self, batch: &TransferBatch, events: &mut Vec<Event>) -> Outcome {
        if batch.transfers.is_empty() || batch.transfers.len() > TRANSFER_BATCH_MAX {
            return Outcome::Rejected(Rejection::InvalidBatch);
        }
        if !batch.atomic {
            let outcomes = batch.transfers.iter().map(|transfer| self.transfer_command(transfer, events)).collect();
            return Outcome::Applied(Reply::TransferBatch(outcomes));
        }
        let events_before = events.len();
        // Undo log: the prior state of every account touched and every id inserted.
        let mut touched: Vec<(Id, Account)> = Vec::new();
        let mut inserted: Vec<Id> = Vec::new();
        let mut failure: Option<(usize, Rejection)> = None;
        for (index, transfer) in batch.transfers.iter().enumerate() {
            for id in [&transfer.from, &transfer.to] {
                if let Some(account) = self.state.accounts.get(id)
                    && !touched.iter().any(|(touched_id, _)| touched_id == id)
                {
                    touched.push((id.clone(), account.clone()));
                }
            }
            let known = self.state.transfers.contains_key(&transfer.id);
            match self.apply_transfer(transfer, events) {
                Ok(()) if !known => inserted.push(transfer.id.clone()),
                Ok(()) => {}
                Err(rejection) => {
                    failure = Some((index, rejection));
                    break;
                }
            }
        }
        let Some((failed_index, rejection)) = failure else {
            let outcomes = vec![Outcome::Applied(Reply::Done); batch.transfers.len()];
            return Outcome::Applied(Reply::TransferBatch(outcomes));
        };
        for (id, account) in touched {
            self.state.accounts.insert(id, account);
        }
        for id in inserted {
            self.state.transfers.remove(&id);
        }
        events.truncate(events_before);
        let outcomes = (0..batch.transfers.len())
            .map(|index| {
                Outcome::Rejected(if index == failed_index { rejection } else { Rejection::LinkedTransferFailed })
            })
            .collect();
        Outcome::Applied(Reply::TransferBatch(outcomes))
    }
}
