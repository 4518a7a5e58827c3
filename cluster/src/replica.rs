//! The engine's log copied to each partition's stream before any acknowledgement
//! (`kassa_engine::runtime::LogReplica`), and the node that owns every partition while doing so.
//!
//! Its parts, used by `node.rs`:
//! - taking each stream over, reading only its end, and keeping the last record's number in
//!   the local log;
//! - copying to each stream the local records it lacks, when this node wrote last: batches
//!   written locally whose copy never completed, so none was acknowledged. A command whose
//!   answer was lost may or may not be applied, so copying them on is correct, and the stream
//!   and the local log agree again;
//! - renewing the leases every third of their time to live. Once one is lost, the node stops
//!   answering: its process exits, and a stale owner's appends would fail anyway.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use kassa_engine::partition::PartitionId;
use kassa_engine::runtime::{LogReplica, ReplicaRecord};
use kassa_engine::wal::{EncodedRecord, Wal, WalError, decode_record};
use parking_lot::Mutex;

use crate::lease::{Lease, LeaseError, Leases};
use crate::log::{LogError, PartitionLog};
use crate::snapshots::Marks;

/// How a node joins a cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// The NATS servers (`nats://host:port`), any of which the client may use.
    pub urls: Vec<String>,
    /// This node's name (lease holder).
    pub node_id: String,
    /// Streams are `<PREFIX>_P<n>`, subjects `<prefix>.p<n>.log`, leases bucket `<prefix>_leases`.
    pub prefix: String,
    /// Copies of each stream and of the leases (3 in a cluster of three servers).
    pub replicas: usize,
    /// How long a lease lasts unless renewed.
    pub lease_ttl: Duration,
    /// Where this node answers, published for standbys to forward requests to.
    pub addresses: Option<crate::directory::Addresses>,
    /// How often the owner publishes a snapshot of its directory to the object store and trims
    /// the streams below the previous one (`snapshots.rs`).
    pub snapshot_interval: Duration,
}

/// Why a node could not join.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// NATS could not be reached.
    #[error("cannot reach the NATS servers: {0}")]
    Connect(String),
    /// A lease is held by another node.
    #[error(transparent)]
    Lease(#[from] crate::lease::LeaseError),
    /// A stream refused.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The local log could not be read.
    #[error("the local log: {0}")]
    Local(#[from] WalError),
    /// The local log and the streams disagree in a way this step does not mend.
    #[error("{0}")]
    Diverged(String),
    /// A stream was trimmed past where this standby read it (it fell a snapshot behind): it
    /// starts again from the latest snapshot.
    #[error("partition {0}'s stream was trimmed past this standby's reading")]
    Behind(u16),
    /// The engine could not be opened on the state.
    #[error(transparent)]
    Engine(#[from] kassa_engine::runtime::OpenError),
}

/// The streams the writer copies each group of records to.
pub struct StreamReplica {
    runtime: Arc<tokio::runtime::Runtime>,
    pub(crate) logs: Mutex<Vec<PartitionLog>>,
    js: async_nats::jetstream::Context,
    prefix: String,
    /// Per stream, where it stood after some of its appends: where it may be trimmed.
    marks: Mutex<Vec<Marks>>,
    /// Every record numbered up to this one is in its stream.
    replicated: AtomicU64,
}

impl StreamReplica {
    /// The replica appending to `logs` (partition `n`'s at index `n`), taken over already.
    pub(crate) fn new(
        runtime: Arc<tokio::runtime::Runtime>,
        logs: Vec<PartitionLog>,
        js: async_nats::jetstream::Context,
        prefix: String,
    ) -> StreamReplica {
        let marks = Mutex::new((0..logs.len()).map(|_| Marks::default()).collect());
        StreamReplica { runtime, logs: Mutex::new(logs), js, prefix, marks, replicated: AtomicU64::new(0) }
    }

    /// Every stream was just cut after record `after` (the local log's numbering): the records
    /// through it are in the streams, and an entry after the cut is numbered after it.
    pub(crate) fn cut_at(&self, after: u64) {
        let ends: Vec<u64> = self.logs.lock().iter().map(|log| log.position().sequence).collect();
        for (partition, end) in ends.into_iter().enumerate() {
            self.mark(partition, after, end);
        }
        self.replicated.fetch_max(after, Ordering::Release);
    }

    fn mark(&self, partition: usize, seq: u64, sequence: u64) {
        if let Some(marks) = self.marks.lock().get_mut(partition) {
            marks.mark(seq, sequence);
        }
    }

    /// Every record numbered up to this one is in its stream.
    pub(crate) fn replicated_through(&self) -> u64 {
        self.replicated.load(Ordering::Acquire)
    }

    /// Where each stream may be trimmed below a copy of the local log through record
    /// `last_seq` ([`Marks::trim_point`]).
    pub(crate) fn trim_points(&self, last_seq: u64) -> Vec<Option<u64>> {
        self.marks.lock().iter_mut().map(|marks| marks.trim_point(last_seq)).collect()
    }
}

/// How long a copy rides through a NATS failure (a stream's leader dying: a new one is elected
/// in 4-10 s) before it gives up and the engine stops.
pub(crate) const RIDE_THROUGH: Duration = Duration::from_secs(30);

/// Appends `payloads` to partition `partition`'s log. An append whose outcome is unknown (a
/// timeout, the stream's leader gone) is resumed: the stream is read after where the log
/// stood, the records of this owner's epoch found there are the ones that landed, and the
/// rest is appended again, until [`RIDE_THROUGH`] has passed. Another owner's takeover ends it.
async fn append_riding_through(
    js: &async_nats::jetstream::Context,
    prefix: &str,
    partition: u16,
    log: &mut PartitionLog,
    payloads: &[Bytes],
) -> Result<(), LogError> {
    let deadline = tokio::time::Instant::now() + RIDE_THROUGH;
    let mut remaining = payloads;
    loop {
        let before = log.position();
        let error = match log.append(remaining).await {
            Ok(_) => return Ok(()),
            Err(error @ (LogError::StaleEpoch { .. } | LogError::Broken { .. })) => return Err(error),
            Err(error) => error,
        };
        loop {
            if tokio::time::Instant::now() >= deadline {
                return Err(error);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut landed = 0;
            let count = |entry: crate::Entry| {
                if entry.kind == crate::EntryKind::Record && entry.epoch == before.epoch {
                    landed += 1;
                }
            };
            match PartitionLog::resume(js, prefix, partition, before.epoch, before.sequence, count).await {
                Ok(resumed) => {
                    *log = resumed;
                    remaining = &remaining[landed.min(remaining.len())..];
                    if remaining.is_empty() {
                        return Ok(());
                    }
                    break;
                }
                Err(error @ (LogError::StaleEpoch { .. } | LogError::Broken { .. })) => return Err(error),
                Err(_) => {} // Still electing: try again.
            }
        }
    }
}

impl LogReplica for StreamReplica {
    fn replicate(&self, records: &[ReplicaRecord<'_>]) -> Result<(), String> {
        let mut per_partition: BTreeMap<PartitionId, Vec<Bytes>> = BTreeMap::new();
        let mut last_seqs: BTreeMap<PartitionId, u64> = BTreeMap::new();
        for record in records {
            per_partition.entry(record.partition).or_default().push(Bytes::copy_from_slice(record.bytes));
            last_seqs.insert(record.partition, record.seq);
        }
        let mut logs = self.logs.lock();
        let (js, prefix) = (&self.js, self.prefix.as_str());
        let appends = logs.iter_mut().enumerate().filter_map(|(partition, log)| {
            let partition = u16::try_from(partition).ok()?;
            let payloads = per_partition.remove(&partition)?;
            Some(async move { append_riding_through(js, prefix, partition, log, &payloads).await })
        });
        let appended = self.runtime.block_on(futures::future::try_join_all(appends));
        appended.map_err(|error| error.to_string())?;
        let ends: Vec<u64> = logs.iter().map(|log| log.position().sequence).collect();
        drop(logs);
        for (partition, seq) in last_seqs {
            self.mark(usize::from(partition), seq, ends[usize::from(partition)]);
        }
        if let Some(last) = records.iter().map(|record| record.seq).max() {
            self.replicated.fetch_max(last, Ordering::Release);
        }
        Ok(())
    }

    /// Partition 0's stream still ends at this owner's last entry: a new owner appends its
    /// takeover there before it writes anything, so none has acknowledged a command yet.
    /// NATS electing a leader is ridden through as appends are; a moved end is refused at once.
    fn confirm(&self) -> Result<(), String> {
        self.confirm_owner().map_err(|error| error.to_string())
    }
}

impl StreamReplica {
    /// [`LogReplica::confirm`], saying why: [`LogError::Fenced`] if another owner took the
    /// streams over, a NATS error if NATS could not answer for [`RIDE_THROUGH`].
    pub(crate) fn confirm_owner(&self) -> Result<(), LogError> {
        let logs = self.logs.lock();
        let Some(log) = logs.first() else { return Ok(()) };
        let deadline = std::time::Instant::now() + RIDE_THROUGH;
        loop {
            match self.runtime.block_on(log.confirm()) {
                Err(LogError::Nats(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                result => return result,
            }
        }
    }
}

/// Renews `held` every third of their time to live, on a thread of its own, and calls `lost`
/// (once) when one is lost: another node holds it now, and the node must stop answering. A
/// lease that lapsed with nobody taking it is taken again.
///
/// A renewal that NATS cannot answer (the leases' bucket electing a leader, 4-10 s, longer
/// than a lease lasts) is tried again, and the node goes on meanwhile. That is safe without
/// the lease: a node that took the partitions over has appended its takeover to every stream,
/// so this node's next append is fenced, and its next read finds partition 0's stream moved on
/// (`LogReplica::confirm`); either stops the engine before it answers anything.
pub(crate) fn keep_leases(
    runtime: Arc<tokio::runtime::Runtime>,
    leases: Leases,
    mut held: Vec<Lease>,
    lost: impl FnOnce(String) + Send + 'static,
) {
    let period = leases.ttl() / 3;
    std::thread::Builder::new()
        .name("kassa-leases".into())
        .spawn(move || {
            let mut renewed = vec![std::time::Instant::now(); held.len()];
            loop {
                std::thread::sleep(period);
                for (lease, renewed) in held.iter_mut().zip(&mut renewed) {
                    match runtime.block_on(leases.renew(lease)) {
                        Ok(()) => *renewed = std::time::Instant::now(),
                        Err(LeaseError::Nats(error)) => {
                            // Said once per time to live, not at every try.
                            let unrenewed = renewed.elapsed();
                            if unrenewed.as_millis() % leases.ttl().as_millis().max(1) < period.as_millis() {
                                let unrenewed_ms = unrenewed.as_millis();
                                tracing::warn!(partition = lease.partition, %error, unrenewed_ms, "a lease cannot be renewed yet");
                            }
                        }
                        Err(error) => match runtime.block_on(leases.acquire(lease.partition, &lease.node)) {
                            // It lapsed while NATS could not renew it, and nobody took it: take
                            // it again. Had another node taken the partitions over meanwhile,
                            // this node's next append or read would be fenced anyway.
                            Ok(again) => {
                                tracing::warn!(partition = lease.partition, "a lease that lapsed is taken again");
                                *lease = again;
                                *renewed = std::time::Instant::now();
                            }
                            Err(_) => {
                                lost(error.to_string());
                                return;
                            }
                        },
                    }
                }
            }
        })
        .expect("spawn the lease thread");
}

pub(crate) fn random_secret() -> [u8; 32] {
    random_bytes()
}

/// Random bytes from the system's source.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0; N];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).expect("the system's random source");
    bytes
}

/// Takes every held partition's stream over (reading only its end), returning the logs and
/// the number of each stream's last record in the local log's numbering (`covered`, the latest
/// snapshot's last record, if none is left after the stream's trimming; 0 without one).
pub(crate) async fn take_streams_over(
    js: &async_nats::jetstream::Context,
    options: &ClusterOptions,
    held: &[Lease],
    covered: u64,
) -> Result<(Vec<PartitionLog>, Vec<u64>), JoinError> {
    let (mut logs, mut stream_ends) = (Vec::new(), Vec::new());
    for lease in held {
        PartitionLog::create_stream(js, &options.prefix, lease.partition, options.replicas).await?;
        let (end, last) = PartitionLog::last_record(js, &options.prefix, lease.partition).await?;
        let last_record = match last {
            None => covered,
            Some(entry) => decode_record(&entry.payload).map(|record| record.seq).map_err(|reason| {
                JoinError::Diverged(format!(
                    "partition {}'s stream holds no record at {}: {reason}",
                    lease.partition, entry.sequence
                ))
            })?,
        };
        logs.push(PartitionLog::take_over(js, &options.prefix, lease.partition, lease.epoch, end, |_| {}).await?);
        stream_ends.push(last_record);
    }
    Ok((logs, stream_ends))
}

/// Takes partition `partition`'s lease, waiting up to twice its time to live for a holder
/// that stopped renewing (a node restarted after a crash waits for its own old lease).
pub(crate) async fn acquire_when_lapsed(leases: &Leases, partition: u16, node: &str) -> Result<Lease, JoinError> {
    let deadline = tokio::time::Instant::now() + leases.ttl() * 2;
    loop {
        match leases.acquire(partition, node).await {
            Err(LeaseError::Held { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(leases.ttl() / 10).await;
            }
            result => return Ok(result?),
        }
    }
}

/// Copies to each partition's stream the local records after its last one (`stream_ends`).
pub(crate) fn copy_missing(replica: &StreamReplica, wal: &Wal, stream_ends: &[u64]) -> Result<(), JoinError> {
    let mut missing: Vec<EncodedRecord> = Vec::new();
    let mut partitions: Vec<(PartitionId, u64)> = Vec::new();
    let after = stream_ends.iter().copied().min().unwrap_or(0);
    let mut collect = |record: kassa_engine::wal::WalRecord| {
        if record.seq > stream_ends.get(usize::from(record.partition)).copied().unwrap_or(0) {
            missing.push(record.encode());
            partitions.push((record.partition, record.position));
        }
    };
    let (_, trimmed) = match wal.replay(after, &mut collect) {
        // Records below the oldest snapshot are gone locally; in cluster mode they were copied
        // before they were acknowledged, so the streams have them.
        Err(WalError::MissingRecords { from, to, .. }) if from == after + 1 => (wal.replay(to, &mut collect)?, true),
        result => (result?, false),
    };
    if trimmed && stream_ends.contains(&0) {
        return Err(JoinError::Diverged(
            "the data directory has records the streams never had: start cluster mode on a new directory".into(),
        ));
    }
    let records: Vec<ReplicaRecord<'_>> = missing
        .iter()
        .zip(&partitions)
        .map(|(record, (partition, position))| ReplicaRecord {
            partition: *partition,
            seq: record.seq,
            position: *position,
            bytes: &record.value,
        })
        .collect();
    for chunk in records.chunks(64) {
        replica.replicate(chunk).map_err(JoinError::Diverged)?;
    }
    Ok(())
}
