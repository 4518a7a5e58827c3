//! Transfers by id (`Engine::transfer`): found through the index the indexer derives from the
//! log (`wal/events.rs`), shown to whoever may read the payer's or the payee's account; and the
//! metadata of what commands created (`Engine::metadata`), stored with the history.

use super::{Engine, QueryError};
use crate::authority::Read;
use crate::command::{Event, Principal};
use crate::metadata::{Metadata, MetadataKind};
use crate::state_machine::Account;
use crate::types::{Currency, Id, TimestampMs};
use crate::wal::{EventLine, LineId, TransferIndexKey, TransferLookup, WalError, lookup_key};

/// Where a transfer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferStatus {
    /// Both sides posted.
    Posted,
    /// The payer debited; the payee's partition has not credited it yet.
    InTransit,
    /// The payee's partition refused it; the payer was refunded. (A transfer refused on its
    /// payer's partition posts nothing and is not found.)
    Refunded,
}

/// A transfer as its postings tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRecord {
    /// The debited account.
    pub from: Id,
    /// The credited account, once credited.
    pub to: Option<Id>,
    /// Minor units.
    pub amount: u64,
    /// The payer account's currency.
    pub currency: Currency,
    /// Where it is.
    pub status: TransferStatus,
    /// When the payer was debited.
    pub debited_at_ms: TimestampMs,
    /// When the payee was credited (or the payer refunded).
    pub settled_at_ms: Option<TimestampMs>,
    /// The debit's position in the event feed.
    pub debit: LineId,
    /// The credit's (or refund's) position.
    pub credit: Option<LineId>,
    /// What the caller attached when it created the transfer (empty if nothing).
    pub metadata: Metadata,
}

fn posting_account(line: &EventLine) -> Option<&Id> {
    match &line.record.event {
        Event::Posting(posting) => Some(&posting.account),
        _ => None,
    }
}

impl Engine {
    /// Up to `limit` of the accounts `principal`'s tenant opened, read from every partition and
    /// merged in id order after `starting_after`, and whether more remain (the admin's list is
    /// empty: it opens none). Includes every command acknowledged before the call. Blocking.
    pub fn accounts_owned(
        &self,
        principal: &Principal,
        limit: usize,
        starting_after: Option<&Id>,
    ) -> Result<super::ObjectPage<Account>, QueryError> {
        let mut objects: Vec<(Id, Account)> = Vec::new();
        let mut has_more = false;
        for partition in 0..self.placement().count() {
            let (owner, cursor) = (principal.clone(), starting_after.cloned());
            let (found, more) = self.read_partition_blocking(partition, move |machine| {
                let (ids, more) = machine.accounts_owned(&owner, limit, cursor.as_ref());
                let found: Vec<_> =
                    ids.into_iter().filter_map(|id| Some((id.clone(), machine.account(&id)?.clone()))).collect();
                (found, more)
            })?;
            objects.extend(found);
            has_more |= more;
        }
        objects.sort_by(|left, right| left.0.cmp(&right.0));
        has_more |= objects.len() > limit;
        objects.truncate(limit);
        Ok(super::ObjectPage { objects, has_more })
    }

    /// The newest transfer with id `id`, if `principal` may read its payer's or payee's account
    /// (the admin: any; to anyone else a transfer that does not exist is [`QueryError::Forbidden`],
    /// like another tenant's). Includes every command acknowledged before the call. Blocking.
    pub fn transfer(&self, principal: &Principal, id: &Id) -> Result<Option<TransferRecord>, QueryError> {
        self.wait_for_indexer();
        let admin = matches!(principal, Principal::Admin);
        let Some(TransferLookup { debit, credit }) = self.lookup_transfer(id)? else {
            return if admin { Ok(None) } else { Err(QueryError::Forbidden) };
        };
        let Event::Posting(posting) = &debit.record.event else { unreachable!("the index points at postings") };
        let from = posting.account.clone();
        let credited = credit.as_ref().and_then(posting_account).cloned();
        let status = match &credited {
            None => TransferStatus::InTransit,
            Some(account) if *account == from => TransferStatus::Refunded,
            Some(_) => TransferStatus::Posted,
        };
        let to = credited.filter(|account| *account != from);
        let (may_read_payer, currency) = self.read_account_as(principal, &from)?;
        let may_read = may_read_payer
            || match &to {
                Some(payee) => self.read_account_as(principal, payee)?.0,
                None => false,
            };
        let Some(currency) = currency.filter(|_| may_read) else { return Err(QueryError::Forbidden) };
        Ok(Some(TransferRecord {
            from,
            to,
            amount: posting.posted_delta.unsigned_abs(),
            currency,
            status,
            debited_at_ms: debit.record.at_ms,
            settled_at_ms: credit.as_ref().map(|line| line.record.at_ms),
            debit: debit.id,
            credit: credit.map(|line| line.id),
            // The payer's side attached it: its readers only, as in the feed (a payee of another
            // tenant sees the transfer, not what the payer noted on it).
            metadata: if may_read_payer {
                self.stored_metadata(MetadataKind::Transfer, id)?
            } else {
                Metadata::default()
            },
        }))
    }

    /// The metadata attached to object `id` of `kind` when it was created (empty if none), if
    /// `principal` may read the object (a transfer's: its payer's account; its payee's readers
    /// see the transfer with empty metadata). Includes
    /// every command acknowledged before the call. Blocking.
    pub fn metadata(&self, principal: &Principal, kind: MetadataKind, id: &Id) -> Result<Metadata, QueryError> {
        let read = match kind {
            // To a tenant an unknown transfer is `Forbidden` already; to the admin, no metadata.
            MetadataKind::Transfer => {
                return Ok(self.transfer(principal, id)?.map(|record| record.metadata).unwrap_or_default());
            }
            MetadataKind::Hold => Read::Hold(id.clone()),
            MetadataKind::Settlement => Read::Settlement(id.clone()),
            MetadataKind::Bill => Read::Bill(id.clone()),
            MetadataKind::Split => Read::Split(id.clone()),
        };
        // Holds and settlements may have left memory for storage: `archived.rs` checks them there.
        let partition = self.partition_of_read(&read)?;
        let allowed = self.may_read_on(partition, principal, vec![(0, read)])?;
        if !allowed.first().is_some_and(|(_, may)| *may) {
            return Err(QueryError::Forbidden);
        }
        self.wait_for_indexer();
        Ok(self.stored_metadata(kind, id)?)
    }

    /// The metadata of object `id` of `kind` (empty if none): held by the indexer (the newest),
    /// else in table files.
    fn stored_metadata(&self, kind: MetadataKind, id: &Id) -> Result<Metadata, WalError> {
        if let Some(metadata) = self.held_history.lines.read().metadata(kind, id)? {
            return Ok(metadata);
        }
        Ok(self.wal.metadata(kind, id)?.unwrap_or_default())
    }

    /// Transfer `id` in the index: the entries the indexer holds first (the newest), then the
    /// table files.
    fn lookup_transfer(&self, id: &Id) -> Result<Option<TransferLookup>, QueryError> {
        let key = self.transfer_keys.index_key(id);
        // Copied out, so that the indexer never waits for a lookup's reads from storage.
        let held: Vec<(TransferIndexKey, LineId)> = {
            let pending = self.pending_transfers.entries.read();
            (0..=1).filter_map(|side| Some((lookup_key(&key, side), pending.get(&lookup_key(&key, side))?))).collect()
        };
        let pending =
            |wanted: &TransferIndexKey| held.iter().find(|(key, _)| key == wanted).map(|(_, position)| *position);
        Ok(self.wal.transfer(&key, id, &pending)?)
    }

    /// Whether `principal` may read `account` (`read_account`), and its currency.
    fn read_account_as(&self, principal: &Principal, account: &Id) -> Result<(bool, Option<Currency>), QueryError> {
        let (principal, account) = (principal.clone(), account.clone());
        let partition = self.placement.of_account(&account);
        let answer = self.read_partition_blocking(partition, move |machine| {
            let allowed = machine.check_read(&principal, &Read::Account(account.clone())).is_ok();
            (allowed, machine.account(&account).map(|found| found.currency))
        })?;
        Ok(answer)
    }
}
