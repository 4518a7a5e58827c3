//! The bounded idempotency table: ids of applied transfers, deposits and withdrawals, in
//! fixed-size slots allocated once, remembered for one to two epochs.
//!
//! An id is known by a keyed 128-bit hash (SipHash-1-3 under a key derived from the server
//! key, so nobody can aim ids at one bucket): 64 bits pick the home bucket, the other 64 are the
//! tag kept in the slot. A bucket is one 64-byte cache line holding three slots (tag, body
//! fingerprint, epoch), so finding or inserting an id is one probe; a full bucket marks itself
//! as overflowed (until the entries pushed past it expire) and lookups then go on to the next.
//!
//! Epochs are `now / IDEMPOTENCY_WINDOW_MS`; an entry is live in its epoch and the next, so an id
//! is remembered for at least one window and at most two (as payment APIs keep idempotency keys),
//! and an expired slot is reused in place: nothing is ever rehashed or freed. The table is sized
//! from [`Config::ids_max`](super::Config::ids_max) (two ids per bucket at that maximum, so
//! **32 bytes per id**); when the live ids near a bucket exceed what [`PROBE_BUCKETS_MAX`] buckets
//! hold, a new id is refused (`id_table_full`) rather than an old one forgotten early. Time comes
//! from the logged `now`, so replay remembers and forgets exactly what the live engine did.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use siphasher::sip128::{Hasher128, SipHasher13};

use crate::constants::IDEMPOTENCY_WINDOW_MS;
use crate::types::{Id, TimestampMs};

/// Slots in a bucket (a cache line: three tags, three fingerprints, their epochs, a marker).
const SLOTS: usize = 3;

/// `u64` words per bucket.
const WORDS: usize = 8;

/// The furthest a lookup or insert goes from an id's home bucket.
pub const PROBE_BUCKETS_MAX: usize = 16;

/// Word 6 holds the three slots' epochs and the overflow epoch (16 bits each); word 7 bit 0 says
/// whether the bucket ever overflowed.
const EPOCHS_WORD: usize = 6;
const FLAGS_WORD: usize = 7;

/// Which kind of id: transfers and movements are separate namespaces in one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdKind {
    Transfer = 1,
    Movement = 2,
}

/// The keyed hash of a remembered id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdHash {
    tag: u64,
    home: u64,
}

/// The SipHash key of the table, derived from the server key.
#[derive(Clone)]
pub(crate) struct IdHasher(SipHasher13);

impl IdHasher {
    pub(crate) fn new(key: [u8; 16]) -> IdHasher {
        IdHasher(SipHasher13::new_with_key(&key))
    }

    /// Hashes `id` of `kind`: one SipHash per command.
    pub(crate) fn hash(&self, kind: IdKind, id: &Id) -> IdHash {
        self.hash_and_index_key(kind, id).0
    }

    /// [`IdHasher::hash`] and, from the same SipHash, the transfer index's key of the id.
    pub(crate) fn hash_and_index_key(&self, kind: IdKind, id: &Id) -> (IdHash, [u8; 16]) {
        let mut hasher = self.0;
        std::hash::Hasher::write_u8(&mut hasher, kind as u8);
        std::hash::Hasher::write(&mut hasher, id.as_str().as_bytes());
        let hash = hasher.finish128();
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&hash.h1.to_be_bytes());
        key[8..].copy_from_slice(&hash.h2.to_be_bytes());
        // Tag 0 marks a slot never used.
        (IdHash { tag: hash.h1.max(1), home: hash.h2 }, key)
    }

    /// The transfer index's key of transfer `id` (`wal/transfers.rs`): its full 128-bit hash.
    #[cfg(feature = "storage")]
    pub(crate) fn index_key(&self, id: &Id) -> [u8; 16] {
        self.index_key_of(IdKind::Transfer, id)
    }

    /// The transfer index's key of `id` in namespace `kind` (deposits and withdrawals have one
    /// of their own).
    #[cfg(feature = "storage")]
    pub(crate) fn index_key_for(&self, kind: crate::wal::IndexedKind, id: &Id) -> [u8; 16] {
        match kind {
            crate::wal::IndexedKind::Transfer => self.index_key_of(IdKind::Transfer, id),
            crate::wal::IndexedKind::Movement => self.index_key_of(IdKind::Movement, id),
        }
    }

    #[cfg(feature = "storage")]
    fn index_key_of(&self, kind: IdKind, id: &Id) -> [u8; 16] {
        self.hash_and_index_key(kind, id).1
    }
}

/// What a lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// The id is remembered with this body fingerprint.
    Found(u64),
    /// Not remembered; this slot would take it.
    Vacant(Vacancy),
    /// Not remembered, and no slot within reach is free.
    Full,
}

/// A free slot found for an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Vacancy {
    tag: u64,
    home: usize,
    bucket: usize,
    slot: usize,
}

/// What [`IdTable::fill`] overwrote, so that an atomic batch can undo it exactly.
#[derive(Debug)]
pub(crate) struct Filled {
    bucket: usize,
    slot: usize,
    old: [u64; WORDS],
    passed: Vec<(usize, u64, u64)>,
}

/// The table: `buckets` cache lines in one allocation, never resized.
pub struct IdTable {
    /// Zeroed words (pages the OS maps lazily), a few more than the buckets need so that the
    /// first bucket can start on a 64-byte boundary.
    words: Vec<u64>,
    /// Index of the first bucket's first word (aligned to 64 bytes).
    start: usize,
    buckets: usize,
    /// The epoch of the batch being applied.
    epoch: u16,
}

fn live(epoch: u16, now: u16) -> bool {
    now.wrapping_sub(epoch) <= 1
}

fn epoch_of(now_ms: TimestampMs) -> u16 {
    // Wraps after 179 years; an entry is never that old and unreused.
    (now_ms / IDEMPOTENCY_WINDOW_MS) as u16
}

impl IdTable {
    /// A table for at most `ids_max` live ids (32 bytes each).
    pub fn with_capacity(ids_max: usize) -> IdTable {
        let buckets = ids_max.div_ceil(2).max(PROBE_BUCKETS_MAX);
        let words = vec![0u64; buckets * WORDS + WORDS];
        let misalignment = (words.as_ptr() as usize % 64) / 8;
        let start = (WORDS - misalignment) % WORDS;
        IdTable { words, start, buckets, epoch: 0 }
    }

    /// Writes each page of the table once (its contents back), so that its memory is backed by
    /// real pages now, on the calling thread. A new table's memory is the kernel's shared zero
    /// page until written: without this, the executor's first insert into each 4 KiB page
    /// faults, clears it and shoots down other cores' TLB entries (23 % of the executor's
    /// samples in the first seconds of a batched TCP run, BENCHMARKS.md). The runtime calls it
    /// before an executor starts; the table's memory is its configured bound either way.
    pub fn touch_pages(&mut self) {
        const PAGE_WORDS: usize = 4096 / 8;
        for word in self.words.iter_mut().step_by(PAGE_WORDS) {
            // Opaque to the optimizer, so that the store is not dropped as a no-op.
            *word = std::hint::black_box(*word);
        }
    }

    /// The most live ids this table was sized for.
    pub fn ids_max(&self) -> usize {
        self.buckets * 2
    }

    fn bucket(&self, index: usize) -> &[u64; WORDS] {
        let base = self.start + index * WORDS;
        self.words[base..base + WORDS].try_into().expect("a bucket is WORDS words")
    }

    fn bucket_mut(&mut self, index: usize) -> &mut [u64; WORDS] {
        let base = self.start + index * WORDS;
        (&mut self.words[base..base + WORDS]).try_into().expect("a bucket is WORDS words")
    }

    fn home(&self, hash: &IdHash) -> usize {
        ((u128::from(hash.home) * self.buckets as u128) >> 64) as usize
    }

    /// Reads the home bucket of every hash in `hashes`, so that the lookups that follow find
    /// them in cache. The loads are independent of each other (the hashes were computed
    /// first), so the processor overlaps their misses instead of taking them one by one: with
    /// tens of millions of ids each is a miss into a table of gigabytes. Changes nothing.
    pub(crate) fn warm(&self, hashes: &[IdHash]) {
        let mut sum = 0u64;
        for hash in hashes {
            sum = sum.wrapping_add(self.words[self.start + self.home(hash) * WORDS]);
        }
        std::hint::black_box(sum);
    }

    /// Turns epochs over with the batch's `now` (entries two epochs old become free slots).
    pub(crate) fn advance(&mut self, now_ms: TimestampMs) {
        self.epoch = epoch_of(now_ms);
    }

    /// Finds `hash`, or the slot that would take it.
    pub(crate) fn lookup(&self, hash: IdHash) -> Lookup {
        let home = self.home(&hash);
        let mut vacancy = None;
        let mut distance = 0;
        // The id can only be in the run of buckets that overflowed while it was live.
        while distance < PROBE_BUCKETS_MAX {
            let index = (home + distance) % self.buckets;
            let bucket = self.bucket(index);
            let epochs = bucket[EPOCHS_WORD];
            for slot in 0..SLOTS {
                let epoch = (epochs >> (16 * slot)) as u16;
                let tag = bucket[slot];
                if tag == hash.tag && live(epoch, self.epoch) {
                    return Lookup::Found(bucket[SLOTS + slot]);
                }
                if vacancy.is_none() && (tag == 0 || !live(epoch, self.epoch)) {
                    vacancy = Some(Vacancy { tag: hash.tag, home, bucket: index, slot });
                }
            }
            distance += 1;
            let overflow = (epochs >> 48) as u16;
            if bucket[FLAGS_WORD] & 1 == 0 || !live(overflow, self.epoch) {
                break;
            }
        }
        if let Some(vacancy) = vacancy {
            return Lookup::Vacant(vacancy);
        }
        // Every bucket looked at is full: the first free slot further on takes it.
        while distance < PROBE_BUCKETS_MAX {
            let index = (home + distance) % self.buckets;
            let bucket = self.bucket(index);
            for slot in 0..SLOTS {
                let epoch = (bucket[EPOCHS_WORD] >> (16 * slot)) as u16;
                if bucket[slot] == 0 || !live(epoch, self.epoch) {
                    return Lookup::Vacant(Vacancy { tag: hash.tag, home, bucket: index, slot });
                }
            }
            distance += 1;
        }
        Lookup::Full
    }

    /// Remembers an id in the slot [`IdTable::lookup`] found (no other change in between), with
    /// its body's fingerprint; buckets passed on the way are marked overflowed.
    pub(crate) fn fill(&mut self, vacancy: Vacancy, fingerprint: u64) -> Filled {
        let epoch = self.epoch;
        let mut passed = Vec::new();
        let mut index = vacancy.home;
        while index != vacancy.bucket {
            let bucket = self.bucket_mut(index);
            passed.push((index, bucket[EPOCHS_WORD], bucket[FLAGS_WORD]));
            bucket[EPOCHS_WORD] = (bucket[EPOCHS_WORD] & 0x0000_ffff_ffff_ffff) | (u64::from(epoch) << 48);
            bucket[FLAGS_WORD] |= 1;
            index = (index + 1) % self.buckets;
        }
        let bucket = self.bucket_mut(vacancy.bucket);
        let old = *bucket;
        let shift = 16 * vacancy.slot;
        bucket[vacancy.slot] = vacancy.tag;
        bucket[SLOTS + vacancy.slot] = fingerprint;
        bucket[EPOCHS_WORD] = (bucket[EPOCHS_WORD] & !(0xffff << shift)) | (u64::from(epoch) << shift);
        Filled { bucket: vacancy.bucket, slot: vacancy.slot, old, passed }
    }

    /// Undoes a [`IdTable::fill`] (the latest not yet undone): every word as it was.
    pub(crate) fn unfill(&mut self, filled: Filled) {
        debug_assert!(filled.slot < SLOTS);
        *self.bucket_mut(filled.bucket) = filled.old;
        for (index, epochs, flags) in filled.passed.into_iter().rev() {
            let bucket = self.bucket_mut(index);
            bucket[EPOCHS_WORD] = epochs;
            bucket[FLAGS_WORD] = flags;
        }
    }

    /// Forgets `hash` if it is live (a cross-partition transfer refused by the payee's
    /// partition, which a retry may then apply): its slot becomes free. Overflow marks it set
    /// on the way stay until they expire, which only lengthens some lookups.
    pub(crate) fn forget(&mut self, hash: IdHash) {
        let home = self.home(&hash);
        for distance in 0..PROBE_BUCKETS_MAX {
            let index = (home + distance) % self.buckets;
            let now = self.epoch;
            let bucket = self.bucket_mut(index);
            for slot in 0..SLOTS {
                let epoch = (bucket[EPOCHS_WORD] >> (16 * slot)) as u16;
                if bucket[slot] == hash.tag && live(epoch, now) {
                    bucket[slot] = 0;
                    bucket[SLOTS + slot] = 0;
                    return;
                }
            }
        }
    }

    /// The fingerprint remembered for `hash`, if it is live.
    pub(crate) fn get(&self, hash: IdHash) -> Option<u64> {
        match self.lookup(hash) {
            Lookup::Found(fingerprint) => Some(fingerprint),
            Lookup::Vacant(_) | Lookup::Full => None,
        }
    }

    /// Live ids (O(buckets): tests and metrics only).
    pub fn len(&self) -> usize {
        (0..self.buckets)
            .map(|index| {
                let bucket = self.bucket(index);
                (0..SLOTS)
                    .filter(|&slot| bucket[slot] != 0 && live((bucket[EPOCHS_WORD] >> (16 * slot)) as u16, self.epoch))
                    .count()
            })
            .sum()
    }

    /// Whether no id is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buckets ever written, as `(index, words)`.
    fn used_buckets(&self) -> impl Iterator<Item = (usize, &[u64; WORDS])> {
        (0..self.buckets)
            .map(|index| (index, self.bucket(index)))
            .filter(|(_, bucket)| bucket.iter().any(|&word| word != 0))
    }
}

impl Default for IdTable {
    /// The smallest table ([`PROBE_BUCKETS_MAX`] buckets): a placeholder until a machine sizes
    /// its own from [`Config::ids_max`](super::Config::ids_max).
    fn default() -> IdTable {
        IdTable::with_capacity(0)
    }
}

impl Clone for IdTable {
    /// A full copy (every page touched, so the copy takes no page faults later).
    fn clone(&self) -> IdTable {
        let mut copy = IdTable::with_capacity(self.ids_max());
        copy.epoch = self.epoch;
        let length = self.buckets * WORDS;
        copy.words[copy.start..copy.start + length].copy_from_slice(&self.words[self.start..self.start + length]);
        copy
    }
}

impl PartialEq for IdTable {
    fn eq(&self, other: &IdTable) -> bool {
        self.buckets == other.buckets
            && self.epoch == other.epoch
            && (0..self.buckets).all(|index| self.bucket(index) == other.bucket(index))
    }
}

impl Eq for IdTable {}

impl std::fmt::Debug for IdTable {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("IdTable")
            .field("buckets", &self.buckets)
            .field("epoch", &self.epoch)
            .field("used_buckets", &self.used_buckets().count())
            .finish()
    }
}

/// The encoded form: the size, the epoch, and the used buckets only (`index` then 8 words, all
/// little-endian), so an empty table of millions of slots encodes in a few bytes.
#[derive(Serialize, Deserialize)]
struct EncodedTable {
    buckets: u64,
    epoch: u16,
    #[serde(with = "serde_bytes")]
    used: Vec<u8>,
}

const ENCODED_BUCKET_BYTES: usize = 8 + WORDS * 8;

impl Serialize for IdTable {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut used = Vec::new();
        for (index, bucket) in self.used_buckets() {
            used.extend_from_slice(&(index as u64).to_le_bytes());
            for word in bucket {
                used.extend_from_slice(&word.to_le_bytes());
            }
        }
        EncodedTable { buckets: self.buckets as u64, epoch: self.epoch, used }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for IdTable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<IdTable, D::Error> {
        use serde::de::Error;
        let encoded = EncodedTable::deserialize(deserializer)?;
        let buckets = usize::try_from(encoded.buckets).map_err(D::Error::custom)?;
        if !(PROBE_BUCKETS_MAX..=super::IDS_MAX_MAX.div_ceil(2)).contains(&buckets)
            || encoded.used.len() % ENCODED_BUCKET_BYTES != 0
        {
            return Err(D::Error::custom("idempotency table: size out of range"));
        }
        let mut table = IdTable::with_capacity(buckets * 2);
        table.epoch = encoded.epoch;
        for chunk in encoded.used.chunks_exact(ENCODED_BUCKET_BYTES) {
            let word = |at: usize| u64::from_le_bytes(chunk[at..at + 8].try_into().expect("8 bytes"));
            let index = usize::try_from(word(0)).ok().filter(|&index| index < buckets);
            let index = index.ok_or_else(|| D::Error::custom("idempotency table: bucket out of range"))?;
            let bucket = table.bucket_mut(index);
            for (at, slot) in bucket.iter_mut().enumerate() {
                *slot = word(8 + at * 8);
            }
        }
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> IdHasher {
        IdHasher::new([7; 16])
    }

    fn hash(text: &str) -> IdHash {
        hasher().hash(IdKind::Transfer, &Id::new(text).unwrap())
    }

    fn insert(table: &mut IdTable, text: &str, fingerprint: u64) -> Filled {
        match table.lookup(hash(text)) {
            Lookup::Vacant(vacancy) => table.fill(vacancy, fingerprint),
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn ids_are_remembered_for_one_epoch_at_least_and_two_at_most() {
        let start = 20_000 * IDEMPOTENCY_WINDOW_MS;
        let mut table = IdTable::with_capacity(1_000);
        table.advance(start + IDEMPOTENCY_WINDOW_MS - 1);
        insert(&mut table, "a", 1);
        table.advance(start + IDEMPOTENCY_WINDOW_MS);
        insert(&mut table, "b", 2);
        assert_eq!((table.get(hash("a")), table.get(hash("b")), table.len()), (Some(1), Some(2), 2));
        table.advance(start + 2 * IDEMPOTENCY_WINDOW_MS);
        assert_eq!((table.get(hash("a")), table.get(hash("b"))), (None, Some(2)));
        // Kinds are separate namespaces.
        let movement = hasher().hash(IdKind::Movement, &Id::new("b").unwrap());
        assert_eq!(table.get(movement), None);
    }

    #[test]
    fn touching_the_pages_changes_nothing_the_table_holds() {
        let mut table = IdTable::with_capacity(100_000);
        for index in 0..1_000 {
            insert(&mut table, &format!("id{index}"), index);
        }
        let before = table.clone();
        table.touch_pages();
        assert!(table == before, "the same words after the touch");
        assert!((0..1_000).all(|index| table.get(hash(&format!("id{index}"))) == Some(index)));
    }

    #[test]
    fn a_full_neighbourhood_refuses_and_an_undo_restores_every_word() {
        let mut table = IdTable::with_capacity(0); // 16 buckets, 48 slots
        table.advance(5 * IDEMPOTENCY_WINDOW_MS);
        let before = table.clone();
        let mut filled = Vec::new();
        for index in 0..48 {
            filled.push(insert(&mut table, &format!("id{index}"), index));
        }
        assert_eq!(table.len(), 48);
        for index in 0..48 {
            assert_eq!(table.get(hash(&format!("id{index}"))), Some(index), "id{index}");
        }
        assert_eq!(table.lookup(hash("one-more")), Lookup::Full);
        // Undone newest first, the table is exactly as before.
        while let Some(fill) = filled.pop() {
            table.unfill(fill);
        }
        assert!(table == before);
        // Two epochs on, every slot is free again, in place.
        for index in 0..48 {
            insert(&mut table, &format!("id{index}"), index);
        }
        table.advance(7 * IDEMPOTENCY_WINDOW_MS);
        assert!(table.is_empty());
        assert!(matches!(table.lookup(hash("one-more")), Lookup::Vacant(_)));
    }

    #[test]
    fn the_encoding_keeps_used_buckets_only_and_round_trips() {
        let mut table = IdTable::with_capacity(10_000_000);
        table.advance(3 * IDEMPOTENCY_WINDOW_MS);
        for index in 0..100 {
            insert(&mut table, &format!("t{index}"), index);
        }
        let bytes = crate::codec::encode(&table);
        assert!(bytes.len() < 100 * ENCODED_BUCKET_BYTES + 64, "{} bytes", bytes.len());
        let decoded: IdTable = crate::codec::decode(&bytes).unwrap();
        assert!(decoded == table);
        assert_eq!(decoded.get(hash("t42")), Some(42));
    }
}
