//! A bounded idempotency index: ids of applied commands, remembered for a retention window.
//!
//! Two generations: new ids go into `current`; when `now` has passed the current generation's
//! start by [`IDEMPOTENCY_WINDOW_MS`], `current` becomes `previous` (the old `previous` is
//! dropped) and a new generation starts. A lookup checks both, so an id is recognised for at
//! least one window and at most two after it was applied, and memory holds at most two windows
//! of ids instead of growing forever. Rotation is driven by the batch's `now`, which is in the
//! log: replay forgets exactly what the live engine forgot.

use serde::{Deserialize, Serialize};

use super::{Map, presized};
use crate::constants::IDEMPOTENCY_WINDOW_MS;
use crate::types::{Id, TimestampMs};

/// Ids of applied commands with what a repeat is compared against (a body or its fingerprint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(deserialize = "V: Deserialize<'de>"))]
pub struct IdempotencyIndex<V> {
    #[serde(deserialize_with = "presized")]
    current: Map<Id, V>,
    #[serde(deserialize_with = "presized")]
    previous: Map<Id, V>,
    /// When the current generation started.
    generation_ms: TimestampMs,
}

impl<V> Default for IdempotencyIndex<V> {
    fn default() -> Self {
        IdempotencyIndex { current: Map::default(), previous: Map::default(), generation_ms: 0 }
    }
}

impl<V> IdempotencyIndex<V> {
    /// What was remembered for `id`, if it is still remembered.
    pub(crate) fn get(&self, id: &Id) -> Option<&V> {
        match self.current.get(id) {
            Some(value) => Some(value),
            // Most of the time (the first window, and right after a repeat-free one) the previous
            // generation is empty: skip hashing the id again.
            None if self.previous.is_empty() => None,
            None => self.previous.get(id),
        }
    }

    /// Whether `id` is still remembered.
    pub(crate) fn contains(&self, id: &Id) -> bool {
        self.get(id).is_some()
    }

    /// Remembers `id` (in the current generation).
    pub(crate) fn insert(&mut self, id: Id, value: V) {
        self.current.insert(id, value);
    }

    /// Forgets an id inserted in this batch (undo of a linked batch).
    pub(crate) fn remove_new(&mut self, id: &Id) {
        self.current.remove(id);
    }

    /// Starts a new generation once the current one is a window old.
    pub(crate) fn rotate(&mut self, now_ms: TimestampMs) {
        if now_ms >= self.generation_ms.saturating_add(IDEMPOTENCY_WINDOW_MS) {
            self.previous = std::mem::take(&mut self.current);
            self.generation_ms = now_ms;
        }
    }

    /// Ids remembered, both generations.
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> Id {
        Id::new(text).unwrap()
    }

    #[test]
    fn ids_are_remembered_for_one_window_at_least_and_two_at_most() {
        let start = 1_700_000_000_000;
        let mut index = IdempotencyIndex::default();
        index.rotate(start);
        index.insert(id("a"), 1u64);
        // Just before a window: still there, still in the first generation.
        index.rotate(start + IDEMPOTENCY_WINDOW_MS - 1);
        assert_eq!(index.get(&id("a")), Some(&1));
        // A window later the generation turns; "a" is remembered in the previous one.
        index.rotate(start + IDEMPOTENCY_WINDOW_MS);
        index.insert(id("b"), 2);
        assert_eq!((index.get(&id("a")), index.get(&id("b")), index.len()), (Some(&1), Some(&2), 2));
        // Another window: "a" is forgotten, "b" (applied a window ago) is still there.
        index.rotate(start + 2 * IDEMPOTENCY_WINDOW_MS);
        assert!(!index.contains(&id("a")));
        assert!(index.contains(&id("b")));
        index.remove_new(&id("b"));
        assert!(index.contains(&id("b")), "only ids of the current generation can be undone");
    }
}
