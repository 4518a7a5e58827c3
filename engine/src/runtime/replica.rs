//! A second durable copy of the log that every acknowledgement waits for: in cluster mode,
//! each partition's JetStream stream (`kassa-cluster`, docs/cluster.md).
//!
//! With a replica the writer, after its local write, hands the group's records to the replica
//! and answers nobody until the replica says they are stored. The messages between partitions
//! then leave once their batch is stored there too, not once it is queued: a partition's
//! stream never holds the effect of a message whose cause another partition's stream lacks.
//! A group of reads alone is answered once the replica confirms the log is still this
//! engine's ([`LogReplica::confirm`]): a stale owner never answers a read.

use std::sync::Arc;

use crate::partition::PartitionId;

/// One WAL record as the replica receives it.
#[derive(Debug, Clone, Copy)]
pub struct ReplicaRecord<'a> {
    /// The partition whose batch it is.
    pub partition: PartitionId,
    /// Its number in the local log (all partitions numbered together).
    pub seq: u64,
    /// Its partition's count of records through it (`WalRecord::position`, also in `bytes`).
    pub position: u64,
    /// The encoded record (`wal::encode_record`), as the local log stores it.
    pub bytes: &'a [u8],
}

/// Where the writer copies each group of records before answering it.
pub trait LogReplica: Send + Sync {
    /// Stores `records` (in the local log's order); returns once every one is durable there.
    /// An error stops the engine, as a failed local write does: nobody is answered.
    fn replicate(&self, records: &[ReplicaRecord<'_>]) -> Result<(), String>;

    /// Confirms that the log is still this engine's to write: called for a group of reads
    /// that carries no record, so that a read is answered only after its engine was shown to
    /// own the log at a moment after the read ran (reads linearizable). An error stops the
    /// engine, as a failed copy does.
    fn confirm(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A [`LogReplica`] shared with the engine's writer ([`super::EngineConfig::replica`]).
#[derive(Clone)]
pub struct Replica(pub Arc<dyn LogReplica>);

impl std::fmt::Debug for Replica {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Replica")
    }
}
