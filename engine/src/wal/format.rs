//! The storage format of a data directory: what its records, snapshots and history lines mean.

use rocksdb::{IteratorMode, WriteOptions};

use super::{CF_META, CF_WAL, KEY_SECRET, Wal, WalError};

const KEY_STORAGE_FORMAT: &[u8] = b"storage_format";
const KEY_IDS_MAX: &[u8] = b"ids_max";
const KEY_PARTITIONS: &[u8] = b"partitions";
const KEY_RESOLVED_IN_MEMORY_MS: &[u8] = b"resolved_in_memory_ms";

/// The version of what a data directory holds (WAL records, snapshots, history lines), kept in
/// its `meta` family. 1: before 0.2, commands were logged without their principal; 2: each
/// command is logged with the principal that sent it (`Submission`). A directory of another
/// version is refused, never misread; there is no migration from 1 (its records do not say who
/// sent them, so replaying them under today's rules could decide differently). 3: transfer,
/// deposit and withdrawal ids are remembered in the fixed-size idempotency table (`IdTable`),
/// which snapshots store instead of the id maps of format 2. 4: records belong to a partition and
/// carry the messages between partitions they applied; snapshots are per partition. 5: POS
/// settlements and bills keep their partial refunds. 6: a record's submissions may carry
/// metadata, and the events an `Annotated` event. 7: resolved settlements, authorizations,
/// holds, bills and splits leave memory for the `archive` family; snapshots keep the queue of resolved objects and the
/// retired authorizations, records may carry `Restored` objects. 8: coupons and operators'
/// redemptions leave memory too; snapshots keep the coupons waiting for their validity to end.
/// 9: a retired authorization keeps its user and expiry (its code is forgotten a day after it).
/// 10: a terminal may be registered with its location. 11: a hold keeps its payee's owners
/// (a payee on another partition), a hold may be `Capturing`, the transit keeps payee checks
/// beside credits, a credit says what it pays, and records may carry `Check`/`Checked`.
/// 12: snapshots keep the reference stream (the home partition's registrations, the others'
/// applied-through number), and records may carry `Reference` messages.
/// 13: POS money across partitions: records may carry `Move` messages, a check says what it is
/// for and answers the account's owner, merchants, currency and whether it is closed; the
/// transit keeps moves, the POS steps in flight and the moves it pays on.
/// 14: bills whose account lives on another partition: a check may be for a bill, a credit or
/// move may pay a bill's charge or refund, and the transit keeps the bill steps in flight, the
/// coupons payments in flight redeem, and the commands waiting for them.
/// 15: linked batches and split refunds paying on other partitions: records may carry `Reserve`
/// messages, credits paying a reserved leg or refund or releasing a reservation, and moves of a
/// refund's total; the transit keeps the batches waiting for reservations, the payees reserved
/// and a split step's reservations.
/// 16: POS pre-authorization holds whose payer lives on another partition: moves may hold,
/// capture or release a payer's funds for a hold kept on the home partition, and the transit
/// keeps the funds it holds for such holds.
/// 17: linked batches whose payers live on other partitions: an account keeps the funds
/// reserved for legs of linked batches elsewhere, a reservation may be of a payer's funds, a
/// reserved leg's credit names the partition that reserved its payee, moves may pay a linked
/// leg, and the transit keeps the funds reservations (and a linked pass's payer answers).
/// 18: merchants whose account lives off the home partition: a check may be for the account a
/// merchant registers with or for the merchant's account of a sale placing a hold.
/// 19: a merchant's registration check names the merchant, and the transit keeps the
/// registrations waiting for their checks (the merchant's commands sent meanwhile wait).
/// 20: a history line's value leaves out the account and the sequence number its key holds.
/// 21: users' claims live on the user's partition: records may carry `Claim`, `Claimed` and
/// `ClaimEnded` messages, and the transit keeps the claims asked, the commands relying on
/// tentative claims and the tentative claims made for other partitions.
/// 22: a split lives with its requester (on the requester's partition, not the home one), so a
/// directory of format 21 would find its splits on the wrong partition; a split keeps its member
/// accounts' owners; records may carry `ClaimNoted` messages, and the transit keeps the notes
/// not yet heard.
/// 23: authorizations, POS settlements (with their holds) and wrong-code windows live with their
/// user (on the user's partition, not the home one), so a directory of format 22 would find them
/// on the wrong partition; a sale's coupon may live on another partition than the sale: records
/// may carry `CouponAsk`, `CouponQuoted` and `CouponEnded` messages, and the transit keeps the
/// asks sent, the sales priced and not yet decided, and the coupons kept for sales elsewhere.
/// 24: a user's list of authorizations keeps each code's keyed hash and expiry (a sale scans
/// it without a lookup per entry), and a retired authorization no longer does.
/// 25: a bill lives with its user (on the user's partition, not the home one), so a directory of
/// format 24 would find its bills on the wrong partition.
/// 26: a partition's state counts the records it applied, and each record names its position in
/// its partition's log: recovery refuses a partition whose records do not count on one by one,
/// and an engine following the partition's owner skips a record at or below its position.
pub const STORAGE_FORMAT: u8 = 26;

impl Wal {
    /// Checks that the directory holds [`STORAGE_FORMAT`] (a new, empty one is marked with it,
    /// synced); refuses a directory of another format with a message saying what to do.
    pub fn check_storage_format(&self) -> Result<(), WalError> {
        let meta = self.cf(CF_META);
        let found = match self.db.get_cf(meta, KEY_STORAGE_FORMAT)? {
            Some(bytes) => bytes.first().copied().unwrap_or(0),
            None => {
                let has_data = self.db.get_cf(meta, KEY_SECRET)?.is_some()
                    || self.has_snapshot()?
                    || self.db.iterator_cf(self.cf(CF_WAL), IteratorMode::Start).next().transpose()?.is_some();
                if !has_data {
                    let mut options = WriteOptions::default();
                    options.set_sync(true);
                    self.db.put_cf_opt(meta, KEY_STORAGE_FORMAT, [STORAGE_FORMAT], &options)?;
                    return Ok(());
                }
                1
            }
        };
        if found == STORAGE_FORMAT {
            return Ok(());
        }
        Err(WalError::Format(format!(
            "this data directory was written by a kassa with storage format {found}; this kassa reads format \
             {STORAGE_FORMAT} (commands logged with their principal, ids remembered in a fixed-size table, records of partitions, refunds kept) and \
             does not migrate older directories. Open it with the kassa that wrote it, or start from a new \
             data directory"
        )))
    }

    /// The most remembered ids the directory's idempotency table was created with: the stored
    /// value, or `configured` stored (synced) for a new directory. Fixed at creation, because
    /// replaying the log with another size could decide `id_table_full` differently.
    pub fn ids_max(&self, configured: usize) -> Result<usize, WalError> {
        if let Some(stored) = self.stored_ids_max()? {
            return Ok(stored);
        }
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db.put_cf_opt(self.cf(CF_META), KEY_IDS_MAX, (configured as u64).to_le_bytes(), &options)?;
        Ok(configured)
    }

    /// The stored `ids_max`, if the directory has one (never writes).
    pub fn stored_ids_max(&self) -> Result<Option<usize>, WalError> {
        let Some(bytes) = self.db.get_cf(self.cf(CF_META), KEY_IDS_MAX)? else { return Ok(None) };
        let bytes: [u8; 8] = bytes.as_slice().try_into().map_err(|_| WalError::Format("ids_max is damaged".into()))?;
        let stored = usize::try_from(u64::from_le_bytes(bytes));
        stored.map(Some).map_err(|_| WalError::Format("ids_max is too large".into()))
    }

    /// The number of partitions the directory was created with: the stored value, or
    /// `configured` stored (synced) for a new directory. Fixed at creation: objects are placed
    /// by it and never move.
    pub fn partitions(&self, configured: u16) -> Result<u16, WalError> {
        if let Some(stored) = self.stored_partitions()? {
            return Ok(stored);
        }
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db.put_cf_opt(self.cf(CF_META), KEY_PARTITIONS, configured.to_le_bytes(), &options)?;
        Ok(configured)
    }

    /// The stored number of partitions, if the directory has one (never writes).
    pub fn stored_partitions(&self) -> Result<Option<u16>, WalError> {
        let Some(bytes) = self.db.get_cf(self.cf(CF_META), KEY_PARTITIONS)? else { return Ok(None) };
        let bytes: [u8; 2] =
            bytes.as_slice().try_into().map_err(|_| WalError::Format("the partition count is damaged".into()))?;
        match u16::from_le_bytes(bytes) {
            count @ 1..=crate::partition::PARTITIONS_MAX => Ok(Some(count)),
            count => Err(WalError::Format(format!("the partition count {count} is out of range"))),
        }
    }

    /// How long resolved objects stay in memory in this directory: the stored value, or
    /// `configured` stored (synced) for a new directory. Fixed at creation: replay must take
    /// objects out of memory where the first run did, or a command the log holds would find
    /// its object elsewhere than it did then.
    pub fn resolved_in_memory_ms(&self, configured: u64) -> Result<u64, WalError> {
        if let Some(stored) = self.stored_resolved_in_memory_ms()? {
            return Ok(stored);
        }
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db.put_cf_opt(self.cf(CF_META), KEY_RESOLVED_IN_MEMORY_MS, configured.to_le_bytes(), &options)?;
        Ok(configured)
    }

    /// The stored window of resolved objects, if the directory has one (never writes).
    pub fn stored_resolved_in_memory_ms(&self) -> Result<Option<u64>, WalError> {
        let Some(bytes) = self.db.get_cf(self.cf(CF_META), KEY_RESOLVED_IN_MEMORY_MS)? else { return Ok(None) };
        let bytes: [u8; 8] =
            bytes.as_slice().try_into().map_err(|_| WalError::Format("resolved_in_memory_ms is damaged".into()))?;
        Ok(Some(u64::from_le_bytes(bytes)))
    }
}
