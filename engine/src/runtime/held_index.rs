//! The transfer index entries the indexer holds before it ingests them as one table file, kept
//! as sorted runs instead of a hash map: inserting each transfer's entry into a map of a
//! million random 128-bit keys was a third of the indexer's CPU (a cache miss per entry;
//! BENCHMARKS.md, "The indexer's held transfer index entries as sorted runs"), while lookups,
//! which read them, are rare (a transfer read by id, an id recalled from storage).
//!
//! Each indexer write sorts its entries into a run (sequential work, newest per key) outside
//! the lock; runs of similar length are merged, so at most about log2(entries) runs are held
//! and a lookup binary-searches each, newest first. Ingestion merges them into one sorted list.

use std::sync::Arc;

use crate::wal::{LineId, TransferEntry, TransferIndexKey, newest_per_key};

/// One sorted run: keys ascending, one entry per key (the newest).
type Run = Arc<Vec<(TransferIndexKey, LineId)>>;

/// Sorted runs of held transfer index entries, oldest first (cloned cheaply: runs are shared).
#[derive(Debug, Default, Clone)]
pub(super) struct HeldEntries {
    runs: Vec<Run>,
}

impl HeldEntries {
    /// The runs after adding `entries` (an indexer write's, in record order): sorted into a
    /// run, then merged with the newest runs while the newest is at least half as long as the
    /// one before it. Computed without the lock; only the indexer adds entries, so it replaces
    /// the held runs with these ([`HeldEntries::replace`]).
    pub(super) fn with(&self, entries: Vec<TransferEntry>) -> HeldEntries {
        let mut runs = self.runs.clone();
        let run = newest_per_key(entries);
        if run.is_empty() {
            return HeldEntries { runs };
        }
        runs.push(Arc::new(run));
        while let [.., older, newer] = runs.as_slice()
            && older.len() <= 2 * newer.len()
        {
            let merged = merge(older, newer);
            runs.truncate(runs.len() - 2);
            runs.push(Arc::new(merged));
        }
        HeldEntries { runs }
    }

    /// Takes `newer`'s runs (computed by [`HeldEntries::with`] from these).
    pub(super) fn replace(&mut self, newer: HeldEntries) {
        self.runs = newer.runs;
    }

    /// The newest position held for `key`.
    pub(super) fn get(&self, key: &TransferIndexKey) -> Option<LineId> {
        self.runs.iter().rev().find_map(|run| {
            let index = run.binary_search_by(|(held, _)| held.cmp(key)).ok()?;
            Some(run[index].1)
        })
    }

    /// Entries held (a key held in two runs counts twice).
    pub(super) fn len(&self) -> usize {
        self.runs.iter().map(|run| run.len()).sum()
    }

    /// Every key held once, ascending, with its newest position: what a table file holds.
    pub(super) fn merged(&self) -> Vec<(TransferIndexKey, LineId)> {
        match self.runs.as_slice() {
            [] => Vec::new(),
            [only] => only.to_vec(),
            [first, rest @ ..] => rest.iter().fold(first.to_vec(), |older, newer| merge(&older, newer)),
        }
    }

    /// Forgets every entry (they are in table files).
    pub(super) fn clear(&mut self) {
        self.runs.clear();
    }
}

/// Two sorted runs as one; of a key in both, `newer`'s position.
fn merge(
    older: &[(TransferIndexKey, LineId)],
    newer: &[(TransferIndexKey, LineId)],
) -> Vec<(TransferIndexKey, LineId)> {
    let mut merged = Vec::with_capacity(older.len() + newer.len());
    let (mut left, mut right) = (older.iter().peekable(), newer.iter().peekable());
    loop {
        let next = match (left.peek(), right.peek()) {
            (Some(old), Some(new)) => match old.0.cmp(&new.0) {
                std::cmp::Ordering::Less => left.next(),
                std::cmp::Ordering::Greater => right.next(),
                std::cmp::Ordering::Equal => {
                    left.next();
                    right.next()
                }
            },
            (Some(_), None) => left.next(),
            (None, Some(_)) => right.next(),
            (None, None) => break,
        };
        merged.extend(next.copied());
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: u8, seq: u64) -> TransferEntry {
        let mut entry = [0u8; 29];
        entry[0] = key;
        entry[17..25].copy_from_slice(&seq.to_be_bytes());
        entry
    }

    fn key(key: u8) -> TransferIndexKey {
        let mut bytes = [0u8; 17];
        bytes[0] = key;
        bytes
    }

    #[test]
    fn the_newest_position_of_a_key_wins_in_lookups_and_in_the_merge() {
        let mut held = HeldEntries::default();
        // Ten writes of different sizes, key 7 written by the first and the last.
        for seq in 1..=10u64 {
            let mut entries: Vec<TransferEntry> = (0..seq).map(|n| entry(100 + (n * 13 + seq) as u8, seq)).collect();
            if seq == 1 || seq == 10 {
                entries.push(entry(7, seq));
            }
            let newer = held.with(entries);
            held.replace(newer);
        }
        assert!(held.runs.len() < 10, "runs of similar length are merged");
        assert_eq!(held.get(&key(7)).map(|position| position.seq), Some(10));
        assert_eq!(held.get(&key(6)), None);
        let merged = held.merged();
        assert!(merged.windows(2).all(|pair| pair[0].0 < pair[1].0), "ascending, each key once");
        assert_eq!(merged.iter().find(|(held, _)| *held == key(7)).map(|(_, position)| position.seq), Some(10));
        for (held_key, position) in &merged {
            assert_eq!(held.get(held_key), Some(*position));
        }
        held.clear();
        assert_eq!((held.len(), held.get(&key(7))), (0, None));
    }

    #[test]
    fn later_entries_of_one_write_win() {
        let mut held = HeldEntries::default();
        let newer = held.with(vec![entry(3, 5), entry(3, 6), entry(1, 6)]);
        held.replace(newer);
        assert_eq!(held.get(&key(3)).map(|position| position.seq), Some(6));
        assert_eq!(held.len(), 2);
    }
}
