//! The storage format of a data directory: what its records, snapshots and history lines mean.

use rocksdb::{IteratorMode, WriteOptions};

use super::{CF_META, CF_WAL, KEY_SECRET, KEY_SNAPSHOT, Wal, WalError};

const KEY_STORAGE_FORMAT: &[u8] = b"storage_format";

/// The version of what a data directory holds (WAL records, snapshots, history lines), kept in
/// its `meta` family. 1: before 0.2, commands were logged without their principal; 2: each
/// command is logged with the principal that sent it (`Submission`). A directory of another
/// version is refused, never misread; there is no migration from 1 (its records do not say who
/// sent them, so replaying them under today's rules could decide differently).
pub const STORAGE_FORMAT: u8 = 2;

impl Wal {
    /// Checks that the directory holds [`STORAGE_FORMAT`] (a new, empty one is marked with it,
    /// synced); refuses a directory of another format with a message saying what to do.
    pub fn check_storage_format(&self) -> Result<(), WalError> {
        let meta = self.cf(CF_META);
        let found = match self.db.get_cf(meta, KEY_STORAGE_FORMAT)? {
            Some(bytes) => bytes.first().copied().unwrap_or(0),
            None => {
                let has_data = self.db.get_cf(meta, KEY_SECRET)?.is_some()
                    || self.db.get_cf(meta, KEY_SNAPSHOT)?.is_some()
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
             {STORAGE_FORMAT} (commands logged with their principal) and does not migrate older logs, whose \
             commands do not say who sent them. Open it with the kassa that wrote it, or start from a new \
             data directory"
        )))
    }
}
