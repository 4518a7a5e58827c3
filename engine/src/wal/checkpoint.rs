//! A copy of the whole directory at one moment, for a node that starts from another's state
//! (cluster mode ships it to the object store): RocksDB's checkpoint, whose table files are
//! hard links to the directory's own (immutable, so a copy costs only what is new).

use std::path::Path;
use std::sync::Weak;

use rocksdb::DB;
use rocksdb::checkpoint::Checkpoint;

use super::{Durability, Wal, WalError};

/// A [`Wal`] that does not keep the database open: a thread beside the engine (the cluster's
/// snapshot publisher) holds one, so the directory closes when the engine stops.
#[derive(Clone)]
pub struct WeakWal {
    db: Weak<DB>,
    durability: Durability,
}

impl WeakWal {
    /// The log, while something else keeps it open.
    pub fn upgrade(&self) -> Option<Wal> {
        Some(Wal { db: self.db.upgrade()?, durability: self.durability })
    }
}

impl Wal {
    /// This log, not kept open by the handle ([`WeakWal`]).
    pub fn downgrade(&self) -> WeakWal {
        WeakWal { db: std::sync::Arc::downgrade(&self.db), durability: self.durability }
    }

    /// Writes a consistent copy of the directory to `path` (which must not exist, on the same
    /// filesystem): the log, every snapshot, history, indexes and archive, as of one moment.
    /// Memtables are flushed first, so the copy needs no RocksDB log of its own. Returns the
    /// last record the copy holds (0: none); opened as a data directory it recovers to there.
    pub fn checkpoint(&self, path: &Path) -> Result<u64, WalError> {
        Checkpoint::new(&self.db)?.create_checkpoint_with_log_size(path, 0)?;
        let copy = Wal::open_read_only(path)?;
        Ok(copy.last_record_seq()?.unwrap_or(0))
    }
}
