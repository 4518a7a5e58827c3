//! The imperative shell around the state machine: the embedding API.
//!
//! ```text
//! callers --try_send--> mailbox (bounded; full = Busy) --> executor thread
//!   executor: drain up to batch_max requests, read the clock, commit(now, &batch)
//!   --> writer thread: encode the batch as a WAL record (+ history), coalesce with any other
//!       batches waiting, one synced RocksDB WriteBatch, then answer every caller
//! ticker thread: a Tick command every tick_interval_ms (expiry enters the log with its time)
//! indexer thread: history lines of durable batches; snapshotter thread: a replica of the state
//! fed the durable records, which encodes and writes snapshots (the executor never stops for one)
//! ```
//!
//! The executor commits batch n+1 while the writer syncs batch n (pipelining), but no caller
//! hears of a batch before it is durable, and a read runs after the batch it arrived in (it does
//! not end it) and is answered once that is durable, so a reply never reveals state a crash could
//! take back.

mod executor;
mod indexer;
mod snapshotter;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::command::{Outcome, Submission};
use crate::constants::BATCH_COMMANDS_MAX;
use crate::state_machine::{Config, SecretKey, StateMachine};
use crate::types::Id;
use crate::wal::{HistoryRecord, Wal, WalError};

pub use crate::wal::Durability;

/// How to run an engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where RocksDB keeps the log, history and snapshots.
    pub data_dir: PathBuf,
    /// `Sync` (default) or the test-only `UnsafeNoSync`.
    pub durability: Durability,
    /// Most transfer, deposit and withdrawal ids remembered at once (32 bytes each; default
    /// [`IDS_MAX_DEFAULT`](crate::state_machine::IDS_MAX_DEFAULT)). Fixed when the data directory
    /// is created; reopening with another value keeps the directory's.
    pub ids_max: usize,
    /// Most commands committed as one batch (one WAL record), at most `BATCH_COMMANDS_MAX`.
    pub batch_max: usize,
    /// Most requests waiting in the mailbox; beyond it submissions get `Busy` at once.
    pub mailbox_max: usize,
    /// A snapshot is written after this many commands since the last one.
    pub snapshot_every_commands: u64,
    /// Period of the expiry tick, in milliseconds (0: no ticker; submit `Command::Tick` yourself).
    pub tick_interval_ms: u64,
    /// The server key for secure codes; when `None`, one is generated at first open and stored.
    pub secret_key: Option<[u8; 32]>,
    /// Where the executor reads `now` for each batch: the wall clock (default) or a value the
    /// embedder sets (simulations and tests with simulated time).
    pub clock: Clock,
}

/// The source of `now` that the executor reads once per batch.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// Wall-clock time (`SystemTime::now()`), in milliseconds since the Unix epoch.
    #[default]
    System,
    /// Simulated time: milliseconds since the Unix epoch, as last stored by the embedder. The
    /// state machine still never lets time run backwards.
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// The current time in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::System => executor::clock_ms(),
            Clock::Manual(now_ms) => now_ms.load(Ordering::SeqCst),
        }
    }
}

impl EngineConfig {
    /// Defaults for a data directory: synced, batches of up to 8,190, 65,536 requests queued.
    pub fn new(data_dir: impl Into<PathBuf>) -> EngineConfig {
        EngineConfig {
            data_dir: data_dir.into(),
            durability: Durability::Sync,
            ids_max: crate::state_machine::IDS_MAX_DEFAULT,
            batch_max: BATCH_COMMANDS_MAX,
            mailbox_max: 65_536,
            snapshot_every_commands: 2_000_000,
            tick_interval_ms: 1_000,
            secret_key: None,
            clock: Clock::System,
        }
    }
}

/// Why an engine could not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Storage failed or is damaged.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// Why a request got no outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The mailbox is full: back off and retry. Nothing was applied.
    #[error("engine busy")]
    Busy,
    /// The engine is shutting down or stopped. Nothing was applied.
    #[error("engine shutting down")]
    ShuttingDown,
    /// Writing the log failed; the engine stopped. The command may or may not be durable.
    #[error("storage failed; engine stopped")]
    StorageFailed,
    /// The batch is empty or larger than `BATCH_COMMANDS_MAX`.
    #[error("batch must hold 1..=8190 commands")]
    InvalidBatch,
}

/// A read to run against the state on the executor, with the thunk that delivers its answer.
type Read = Box<dyn FnOnce(&StateMachine) -> Box<dyn FnOnce() + Send> + Send>;

/// A view of what a command changed, run on the executor right after it, with its outcome.
type View = Box<dyn FnOnce(Outcome, &StateMachine) -> Box<dyn FnOnce() + Send> + Send>;

/// Where one command's outcome goes once it is durable.
pub(crate) enum OutcomeSink {
    /// A waiting `submit` / `submit_blocking`.
    Channel(oneshot::Sender<Outcome>),
    /// A `submit_with` continuation, run on the WAL writer thread.
    Callback(OnOutcome),
}

impl OutcomeSink {
    pub(crate) fn deliver(self, outcome: Outcome) {
        // A caller that gave up waiting is not an error.
        match self {
            OutcomeSink::Channel(reply) => drop(reply.send(outcome)),
            OutcomeSink::Callback(callback) => callback.call(Ok(outcome)),
        }
    }
}

/// What [`Engine::submit_with`] calls.
type OutcomeFn = Box<dyn FnOnce(Result<Outcome, SubmitError>) + Send>;

/// The continuation of [`Engine::submit_with`]: called exactly once, with the outcome once the
/// command is durable, or with why no outcome will come (the engine stopped with it queued).
pub(crate) struct OnOutcome {
    call: Option<OutcomeFn>,
    failed: Arc<AtomicBool>,
}

impl OnOutcome {
    fn call(mut self, result: Result<Outcome, SubmitError>) {
        if let Some(call) = self.call.take() {
            call(result);
        }
    }

    /// Takes the continuation back without calling it (the request was never queued).
    fn disarm(mut self) -> OutcomeFn {
        self.call.take().expect("an armed continuation")
    }
}

impl Drop for OnOutcome {
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            let lost = if self.failed.load(Ordering::Relaxed) {
                SubmitError::StorageFailed
            } else {
                SubmitError::ShuttingDown
            };
            call(Err(lost));
        }
    }
}

/// What the mailbox carries.
pub(crate) enum Request {
    Command(Submission, OutcomeSink),
    Batch(Vec<Submission>, oneshot::Sender<Vec<Outcome>>),
    Viewed(Submission, View),
    Read(Read),
    /// A read answered as soon as it ran, before its batch is durable.
    ReadNotDurable(Read),
    Tick,
    Shutdown,
}

/// An embedded kassa engine. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Engine {
    mailbox: Sender<Request>,
    wal: Wal,
    failed: Arc<AtomicBool>,
    stopping: Arc<AtomicBool>,
    durable_seq: Arc<AtomicU64>,
    indexed_seq: Arc<AtomicU64>,
    /// History queries run one at a time: under load one may sort hundreds of megabytes of
    /// memtable, and a flood of them must not take every core from the commands.
    history_gate: Mutex<()>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// What `Engine::open` found on disk.
#[derive(Debug, Clone, Copy)]
pub struct RecoveryReport {
    /// Sequence number of the snapshot loaded (0: none).
    pub snapshot_seq: u64,
    /// WAL records replayed after it.
    pub records_replayed: u64,
    /// Commands replayed.
    pub commands_replayed: u64,
    /// Time spent loading the snapshot.
    pub snapshot_load: Duration,
    /// Time spent loading and replaying.
    pub elapsed: Duration,
}

impl Engine {
    /// Opens (or creates) the engine in `config.data_dir`: loads the latest snapshot, replays
    /// the log after it through the same `commit`, and starts the executor, writer and ticker.
    pub fn open(config: EngineConfig) -> Result<Engine, OpenError> {
        Engine::open_with_report(config).map(|(engine, _)| engine)
    }

    /// Like [`Engine::open`], also telling what recovery did.
    pub fn open_with_report(config: EngineConfig) -> Result<(Engine, RecoveryReport), OpenError> {
        if config.batch_max == 0 || config.batch_max > BATCH_COMMANDS_MAX {
            return Err(OpenError::Config(format!("batch_max must be 1..={BATCH_COMMANDS_MAX}")));
        }
        if config.mailbox_max == 0 {
            return Err(OpenError::Config("mailbox_max must be positive".into()));
        }
        if config.ids_max > crate::state_machine::IDS_MAX_MAX {
            let most = crate::state_machine::IDS_MAX_MAX;
            return Err(OpenError::Config(format!("ids_max must be at most {most} (32 bytes each)")));
        }
        crate::wal::dir::create_private_dir(&config.data_dir).map_err(OpenError::Config)?;
        let started = Instant::now();
        let wal = Wal::open(&config.data_dir, config.durability)?;
        wal.check_storage_format()?;
        let key = match config.secret_key {
            Some(key) => key,
            None => wal.secret_key(generate_key)?,
        };
        let ids_max = wal.ids_max(config.ids_max)?;
        if ids_max != config.ids_max {
            tracing::warn!(
                ids_max,
                configured = config.ids_max,
                "the data directory keeps the ids_max it was created with"
            );
        }
        let machine_config = Config::with_ids_max(SecretKey::from_bytes(&key), ids_max);
        let loading = Instant::now();
        let (snapshot_seq, mut machine) = match wal.load_snapshot()? {
            Some((seq, state)) => (seq, StateMachine::from_state(machine_config.clone(), state)),
            None => (0, StateMachine::new(machine_config.clone())),
        };
        let snapshot_load = loading.elapsed();
        let mut output = crate::state_machine::CommitOutput::default();
        let (mut records_replayed, mut commands_replayed) = (0u64, 0u64);
        // History lines of records after the watermark were lost with the memtable: redo them.
        let watermark = wal.history_watermark()?;
        let mut lost_history = Vec::new();
        let last_seq = wal.replay(snapshot_seq, |record| {
            output.clear();
            machine.commit(record.now_ms, &record.commands, &mut output);
            if record.seq > watermark {
                let now_ms = machine.state_now_ms();
                lost_history.extend(indexer::lines(record.seq, now_ms, &output.events));
            }
            records_replayed += 1;
            commands_replayed += record.commands.len() as u64;
        })?;
        if last_seq > watermark {
            wal.append_history(&lost_history, last_seq)?;
        }
        let report = RecoveryReport {
            snapshot_seq,
            records_replayed,
            commands_replayed,
            snapshot_load,
            elapsed: started.elapsed(),
        };
        tracing::info!(?report, "kassa engine recovered");

        let (mailbox, inbox) = crossbeam_channel::bounded(config.mailbox_max);
        // Deep enough that the executor commits on while the writer syncs (each fsync takes the
        // batches waiting then, up to 64).
        let (to_writer, writer_inbox) = crossbeam_channel::bounded(64);
        let (to_indexer, indexer_inbox) = crossbeam_channel::bounded(1_024);
        let failed = Arc::new(AtomicBool::new(false));
        let stopping = Arc::new(AtomicBool::new(false));
        let durable_seq = Arc::new(AtomicU64::new(last_seq));
        let indexed_seq = Arc::new(AtomicU64::new(last_seq));
        // The snapshotter's replica starts as the recovered state and applies every durable
        // record after it; its inbox holds the records that arrive while it encodes a snapshot.
        let replica = StateMachine::from_state(machine_config, machine.state().clone());
        let executor = executor::Executor::new(machine, &config, last_seq, inbox, to_writer);
        let (to_snapshotter, snapshotter_inbox) = crossbeam_channel::bounded(65_536);
        let writer = writer::Writer::new(
            wal.clone(),
            writer_inbox,
            failed.clone(),
            to_indexer,
            durable_seq.clone(),
            to_snapshotter,
        );
        let indexer = indexer::Indexer { wal: wal.clone(), inbox: indexer_inbox, indexed_seq: indexed_seq.clone() };
        let snapshotter = snapshotter::Snapshotter {
            wal: wal.clone(),
            inbox: snapshotter_inbox,
            indexed_seq: indexed_seq.clone(),
            replica,
            seq: last_seq,
            every_commands: config.snapshot_every_commands.max(1),
            // Records replayed since the snapshot count towards the next one.
            commands_since: if last_seq > snapshot_seq { config.snapshot_every_commands / 2 } else { 0 },
        };
        let mut threads = vec![
            std::thread::Builder::new().name("kassa-executor".into()).spawn(move || executor.run()).expect("spawn"),
            std::thread::Builder::new().name("kassa-writer".into()).spawn(move || writer.run()).expect("spawn"),
            std::thread::Builder::new().name("kassa-indexer".into()).spawn(move || indexer.run()).expect("spawn"),
            std::thread::Builder::new().name("kassa-snapshot".into()).spawn(move || snapshotter.run()).expect("spawn"),
        ];
        if config.tick_interval_ms > 0 {
            let (mailbox, stopping, interval) =
                (mailbox.clone(), stopping.clone(), Duration::from_millis(config.tick_interval_ms));
            let ticker = move || {
                let step = Duration::from_millis(20);
                let mut waited = Duration::ZERO;
                while !stopping.load(Ordering::Relaxed) {
                    std::thread::sleep(step);
                    waited += step;
                    if waited >= interval {
                        waited = Duration::ZERO;
                        // A full mailbox skips a tick; the next one expires everything due.
                        let _ = mailbox.try_send(Request::Tick);
                    }
                }
            };
            threads.push(std::thread::Builder::new().name("kassa-ticker".into()).spawn(ticker).expect("spawn"));
        }
        let engine = Engine {
            mailbox,
            wal,
            failed,
            stopping,
            durable_seq,
            indexed_seq,
            history_gate: Mutex::new(()),
            threads: Mutex::new(threads),
        };
        Ok((engine, report))
    }

    fn send(&self, request: Request) -> Result<(), SubmitError> {
        self.queue(request, drop)
    }

    /// Queues a request without waiting; a refused one is handed to `take_back`.
    fn queue(&self, request: Request, take_back: impl FnOnce(Request)) -> Result<(), SubmitError> {
        if self.failed.load(Ordering::Relaxed) {
            take_back(request);
            return Err(SubmitError::StorageFailed);
        }
        match self.mailbox.try_send(request) {
            Ok(()) => {
                metrics::gauge!("kassa_mailbox_depth").set(self.mailbox.len() as f64);
                Ok(())
            }
            Err(TrySendError::Full(request)) => {
                metrics::counter!("kassa_busy_total").increment(1);
                take_back(request);
                Err(SubmitError::Busy)
            }
            Err(TrySendError::Disconnected(request)) => {
                take_back(request);
                Err(SubmitError::ShuttingDown)
            }
        }
    }

    fn lost(&self) -> SubmitError {
        if self.failed.load(Ordering::Relaxed) { SubmitError::StorageFailed } else { SubmitError::ShuttingDown }
    }

    /// Submits one command with who sends it ([`Submission`]: the principal is logged with the
    /// command and `commit` decides from it what the command may touch); resolves once it is
    /// durable, with its outcome.
    pub async fn submit(&self, command: Submission) -> Result<Outcome, SubmitError> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Command(command, OutcomeSink::Channel(reply)))?;
        answer.await.map_err(|_| self.lost())
    }

    /// Blocking [`Engine::submit`], for threads outside an async runtime.
    pub fn submit_blocking(&self, command: Submission) -> Result<Outcome, SubmitError> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Command(command, OutcomeSink::Channel(reply)))?;
        answer.blocking_recv().map_err(|_| self.lost())
    }

    /// Submits one command without waiting: `on_outcome` runs once, on the engine's WAL writer
    /// thread, with the outcome once it is durable (or with why none will come, if the engine
    /// stops first). Keep it short: send the outcome somewhere and return. When this returns
    /// `Err` (`Busy`, `ShuttingDown`, `StorageFailed`), nothing was queued and `on_outcome` is
    /// not called. This is the path for adapters that answer many requests from one task: no
    /// task or channel per request.
    pub fn submit_with(
        &self,
        command: Submission,
        on_outcome: impl FnOnce(Result<Outcome, SubmitError>) + Send + 'static,
    ) -> Result<(), SubmitError> {
        let callback = OnOutcome { call: Some(Box::new(on_outcome)), failed: self.failed.clone() };
        self.queue(Request::Command(command, OutcomeSink::Callback(callback)), |request| {
            // Never queued: take the continuation back so that it is not called.
            if let Request::Command(_, OutcomeSink::Callback(callback)) = request {
                drop(callback.disarm());
            }
        })
    }

    /// Submits one command and runs `view` with its outcome on the state after the batch that
    /// applied it (so after the command, and possibly after later commands of the same batch):
    /// one round trip for a write and the view of what it changed (an adapter's reply). Resolves
    /// once the batch is durable, with what `view` returned. Keep `view` short: it runs on the
    /// executor, between batches.
    pub async fn submit_viewed<R: Send + 'static>(
        &self,
        command: Submission,
        view: impl FnOnce(Outcome, &StateMachine) -> R + Send + 'static,
    ) -> Result<R, SubmitError> {
        let (reply, answer) = oneshot::channel();
        let view: View = Box::new(move |outcome: Outcome, state: &StateMachine| {
            let value = view(outcome, state);
            Box::new(move || {
                let _ = reply.send(value);
            }) as Box<dyn FnOnce() + Send>
        });
        self.send(Request::Viewed(command, view))?;
        answer.await.map_err(|_| self.lost())
    }

    /// Submits up to `BATCH_COMMANDS_MAX` commands, committed in order in one batch; resolves
    /// once they are durable, with one outcome each.
    pub async fn submit_batch(&self, commands: Vec<Submission>) -> Result<Vec<Outcome>, SubmitError> {
        if commands.is_empty() || commands.len() > BATCH_COMMANDS_MAX {
            return Err(SubmitError::InvalidBatch);
        }
        let (reply, answer) = oneshot::channel();
        self.send(Request::Batch(commands, reply))?;
        answer.await.map_err(|_| self.lost())
    }

    /// Blocking [`Engine::submit_batch`].
    pub fn submit_batch_blocking(&self, commands: Vec<Submission>) -> Result<Vec<Outcome>, SubmitError> {
        if commands.is_empty() || commands.len() > BATCH_COMMANDS_MAX {
            return Err(SubmitError::InvalidBatch);
        }
        let (reply, answer) = oneshot::channel();
        self.send(Request::Batch(commands, reply))?;
        answer.blocking_recv().map_err(|_| self.lost())
    }

    fn read_request<R: Send + 'static>(
        read: impl FnOnce(&StateMachine) -> R + Send + 'static,
    ) -> (Request, oneshot::Receiver<R>) {
        let (reply, answer) = oneshot::channel();
        let request = Request::Read(Box::new(move |machine: &StateMachine| {
            let value = read(machine);
            Box::new(move || {
                let _ = reply.send(value);
            }) as Box<dyn FnOnce() + Send>
        }));
        (request, answer)
    }

    /// Runs `read` against the state, in order with the commands submitted before it, and
    /// answers once everything it could have seen is durable. Keep reads short: the executor
    /// runs them between batches.
    pub async fn read<R: Send + 'static>(
        &self,
        read: impl FnOnce(&StateMachine) -> R + Send + 'static,
    ) -> Result<R, SubmitError> {
        let (request, answer) = Engine::read_request(read);
        self.send(request)?;
        answer.await.map_err(|_| self.lost())
    }

    /// Like [`Engine::read`], but answered as soon as it ran, without waiting for the batch it
    /// ran after to be durable: it may see commands a crash would take back. For lookups whose
    /// answer is never shown as committed state, such as an adapter authenticating a message
    /// with a key the state holds (an ISO 8583 terminal's MAC key) before it submits: a command
    /// submitted after it is acknowledged only once everything before it is durable.
    pub async fn read_not_durable<R: Send + 'static>(
        &self,
        read: impl FnOnce(&StateMachine) -> R + Send + 'static,
    ) -> Result<R, SubmitError> {
        let (request, answer) = Engine::read_request(read);
        let Request::Read(read) = request else { unreachable!("read_request builds a read") };
        self.send(Request::ReadNotDurable(read))?;
        answer.await.map_err(|_| self.lost())
    }

    /// Blocking [`Engine::read`].
    pub fn read_blocking<R: Send + 'static>(
        &self,
        read: impl FnOnce(&StateMachine) -> R + Send + 'static,
    ) -> Result<R, SubmitError> {
        let (request, answer) = Engine::read_request(read);
        self.send(request)?;
        answer.blocking_recv().map_err(|_| self.lost())
    }

    /// The newest `limit` history lines of an account, oldest first. Includes every command
    /// acknowledged before the call (it waits, briefly, for the indexer to catch up). Queries
    /// run one at a time. Cheap (about a millisecond) once the history memtables are flushed,
    /// which the indexer starts after a quiet second; under sustained load a query sorts the
    /// live memtables and takes hundreds of milliseconds (BENCHMARKS.md).
    pub fn history(&self, account: &Id, limit: usize) -> Result<Vec<HistoryRecord>, WalError> {
        let durable = self.durable_seq.load(Ordering::Acquire);
        let started = Instant::now();
        while self.indexed_seq.load(Ordering::Acquire) < durable && started.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_micros(200));
        }
        let _one_at_a_time = self.history_gate.lock();
        self.wal.history(account, limit)
    }

    /// Whether the engine stopped after a storage failure.
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Stops accepting requests, commits and makes durable everything already queued, answers
    /// it, flushes RocksDB and stops the threads. Idempotent.
    pub fn shutdown(&self) {
        let mut threads = self.threads.lock();
        if threads.is_empty() {
            return;
        }
        self.stopping.store(true, Ordering::Relaxed);
        // A blocking send: shutdown waits for room behind what is queued.
        let _ = self.mailbox.send(Request::Shutdown);
        for thread in threads.drain(..) {
            let _ = thread.join();
        }
        if let Err(error) = self.wal.flush() {
            tracing::warn!(%error, "flushing RocksDB at shutdown failed");
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// 32 random bytes from the operating system for a new secret key.
fn generate_key() -> [u8; 32] {
    use ring::rand::SecureRandom;
    let mut key = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut key).expect("the OS random source works");
    key
}

/// A random nonce for commands that carry one (`Authorize`, `SubmitBill`, `IssueCoupon`).
pub fn random_nonce() -> u64 {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    ring::rand::SystemRandom::new().fill(&mut bytes).expect("the OS random source works");
    u64::from_le_bytes(bytes)
}
