//! Snapshots, one per partition: `meta` holds each partition's pointer (`snapshot\0` ++
//! partition) to its chunks (`snapshot/` ++ partition ++ seq ++ chunk number, 16 MiB each).
//! The log is trimmed below the oldest partition's snapshot, so that every partition can
//! replay what follows its own.

use rocksdb::{IteratorMode, WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};

use super::{CF_META, CF_WAL, Durability, Wal, WalError};
use crate::codec;
use crate::partition::PartitionId;
use crate::state_machine::{Config, State, StateMachine};

const SNAPSHOT_CHUNK_BYTES: usize = 16 * 1024 * 1024;
/// Prefix of the pointers to each partition's current snapshot.
const POINTER_PREFIX: &[u8] = b"snapshot\x00";

/// An encoded snapshot of one partition's state after record `seq`.
pub struct EncodedSnapshot {
    /// The partition.
    pub partition: PartitionId,
    /// The last record it includes.
    pub seq: u64,
    /// Codec bytes of the state.
    pub bytes: Vec<u8>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SnapshotMeta {
    seq: u64,
    chunks: u32,
    bytes: u64,
    crc32c: u32,
}

fn pointer_key(partition: PartitionId) -> Vec<u8> {
    [POINTER_PREFIX, &partition.to_be_bytes()].concat()
}

pub(super) fn chunk_key(partition: PartitionId, seq: u64, chunk: u32) -> Vec<u8> {
    [&b"snapshot/"[..], &partition.to_be_bytes(), &seq.to_be_bytes(), &chunk.to_be_bytes()].concat()
}

impl Wal {
    /// Whether any partition has a snapshot.
    pub(super) fn has_snapshot(&self) -> Result<bool, WalError> {
        let mode = IteratorMode::From(POINTER_PREFIX, rocksdb::Direction::Forward);
        match self.db.iterator_cf(self.cf(CF_META), mode).next().transpose()? {
            Some((key, _)) => Ok(key.starts_with(POINTER_PREFIX)),
            None => Ok(false),
        }
    }

    fn snapshot_meta(&self, partition: PartitionId) -> Result<Option<SnapshotMeta>, WalError> {
        let Some(bytes) = self.db.get_cf(self.cf(CF_META), pointer_key(partition))? else { return Ok(None) };
        let meta = codec::decode(&bytes)
            .map_err(|error| WalError::CorruptSnapshot(format!("partition {partition}'s metadata: {error}")))?;
        Ok(Some(meta))
    }

    /// Partition `partition`'s latest snapshot, if any: the record it covers and the state.
    pub fn load_snapshot(&self, partition: PartitionId) -> Result<Option<(u64, State)>, WalError> {
        let meta = self.cf(CF_META);
        let Some(info) = self.snapshot_meta(partition)? else { return Ok(None) };
        let corrupt = |reason: String| {
            WalError::CorruptSnapshot(format!("partition {partition}'s snapshot at record {}: {reason}", info.seq))
        };
        let mut bytes = Vec::with_capacity(usize::try_from(info.bytes).unwrap_or(0).min(1 << 34));
        for chunk in 0..info.chunks {
            let chunk_bytes = self
                .db
                .get_cf(meta, chunk_key(partition, info.seq, chunk))?
                .ok_or_else(|| corrupt(format!("chunk {chunk} of {} is missing", info.chunks)))?;
            bytes.extend_from_slice(&chunk_bytes);
        }
        if bytes.len() as u64 != info.bytes {
            return Err(corrupt(format!("{} bytes in its chunks, {} expected", bytes.len(), info.bytes)));
        }
        if crc32c::crc32c(&bytes) != info.crc32c {
            return Err(corrupt("checksum mismatch".into()));
        }
        let state = State::decode_snapshot(&bytes).map_err(|error| corrupt(error.to_string()))?;
        Ok(Some((info.seq, state)))
    }

    /// Writes a partition's snapshot, then makes it current and trims the records that every
    /// partition's snapshot covers (atomically, synced). The chunks are written under keys of
    /// their own snapshot, without RocksDB's log, and flushed to table files before the small
    /// synced write that points to them: a snapshot of hundreds of megabytes never passes
    /// through the log that the acknowledged records wait on, and a crash before the pointer
    /// leaves the previous one whole. `partitions` is the directory's partition count.
    pub fn write_snapshot(&self, snapshot: &EncodedSnapshot, partitions: u16) -> Result<(), WalError> {
        let meta = self.cf(CF_META);
        let partition = snapshot.partition;
        let chunks = snapshot.bytes.chunks(SNAPSHOT_CHUNK_BYTES).count().max(1);
        let mut unlogged = WriteOptions::default();
        unlogged.disable_wal(true);
        for (index, chunk) in snapshot.bytes.chunks(SNAPSHOT_CHUNK_BYTES).enumerate() {
            let key = chunk_key(partition, snapshot.seq, u32::try_from(index).expect("chunk count fits u32"));
            self.db.put_cf_opt(meta, key, chunk, &unlogged)?;
        }
        if snapshot.bytes.is_empty() {
            self.db.put_cf_opt(meta, chunk_key(partition, snapshot.seq, 0), [], &unlogged)?;
        }
        self.db.flush_cf(meta)?;
        let mut batch = WriteBatch::default();
        // The chunks of this partition's older snapshots.
        batch.delete_range_cf(meta, chunk_key(partition, 0, 0), chunk_key(partition, snapshot.seq, 0));
        let info = SnapshotMeta {
            seq: snapshot.seq,
            chunks: u32::try_from(chunks).expect("chunk count fits u32"),
            bytes: snapshot.bytes.len() as u64,
            crc32c: crc32c::crc32c(&snapshot.bytes),
        };
        batch.put_cf(meta, pointer_key(partition), codec::encode(&info));
        // Pointers only move forward, so a concurrent snapshot can only make this lower.
        let mut covered = snapshot.seq;
        for other in (0..partitions).filter(|other| *other != partition) {
            covered = covered.min(self.snapshot_meta(other)?.map_or(0, |other| other.seq));
        }
        if covered > 0 {
            batch.delete_range_cf(self.cf(CF_WAL), 0u64.to_be_bytes(), (covered + 1).to_be_bytes());
        }
        let mut options = WriteOptions::default();
        options.set_sync(self.durability == Durability::Sync);
        self.db.write_opt(batch, &options)?;
        Ok(())
    }

    /// Every partition's machine as its snapshot left it (an empty one without a snapshot),
    /// and the record each snapshot covers.
    pub fn load_partitions(&self, config: &Config, partitions: u16) -> Result<(Vec<StateMachine>, Vec<u64>), WalError> {
        let (mut machines, mut covered) = (Vec::new(), Vec::new());
        for partition in 0..partitions {
            let config = config.clone().for_partition(partition, partitions);
            let (seq, machine) = match self.load_snapshot(partition)? {
                Some((seq, state)) => (seq, StateMachine::from_state(config, state)),
                None => (0, StateMachine::new(config)),
            };
            machines.push(machine);
            covered.push(seq);
        }
        Ok((machines, covered))
    }
}
