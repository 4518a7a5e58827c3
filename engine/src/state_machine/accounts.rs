//! Accounts, deposits, withdrawals and transfers (single and batched, linked or not).

use serde::{Deserialize, Serialize};

use super::StateMachine;
use super::idempotency::{Filled, IdKind, Lookup};
use super::transit::LinkedPass;
use crate::command::{
    Change, Event, Movement, ObjectKind, OpenAccount, Outcome, Posting, PostingCause, Rejection, Reply, Submission,
    Transfer, TransferBatch,
};
use crate::constants::TRANSFER_BATCH_MAX;
use crate::types::{Currency, Id};

/// An account's balances. `available = posted - held - reserved`, never below
/// `-overdraft_limit`.
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
    /// Funds reserved for legs of linked batches on other partitions that it pays, until each
    /// batch is decided (`transit/linked_payers.rs`): no posting, not spendable meanwhile.
    pub reserved: u64,
}

impl Account {
    /// Posted balance minus held and reserved amounts.
    pub fn available(&self) -> i64 {
        // posted is within BALANCE_MINOR_MAX, held and reserved within the same order: no overflow.
        self.posted
            - i64::try_from(self.held).expect("held within i64")
            - i64::try_from(self.reserved).expect("reserved within i64")
    }
}

/// A stable 64-bit fingerprint (FNV-1a) of a transfer's body. Applied transfers are remembered
/// by id and fingerprint only: enough to answer a repeat (same fingerprint) or `id_reused`, in a
/// quarter of the memory of the whole body. History keeps the bodies.
pub(crate) fn transfer_fingerprint(transfer: &Transfer) -> u64 {
    fingerprint(&[
        transfer.from.as_str().as_bytes(),
        &[0xff],
        transfer.to.as_str().as_bytes(),
        &[0xff],
        &transfer.amount.to_le_bytes(),
        &transfer.currency.numeric().to_le_bytes(),
    ])
}

/// The fingerprint of a deposit's or withdrawal's body, as remembered for repeats.
pub(crate) fn movement_fingerprint(movement: &Movement, deposit: bool) -> u64 {
    fingerprint(&[&[u8::from(deposit)], movement.account.as_str().as_bytes(), &[0xff], &movement.amount.to_le_bytes()])
}

/// FNV-1a over `parts`.
fn fingerprint(parts: &[&[u8]]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.iter().flat_map(|part| part.iter()) {
        hash = (hash ^ u64::from(*byte)).wrapping_mul(PRIME);
    }
    hash
}

impl Account {
    /// Whether `amount` more can be debited (available plus overdraft covers it).
    pub(super) fn can_debit(&self, amount: u64) -> Result<(), Rejection> {
        let available = i128::from(self.posted) - i128::from(self.held) - i128::from(self.reserved);
        if available - i128::from(amount) < -i128::from(self.overdraft_limit) {
            return Err(Rejection::InsufficientFunds);
        }
        Ok(())
    }

    /// Whether `amount` can be credited without passing `BALANCE_MINOR_MAX`.
    pub(super) fn can_credit(&self, amount: u64) -> Result<(), Rejection> {
        if i128::from(self.posted) + i128::from(amount) > i128::from(crate::constants::BALANCE_MINOR_MAX) {
            return Err(Rejection::Overflow);
        }
        Ok(())
    }

    /// Whether the account is open and holds `currency`.
    pub(super) fn usable(&self, currency: Currency) -> Result<(), Rejection> {
        if self.closed {
            return Err(Rejection::AccountClosed);
        }
        if self.currency != currency {
            return Err(Rejection::CurrencyMismatch);
        }
        Ok(())
    }
}

fn outcome(result: Result<(), Rejection>) -> Outcome {
    match result {
        Ok(()) => Outcome::Applied(Reply::Done),
        Err(rejection) => Outcome::Rejected(rejection),
    }
}

impl StateMachine {
    /// The open account `id` in `currency`, or the specific reason it cannot be used.
    pub(super) fn usable_account(
        &self,
        id: &Id,
        currency: Currency,
        missing: Rejection,
    ) -> Result<&Account, Rejection> {
        let account = self.state.accounts.get(id).ok_or(missing)?;
        account.usable(currency)?;
        Ok(account)
    }

    /// Whether `id` can be debited `amount` more (available plus overdraft covers it).
    pub(super) fn check_debit(&self, id: &Id, amount: u64) -> Result<(), Rejection> {
        self.state.accounts[id].can_debit(amount)
    }

    /// Whether `id` can be credited `amount` without passing `BALANCE_MINOR_MAX`.
    pub(super) fn check_credit(&self, id: &Id, amount: u64) -> Result<(), Rejection> {
        self.state.accounts[id].can_credit(amount)
    }

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
            reserved: 0,
        };
        self.state.accounts.insert(open.account.clone(), account);
        Self::changed(events, ObjectKind::Account, &open.account, Change::Opened);
        Outcome::Applied(Reply::Done)
    }

    pub(super) fn close_account(&mut self, id: &Id, events: &mut Vec<Event>) -> Outcome {
        // A paid share of an open split comes back here if the split is cancelled or expires.
        let shares_out = self.state.escrowed_shares.contains_key(id);
        let Some(account) = self.state.accounts.get_mut(id) else {
            return Outcome::Rejected(Rejection::AccountNotFound);
        };
        if account.closed {
            return Outcome::Applied(Reply::Done);
        }
        if account.posted != 0 || account.held != 0 || account.reserved != 0 || shares_out {
            return Outcome::Rejected(Rejection::AccountNotEmpty);
        }
        if self.state.transit.debits_open(id) || self.state.transit.payee_reserved(id) {
            // Money it sent is still on its way (a refusal must find it open to refund it), or a
            // linked batch elsewhere will pay it.
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
        let fingerprint = movement_fingerprint(movement, deposit);
        let vacancy = match self.state.ids.lookup(self.config.id_hasher.hash(IdKind::Movement, &movement.id)) {
            Lookup::Found(existing) => return if existing == fingerprint { Ok(()) } else { Err(Rejection::IdReused) },
            Lookup::Vacant(vacancy) => Some(vacancy),
            Lookup::Full => None,
        };
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
        let vacancy = vacancy.ok_or(Rejection::IdTableFull)?;
        let totals = self.state.totals.entry(currency).or_default();
        if deposit {
            totals.deposited += u128::from(movement.amount);
            self.post(&movement.account, delta, 0, PostingCause::Deposit(movement.id.clone()), events);
        } else {
            totals.withdrawn += u128::from(movement.amount);
            self.post(&movement.account, -delta, 0, PostingCause::Withdrawal(movement.id.clone()), events);
        }
        self.state.ids.fill(vacancy, fingerprint);
        Ok(())
    }

    pub(super) fn transfer_command(&mut self, transfer: &Transfer, events: &mut Vec<Event>) -> Outcome {
        outcome(self.apply_transfer(transfer, Payee::Crossing, events).map(drop))
    }

    /// Validates and applies one transfer; an idempotent repeat changes nothing (and returns
    /// `None`, a new transfer how to undo its id's record). The hot path: one probe of the id
    /// table, both accounts looked up once, together. A payee on another partition is paid as
    /// `payee` says (`transit.rs`); a payer on another partition is a leg of a linked batch
    /// (its funds reserved there: `transit/linked_payers.rs`; an independent batch sends such
    /// a leg there: `transit/batch_legs.rs`).
    pub(super) fn apply_transfer(
        &mut self,
        transfer: &Transfer,
        payee: Payee<'_>,
        events: &mut Vec<Event>,
    ) -> Result<Option<Filled>, Rejection> {
        let fingerprint = transfer_fingerprint(transfer);
        let vacancy = match self.state.ids.lookup(self.config.id_hasher.hash(IdKind::Transfer, &transfer.id)) {
            Lookup::Found(existing) if existing == fingerprint => {
                if let Payee::Crossing = payee {
                    self.repeat_in_flight(&transfer.id);
                }
                return Ok(None);
            }
            Lookup::Found(_) => return Err(Rejection::IdReused),
            Lookup::Vacant(vacancy) => Some(vacancy),
            Lookup::Full => None,
        };
        Self::check_amount(transfer.amount)?;
        if transfer.from == transfer.to {
            return Err(Rejection::SameAccount);
        }
        if self.config.placement.of_account(&transfer.from) != self.config.partition {
            // A leg of a linked batch whose payer lives elsewhere (`transit/linked_payers.rs`).
            return match payee {
                Payee::Linked(pass, leg) => self.linked_leg_in(transfer, (pass, leg), vacancy, fingerprint),
                _ => Err(Rejection::CrossPartition),
            };
        }
        let payee_partition = self.config.placement.of_account(&transfer.to);
        if payee_partition != self.config.partition {
            return match payee {
                Payee::Crossing => self.transfer_out(transfer, vacancy, fingerprint, events),
                Payee::Linked(pass, leg) => self.linked_leg_out(transfer, (pass, leg), vacancy, fingerprint, events),
                Payee::Relayed(payment) => self.leg_out(transfer, payment, (vacancy, fingerprint), events),
            };
        }
        let [from, to] = self.state.accounts.get_disjoint_mut([&transfer.from, &transfer.to]);
        let from = from.ok_or(Rejection::AccountNotFound)?;
        from.usable(transfer.currency)?;
        let to = to.ok_or(Rejection::CounterpartyNotFound)?;
        to.usable(transfer.currency)?;
        from.can_debit(transfer.amount)?;
        to.can_credit(transfer.amount)?;
        let vacancy = vacancy.ok_or(Rejection::IdTableFull)?;
        let delta = i64::try_from(transfer.amount).expect("amounts are at most AMOUNT_MINOR_MAX");
        from.posted -= delta;
        to.posted += delta;
        let (from_after, from_held, to_after, to_held) = (from.posted, from.held, to.posted, to.held);
        let cause = PostingCause::Transfer(transfer.id.clone());
        events.push(Event::Posting(Posting {
            account: transfer.from.clone(),
            posted_delta: -delta,
            held_delta: 0,
            posted_after: from_after,
            held_after: from_held,
            cause: cause.clone(),
        }));
        events.push(Event::Posting(Posting {
            account: transfer.to.clone(),
            posted_delta: delta,
            held_delta: 0,
            posted_after: to_after,
            held_after: to_held,
            cause,
        }));
        Ok(Some(self.state.ids.fill(vacancy, fingerprint)))
    }

    /// Applies a batch: each leg on its own, or, linked (`atomic`), all or nothing
    /// ([`StateMachine::linked_batch`]).
    pub(super) fn transfer_batch(
        &mut self,
        submission: &Submission,
        batch: &TransferBatch,
        events: &mut Vec<Event>,
    ) -> Outcome {
        if batch.transfers.is_empty() || batch.transfers.len() > TRANSFER_BATCH_MAX {
            return Outcome::Rejected(Rejection::InvalidBatch);
        }
        if !batch.atomic {
            return self.independent_batch(batch, events);
        }
        self.linked_batch(submission, batch, events)
    }

    /// Independent legs, each with its own outcome: one whose payee lives elsewhere crosses as
    /// a transfer does; one whose payer lives elsewhere is applied there, one after another
    /// once the others are sent (`transit/batch_legs.rs`); the batch answers when every such
    /// leg is final.
    fn independent_batch(&mut self, batch: &TransferBatch, events: &mut Vec<Event>) -> Outcome {
        let mut crossing = Vec::new();
        let mut elsewhere = Vec::new();
        let mut outcomes = Vec::with_capacity(batch.transfers.len());
        for (index, transfer) in batch.transfers.iter().enumerate() {
            if !self.lives_here(&transfer.from) {
                elsewhere.push((index, transfer.clone()));
                outcomes.push(Outcome::Applied(Reply::Done)); // Its payer's partition answers.
                continue;
            }
            outcomes.push(outcome(self.apply_transfer(transfer, Payee::Crossing, events).map(drop)));
            if let Some(number) = self.pending.take() {
                crossing.push((index, number));
            }
        }
        if crossing.is_empty() && elsewhere.is_empty() {
            return Outcome::Applied(Reply::TransferBatch(outcomes));
        }
        self.pending = Some(self.join_legs(outcomes, crossing, elsewhere));
        Outcome::Applied(Reply::Done)
    }

    /// Applies a linked batch all or nothing: on the first failure every transfer applied so
    /// far is undone and the batch is refused as a whole, `BatchRejected { leg, rejection }`
    /// naming the failing transfer and its reason. Legs paying on other partitions are decided
    /// with their payees reserved there (`transit/linked.rs`): until every payee the batch
    /// reaches has answered, it is undone and waits.
    fn linked_batch(&mut self, submission: &Submission, batch: &TransferBatch, events: &mut Vec<Event>) -> Outcome {
        let events_before = events.len();
        let mut pass = LinkedPass::new(std::mem::take(&mut self.reserved_legs));
        // Undo log: the prior state of every account touched and every id inserted.
        let mut touched: Vec<(Id, Account)> = Vec::new();
        let mut inserted: Vec<Filled> = Vec::new();
        let mut failure: Option<(usize, Rejection)> = None;
        for (index, transfer) in batch.transfers.iter().enumerate() {
            for id in [&transfer.from, &transfer.to] {
                if let Some(account) = self.state.accounts.get(id)
                    && !touched.iter().any(|(touched_id, _)| touched_id == id)
                {
                    touched.push((id.clone(), account.clone()));
                }
            }
            match self.apply_transfer(transfer, Payee::Linked(&mut pass, index), events) {
                Ok(Some(filled)) => inserted.push(filled),
                Ok(None) => {}
                Err(rejection) => {
                    failure = Some((index, rejection));
                    break;
                }
            }
        }
        let reserving = pass.to_reserve(failure.map(|(leg, _)| leg));
        if failure.is_none() && reserving.is_empty() {
            let outcomes = vec![Outcome::Applied(Reply::Done); batch.transfers.len()];
            return self.settle_reservations(batch, &pass, true, Outcome::Applied(Reply::TransferBatch(outcomes)));
        }
        for (id, account) in touched {
            self.state.accounts.insert(id, account);
        }
        for filled in inserted.into_iter().rev() {
            self.state.ids.unfill(filled);
        }
        events.truncate(events_before);
        if !reserving.is_empty() {
            return self.reserve_payees(submission, batch, pass, reserving);
        }
        let (failed_index, rejection) = failure.expect("a batch neither applied nor waiting failed");
        let leg = u32::try_from(failed_index).expect("batches hold at most TRANSFER_BATCH_MAX transfers");
        self.settle_reservations(batch, &pass, false, Outcome::BatchRejected { leg, rejection })
    }
}

/// How a transfer whose payee lives on another partition is paid ([`StateMachine::apply_transfer`]).
pub(super) enum Payee<'a> {
    /// By a credit there, the outcome waiting for its answer (a transfer, an independent
    /// batch's leg).
    Crossing,
    /// As leg `usize` of a linked batch, decided with its payee reserved there
    /// (`transit/linked.rs`).
    Linked(&'a mut LinkedPass, usize),
    /// By a credit there that answers this move when it settles: a leg of an independent batch
    /// elsewhere whose payer lives here (`transit/batch_legs.rs`).
    Relayed(&'a crate::partition::Move),
}
