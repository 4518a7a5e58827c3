//! The executor (the sequencer): drains the mailbox into batches, commits them (on its own state
//! machine with one shard, through the shard executors with several) and hands each batch to the
//! writer. It never answers a caller itself.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender};
use tokio::sync::oneshot;

use super::shard_pool::ShardPool;
use super::writer::{DurableBatch, Ready, WriterMessage};
use super::{Clock, EngineConfig, OutcomeSink, Request};
use crate::command::{Command, Outcome, Submission};
use crate::shards::StateView;
use crate::state_machine::{CommitOutput, State, StateMachine};
use crate::wal::EncodedSnapshot;

/// Who waits for which outcomes of a batch.
enum Waiter {
    One(OutcomeSink),
    Viewed(super::View),
    Many(oneshot::Sender<Vec<Outcome>>, usize),
    Nobody,
}

/// The actors: one state machine run by the executor itself, or shard executors.
#[allow(clippy::large_enum_variant, reason = "one value per engine, never moved after start")]
pub(super) enum Shards {
    /// One shard: the executor thread applies batches itself.
    One(StateMachine),
    /// Several shards, each on a thread of its own.
    Pool(ShardPool),
}

impl Shards {
    fn commit(&mut self, now_ms: u64, commands: Vec<Submission>, output: &mut CommitOutput) -> Vec<Submission> {
        match self {
            Shards::One(machine) => {
                machine.commit(now_ms, &commands, output);
                commands
            }
            Shards::Pool(pool) => pool.commit(now_ms, commands, output),
        }
    }

    fn read<R>(&self, read: impl FnOnce(&StateView) -> R) -> R {
        match self {
            Shards::One(machine) => read(&StateView::new(vec![machine])),
            Shards::Pool(pool) => pool.read(read),
        }
    }

    fn state_now_ms(&self) -> u64 {
        match self {
            Shards::One(machine) => machine.state_now_ms(),
            Shards::Pool(pool) => pool.state_now_ms(),
        }
    }

    fn encode_snapshot(&mut self) -> Vec<u8> {
        match self {
            Shards::One(machine) => State::join_shard_snapshots(vec![machine.encode_snapshot()]),
            Shards::Pool(pool) => pool.encode_snapshot(),
        }
    }
}

pub(super) struct Executor {
    shards: Shards,
    batch_max: usize,
    snapshot_every_commands: u64,
    commands_since_snapshot: u64,
    seq: u64,
    inbox: Receiver<Request>,
    to_writer: Sender<WriterMessage>,
    carried: Option<Request>,
    output: CommitOutput,
    clock: Clock,
}

/// Wall-clock milliseconds since the Unix epoch.
pub(super) fn clock_ms() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970");
    u64::try_from(since_epoch.as_millis()).expect("milliseconds fit u64")
}

impl Executor {
    pub(super) fn new(
        shards: Shards,
        config: &EngineConfig,
        last_seq: u64,
        snapshot_seq: u64,
        inbox: Receiver<Request>,
        to_writer: Sender<WriterMessage>,
    ) -> Executor {
        Executor {
            shards,
            batch_max: config.batch_max,
            snapshot_every_commands: config.snapshot_every_commands.max(1),
            // Records replayed since the snapshot count towards the next one.
            commands_since_snapshot: if last_seq > snapshot_seq { config.snapshot_every_commands / 2 } else { 0 },
            seq: last_seq,
            inbox,
            to_writer,
            carried: None,
            output: CommitOutput::default(),
            clock: config.clock.clone(),
        }
    }

    pub(super) fn run(mut self) {
        loop {
            let first = match self.carried.take() {
                Some(request) => request,
                None => match self.inbox.recv() {
                    Ok(request) => request,
                    Err(_) => break,
                },
            };
            let shutdown = self.run_batch(first);
            if shutdown {
                break;
            }
        }
        let _ = self.to_writer.send(WriterMessage::Shutdown);
    }

    /// Gathers one batch starting with `first`, commits it and passes it on. Returns whether
    /// a shutdown was requested.
    fn run_batch(&mut self, first: Request) -> bool {
        let mut commands: Vec<Submission> = Vec::with_capacity(64);
        let mut waiters: Vec<Waiter> = Vec::with_capacity(64);
        let mut reads = Vec::new();
        let mut shutdown = false;
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                Request::Command(command, reply) => {
                    commands.push(command);
                    waiters.push(Waiter::One(reply));
                }
                Request::Batch(batch, reply) => {
                    if !commands.is_empty() && commands.len() + batch.len() > self.batch_max {
                        self.carried = Some(Request::Batch(batch, reply));
                        break;
                    }
                    waiters.push(Waiter::Many(reply, batch.len()));
                    commands.extend(batch);
                }
                Request::Viewed(command, view) => {
                    // It does not end the batch (a read does): the view runs once the batch is
                    // committed, on the state after it, which includes this command.
                    commands.push(command);
                    waiters.push(Waiter::Viewed(view));
                }
                Request::Tick => {
                    commands.push(Submission::admin(Command::Tick));
                    waiters.push(Waiter::Nobody);
                }
                Request::Read(read) => {
                    // A read ends the batch: it sees exactly what was submitted before it.
                    reads.push(read);
                    break;
                }
                Request::Shutdown => {
                    shutdown = true;
                    break;
                }
            }
            if commands.len() >= self.batch_max {
                break;
            }
            next = self.inbox.try_recv().ok();
        }

        let mut ready = Vec::with_capacity(waiters.len() + reads.len());
        let mut record = None;
        if !commands.is_empty() {
            let started = Instant::now();
            let now_ms = self.clock.now_ms();
            self.output.clear();
            let commands_back = self.shards.commit(now_ms, commands, &mut self.output);
            let commands = commands_back;
            metrics::histogram!("kassa_commit_seconds").record(started.elapsed().as_secs_f64());
            metrics::histogram!("kassa_batch_size").record(commands.len() as f64);
            record_metrics(&commands, &self.output.outcomes);
            let mut outcomes = self.output.outcomes.drain(..);
            for waiter in waiters {
                match waiter {
                    Waiter::One(reply) => ready.push(Ready::One(reply, outcomes.next().expect("one outcome each"))),
                    Waiter::Viewed(view) => {
                        let outcome = outcomes.next().expect("one outcome each");
                        ready.push(Ready::Deliver(self.shards.read(|state| view(outcome, state))));
                    }
                    Waiter::Many(reply, count) => {
                        ready.push(Ready::Many(reply, outcomes.by_ref().take(count).collect()))
                    }
                    Waiter::Nobody => {
                        outcomes.next().expect("one outcome each");
                    }
                }
            }
            assert!(outcomes.next().is_none(), "every outcome has its waiter");
            drop(outcomes);
            self.seq += 1;
            self.commands_since_snapshot += commands.len() as u64;
            // The machine clamps time to be monotonic; log the time it actually used.
            let now_ms = self.shards.state_now_ms();
            record = Some((self.seq, now_ms, commands, std::mem::take(&mut self.output.events)));
        }
        for read in reads {
            ready.push(Ready::Deliver(self.shards.read(read)));
        }
        if self.to_writer.send(WriterMessage::Batch(DurableBatch { record, ready })).is_err() {
            return true; // The writer stopped after a storage failure.
        }
        if self.commands_since_snapshot >= self.snapshot_every_commands {
            self.commands_since_snapshot = 0;
            let started = Instant::now();
            let bytes = self.shards.encode_snapshot();
            metrics::histogram!("kassa_snapshot_encode_seconds").record(started.elapsed().as_secs_f64());
            let snapshot = EncodedSnapshot { seq: self.seq, bytes };
            if self.to_writer.send(WriterMessage::Snapshot(snapshot)).is_err() {
                return true;
            }
        }
        shutdown
    }
}

fn record_metrics(commands: &[Submission], outcomes: &[Outcome]) {
    let mut kinds: Vec<(&'static str, u64)> = Vec::new();
    let mut results: Vec<(&'static str, u64)> = Vec::new();
    let bump = |counts: &mut Vec<(&'static str, u64)>, key: &'static str| match counts
        .iter_mut()
        .find(|(existing, _)| *existing == key)
    {
        Some((_, count)) => *count += 1,
        None => counts.push((key, 1)),
    };
    for (command, outcome) in commands.iter().zip(outcomes) {
        bump(&mut kinds, command.command.kind());
        bump(&mut results, outcome.rejection().map_or("applied", |rejection| rejection.code()));
    }
    for (kind, count) in kinds {
        metrics::counter!("kassa_commands_total", "kind" => kind).increment(count);
    }
    for (result, count) in results {
        metrics::counter!("kassa_outcomes_total", "result" => result).increment(count);
    }
}
