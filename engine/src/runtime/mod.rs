//! The imperative shell around the state machine: the embedding API.
//!
//! ```text
//! callers --try_send--> mailbox (bounded; full = Busy) --> executor thread
//!   executor: drain up to batch_max requests, read the clock, commit(now, &batch)
//!   --> writer thread: encode the batch as a WAL record (+ history), coalesce with any other
//!       batches waiting, one synced RocksDB WriteBatch, then hand the group's answers over
//!   --> answerer thread: wakes every caller of the group (the writer syncs the next one)
//! ticker thread: a Tick command every tick_interval_ms (expiry enters the log with its time)
//! indexer thread: history lines of durable batches; snapshotter thread: a replica of the state
//! fed the durable records, which encodes and writes snapshots (the executor never stops for one)
//! ```
//!
//! The executor commits batch n+1 while the writer syncs batch n (pipelining), but no caller hears
//! of a batch before it is durable, and a read runs after the batch it arrived in (it does not end
//! it) and is answered once that is durable: a reply never reveals state a crash could take back.

mod archived;
mod claims;
mod config;
mod directory;
mod events;
mod executor;
mod follower;
mod following;
mod gather;
mod held_history;
mod held_index;
mod id_filter;
mod indexer;
mod lookups;
mod open;
mod recall;
mod replica;
mod restore;
mod routing;
mod snapshotter;
mod state_hashes;
mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::command::{Outcome, Submission};
use crate::partition::{HOME_PARTITION, PartitionId, Placement};
use crate::state_machine::StateMachine;
use crate::types::Id;
use crate::wal::{HistoryLine, HistoryRecord, LineId, Wal, WalError};
use gather::{BatchReply, GatherReply};

pub use crate::wal::Durability;
pub use archived::{CouponWithCode, ObjectPage};
pub use config::{Clock, EngineConfig};
pub use events::{EVENTS_SCAN_MAX, EventPage, QueryError, event_read};
pub use follower::Follower;
pub use following::FollowError;
pub use lookups::{TransferRecord, TransferStatus};
pub use replica::{LogReplica, Replica, ReplicaRecord};
pub use state_hashes::{STATE_HASHES_FILE, read_state_hashes, state_hash};

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
    /// The request goes to a partition that another engine owns and this one follows
    /// ([`EngineConfig::followed_partitions`]): send it to that partition's owner. Nothing was
    /// applied.
    #[error("partition {partition} is owned by another engine")]
    NotOwner {
        /// The partition the request goes to.
        partition: PartitionId,
    },
}

/// A read to run against a partition's state on its executor, with the thunk that delivers its
/// answer.
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
    Batch(Vec<Submission>, BatchReply),
    Viewed(Submission, View),
    Read(Read),
    /// A read answered as soon as it ran, before its batch is durable.
    ReadNotDurable(Read),
    Tick,
    /// A record of a followed partition, as its owner logged it (`following.rs`).
    Follow(Box<crate::wal::WalRecord>),
    /// Log [`crate::partition::TransitMessage::ResendOpen`] with the next batch.
    ResendOpen,
    /// Stop behind the batch being gathered for a takeover (`following.rs`).
    Pause(following::Pause),
    Shutdown,
}

/// An embedded kassa engine. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Engine {
    /// Each partition's mailbox.
    mailboxes: Vec<Sender<Request>>,
    placement: Placement,
    /// Which partition holds each hold (`directory.rs`).
    directory: Arc<directory::Directory>,
    wal: Wal,
    /// The transfer index's keys (`wal/transfers.rs`).
    transfer_keys: crate::state_machine::IdHasher,
    /// The transfer index entries the indexer has not ingested yet (the newest).
    pending_transfers: Arc<indexer::PendingTransfers>,
    /// The history lines the indexer holds (queries read them first).
    held_history: Arc<held_history::HeldHistory>,
    failed: Arc<AtomicBool>,
    stopping: Arc<AtomicBool>,
    durable_seq: Arc<AtomicU64>,
    indexed_seq: Arc<AtomicU64>,
    /// History queries run one at a time: under load one may sort hundreds of megabytes of
    /// memtable, and a flood of them must not take every core from the commands.
    history_gate: Mutex<()>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Per partition, whether another engine owns it and this one follows it (`following.rs`;
    /// the ticker reads it too).
    followed: Arc<Vec<AtomicBool>>,
    /// Takeovers run one at a time.
    takeover_gate: Mutex<()>,
    /// Per partition, the position of the last record handed to [`Engine::follow`] (followed
    /// partitions only).
    follow_positions: Vec<Mutex<u64>>,
}

/// What `Engine::open` found on disk.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecoveryReport {
    /// The record the oldest partition's snapshot covers (0: none).
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
    fn send(&self, partition: PartitionId, request: Request) -> Result<(), SubmitError> {
        self.queue(partition, request, drop)
    }

    /// Queues a request for `partition` without waiting; a refused one is handed to `take_back`.
    fn queue(
        &self,
        partition: PartitionId,
        request: Request,
        take_back: impl FnOnce(Request),
    ) -> Result<(), SubmitError> {
        if self.failed.load(Ordering::Relaxed) {
            take_back(request);
            return Err(SubmitError::StorageFailed);
        }
        let mailbox = &self.mailboxes[usize::from(partition)];
        match mailbox.try_send(request) {
            Ok(()) => {
                metrics::gauge!("kassa_mailbox_depth").set(mailbox.len() as f64);
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
        if self.ticks_everywhere(&command.command) {
            let mut outcomes = self.submit_batch(vec![command]).await?;
            return Ok(outcomes.pop().expect("one outcome"));
        }
        let (reply, answer) = oneshot::channel();
        self.send_routed(command, |command| Request::Command(command, OutcomeSink::Channel(reply)))?;
        answer.await.map_err(|_| self.lost())
    }

    /// Blocking [`Engine::submit`], for threads outside an async runtime.
    pub fn submit_blocking(&self, command: Submission) -> Result<Outcome, SubmitError> {
        if self.ticks_everywhere(&command.command) {
            let mut outcomes = self.submit_batch_blocking(vec![command])?;
            return Ok(outcomes.pop().expect("one outcome"));
        }
        let (reply, answer) = oneshot::channel();
        self.send_routed(command, |command| Request::Command(command, OutcomeSink::Channel(reply)))?;
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
        if self.ticks_everywhere(&command.command) {
            let callback = OnOutcome { call: Some(Box::new(on_outcome)), failed: self.failed.clone() };
            // Never queued: take the continuation back so that it is not called.
            let take_back = |reply: GatherReply| {
                if let GatherReply::One(callback) = reply {
                    drop(callback.disarm());
                }
            };
            return self.queue_batch(vec![command], GatherReply::One(callback), take_back);
        }
        let routed = self.route(&command.command)?;
        let callback = OnOutcome { call: Some(Box::new(on_outcome)), failed: self.failed.clone() };
        let request = Request::Command(command, OutcomeSink::Callback(callback));
        let queued = self.queue(routed.partition, request, |request| {
            // Never queued: take the continuation back so that it is not called.
            if let Request::Command(_, OutcomeSink::Callback(callback)) = request {
                drop(callback.disarm());
            }
        });
        queued.map_err(|error| self.unroute([routed], error))
    }

    /// Submits one command and runs `view` with its outcome on the state after the batch that
    /// applied it (so after the command, and possibly after later commands of the same batch):
    /// one round trip for a write and the view of what it changed (an adapter's reply). Resolves
    /// once the batch is durable, with what `view` returned. Keep `view` short: it runs on the
    /// executor, between batches. A `Tick` submitted this way ticks the home partition only
    /// (its view is of one state); [`Engine::submit`] ticks every partition.
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
        self.send_routed(command, |command| Request::Viewed(command, view))?;
        answer.await.map_err(|_| self.lost())
    }

    /// Submits up to `BATCH_COMMANDS_MAX` commands, committed in order (in one batch per
    /// partition they go to); resolves once they are durable, with one outcome each.
    pub async fn submit_batch(&self, commands: Vec<Submission>) -> Result<Vec<Outcome>, SubmitError> {
        let answer = self.send_batch(commands)?;
        answer.await.map_err(|_| self.lost())
    }

    /// Blocking [`Engine::submit_batch`].
    pub fn submit_batch_blocking(&self, commands: Vec<Submission>) -> Result<Vec<Outcome>, SubmitError> {
        let answer = self.send_batch(commands)?;
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
    ///
    /// With several partitions this reads the home partition: reference data, coupons and
    /// contacts ([`Engine::read_account`] reads an account's; `Engine::*_partition` name a
    /// placed object's partition).
    pub async fn read<R: Send + 'static>(
        &self,
        read: impl FnOnce(&StateMachine) -> R + Send + 'static,
    ) -> Result<R, SubmitError> {
        self.read_partition(HOME_PARTITION, read).await
    }

    /// [`Engine::read`] on the partition that holds account `account`.
    pub async fn read_account<R: Send + 'static>(
        &self,
        account: &Id,
        read: impl FnOnce(&StateMachine) -> R + Send + 'static,
    ) -> Result<R, SubmitError> {
        self.read_partition(self.placement.of_account(account), read).await
    }

    /// [`Engine::read`] on partition `partition`.
    /// Refused `InvalidBatch` when `partition` is not one of the engine's.
    pub async fn read_partition<R: Send + 'static>(
        &self,
        partition: PartitionId,
        read: impl FnOnce(&StateMachine) -> R + Send + 'static,
    ) -> Result<R, SubmitError> {
        let answer = self.queue_read(partition, read)?;
        answer.await.map_err(|_| self.lost())
    }

    /// Queues `read` on `partition`.
    fn queue_read<R: Send + 'static>(
        &self,
        partition: PartitionId,
        read: impl FnOnce(&StateMachine) -> R + Send + 'static,
    ) -> Result<oneshot::Receiver<R>, SubmitError> {
        if partition >= self.placement.count() {
            return Err(SubmitError::InvalidBatch);
        }
        self.check_owned(partition)?;
        let (request, answer) = Engine::read_request(read);
        self.send(partition, request)?;
        Ok(answer)
    }

    /// The number of partitions, and where accounts live.
    pub fn placement(&self) -> &Placement {
        &self.placement
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
        self.check_owned(HOME_PARTITION)?;
        self.send(HOME_PARTITION, Request::ReadNotDurable(read))?;
        answer.await.map_err(|_| self.lost())
    }

    /// Blocking [`Engine::read`].
    pub fn read_blocking<R: Send + 'static>(
        &self,
        read: impl FnOnce(&StateMachine) -> R + Send + 'static,
    ) -> Result<R, SubmitError> {
        self.read_partition_blocking(HOME_PARTITION, read)
    }

    /// Blocking [`Engine::read_partition`].
    pub fn read_partition_blocking<R: Send + 'static>(
        &self,
        partition: PartitionId,
        read: impl FnOnce(&StateMachine) -> R + Send + 'static,
    ) -> Result<R, SubmitError> {
        let answer = self.queue_read(partition, read)?;
        answer.blocking_recv().map_err(|_| self.lost())
    }

    /// The newest `limit` history lines of an account, oldest first. Includes every command
    /// acknowledged before the call (it waits, briefly, for the indexer to catch up). Queries
    /// run one at a time; each searches the sorted runs of lines the indexer holds, then
    /// storage.
    pub fn history(&self, account: &Id, limit: usize) -> Result<Vec<HistoryRecord>, WalError> {
        self.wait_for_indexer();
        let _one_at_a_time = self.history_gate.lock();
        let held = self.held_history.lines.read().lines_of(account, limit, None)?;
        self.wal.history(account, limit, held)
    }

    /// A page of an account's history, newest first: up to `limit` lines after (older than)
    /// `starting_after`, or the newest ones; and whether older lines remain. The cursor of the
    /// next page is the last line's id. Like [`Engine::history`], it includes every command
    /// acknowledged before the call.
    pub fn history_page(
        &self,
        account: &Id,
        limit: usize,
        starting_after: Option<LineId>,
    ) -> Result<(Vec<HistoryLine>, bool), WalError> {
        self.wait_for_indexer();
        let _one_at_a_time = self.history_gate.lock();
        // Held lines first: one ingested meanwhile is then in storage too, and counts once.
        let held = self.held_history.lines.read().lines_of(account, limit, starting_after)?;
        self.wal.history_page(account, limit, starting_after, held)
    }

    /// Waits, briefly, for the indexer to write the history of every durable record.
    fn wait_for_indexer(&self) {
        let durable = self.durable_seq.load(Ordering::Acquire);
        let started = Instant::now();
        while self.indexed_seq.load(Ordering::Acquire) < durable && started.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_micros(200));
        }
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
        for mailbox in &self.mailboxes {
            let _ = mailbox.send(Request::Shutdown);
        }
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
