//! Ids remembered again: a transfer, deposit or withdrawal applied longer ago than the id
//! table's window, which the executor found in storage because a command names it again
//! ([`TransitMessage::Remembered`](crate::partition::TransitMessage::Remembered)). Applied at
//! the start of the batch, it puts the id back in the table with the first body's fingerprint,
//! so the repeat in the same batch is answered as a repeat is within the window.

use super::StateMachine;
use super::accounts::{movement_fingerprint, transfer_fingerprint};
use super::idempotency::{IdKind, Lookup};
use crate::command::{Command, Submission};
use crate::partition::Remembered;
use crate::types::{Id, TimestampMs};

/// A transfer, deposit or withdrawal id of a batch that the id table does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForgottenId {
    /// The command's place in the batch.
    pub command: usize,
    /// For a `TransferBatch`, the leg's place in it.
    pub leg: Option<usize>,
    /// The id's key in the transfer index (`wal/transfers.rs`).
    pub index_key: [u8; 16],
}

impl StateMachine {
    /// Whether the id table holds `id` of a transfer (`transfer`) or of a deposit or withdrawal.
    pub fn remembers(&self, transfer: bool, id: &Id) -> bool {
        let kind = if transfer { IdKind::Transfer } else { IdKind::Movement };
        matches!(self.state.ids.lookup(self.config.id_hasher.hash(kind, id)), Lookup::Found(_))
    }

    /// The transfer, deposit and withdrawal ids of `batch` that the id table does not hold at
    /// `now_ms` (the executor looks for them in storage). Starts the batch at `now_ms`, as
    /// `commit` would (so an id that expires as this batch turns the epoch over counts as
    /// forgotten), and brings the table's buckets for the batch into cache, all misses at once.
    /// Every money id's index key goes into `keys`.
    pub fn forgotten_ids(
        &mut self,
        now_ms: TimestampMs,
        batch: &[Submission],
        keys: &mut Vec<[u8; 16]>,
    ) -> Vec<ForgottenId> {
        self.begin_batch(now_ms);
        let hasher = &self.config.id_hasher;
        let mut hashed = Vec::new();
        for (command, submission) in batch.iter().enumerate() {
            match &submission.command {
                Command::Transfer(transfer) => {
                    hashed.push((command, None, hasher.hash_and_index_key(IdKind::Transfer, &transfer.id)));
                }
                Command::TransferBatch(legs) => {
                    for (leg, transfer) in legs.transfers.iter().enumerate() {
                        hashed.push((command, Some(leg), hasher.hash_and_index_key(IdKind::Transfer, &transfer.id)));
                    }
                }
                Command::Deposit(movement) | Command::Withdraw(movement) => {
                    hashed.push((command, None, hasher.hash_and_index_key(IdKind::Movement, &movement.id)));
                }
                _ => {}
            }
        }
        keys.extend(hashed.iter().map(|(.., (_, key))| *key));
        self.warming.clear();
        self.warming.extend(hashed.iter().map(|(.., (hash, _))| *hash));
        self.state.ids.warm(&self.warming);
        hashed
            .into_iter()
            .filter(|(.., (hash, _))| !matches!(self.state.ids.lookup(*hash), Lookup::Found(_)))
            .map(|(command, leg, (_, index_key))| ForgottenId { command, leg, index_key })
            .collect()
    }

    /// Puts a remembered id back in the table (nothing if it is there already, or if its
    /// buckets are full: the repeat is then refused `id_table_full`, as a new id would be).
    pub(super) fn remember(&mut self, remembered: &Remembered) {
        let (kind, id, fingerprint) = match remembered {
            Remembered::Transfer(transfer) => (IdKind::Transfer, &transfer.id, transfer_fingerprint(transfer)),
            Remembered::Deposit(movement) => (IdKind::Movement, &movement.id, movement_fingerprint(movement, true)),
            Remembered::Withdrawal(movement) => (IdKind::Movement, &movement.id, movement_fingerprint(movement, false)),
        };
        if let Lookup::Vacant(vacancy) = self.state.ids.lookup(self.config.id_hasher.hash(kind, id)) {
            self.state.ids.fill(vacancy, fingerprint);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{Harness, id, transfer};
    use crate::command::*;
    use crate::partition::{Remembered, TransitMessage};
    use crate::state_machine::CommitOutput;

    fn commit(h: &mut Harness, remembered: Remembered, command: Command) -> CommitOutput {
        let mut output = CommitOutput::default();
        let messages = [TransitMessage::Remembered(remembered)];
        h.machine.commit_with_messages(h.now, &messages, &[Submission::admin(command)], &mut output);
        h.machine.check_invariants();
        output
    }

    #[test]
    fn a_remembered_id_answers_its_repeat_and_moves_nothing() {
        let mut h = Harness::new();
        h.open("a", 0);
        h.open("b", 0);
        h.deposit("a", 1_000);
        let first = transfer("t-old", "a", "b", 100);
        assert!(!h.machine.remembers(true, &id("t-old")));
        let output = commit(&mut h, Remembered::Transfer(first.clone()), Command::Transfer(first.clone()));
        assert_eq!(output.outcomes, [Outcome::Applied(Reply::Done)]);
        assert!(output.events.is_empty(), "a repeat posts nothing");
        assert!(h.machine.remembers(true, &id("t-old")));
        assert_eq!(h.balance("a").0, 1_000);
        // Another body with the id: refused, as within the window.
        let other = transfer("t-old", "a", "b", 99);
        assert_eq!(h.rejected(Command::Transfer(other)), Rejection::IdReused);

        let deposit = Movement { id: id("d-old"), account: id("a"), amount: 5 };
        let output = commit(&mut h, Remembered::Deposit(deposit.clone()), Command::Deposit(deposit.clone()));
        assert_eq!((output.outcomes[0].clone(), output.events.len()), (Outcome::Applied(Reply::Done), 0));
        // A withdrawal is another body than a deposit of the same id and amount.
        assert_eq!(h.rejected(Command::Withdraw(deposit)), Rejection::IdReused);
        assert_eq!(h.balance("a").0, 1_000);
    }
}
