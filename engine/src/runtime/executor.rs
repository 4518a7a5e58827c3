//! The executor (the sequencer): drains the mailbox into batches, commits them on its state
//! machine and hands each batch to the writer. It never answers a caller itself.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender};
use tokio::sync::oneshot;

use super::writer::{DurableBatch, Ready, WriterMessage};
use super::{Clock, EngineConfig, OutcomeSink, Request};
use crate::command::{Command, Outcome, Submission};
use crate::state_machine::{CommitOutput, StateMachine};

/// Who waits for which outcomes of a batch.
enum Waiter {
    One(OutcomeSink),
    Viewed(super::View),
    Many(oneshot::Sender<Vec<Outcome>>, usize),
    Nobody,
}

pub(super) struct Executor {
    machine: StateMachine,
    batch_max: usize,
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
        machine: StateMachine,
        config: &EngineConfig,
        last_seq: u64,
        inbox: Receiver<Request>,
        to_writer: Sender<WriterMessage>,
    ) -> Executor {
        Executor {
            machine,
            batch_max: config.batch_max,
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
        let mut unsynced = Vec::new();
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
                    // The view runs once the batch is committed, on the state after it, which
                    // includes this command.
                    commands.push(command);
                    waiters.push(Waiter::Viewed(view));
                }
                Request::Tick => {
                    commands.push(Submission::admin(Command::Tick));
                    waiters.push(Waiter::Nobody);
                }
                Request::ReadNotDurable(read) => unsynced.push(read),
                Request::Read(read) => {
                    // A read does not end the batch: it runs after the batch commits, so it
                    // sees every command submitted before it (and perhaps some after: those
                    // were concurrent with it), and it is answered once that is durable.
                    reads.push(read);
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
            self.machine.commit(now_ms, &commands, &mut self.output);
            metrics::histogram!("kassa_commit_seconds").record(started.elapsed().as_secs_f64());
            metrics::histogram!("kassa_batch_size").record(commands.len() as f64);
            record_metrics(&commands, &self.output.outcomes);
            let mut outcomes = self.output.outcomes.drain(..);
            for waiter in waiters {
                match waiter {
                    Waiter::One(reply) => ready.push(Ready::One(reply, outcomes.next().expect("one outcome each"))),
                    Waiter::Viewed(view) => {
                        let outcome = outcomes.next().expect("one outcome each");
                        ready.push(Ready::Deliver(view(outcome, &self.machine)));
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
            // The machine clamps time to be monotonic; log the time it actually used.
            let now_ms = self.machine.state_now_ms();
            record = Some((self.seq, now_ms, commands, std::mem::take(&mut self.output.events)));
        }
        for read in reads {
            ready.push(Ready::Deliver(read(&self.machine)));
        }
        for read in unsynced {
            read(&self.machine)();
        }
        if self.to_writer.send(WriterMessage::Batch(DurableBatch { record, ready })).is_err() {
            return true; // The writer stopped after a storage failure.
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
