//! The `archive` column family: resolved objects that left memory (`state_machine/archive.rs`),
//! written in the same synced `WriteBatch` as the log record of the batch that took them out of
//! memory (so an object is in memory or in storage at every durable point, never neither), and
//! read back by the executor (to restore one a command names) and by lookups and lists.
//!
//! Keys (every object lives on the home partition, so the partition is not in them):
//! - `0x01 ++ kind ++ id` -> the codec bytes of the [`Archived`] object (a coupon also under
//!   its redemption code's keyed hash, kind `CouponCode`: [`Archived::keys`]);
//! - `0x02 ++ list ++ len(subject) ++ subject ++ id` -> empty: one key per list entry, in id order
//!   under each subject (a merchant's settlements: list 1; a user's splits: list 2; the coupons
//!   a user holds: list 3; the objects
//!   of a kind a tenant created: list `0x10 | kind`, the subject being the principal's role
//!   byte then its id).
//!
//! An object archived again (after a restore) overwrites its value; its list key is the same.

use rocksdb::{Direction, IteratorMode, Options, ReadOptions, WriteBatch};

use super::{Wal, WalError};
use crate::codec;
use crate::command::Principal;
use crate::state_machine::{ArchiveList, Archived, ArchivedKind};
use crate::types::Id;

/// The column family's name.
pub(super) const CF_ARCHIVE: &str = "archive";

const OBJECT: u8 = 0x01;
const LIST: u8 = 0x02;

/// Memory for the archive's blocks, index and filter blocks included: what it holds grows
/// with history, so memory for it must not.
const ARCHIVE_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Point lookups (a bloom filter answers most misses: new ids) and short scans of one list. The
/// index and filter blocks live in a bounded cache (RocksDB keeps them outside it, growing with
/// the data, by default).
pub(super) fn options() -> Options {
    let mut options = Options::default();
    options.set_write_buffer_size(32 * 1024 * 1024);
    options.set_compression_type(rocksdb::DBCompressionType::Lz4);
    // New ids miss: a bloom filter over the memtable's keys answers them without a search.
    options.set_memtable_prefix_bloom_ratio(0.1);
    options.set_memtable_whole_key_filtering(true);
    let mut table = rocksdb::BlockBasedOptions::default();
    table.set_bloom_filter(10.0, false);
    table.set_block_cache(&rocksdb::Cache::new_lru_cache(ARCHIVE_CACHE_BYTES));
    table.set_cache_index_and_filter_blocks(true);
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);
    options.set_block_based_table_factory(&table);
    options
}

fn kind_byte(kind: ArchivedKind) -> u8 {
    match kind {
        ArchivedKind::Settlement => 1,
        ArchivedKind::Authorization => 2,
        ArchivedKind::Hold => 3,
        ArchivedKind::Bill => 4,
        ArchivedKind::Split => 5,
        ArchivedKind::Coupon => 6,
        ArchivedKind::CouponCode => 7,
        ArchivedKind::Redemption => 8,
    }
}

fn object_key(kind: ArchivedKind, id: &Id) -> Vec<u8> {
    let mut key = vec![OBJECT, kind_byte(kind)];
    key.extend_from_slice(id.as_str().as_bytes());
    key
}

/// The prefix of every key of `list`.
fn list_prefix(list: &ArchiveList) -> Vec<u8> {
    let (list_byte, subject) = match list {
        ArchiveList::MerchantSettlements(merchant) => (1, merchant.as_str().as_bytes().to_vec()),
        ArchiveList::MemberSplits(user) => (2, user.as_str().as_bytes().to_vec()),
        ArchiveList::HeldCoupons(user) => (3, user.as_str().as_bytes().to_vec()),
        ArchiveList::Owned(kind, owner) => {
            let (role, id) = match owner {
                Principal::Admin => (0, ""),
                Principal::Merchant(id) => (1, id.as_str()),
                Principal::Operator(id) => (2, id.as_str()),
                Principal::App(id) => (3, id.as_str()),
                Principal::Terminal(id) => (4, id.as_str()),
            };
            let mut subject = vec![role];
            subject.extend_from_slice(id.as_bytes());
            (0x10 | kind_byte(*kind), subject)
        }
    };
    let length = u8::try_from(subject.len()).expect("ids are at most 64 bytes");
    let mut prefix = vec![LIST, list_byte, length];
    prefix.extend_from_slice(&subject);
    prefix
}

impl Wal {
    /// Puts `archived` (objects and list entries) into `batch`.
    pub(super) fn put_archived<'a>(&self, batch: &mut WriteBatch, archived: impl IntoIterator<Item = &'a Archived>) {
        let family = self.cf(CF_ARCHIVE);
        for object in archived {
            let value = codec::encode(object);
            for (kind, id) in object.keys() {
                batch.put_cf(family, object_key(kind, &id), &value);
            }
            for list in object.lists() {
                let mut key = list_prefix(&list);
                key.extend_from_slice(object.id().as_str().as_bytes());
                batch.put_cf(family, key, []);
            }
        }
    }

    /// Whether the archive holds anything.
    pub fn has_archived(&self) -> Result<bool, WalError> {
        Ok(self.db.iterator_cf(self.cf(CF_ARCHIVE), IteratorMode::Start).next().transpose()?.is_some())
    }

    /// The archived objects of `wanted`, in order (one batched read).
    pub fn archived(&self, wanted: &[(ArchivedKind, Id)]) -> Result<Vec<Option<Archived>>, WalError> {
        let family = self.cf(CF_ARCHIVE);
        let keys: Vec<Vec<u8>> = wanted.iter().map(|(kind, id)| object_key(*kind, id)).collect();
        let found = self.db.batched_multi_get_cf(family, &keys, false);
        found
            .into_iter()
            .zip(wanted)
            .map(|(value, (_, id))| {
                let Some(bytes) = value? else { return Ok(None) };
                let object: Archived = codec::decode(&bytes)
                    .map_err(|error| WalError::CorruptMeta(format!("archived object {id} does not decode: {error}")))?;
                Ok(Some(object))
            })
            .collect()
    }

    /// Up to `limit` ids of `list` in storage, in id order, after `starting_after`; and whether
    /// more remain.
    pub fn archived_page(
        &self,
        list: &ArchiveList,
        limit: usize,
        starting_after: Option<&Id>,
    ) -> Result<(Vec<Id>, bool), WalError> {
        let prefix = list_prefix(list);
        let mut from = prefix.clone();
        if let Some(cursor) = starting_after {
            from.extend_from_slice(cursor.as_str().as_bytes());
        }
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(from.clone());
        let mut upper = prefix.clone();
        let last = upper.last_mut().expect("a prefix is never empty");
        if let Some(next) = last.checked_add(1) {
            *last = next;
            options.set_iterate_upper_bound(upper);
        }
        let mut page = Vec::new();
        let iterator =
            self.db.iterator_cf_opt(self.cf(CF_ARCHIVE), options, IteratorMode::From(&from, Direction::Forward));
        for item in iterator {
            let (key, _) = item?;
            let Some(tail) = key.strip_prefix(prefix.as_slice()) else { break };
            if starting_after.is_some() && key.as_ref() == from.as_slice() {
                continue; // The cursor itself.
            }
            if page.len() == limit {
                return Ok((page, true));
            }
            let text = std::str::from_utf8(tail).map_err(|_| WalError::CorruptMeta("an archive list key".into()))?;
            page.push(Id::new(text).map_err(|_| WalError::CorruptMeta(format!("archive list id {text:?}")))?);
        }
        Ok((page, false))
    }
}
