//! Transfers between partitions, as single-partition steps joined by durable messages.
//!
//! ```text
//! payer's partition p                          payee's partition q
//!   debit payer, money into p's transit  --Credit n-->  credit payee (or refuse), remember
//!   (the transfer is pending)                           the answer to (p, n)
//!   drain transit; refund a refusal     <--Settled n--
//!   (the transfer's outcome is final)
//! ```
//!
//! Each step is one command of its partition's log: every partition balances after every
//! batch (its transit holds exactly the money it debited and has not heard back about), and the
//! transit drains to 0. Exactly once: `q` applies each `(p, n)` once and answers a repeat with
//! the answer it kept (kept until `p` says, in a later credit, that it heard it); `p` acts on
//! an answer only while `n` is open. After a crash every open credit is sent again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::StateMachine;
use super::idempotency::{Filled, IdKind, Vacancy};
use crate::command::{Outcome, PostingCause, Rejection, Reply, Transfer};
use crate::partition::{Credit, Outgoing, PartitionId, TransitMessage};
use crate::types::{Currency, Id};

/// One partition's side of the transfers between partitions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transit {
    /// The last credit number sent.
    last_number: u64,
    /// Credits sent and not yet answered, by number: the money in this partition's transit.
    /// Boxed: a credit is ~130 bytes, and the tree moves its values as it splits and merges
    /// nodes (boxing encodes alike).
    open: BTreeMap<u64, Box<OpenCredit>>,
    /// The open credit of each transfer id still in flight (a repeat waits for it). A hash map:
    /// it is only looked up, and ordered string keys cost most of a crossing step's map work
    /// (`cargo bench --bench transit`); it encodes as the ordered map did (a length and pairs).
    by_transfer: super::Map<Id, u64>,
    /// Per payer partition, the answers given to its credits and not yet known heard there.
    answers: BTreeMap<PartitionId, Answers>,
    /// Money credited here by other partitions, per currency.
    received: BTreeMap<Currency, u128>,
    /// Money this partition's transit paid on to other partitions, per currency.
    paid_out: BTreeMap<Currency, u128>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct OpenCredit {
    destination: PartitionId,
    /// The debited account, refunded if the credit is refused.
    from: Id,
    credit: Credit,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Answers {
    /// The highest credit number applied from that partition.
    applied_through: u64,
    /// `number -> refusal` (`None`: applied).
    kept: BTreeMap<u64, Option<Rejection>>,
}

impl Transit {
    /// Money in this partition's transit per currency: debited here, not yet heard of.
    pub fn in_flight(&self) -> BTreeMap<Currency, u128> {
        let mut sums = BTreeMap::new();
        for open in self.open.values() {
            *sums.entry(open.credit.currency).or_default() += u128::from(open.credit.amount);
        }
        sums
    }

    /// Money received from minus money paid on to other partitions, per currency.
    pub fn net_inflow(&self) -> BTreeMap<Currency, i128> {
        let mut net: BTreeMap<Currency, i128> = BTreeMap::new();
        for (currency, amount) in &self.received {
            *net.entry(*currency).or_default() += i128::try_from(*amount).expect("fits");
        }
        for (currency, amount) in &self.paid_out {
            *net.entry(*currency).or_default() -= i128::try_from(*amount).expect("fits");
        }
        net
    }

    /// Every credit sent and not yet answered, to send again after a restart.
    pub fn open_credits(&self) -> Vec<Outgoing> {
        let settled_through = self.settled_through();
        let resend = |open: &OpenCredit| Outgoing {
            destination: open.destination,
            message: TransitMessage::Credit(Credit { settled_through, ..open.credit.clone() }),
        };
        self.open.values().map(|open| resend(open)).collect()
    }

    /// Every credit numbered up to this one is answered.
    fn settled_through(&self) -> u64 {
        self.open.keys().next().map_or(self.last_number, |first| first - 1)
    }

    /// Whether `account` has money in transit (it may not close until it is heard of).
    pub(super) fn debits_open(&self, account: &Id) -> bool {
        self.open.values().any(|open| &open.from == account)
    }
}

impl StateMachine {
    /// The payer's step of a transfer whose payee lives on `destination`: debit the payer into
    /// transit and send the credit. The caller has checked the id, the amount and `from != to`.
    pub(super) fn transfer_out(
        &mut self,
        transfer: &Transfer,
        vacancy: Option<Vacancy>,
        fingerprint: u64,
        destination: PartitionId,
        events: &mut Vec<crate::command::Event>,
    ) -> Result<Option<Filled>, Rejection> {
        let from = self.state.accounts.get(&transfer.from).ok_or(Rejection::AccountNotFound)?;
        from.usable(transfer.currency)?;
        from.can_debit(transfer.amount)?;
        let vacancy = vacancy.ok_or(Rejection::IdTableFull)?;
        let delta = i64::try_from(transfer.amount).expect("amounts are at most AMOUNT_MINOR_MAX");
        self.post(&transfer.from, -delta, 0, PostingCause::Transfer(transfer.id.clone()), events);
        let filled = self.state.ids.fill(vacancy, fingerprint);
        let transit = &mut self.state.transit;
        let settled_through = transit.settled_through();
        transit.last_number += 1;
        let number = transit.last_number;
        let credit = Credit {
            source: self.config.partition,
            number,
            settled_through,
            transfer: transfer.id.clone(),
            to: transfer.to.clone(),
            amount: transfer.amount,
            currency: transfer.currency,
        };
        let message = TransitMessage::Credit(credit.clone());
        transit.open.insert(number, Box::new(OpenCredit { destination, from: transfer.from.clone(), credit }));
        transit.by_transfer.insert(transfer.id.clone(), number);
        self.outgoing.push(Outgoing { destination, message });
        self.pending = Some(number);
        Ok(Some(filled))
    }

    /// A repeat of transfer `id`: if it is still in flight, its outcome is pending too.
    pub(super) fn repeat_in_flight(&mut self, id: &Id) {
        if let Some(number) = self.state.transit.by_transfer.get(id) {
            self.pending = Some(*number);
        }
    }

    /// Applies one message from another partition.
    pub(super) fn apply_message(&mut self, message: &TransitMessage, output: &mut super::CommitOutput) {
        match message {
            TransitMessage::Credit(credit) => self.apply_credit(credit, &mut output.events),
            TransitMessage::Settled { number, refused, .. } => self.apply_settled(*number, *refused, output),
            TransitMessage::Remembered(remembered) => self.remember(remembered),
            TransitMessage::Restored(archived) => self.restore(archived),
            TransitMessage::HoldElsewhere(id) => drop(self.holds_elsewhere.insert(id.clone())),
        }
    }

    /// The payee's step: credit once, answer every time.
    fn apply_credit(&mut self, credit: &Credit, events: &mut Vec<crate::command::Event>) {
        let answers = self.state.transit.answers.entry(credit.source).or_default();
        let refused = if let Some(kept) = answers.kept.get(&credit.number) {
            *kept
        } else if credit.number <= answers.applied_through {
            return; // Answered, and the answer was heard: a stale copy.
        } else {
            // Forget the answers the source has heard (a split of the whole map here cost an
            // allocation and a count per credit; most credits forget none or one).
            while answers.kept.first_key_value().is_some_and(|(number, _)| *number <= credit.settled_through) {
                answers.kept.pop_first();
            }
            let refused = self.credit_payee(credit, events).err();
            let answers = self.state.transit.answers.get_mut(&credit.source).expect("entry made above");
            answers.applied_through = credit.number;
            answers.kept.insert(credit.number, refused);
            refused
        };
        let answer = TransitMessage::Settled { payee_partition: self.config.partition, number: credit.number, refused };
        self.outgoing.push(Outgoing { destination: credit.source, message: answer });
    }

    fn credit_payee(&mut self, credit: &Credit, events: &mut Vec<crate::command::Event>) -> Result<(), Rejection> {
        let to = self.state.accounts.get(&credit.to).ok_or(Rejection::CounterpartyNotFound)?;
        to.usable(credit.currency)?;
        to.can_credit(credit.amount)?;
        let delta = i64::try_from(credit.amount).expect("amounts are at most AMOUNT_MINOR_MAX");
        self.post(&credit.to, delta, 0, PostingCause::Transfer(credit.transfer.clone()), events);
        *self.state.transit.received.entry(credit.currency).or_default() += u128::from(credit.amount);
        Ok(())
    }

    /// The payer's last step: drain the transit, refund a refusal, complete the transfer.
    fn apply_settled(&mut self, number: u64, refused: Option<Rejection>, output: &mut super::CommitOutput) {
        let Some(open) = self.state.transit.open.remove(&number) else { return };
        let credit = open.credit;
        self.state.transit.by_transfer.remove(&credit.transfer);
        let outcome = match refused {
            None => {
                *self.state.transit.paid_out.entry(credit.currency).or_default() += u128::from(credit.amount);
                Outcome::Applied(Reply::Done)
            }
            Some(rejection) => {
                // The refund is posted unconditionally: the money left this account, so it comes
                // back even if credits since took the balance near BALANCE_MINOR_MAX (i64 still
                // holds it: the cap is 10^17, an amount at most 10^15).
                let delta = i64::try_from(credit.amount).expect("amounts are at most AMOUNT_MINOR_MAX");
                let cause = PostingCause::Transfer(credit.transfer.clone());
                self.post(&open.from, delta, 0, cause, &mut output.events);
                // A refused transfer is not remembered: a retry may apply once the payee can
                // take it, as on one partition.
                self.state.ids.forget(self.config.id_hasher.hash(IdKind::Transfer, &credit.transfer));
                Outcome::Rejected(rejection)
            }
        };
        output.completed.push((number, outcome));
    }
}

#[cfg(test)]
mod tests;
