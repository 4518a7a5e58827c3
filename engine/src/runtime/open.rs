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
use crate::partition::{Placement, TransitMessage};
use crate::state_machine::{IDS_MAX_MAX, IdHasher, StateMachine, missed_references};
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
    let Follower { config, wal, machine_config, partitions, machines, snapshot_seqs, last_seq, report, hashes, .. } =
        follower;
    let (to_writer, writer_inbox) = crossbeam_channel::bounded(WRITER_QUEUE);
    let (transit_senders, transit_inboxes): (Vec<_>, Vec<_>) =
        (0..partitions).map(|_| crossbeam_channel::unbounded()).unzip();
    send_again_what_was_on_its_way(&machines, &transit_senders);
    let stopping = Arc::new(AtomicBool::new(false));
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let id_filter = id_filter(&config, &wal).map(|(filter, filling)| {
        let stopping = stopping.clone();
        let fill = move || filling.fill(|| stopping.load(Ordering::Relaxed));
        threads.push(spawn("kassa-id-filter".into(), Box::new(fill)));
        filter
    });
    let held_history = Arc::new(held_history::HeldHistory::default());
    held_history.ingested_seq.store(last_seq, Ordering::Release);
    let shared = Shared {
        partitions,
        transfer_keys: machine_config.id_hasher().clone(),
        placement: machine_config.for_partition(0, partitions).placement().clone(),
        last_seq,
        replayed: report.records_replayed > 0,
        failed: Arc::new(AtomicBool::new(false)),
        durable_seq: Arc::new(AtomicU64::new(last_seq)),
        indexed_seq: Arc::new(AtomicU64::new(last_seq)),
        // Recovery ingested the transfer index and history through the last record.
        pending_transfers: Arc::new(indexer::PendingTransfers {
            ingested_seq: AtomicU64::new(last_seq),
            ..Default::default()
        }),
        held_history,
        newest_snapshot_seq: Arc::new(AtomicU64::new(snapshot_seqs.iter().copied().max().unwrap_or(0))),
        directory: Arc::new(super::directory::Directory::new()),
        id_filter,
        to_writer,
        transit_senders,
        config,
        wal,
    };
    let positions: Vec<u64> = machines.iter().map(StateMachine::position).collect();
    let followed: Arc<Vec<AtomicBool>> = Arc::new(
        (0..partitions)
            .map(|partition| AtomicBool::new(shared.config.followed_partitions.contains(&partition)))
            .collect(),
    );
    let mut started = Vec::new();
    for (partition, (((machine, transit), covered), hashes)) in
        (0u16..).zip(machines.into_iter().zip(transit_inboxes).zip(snapshot_seqs).zip(hashes))
    {
        let (threads_of_partition, partition_started) =
            shared.start_partition(partition, (machine, hashes), transit, covered);
        threads.extend(threads_of_partition);
        started.push(partition_started);
    }
    let mailboxes: Vec<Sender<Request>> = started.iter().map(|partition| partition.mailbox.clone()).collect();
    threads.extend(shared.start_writer_and_indexer(writer_inbox, started));
    if shared.config.tick_interval_ms > 0 {
        let interval = Duration::from_millis(shared.config.tick_interval_ms);
        let ticker = ticker((mailboxes.clone(), followed.clone()), stopping.clone(), interval);
        threads.push(spawn("kassa-ticker".into(), Box::new(ticker)));
    }
    shared.into_engine(mailboxes, (followed, positions), stopping, threads)
}

fn spawn(name: String, body: Box<dyn FnOnce() + Send>) -> JoinHandle<()> {
    std::thread::Builder::new().name(name).spawn(body).expect("spawn a thread")
}

/// Credits and checks still on their way when the engine stopped go again (a credit is applied
/// at most once; a check changes nothing), and so do the home partition's registrations that a
/// partition had not applied.
fn send_again_what_was_on_its_way(machines: &[StateMachine], transit_senders: &[Sender<TransitMessage>]) {
    let open = machines.iter().flat_map(|machine| machine.state().transit.open_messages());
    for outgoing in open.chain(missed_references(machines)) {
        let _ = transit_senders[usize::from(outgoing.destination)].send(outgoing.message);
    }
}

/// What the threads of every partition, the writer and the indexer share.
struct Shared {
    config: EngineConfig,
    wal: Wal,
    partitions: u16,
    placement: Placement,
    transfer_keys: IdHasher,
    last_seq: u64,
    /// Whether recovery replayed records (they count towards the next snapshot).
    replayed: bool,
    failed: Arc<AtomicBool>,
    durable_seq: Arc<AtomicU64>,
    indexed_seq: Arc<AtomicU64>,
    pending_transfers: Arc<indexer::PendingTransfers>,
    held_history: Arc<held_history::HeldHistory>,
    newest_snapshot_seq: Arc<AtomicU64>,
    directory: Arc<super::directory::Directory>,
    id_filter: Option<Arc<id_filter::IdFilter>>,
    to_writer: Sender<writer::WriterMessage>,
    transit_senders: Vec<Sender<TransitMessage>>,
}

/// One partition's ends that the writer and the engine keep.
struct PartitionStarted {
    mailbox: Sender<Request>,
    to_snapshotter: Sender<snapshotter::DurableRecord>,
    durable_batches: Arc<AtomicU64>,
}

impl Shared {
    /// The engine over the threads started.
    fn into_engine(
        self,
        mailboxes: Vec<Sender<Request>>,
        (followed, positions): (Arc<Vec<AtomicBool>>, Vec<u64>),
        stopping: Arc<AtomicBool>,
        threads: Vec<JoinHandle<()>>,
    ) -> Engine {
        Engine {
            mailboxes,
            placement: self.placement,
            directory: self.directory,
            wal: self.wal,
            failed: self.failed,
            stopping,
            durable_seq: self.durable_seq,
            indexed_seq: self.indexed_seq,
            transfer_keys: self.transfer_keys,
            pending_transfers: self.pending_transfers,
            held_history: self.held_history,
            history_gate: Mutex::new(()),
            threads: Mutex::new(threads),
            followed,
            takeover_gate: Mutex::new(()),
            follow_positions: positions.into_iter().map(Mutex::new).collect(),
        }
    }

    /// Starts partition `partition`'s executor and snapshotter on `machine`, whose snapshot
    /// covers record `covered`; the snapshotter hashes the state where `hashes` says.
    fn start_partition(
        &self,
        partition: u16,
        (machine, hashes): (StateMachine, super::state_hashes::StateHashes),
        transit: crossbeam_channel::Receiver<TransitMessage>,
        covered: u64,
    ) -> ([JoinHandle<()>; 2], PartitionStarted) {
        let config = &self.config;
        let (mailbox, inbox) = crossbeam_channel::bounded(config.mailbox_max);
        // The replica starts as the recovered state and applies every durable record after it;
        // its inbox holds the records that arrive while it encodes a snapshot.
        let replica = StateMachine::replica_of(&machine);
        let mut machine = machine;
        machine.touch_id_table();
        let (to_snapshotter, snapshotter_inbox) = crossbeam_channel::bounded(65_536);
        let snapshotter = snapshotter::Snapshotter {
            wal: self.wal.clone(),
            inbox: snapshotter_inbox,
            indexed_seq: self.indexed_seq.clone(),
            pending_transfers: self.pending_transfers.clone(),
            held_history: self.held_history.clone(),
            replica,
            hashes,
            partition,
            partitions: self.partitions,
            seq: self.last_seq,
            snapshot_seq: covered,
            newest_snapshot_seq: self.newest_snapshot_seq.clone(),
            every_commands: config.snapshot_every_commands.max(1),
            // Records replayed since the snapshot count towards the next one.
            commands_since: if self.replayed { config.snapshot_every_commands / 2 } else { 0 },
        };
        let recall = self.id_filter.as_ref().map(|filter| recall::Recall {
            wal: self.wal.clone(),
            filter: filter.clone(),
            pending: self.pending_transfers.clone(),
            retention_ms: config.idempotency_retention_ms,
        });
        let durable_batches = Arc::new(AtomicU64::new(0));
        // With one partition every command goes to it: no directory to keep.
        let directory = (self.partitions > 1).then(|| {
            self.directory.enter_all(partition, &machine);
            self.directory.clone()
        });
        let restorer = restore::Restorer::new(self.wal.clone(), durable_batches.clone(), directory.clone());
        let executor = executor::Executor::new(
            machine,
            partition,
            config,
            (inbox, transit, self.to_writer.clone()),
            self.transit_senders.clone(),
            (recall, restorer, directory),
        );
        let threads = [
            spawn(format!("kassa-exec-{partition}"), Box::new(move || executor.run())),
            spawn(format!("kassa-snap-{partition}"), Box::new(move || snapshotter.run())),
        ];
        (threads, PartitionStarted { mailbox, to_snapshotter, durable_batches })
    }

    /// Starts the writer (and its answerer), the indexer and the history ingester.
    fn start_writer_and_indexer(
        &self,
        writer_inbox: crossbeam_channel::Receiver<writer::WriterMessage>,
        partitions: Vec<PartitionStarted>,
    ) -> [JoinHandle<()>; 4] {
        let (to_indexer, indexer_inbox) = crossbeam_channel::bounded(1_024);
        let (to_answerer, answerer_inbox) = crossbeam_channel::bounded(ANSWER_GROUPS_QUEUED_MAX);
        let (snapshotters, durable_batches) =
            partitions.into_iter().map(|partition| (partition.to_snapshotter, partition.durable_batches)).unzip();
        let writer = writer::Writer {
            wal: self.wal.clone(),
            inbox: writer_inbox,
            failed: self.failed.clone(),
            indexer: to_indexer,
            durable_seq: self.durable_seq.clone(),
            snapshotters,
            executors: usize::from(self.partitions),
            durable_batches,
            answers: to_answerer,
            replica: self.config.replica.clone(),
            transit_out: self.transit_senders.clone(),
        };
        let (to_history, history_inbox) = crossbeam_channel::bounded(1);
        let ingest = {
            let (wal, held) = (self.wal.clone(), self.held_history.clone());
            move || held_history::ingest_handovers(wal, history_inbox, held)
        };
        let indexer = indexer::Indexer {
            wal: self.wal.clone(),
            inbox: indexer_inbox,
            indexed_seq: self.indexed_seq.clone(),
            transfer_keys: self.transfer_keys.clone(),
            pending: self.pending_transfers.clone(),
            history: self.held_history.clone(),
            to_history,
            held_since_ms: std::cell::Cell::new(None),
        };
        [
            spawn("kassa-writer".into(), Box::new(move || writer.run())),
            spawn("kassa-answerer".into(), Box::new(move || writer::answer(answerer_inbox))),
            spawn("kassa-indexer".into(), Box::new(move || indexer.run())),
            spawn("kassa-history".into(), Box::new(ingest)),
        ]
    }
}

/// A `Tick` for every partition each `interval`, so expiry enters every log with its time; not
/// for a followed partition, whose ticks come in its owner's records.
fn ticker(
    (mailboxes, followed): (Vec<Sender<Request>>, Arc<Vec<AtomicBool>>),
    stopping: Arc<AtomicBool>,
    interval: Duration,
) -> impl FnOnce() + Send {
    move || {
        let step = Duration::from_millis(20);
        let mut waited = Duration::ZERO;
        while !stopping.load(Ordering::Relaxed) {
            std::thread::sleep(step);
            waited += step;
            if waited >= interval {
                waited = Duration::ZERO;
                let owned =
                    mailboxes.iter().zip(followed.iter()).filter(|(_, followed)| !followed.load(Ordering::Acquire));
                for (mailbox, _) in owned {
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
    filter.touch_pages();
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
