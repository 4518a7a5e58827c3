//! Account history, built from the postings the state machine emits.
//!
//! The embedded runtime keeps history in storage; this in-memory projection is what tests,
//! the demo and small embedders use. Applying the same events always gives the same history.

use std::collections::HashMap;

use crate::command::{Event, Posting};
use crate::types::{Id, TimestampMs};

/// One line of an account's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// When the batch that made it was committed.
    pub at_ms: TimestampMs,
    /// The balance change.
    pub posting: Posting,
}

/// Per-account history, in commit order.
#[derive(Debug, Default)]
pub struct History {
    entries: HashMap<Id, Vec<HistoryEntry>>,
}

impl History {
    /// Records the postings among `events`, committed at `at_ms`.
    pub fn record(&mut self, at_ms: TimestampMs, events: &[Event]) {
        for event in events {
            if let Event::Posting(posting) = event {
                let entry = HistoryEntry { at_ms, posting: posting.clone() };
                self.entries.entry(posting.account.clone()).or_default().push(entry);
            }
        }
    }

    /// The account's history, oldest first.
    pub fn of(&self, account: &Id) -> &[HistoryEntry] {
        self.entries.get(account).map_or(&[], Vec::as_slice)
    }
}
