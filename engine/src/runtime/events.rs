//! The event feed (`Engine::events`): every event of every durable record in log order, from a
//! cursor, scoped to what the caller may read. Events are derived from the log off the
//! acknowledgement path (the indexer, `wal/events.rs`); their positions (`"<seq>.<index>"`) are
//! the log's, so a consumer that stores the last position it handled resumes exactly there,
//! across restarts of the engine.

use std::collections::{BTreeMap, HashMap};

use super::{Engine, SubmitError};
use crate::authority::Read;
use crate::command::{Event, ObjectKind, Principal};
use crate::metadata::MetadataKind;
use crate::partition::{DirectoryKind, PartitionId};
use crate::wal::{EventLine, LineId, WalError};

/// Most events one page of a tenant's feed looks at, visible or not: a page costs a bounded
/// read whatever the feed holds, and `next_after` says where the next one goes on.
pub const EVENTS_SCAN_MAX: usize = 4_096;

/// A page of the event feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPage {
    /// The events, oldest first.
    pub events: Vec<EventLine>,
    /// The cursor of the next page: the last position this page looked at (a tenant's page may
    /// pass over events it may not see), or the cursor it was asked with when there was none.
    pub next_after: Option<LineId>,
    /// Whether the feed holds events after `next_after` now.
    pub has_more: bool,
}

/// Why a query of derived data (the event feed, a transfer by id) got no answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Reading from storage failed.
    #[error(transparent)]
    Storage(#[from] WalError),
    /// The engine could not answer the authority check.
    #[error(transparent)]
    Engine(#[from] SubmitError),
    /// The caller may not see it (or, to anyone but the admin, it does not exist).
    #[error("forbidden")]
    Forbidden,
}

/// The read an event is about: a tenant sees an event iff it may make this read
/// (`authority::RULES`, the read rows). Registrations of merchants, terminals, operators and API
/// keys, and wrong-code attempts, are the admin's only (`None`).
pub fn event_read(event: &Event) -> Option<Read> {
    match event {
        Event::Posting(posting) => Some(Read::Account(posting.account.clone())),
        Event::Changed { object, id, .. } => {
            let id = id.clone();
            match object {
                ObjectKind::Account => Some(Read::Account(id)),
                ObjectKind::Hold => Some(Read::Hold(id)),
                ObjectKind::Authorization => Some(Read::Authorization(id)),
                ObjectKind::Bill => Some(Read::Bill(id)),
                ObjectKind::Split => Some(Read::Split(id)),
                ObjectKind::Coupon => Some(Read::Coupon(id)),
                ObjectKind::User => Some(Read::User(id)),
                ObjectKind::Settlement => Some(Read::Settlement(id)),
                ObjectKind::Merchant | ObjectKind::Terminal | ObjectKind::Operator | ObjectKind::ApiKey => None,
            }
        }
        Event::CodeRejected { .. } => None,
        Event::Annotated { kind, id, payer, .. } => {
            let id = id.clone();
            match kind {
                MetadataKind::Transfer => payer.clone().map(Read::Account),
                MetadataKind::Hold => Some(Read::Hold(id)),
                MetadataKind::Settlement => Some(Read::Settlement(id)),
                MetadataKind::Bill => Some(Read::Bill(id)),
                MetadataKind::Split => Some(Read::Split(id)),
            }
        }
    }
}

impl Engine {
    /// Up to `limit` (at least 1) events after position `after` (or from the first) that
    /// `principal` may see, oldest first; includes every command acknowledged before the call.
    /// The admin sees every event; a tenant those of objects it may read ([`event_read`]),
    /// checked on the partitions that hold them, looking at no more than [`EVENTS_SCAN_MAX`]
    /// events per page. Blocking (RocksDB reads): call it off async workers.
    pub fn events(&self, principal: &Principal, after: Option<LineId>, limit: usize) -> Result<EventPage, QueryError> {
        self.wait_for_indexer();
        let limit = limit.max(1);
        let admin = matches!(principal, Principal::Admin);
        let scan = if admin { limit } else { EVENTS_SCAN_MAX.max(limit) };
        let (lines, more) = self.wal.events_after(after, scan)?;
        if admin {
            let next_after = lines.last().map(|line| line.id).or(after);
            return Ok(EventPage { events: lines, next_after, has_more: more });
        }
        let visible = self.visible_to(principal, &lines)?;
        let (mut events, mut next_after, mut stopped) = (Vec::new(), after, false);
        for (line, visible) in lines.into_iter().zip(visible) {
            if events.len() == limit {
                stopped = true;
                break;
            }
            next_after = Some(line.id);
            if visible {
                events.push(line);
            }
        }
        Ok(EventPage { events, next_after, has_more: more || stopped })
    }

    /// Which of `lines` `principal` may see: one read per partition holding their objects.
    pub(super) fn visible_to(&self, principal: &Principal, lines: &[EventLine]) -> Result<Vec<bool>, QueryError> {
        let mut visible = vec![false; lines.len()];
        let mut by_partition: BTreeMap<PartitionId, Vec<(usize, Read)>> = BTreeMap::new();
        // An object's partition once per page, however many of its events the page
        // holds (one that left memory costs a storage read to place).
        let mut placed: HashMap<(DirectoryKind, crate::types::Id), PartitionId> = HashMap::new();
        for (index, line) in lines.iter().enumerate() {
            if let Some(read) = event_read(&line.record.event) {
                let key = match &read {
                    Read::Hold(id) => Some((DirectoryKind::Hold, id.clone())),
                    Read::Split(id) => Some((DirectoryKind::Split, id.clone())),
                    Read::Authorization(id) => Some((DirectoryKind::Authorization, id.clone())),
                    Read::Settlement(id) => Some((DirectoryKind::Settlement, id.clone())),
                    Read::Bill(id) => Some((DirectoryKind::Bill, id.clone())),
                    _ => None,
                };
                let partition = match key {
                    Some(key) => match placed.get(&key) {
                        Some(partition) => *partition,
                        None => *placed.entry(key).or_insert(self.partition_of_read(&read)?),
                    },
                    None => self.partition_of_read(&read)?,
                };
                by_partition.entry(partition).or_default().push((index, read));
            }
        }
        for (partition, reads) in by_partition {
            // Settlements, authorizations, holds... may have left memory: `archived.rs`.
            for (index, may_read) in self.may_read_on(partition, principal, reads)? {
                visible[index] = may_read;
            }
        }
        Ok(visible)
    }
}
