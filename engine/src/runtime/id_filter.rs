//! A filter in front of the transfer index for the executor's question "was this forgotten id
//! applied within the retention?" (`recall.rs`): a blocked Bloom filter of index keys, in two
//! generations of one retention each, so that a new id, which the filter has never seen, costs
//! one memory probe instead of a RocksDB lookup. A "maybe" (every id applied in the last
//! retention, and about 1 % of the others) goes on to the index, which answers exactly.
//!
//! Every money id of every batch goes in (a superset of what is applied: refused ids too), and
//! on open a thread puts in every key the index holds, before which the filter answers "maybe"
//! for everything. The generations rotate by log time: the current one takes new keys; after
//! one retention it becomes the previous one, and the one before is cleared. So the filter
//! holds at least the last retention's ids. Lock-free: bits are set with `fetch_or`.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::types::TimestampMs;

/// Bits per expected key: about 1 % false positives with [`PROBES`] bits in a 512-bit block.
const BITS_PER_KEY: usize = 10;
/// Bits set per key, all in one 64-byte block (one cache line: one miss per probe).
const PROBES: u32 = 7;
/// `u64` words per block.
const BLOCK_WORDS: usize = 8;

/// One generation: `blocks` cache lines of bits.
struct Generation {
    words: Box<[AtomicU64]>,
}

impl Generation {
    fn new(keys: usize) -> Generation {
        let blocks = (keys * BITS_PER_KEY / 512).max(1);
        Generation { words: (0..blocks * BLOCK_WORDS).map(|_| AtomicU64::new(0)).collect() }
    }

    /// The word and bit of each probe of `key` (a uniform 128-bit hash already).
    fn probes(&self, key: &[u8; 16]) -> impl Iterator<Item = (usize, u64)> {
        let high = u64::from_be_bytes(key[..8].try_into().expect("8 bytes"));
        let block = self.block(key);
        (0..PROBES).map(move |probe| {
            let bit = (high >> (probe * 9)) & 511;
            (block + usize::try_from(bit / 64).expect("below 8"), 1u64 << (bit % 64))
        })
    }

    /// The first word of `key`'s block.
    fn block(&self, key: &[u8; 16]) -> usize {
        let low = u64::from_be_bytes(key[8..].try_into().expect("8 bytes"));
        let blocks = self.words.len() / BLOCK_WORDS;
        usize::try_from(low % blocks as u64).expect("fits usize") * BLOCK_WORDS
    }

    fn insert(&self, key: &[u8; 16]) {
        for (word, bit) in self.probes(key) {
            self.words[word].fetch_or(bit, Ordering::Relaxed);
        }
    }

    fn may_contain(&self, key: &[u8; 16]) -> bool {
        self.probes(key).all(|(word, bit)| self.words[word].load(Ordering::Relaxed) & bit != 0)
    }

    fn clear(&self) {
        self.words.iter().for_each(|word| word.store(0, Ordering::Relaxed));
    }

    /// Writes each page once (see `IdTable::touch_pages`).
    fn touch_pages(&self) {
        for word in self.words.iter().step_by(4096 / 8) {
            word.fetch_or(0, Ordering::Relaxed);
        }
    }
}

/// The filter shared by every partition's executor and the thread that fills it on open.
pub(super) struct IdFilter {
    generations: [Generation; 2],
    current: AtomicUsize,
    /// When the current generation started taking keys (log time).
    started_ms: AtomicU64,
    /// How long a generation takes keys: the retention.
    span_ms: u64,
    /// Until the keys already in the index are in, every question is answered "maybe".
    ready: AtomicBool,
    rotating: Mutex<()>,
}

impl IdFilter {
    /// A filter for about `keys` ids per generation (one retention's), spanning `span_ms`.
    pub(super) fn new(keys: usize, span_ms: u64) -> IdFilter {
        IdFilter {
            generations: [Generation::new(keys), Generation::new(keys)],
            current: AtomicUsize::new(0),
            started_ms: AtomicU64::new(0),
            span_ms: span_ms.max(1),
            ready: AtomicBool::new(false),
            rotating: Mutex::new(()),
        }
    }

    /// Backs both generations with real pages now, on the calling thread, so that the
    /// executors' first inserts do not fault (`IdTable::touch_pages`).
    pub(super) fn touch_pages(&self) {
        self.generations.iter().for_each(Generation::touch_pages);
    }

    /// Bytes the two generations take.
    pub(super) fn bytes(&self) -> usize {
        2 * self.generations[0].words.len() * 8
    }

    /// Puts in `key`, applied at `now_ms` (first moving to a new generation if the current one
    /// has spanned a retention).
    pub(super) fn insert(&self, key: &[u8; 16], now_ms: TimestampMs) {
        let started = self.started_ms.load(Ordering::Acquire);
        if started == 0 {
            let _ = self.started_ms.compare_exchange(0, now_ms.max(1), Ordering::AcqRel, Ordering::Acquire);
        } else if now_ms.saturating_sub(started) >= self.span_ms {
            self.rotate(now_ms);
        }
        self.generations[self.current.load(Ordering::Acquire)].insert(key);
    }

    /// Brings the blocks of `keys` into cache, all misses at once (as the id table's `warm`):
    /// the probes and inserts that follow hit the cache.
    pub(super) fn warm(&self, keys: &[[u8; 16]]) {
        let mut sum = 0u64;
        for generation in &self.generations {
            for key in keys {
                sum = sum.wrapping_add(generation.words[generation.block(key)].load(Ordering::Relaxed));
            }
        }
        std::hint::black_box(sum);
    }

    /// Whether `key` may have been put in within the last retention (always, before the
    /// index's keys are in).
    pub(super) fn may_contain(&self, key: &[u8; 16]) -> bool {
        !self.ready.load(Ordering::Acquire) || self.generations.iter().any(|generation| generation.may_contain(key))
    }

    /// Puts in a key found in the index on open (into the current generation).
    pub(super) fn insert_indexed(&self, key: &[u8; 16]) {
        self.generations[self.current.load(Ordering::Acquire)].insert(key);
    }

    /// Every key of the index is in: answer from the bits from now on.
    pub(super) fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    fn rotate(&self, now_ms: TimestampMs) {
        let _guard = self.rotating.lock();
        let started = self.started_ms.load(Ordering::Acquire);
        if now_ms.saturating_sub(started) < self.span_ms {
            return; // Another executor rotated first.
        }
        let next = 1 - self.current.load(Ordering::Acquire);
        self.generations[next].clear();
        self.current.store(next, Ordering::Release);
        self.started_ms.store(now_ms, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> [u8; 16] {
        // Keys are SipHash outputs: spread them the same way.
        let mut hasher = siphasher::sip128::SipHasher13::new_with_keys(1, 2);
        std::hash::Hasher::write_u64(&mut hasher, n);
        let hash = siphasher::sip128::Hasher128::finish128(&hasher);
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&hash.h1.to_be_bytes());
        key[8..].copy_from_slice(&hash.h2.to_be_bytes());
        key
    }

    #[test]
    fn what_went_in_is_found_and_few_others_are() {
        let filter = IdFilter::new(100_000, 1_000);
        assert!(filter.may_contain(&key(1)), "before it is ready, everything may be there");
        filter.set_ready();
        (0..100_000).for_each(|n| filter.insert(&key(n), 10));
        assert!((0..100_000).all(|n| filter.may_contain(&key(n))), "no false negative");
        let false_positives = (100_000..200_000).filter(|n| filter.may_contain(&key(*n))).count();
        assert!(false_positives < 2_000, "about 1 %: {false_positives} of 100,000");
    }

    #[test]
    fn a_key_is_kept_for_at_least_one_span() {
        let filter = IdFilter::new(1_000, 100);
        filter.set_ready();
        filter.insert(&key(1), 1_000);
        filter.insert(&key(2), 1_150); // The second generation starts.
        assert!(filter.may_contain(&key(1)) && filter.may_contain(&key(2)));
        filter.insert(&key(3), 1_300); // The first is cleared: key 1 is two spans old.
        assert!(!filter.may_contain(&key(1)));
        assert!(filter.may_contain(&key(2)) && filter.may_contain(&key(3)));
    }
}
