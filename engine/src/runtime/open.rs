//! Opening an engine: recovery (`follower.rs`: every partition's snapshot, then the log after
//! the oldest one, each record applied by its partition), then the threads: one executor and one snapshotter
//! per partition, one writer, one indexer, one ticker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;
use parking_lot::Mutex;

use super::{
    Engine, EngineConfig, Follower, OpenError, RecoveryReport, Request, executor, held_history, id_filter, indexer,
    recall, restore, snapshotter, writer,
};
use crate::constants::{BATCH_COMMANDS_MAX, IDEMPOTENCY_WINDOW_MS};
use crate::partition::PARTITIONS_MAX;
use crate::state_machine::{IDS_MAX_MAX, StateMachine, missed_references};
use crate::wal::Wal;

/// Depth of the writer's queue: deep enough that the executors commit on while the writer
/// syncs (each fsync takes the batches waiting then, up to 64).
const WRITER_QUEUE: usize = 64;
/// Durable groups whose answers may wait for the answerer thread at once.
const ANSWER_GROUPS_QUEUED_MAX: usize = 64;

pub(super) fn check(config: &EngineConfig) -> Result<(), OpenError> {
    if config.batch_max == 0 || config.batch_max > BATCH_COMMANDS_MAX {
        return Err(OpenError::Config(format!("batch_max must be 1..={BATCH_COMMANDS_MAX}")));
    }
    if config.mailbox_max == 0 {
        return Err(OpenError::Config("mailbox_max must be positive".into()));
    }
    if config.ids_max > IDS_MAX_MAX {
        return Err(OpenError::Config(format!("ids_max must be at most {IDS_MAX_MAX} (32 bytes each)")));
    }
    if config.partitions == 0 || config.partitions > PARTITIONS_MAX {
        return Err(OpenError::Config(format!("partitions must be 1..={PARTITIONS_MAX}")));
    }
    Ok(())
}

impl Engine {
    /// Opens (or creates) the engine in `config.data_dir`: loads every partition's latest
    /// snapshot, replays the log after it through the same `commit`, sends again the credits
    /// still on their way between partitions, and starts the threads.
    pub fn open(config: EngineConfig) -> Result<Engine, OpenError> {
        Engine::open_with_report(config).map(|(engine, _)| engine)
    }

    /// Like [`Engine::open`], also telling what recovery did.
    pub fn open_with_report(config: EngineConfig) -> Result<(Engine, RecoveryReport), OpenError> {
        let replica = config.replica.clone();
        Follower::open(config)?.into_engine(replica)
    }
}

/// Starts the threads on the recovered state.
pub(super) fn start(follower: Follower) -> Engine {
    let Follower { config, wal, machine_config, partitions, machines, snapshot_seqs, last_seq, report, .. } = follower;
    let transfer_keys = machine_config.id_hasher().clone();
    let placement = machine_config.for_partition(0, partitions).placement().clone();
    let (to_writer, writer_inbox) = crossbeam_channel::bounded(WRITER_QUEUE);
    let (to_indexer, indexer_inbox) = crossbeam_channel::bounded(1_024);
    let failed = Arc::new(AtomicBool::new(false));
    let stopping = Arc::new(AtomicBool::new(false));
    let durable_seq = Arc::new(AtomicU64::new(last_seq));
    let indexed_seq = Arc::new(AtomicU64::new(last_seq));
    // Recovery ingested the transfer index and history through the last record.
    let pending_transfers =
        Arc::new(indexer::PendingTransfers { ingested_seq: AtomicU64::new(last_seq), ..Default::default() });
    let held_history = Arc::new(held_history::HeldHistory::default());
    held_history.ingested_seq.store(last_seq, Ordering::Release);
    let newest_snapshot_seq = Arc::new(AtomicU64::new(snapshot_seqs.iter().copied().max().unwrap_or(0)));
    let (transit_senders, transit_inboxes): (Vec<_>, Vec<_>) =
        (0..partitions).map(|_| crossbeam_channel::unbounded()).unzip();
    // Credits and checks still on their way when the engine stopped go again (a credit is applied
    // at most once; a check changes nothing).
    for machine in &machines {
        for outgoing in machine.state().transit.open_messages() {
            let _ = transit_senders[usize::from(outgoing.destination)].send(outgoing.message);
        }
    }
    // So do the home partition's registrations that a partition had not applied.
    for outgoing in missed_references(&machines) {
        let _ = transit_senders[usize::from(outgoing.destination)].send(outgoing.message);
    }
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let spawn = |name: String, body: Box<dyn FnOnce() + Send>| {
        std::thread::Builder::new().name(name).spawn(body).expect("spawn a thread")
    };
    let id_filter = id_filter(&config, &wal).map(|(filter, filling)| {
        let stopping = stopping.clone();
        let fill = move || filling.fill(|| stopping.load(Ordering::Relaxed));
        threads.push(spawn("kassa-id-filter".into(), Box::new(fill)));
        filter
    });
    let directory = Arc::new(super::directory::Directory::new());
    let (mut mailboxes, mut snapshotters, mut archive_durable) = (Vec::new(), Vec::new(), Vec::new());
    for ((machine, transit), covered) in machines.into_iter().zip(transit_inboxes).zip(snapshot_seqs) {
        let partition = u16::try_from(mailboxes.len()).expect("partitions fit u16");
        let (mailbox, inbox) = crossbeam_channel::bounded(config.mailbox_max);
        // The replica starts as the recovered state and applies every durable record after it;
        // its inbox holds the records that arrive while it encodes a snapshot.
        let replica = StateMachine::from_state(machine.config().clone(), machine.state().clone());
        let (to_snapshotter, snapshotter_inbox) = crossbeam_channel::bounded(65_536);
        let snapshotter = snapshotter::Snapshotter {
            wal: wal.clone(),
            inbox: snapshotter_inbox,
            indexed_seq: indexed_seq.clone(),
            pending_transfers: pending_transfers.clone(),
            held_history: held_history.clone(),
            replica,
            partition,
            partitions,
            seq: last_seq,
            snapshot_seq: covered,
            newest_snapshot_seq: newest_snapshot_seq.clone(),
            every_commands: config.snapshot_every_commands.max(1),
            // Records replayed since the snapshot count towards the next one.
            commands_since: if report.records_replayed > 0 { config.snapshot_every_commands / 2 } else { 0 },
        };
        let recall = id_filter.as_ref().map(|filter| recall::Recall {
            wal: wal.clone(),
            filter: filter.clone(),
            pending: pending_transfers.clone(),
            retention_ms: config.idempotency_retention_ms,
        });
        let durable_batches = Arc::new(AtomicU64::new(0));
        // With one partition every command goes to it: no directory to keep.
        let directory = (partitions > 1).then(|| {
            directory.enter_all(&placement, partition, &machine);
            directory.clone()
        });
        let restorer = restore::Restorer::new(wal.clone(), durable_batches.clone(), directory.clone());
        archive_durable.push(durable_batches);
        let executor = executor::Executor::new(
            machine,
            partition,
            &config,
            (inbox, transit, to_writer.clone()),
            transit_senders.clone(),
            (recall, restorer, directory),
        );
        threads.push(spawn(format!("kassa-exec-{partition}"), Box::new(move || executor.run())));
        threads.push(spawn(format!("kassa-snap-{partition}"), Box::new(move || snapshotter.run())));
        mailboxes.push(mailbox);
        snapshotters.push(to_snapshotter);
    }
    drop(to_writer);
    let (to_answerer, answerer_inbox) = crossbeam_channel::bounded(ANSWER_GROUPS_QUEUED_MAX);
    let writer = writer::Writer {
        wal: wal.clone(),
        inbox: writer_inbox,
        failed: failed.clone(),
        indexer: to_indexer,
        durable_seq: durable_seq.clone(),
        snapshotters,
        executors: usize::from(partitions),
        durable_batches: archive_durable,
        answers: to_answerer,
        replica: config.replica.clone(),
        transit_out: transit_senders.clone(),
    };
    let (to_history, history_inbox) = crossbeam_channel::bounded(1);
    let ingest = {
        let (wal, held) = (wal.clone(), held_history.clone());
        move || held_history::ingest_handovers(wal, history_inbox, held)
    };
    let indexer = indexer::Indexer {
        wal: wal.clone(),
        inbox: indexer_inbox,
        indexed_seq: indexed_seq.clone(),
        transfer_keys: transfer_keys.clone(),
        pending: pending_transfers.clone(),
        history: held_history.clone(),
        to_history,
        held_since_ms: std::cell::Cell::new(None),
    };
    threads.push(spawn("kassa-writer".into(), Box::new(move || writer.run())));
    threads.push(spawn("kassa-answerer".into(), Box::new(move || writer::answer(answerer_inbox))));
    threads.push(spawn("kassa-indexer".into(), Box::new(move || indexer.run())));
    threads.push(spawn("kassa-history".into(), Box::new(ingest)));
    if config.tick_interval_ms > 0 {
        let ticker = ticker(mailboxes.clone(), stopping.clone(), Duration::from_millis(config.tick_interval_ms));
        threads.push(spawn("kassa-ticker".into(), Box::new(ticker)));
    }
    Engine {
        mailboxes,
        placement,
        directory,
        wal,
        failed,
        stopping,
        durable_seq,
        indexed_seq,
        transfer_keys,
        pending_transfers,
        held_history,
        history_gate: Mutex::new(()),
        threads: Mutex::new(threads),
    }
}

/// A `Tick` for every partition each `interval`, so expiry enters every log with its time.
fn ticker(mailboxes: Vec<Sender<Request>>, stopping: Arc<AtomicBool>, interval: Duration) -> impl FnOnce() + Send {
    move || {
        let step = Duration::from_millis(20);
        let mut waited = Duration::ZERO;
        while !stopping.load(Ordering::Relaxed) {
            std::thread::sleep(step);
            waited += step;
            if waited >= interval {
                waited = Duration::ZERO;
                for mailbox in &mailboxes {
                    // A full mailbox skips a tick; the next one expires everything due.
                    let _ = mailbox.try_send(Request::Tick);
                }
            }
        }
    }
}

/// With a retention past the id table's window, the executors' filter of ids (`id_filter.rs`),
/// sized for the ids of one retention at the rate `ids_max` is sized for (two days' ids), and
/// what fills it with the index's keys (a thread of its own).
fn id_filter(config: &EngineConfig, wal: &Wal) -> Option<(Arc<id_filter::IdFilter>, FillIdFilter)> {
    if config.idempotency_retention_ms <= IDEMPOTENCY_WINDOW_MS {
        return None;
    }
    let days = usize::try_from(config.idempotency_retention_ms.div_ceil(IDEMPOTENCY_WINDOW_MS)).unwrap_or(usize::MAX);
    let keys = (config.ids_max / 2).saturating_mul(days).clamp(1 << 20, ID_FILTER_KEYS_MAX);
    let filter = Arc::new(id_filter::IdFilter::new(keys, config.idempotency_retention_ms));
    let retention_days = config.idempotency_retention_ms / (24 * 3_600_000);
    tracing::info!(bytes = filter.bytes(), retention_days, "id filter for the idempotency retention");
    Some((filter.clone(), FillIdFilter { filter, wal: wal.clone() }))
}

/// Most ids one generation of the id filter is sized for (320 MB each at 10 bits an id).
const ID_FILTER_KEYS_MAX: usize = 256 << 20;

/// Puts the transfer index's keys into the id filter, then lets it answer.
struct FillIdFilter {
    filter: Arc<id_filter::IdFilter>,
    wal: Wal,
}

impl FillIdFilter {
    /// Reads the whole index (stopping early if `stopping` says so: the engine shuts down).
    fn fill(self, stopping: impl Fn() -> bool) {
        let mut read = 0u64;
        let result = self.wal.for_each_indexed_key(|key| {
            self.filter.insert_indexed(key);
            read += 1;
            !read.is_multiple_of(65_536) || !stopping()
        });
        match result {
            Ok(()) if !stopping() => self.filter.set_ready(),
            Ok(()) => {}
            Err(error) => tracing::warn!(%error, "reading the transfer index for the id filter failed"),
        }
    }
}
