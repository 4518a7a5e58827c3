//! Transfers whose payee lives on another partition: the payer's steps (the debit into the
//! transit and the credit sent, then the answer), as `transit.rs` describes them.

use super::super::idempotency::{Filled, IdKind, Vacancy};
use crate::command::{Outcome, PostingCause, Rejection, Reply, Transfer};
use crate::partition::{Credit, Paying};
use crate::state_machine::StateMachine;
use crate::types::Id;

impl StateMachine {
    /// The payer's step of a transfer whose payee lives on another partition: debit the payer
    /// into transit and send the credit. The caller has checked the id, the amount and `from != to`.
    pub(in crate::state_machine) fn transfer_out(
        &mut self,
        transfer: &Transfer,
        vacancy: Option<Vacancy>,
        fingerprint: u64,
        events: &mut Vec<crate::command::Event>,
    ) -> Result<Option<Filled>, Rejection> {
        self.payer_can_send(transfer)?;
        let vacancy = vacancy.ok_or(Rejection::IdTableFull)?;
        let filled = self.debit_out(transfer, vacancy, fingerprint, events);
        let number = self.send_credit(
            &transfer.from,
            Paying::Transfer(transfer.id.clone()),
            &transfer.to,
            transfer.amount,
            transfer.currency,
        );
        self.state.transit.by_transfer.insert(transfer.id.clone(), number);
        Ok(Some(filled))
    }

    /// Whether a transfer's payer may send it elsewhere (missing, closed, currency, funds).
    pub(in crate::state_machine) fn payer_can_send(&self, transfer: &Transfer) -> Result<(), Rejection> {
        let from = self.state.accounts.get(&transfer.from).ok_or(Rejection::AccountNotFound)?;
        from.usable(transfer.currency)?;
        from.can_debit(transfer.amount)
    }

    /// Debits a transfer's payer into the transit and remembers its id.
    pub(in crate::state_machine) fn debit_out(
        &mut self,
        transfer: &Transfer,
        vacancy: Vacancy,
        fingerprint: u64,
        events: &mut Vec<crate::command::Event>,
    ) -> Filled {
        let delta = i64::try_from(transfer.amount).expect("amounts are at most AMOUNT_MINOR_MAX");
        self.post(&transfer.from, -delta, 0, PostingCause::Transfer(transfer.id.clone()), events);
        self.state.ids.fill(vacancy, fingerprint)
    }

    /// A repeat of transfer `id`: if it is still in flight, its outcome is pending too.
    pub(in crate::state_machine) fn repeat_in_flight(&mut self, id: &Id) {
        if let Some(number) = self.state.transit.by_transfer.get(id) {
            self.pending = Some(*number);
        }
    }

    /// The answer to a transfer's credit: the transfer's outcome (a refusal refunds the payer and
    /// frees the id).
    pub(super) fn transfer_settled(
        &mut self,
        from: &Id,
        credit: &Credit,
        transfer: &Id,
        refused: Option<Rejection>,
        output: &mut crate::state_machine::CommitOutput,
    ) -> Outcome {
        self.state.transit.by_transfer.remove(transfer);
        self.answer_waiting_legs(transfer, refused);
        let Some(rejection) = refused else { return Outcome::Applied(Reply::Done) };
        self.refund_payer(from, credit, &mut output.events);
        // A refused transfer is not remembered: a retry may apply once the payee can take it,
        // as on one partition.
        self.state.ids.forget(self.config.id_hasher.hash(IdKind::Transfer, transfer));
        Outcome::Rejected(rejection)
    }
}
