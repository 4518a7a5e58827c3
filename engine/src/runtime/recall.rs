//! Idempotency past the id table's window: before a batch commits, the executor looks up in
//! storage (the transfer index, `wal/transfers.rs`) every transfer, deposit and withdrawal id
//! of the batch that its id table no longer remembers. One applied within
//! [`EngineConfig::idempotency_retention_ms`](super::EngineConfig::idempotency_retention_ms)
//! goes into the batch as a [`TransitMessage::Remembered`], logged with it: the machine
//! remembers the id again before the command applies, so a late retry gets its first answer
//! instead of applying twice, and replay decides alike.
//!
//! Limits: the index keeps its newest [`TRANSFER_INDEX_BYTES_MAX`](crate::wal::TRANSFER_INDEX_BYTES_MAX)
//! of entries (about 200 million ids), so a retry older than that applies anew; a transfer the
//! payee's partition refused was never applied (its id is forgotten, as within the window).

use std::sync::Arc;

use super::id_filter::IdFilter;
use super::indexer::PendingTransfers;
use crate::command::{Command, Event, Movement, Submission, Transfer};
use crate::partition::{Remembered, TransitMessage};
use crate::state_machine::{ForgottenId, StateMachine};
use crate::types::TimestampMs;
use crate::wal::{EventLine, LineId, TransferIndexKey, TransferKey, TransferLookup, Wal, WalError, lookup_key};

/// What the executor needs to find ids in storage.
pub(super) struct Recall {
    pub(super) wal: Wal,
    /// Every money id seen (and, once filled on open, every id the index holds).
    pub(super) filter: Arc<IdFilter>,
    pub(super) pending: Arc<PendingTransfers>,
    pub(super) retention_ms: u64,
}

impl Recall {
    /// Appends to `messages` a `Remembered` for each money command of `commands` whose id
    /// `machine` no longer remembers and storage shows applied within the retention. Starts
    /// the batch at `now_ms` (`StateMachine::forgotten_ids`). A new id costs a probe of the
    /// in-memory filter (`id_filter.rs`); the ids it may hold, one batched probe of the index's
    /// bloom filters for the whole batch; only ids found there are read.
    pub(super) fn recall(
        &self,
        machine: &mut StateMachine,
        now_ms: TimestampMs,
        commands: &[Submission],
        messages: &mut Vec<TransitMessage>,
    ) {
        let mut keys = Vec::new();
        let forgotten = machine.forgotten_ids(now_ms, commands, &mut keys);
        self.filter.warm(&keys);
        // A new id is almost always absent from the filter: no storage lookup.
        let forgotten: Vec<ForgottenId> =
            forgotten.into_iter().filter(|id| self.filter.may_contain(&id.index_key)).collect();
        for key in &keys {
            self.filter.insert(key, now_ms);
        }
        if forgotten.is_empty() {
            return;
        }
        let before = messages.len();
        if let Err(error) = self.look_up(machine, now_ms, commands, forgotten, messages) {
            // The commands apply as new ones; a storage that fails reads fails the write too.
            tracing::warn!(%error, "looking up old ids in storage failed");
        }
        metrics::counter!("kassa_ids_recalled_total").increment((messages.len() - before) as u64);
    }

    /// Probes the index for every forgotten id at once, then reads the few it holds.
    fn look_up(
        &self,
        machine: &StateMachine,
        now_ms: TimestampMs,
        commands: &[Submission],
        mut forgotten: Vec<ForgottenId>,
        messages: &mut Vec<TransitMessage>,
    ) -> Result<(), WalError> {
        forgotten.sort_unstable_by_key(|id| id.index_key);
        let keys: Vec<TransferIndexKey> = forgotten.iter().map(|id| lookup_key(&id.index_key, 0)).collect();
        let indexed = self.wal.indexed(&keys)?;
        for (id, _) in forgotten.into_iter().zip(indexed).filter(|(_, indexed)| *indexed) {
            let remembered = match (&commands[id.command].command, id.leg) {
                (Command::Transfer(transfer), None) => self.transfer(machine, now_ms, transfer, &id.index_key)?,
                (Command::TransferBatch(batch), Some(leg)) => {
                    self.transfer(machine, now_ms, &batch.transfers[leg], &id.index_key)?
                }
                (Command::Deposit(movement) | Command::Withdraw(movement), None) => {
                    self.movement(now_ms, movement, &id.index_key)?
                }
                _ => None,
            };
            messages.extend(remembered.map(TransitMessage::Remembered));
        }
        Ok(())
    }

    /// A transfer the table forgot, as storage shows it was applied.
    fn transfer(
        &self,
        machine: &StateMachine,
        now_ms: TimestampMs,
        transfer: &Transfer,
        key: &TransferKey,
    ) -> Result<Option<Remembered>, WalError> {
        let Some(TransferLookup { debit, credit: Some(credit) }) =
            self.wal.transfer(key, &transfer.id, &self.held())?
        else {
            // Not applied, or its credit still on the way (the table remembers those).
            return Ok(None);
        };
        let (Some(payer), Some(payee)) = (self.posting_within(&debit, now_ms), posting(&credit)) else {
            return Ok(None);
        };
        if payee.0 == payer.0 {
            return Ok(None); // Refunded by the payee's partition: never applied.
        }
        let Some(account) = machine.account(payer.0) else { return Ok(None) };
        Ok(Some(Remembered::Transfer(Transfer {
            id: transfer.id.clone(),
            from: payer.0.clone(),
            to: payee.0.clone(),
            amount: payer.1.unsigned_abs(),
            currency: account.currency,
        })))
    }

    /// A deposit or withdrawal the table forgot, as storage shows it was applied.
    fn movement(
        &self,
        now_ms: TimestampMs,
        movement: &Movement,
        key: &TransferKey,
    ) -> Result<Option<Remembered>, WalError> {
        let Some(line) = self.wal.movement(key, &movement.id, &self.held())? else { return Ok(None) };
        let Some((account, delta)) = self.posting_within(&line, now_ms) else { return Ok(None) };
        let applied = Movement { id: movement.id.clone(), account: account.clone(), amount: delta.unsigned_abs() };
        Ok(Some(if delta > 0 { Remembered::Deposit(applied) } else { Remembered::Withdrawal(applied) }))
    }

    /// The index entries the indexer holds in memory (not yet in table files).
    fn held(&self) -> impl Fn(&TransferIndexKey) -> Option<LineId> + '_ {
        |key| self.pending.entries.read().get(key)
    }

    /// A posting's account and change, if it was made within the retention.
    fn posting_within<'a>(&self, line: &'a EventLine, now_ms: TimestampMs) -> Option<(&'a crate::types::Id, i64)> {
        (line.record.at_ms.saturating_add(self.retention_ms) >= now_ms).then(|| posting(line)).flatten()
    }
}

fn posting(line: &EventLine) -> Option<(&crate::types::Id, i64)> {
    match &line.record.event {
        Event::Posting(posting) => Some((&posting.account, posting.posted_delta)),
        _ => None,
    }
}
