//! Recovery that can go on: every partition's snapshot loaded, the local log replayed after
//! it, and then, for a standby in cluster mode, records applied as the owner's streams bring
//! them, each written to the local log first. [`Engine::open`] is a follower that starts the
//! threads at once; a standby becomes the engine when it takes the partitions over.

use std::time::Instant;

use super::state_hashes::StateHashes;
use super::{Engine, EngineConfig, OpenError, RecoveryReport, Replica};
use crate::state_machine::{CommitOutput, Config, SecretKey, StateMachine};
use crate::wal::{Derived, EncodedRecord, HeldLines, IndexedKind, Wal, WalRecord, decode_record, newest_per_key};

/// Records applied by a follower between two writes of their history (each write is a few
/// small files; the rest is written when the follower becomes the engine).
const HISTORY_FLUSH_RECORDS: u64 = 8_192;

/// The state rebuilt from a data directory, kept current by records applied in order.
pub struct Follower {
    pub(super) config: EngineConfig,
    pub(super) wal: Wal,
    pub(super) machine_config: Config,
    pub(super) partitions: u16,
    pub(super) machines: Vec<StateMachine>,
    pub(super) snapshot_seqs: Vec<u64>,
    pub(super) last_seq: u64,
    pub(super) report: RecoveryReport,
    watermark: u64,
    lost_history: Derived,
    unflushed: u64,
    output: CommitOutput,
    /// Per partition, where its state is hashed (`state_hashes.rs`); the snapshotter takes it on.
    pub(super) hashes: Vec<StateHashes>,
}

impl Follower {
    /// Opens (or creates) the data directory of `config` and rebuilds its state: every
    /// partition's latest snapshot, then the log after the oldest one, each record applied by
    /// its partition. History lines lost with the memtable are written again.
    pub fn open(config: EngineConfig) -> Result<Follower, OpenError> {
        super::open::check(&config)?;
        crate::wal::dir::create_private_dir(&config.data_dir).map_err(OpenError::Config)?;
        let wal = Wal::open(&config.data_dir, config.durability)?;
        wal.check_storage_format()?;
        let key = match config.secret_key {
            Some(key) => key,
            None => wal.secret_key(super::generate_key)?,
        };
        let ids_max = wal.ids_max(config.ids_max)?;
        let partitions = wal.partitions(config.partitions)?;
        if ids_max != config.ids_max || partitions != config.partitions {
            let (configured_ids_max, configured_partitions) = (config.ids_max, config.partitions);
            tracing::warn!(
                ids_max,
                partitions,
                configured_ids_max,
                configured_partitions,
                "the data directory keeps the ids_max and partitions it was created with"
            );
        }
        let per_partition = crate::partition::ids_max_per_partition(ids_max, partitions);
        let mut machine_config = Config::with_ids_max(SecretKey::from_bytes(&key), per_partition);
        machine_config.resolved_in_memory_ms = wal.resolved_in_memory_ms(config.resolved_in_memory_ms)?;
        let started = Instant::now();
        let (machines, snapshot_seqs) = wal.load_partitions(&machine_config, partitions)?;
        let snapshot_load = started.elapsed();
        let oldest = snapshot_seqs.iter().copied().min().unwrap_or(0);
        let watermark = wal.history_watermark()?;
        let report = RecoveryReport { snapshot_seq: oldest, snapshot_load, ..RecoveryReport::default() };
        let hashes = (0u16..)
            .zip(&snapshot_seqs)
            // Recovery hashes nothing: it would repeat what the log's writer hashed.
            .map(|(partition, covered)| StateHashes::new(&config.data_dir, partition, 0, *covered))
            .collect();
        let mut follower = Follower {
            config,
            wal: wal.clone(),
            machine_config,
            partitions,
            machines,
            snapshot_seqs,
            last_seq: oldest,
            report,
            watermark,
            lost_history: Derived::default(),
            unflushed: 0,
            output: CommitOutput::default(),
            hashes,
        };
        let mut refused = None;
        let last_seq = wal.replay(oldest, |record| {
            if refused.is_some() {
                return;
            }
            if usize::from(record.partition) >= follower.machines.len() {
                let seq = record.seq;
                refused = Some(format!("record {seq} belongs to a partition beyond the directory's {partitions}"));
            } else if let Err(reason) = follower.commit(&record) {
                refused = Some(reason);
            }
        })?;
        if let Some(reason) = refused {
            return Err(OpenError::Config(reason));
        }
        follower.last_seq = last_seq;
        for hashes in &mut follower.hashes {
            hashes.hash_every(follower.config.state_hash_every);
        }
        follower.flush_history()?;
        follower.report.elapsed = started.elapsed();
        Ok(follower)
    }

    /// The last record applied (0: none).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The local log.
    pub fn wal(&self) -> &Wal {
        &self.wal
    }

    /// Partitions of the data directory.
    pub fn partitions(&self) -> u16 {
        self.partitions
    }

    /// Partition `partition`'s state, for a standby's checks (`None` past the last one).
    pub fn machine(&self, partition: u16) -> Option<&StateMachine> {
        self.machines.get(usize::from(partition))
    }

    /// Writes `records` (encoded as the log encodes them, numbered on from [`Follower::last_seq`])
    /// to the local log in one synced write, then applies each by its partition.
    pub fn apply(&mut self, records: &[EncodedRecord]) -> Result<(), OpenError> {
        let decoded = records
            .iter()
            .map(|encoded| {
                decode_record(&encoded.value)
                    .map_err(|reason| OpenError::Config(format!("record {} cannot be decoded: {reason}", encoded.seq)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.apply_decoded(records, &decoded)
    }

    /// [`Follower::apply`] of records whose reader decoded them already: `decoded[i]` is
    /// `records[i]` decoded (a standby's merge decodes each record once, to order it).
    pub fn apply_decoded(&mut self, records: &[EncodedRecord], decoded: &[WalRecord]) -> Result<(), OpenError> {
        if records.len() != decoded.len() {
            return Err(OpenError::Config(format!("{} records, {} decoded", records.len(), decoded.len())));
        }
        for (index, (encoded, record)) in records.iter().zip(decoded).enumerate() {
            let expected = self.last_seq + 1 + index as u64;
            if record.seq != expected || encoded.seq != expected {
                return Err(OpenError::Config(format!("record {} where {expected} was expected", record.seq)));
            }
            if usize::from(record.partition) >= self.machines.len() {
                let partitions = self.partitions;
                return Err(OpenError::Config(format!("record {expected} belongs to a partition beyond {partitions}")));
            }
        }
        self.check_positions(decoded).map_err(OpenError::Config)?;
        self.wal.append(records)?;
        for record in decoded {
            self.commit(record).map_err(OpenError::Config)?;
        }
        self.last_seq += records.len() as u64;
        if self.unflushed >= HISTORY_FLUSH_RECORDS {
            self.flush_history()?;
        }
        Ok(())
    }

    /// Starts the engine's threads on this state; `replica` is the log copy the writer
    /// appends every group to before answering (cluster mode), if any.
    pub fn into_engine(mut self, replica: Option<Replica>) -> Result<(Engine, RecoveryReport), OpenError> {
        let partitions = self.partitions;
        if let Some(beyond) = self.config.followed_partitions.iter().find(|partition| **partition >= partitions) {
            return Err(OpenError::Config(format!(
                "followed partition {beyond} is beyond the directory's {partitions}"
            )));
        }
        self.flush_history()?;
        self.config.replica = replica;
        let report = self.report;
        tracing::info!(?report, partitions = self.partitions, "kassa engine recovered");
        Ok((super::open::start(self), report))
    }

    /// Refuses records whose positions do not count on, one by one, from their partitions'.
    fn check_positions(&self, records: &[WalRecord]) -> Result<(), String> {
        let mut next: Vec<u64> = self.machines.iter().map(|machine| machine.position() + 1).collect();
        for record in records {
            let partition = usize::from(record.partition);
            if record.seq <= self.snapshot_seqs[partition] {
                continue;
            }
            check_position(record, next[partition])?;
            next[partition] += 1;
        }
        Ok(())
    }

    /// Applies `record` by its partition, unless that partition's snapshot holds it; refuses it
    /// if it is not the partition's next record.
    fn commit(&mut self, record: &WalRecord) -> Result<(), String> {
        let partition = usize::from(record.partition);
        if record.seq <= self.snapshot_seqs[partition] {
            return Ok(()); // In this partition's snapshot.
        }
        let machine = &mut self.machines[partition];
        check_position(record, machine.position() + 1)?;
        self.output.clear();
        machine.commit_with_messages(record.now_ms, &record.messages, &record.commands, &mut self.output);
        self.hashes[partition].applied(record.seq, machine);
        if record.seq > self.watermark {
            let keys = self.machine_config.id_hasher();
            let key_of = |kind: IndexedKind, id: &crate::types::Id| keys.index_key_for(kind, id);
            let at_ms = machine.state_now_ms();
            self.lost_history.add(record.seq, record.partition, at_ms, &self.output.events, &key_of);
            self.unflushed += 1;
        }
        self.report.records_replayed += 1;
        self.report.commands_replayed += record.commands.len() as u64;
        Ok(())
    }

    /// Writes the history, events and transfer index of the records applied since the last
    /// write, through [`Follower::last_seq`].
    fn flush_history(&mut self) -> Result<(), OpenError> {
        if self.last_seq <= self.watermark {
            return Ok(());
        }
        let mut derived = std::mem::take(&mut self.lost_history);
        let transfers = newest_per_key(std::mem::take(&mut derived.transfers));
        let mut lines = HeldLines::default();
        let mut run = std::mem::take(&mut derived.lines);
        run.sort();
        lines.push(run);
        self.wal.append_events(&derived, self.last_seq)?;
        self.wal.ingest_history(&lines, self.last_seq)?;
        self.wal.ingest_transfers(&transfers, self.last_seq)?;
        self.watermark = self.last_seq;
        self.unflushed = 0;
        Ok(())
    }
}

/// Refuses `record` unless it is record `expected` of its partition.
fn check_position(record: &WalRecord, expected: u64) -> Result<(), String> {
    if record.position == expected {
        return Ok(());
    }
    let (seq, position, partition) = (record.seq, record.position, record.partition);
    Err(format!(
        "record {seq} is record {position} of partition {partition} where {expected} was expected: records of the \
         partition are missing or repeated"
    ))
}
