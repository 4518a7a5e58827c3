//! The executor (the sequencer) of one partition: drains the messages from other partitions
//! and the mailbox into batches, commits them on its state machine and hands each batch to the
//! writer. It never answers a caller itself.

mod takeover;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender};

use super::directory::Directory;
use super::gather::{BatchReply, Gather, Parked};
use super::recall::Recall;
use super::restore::Restorer;
use super::writer::{Committed, DurableBatch, Ready, WriterMessage};
use super::{Clock, EngineConfig, OutcomeSink, Request};
use crate::command::{Command, Outcome, Submission};
use crate::constants::BATCH_COMMANDS_MAX;
use crate::partition::{Checking, DirectoryKind, Outgoing, PartitionId, TransitMessage};
use crate::state_machine::{CommitOutput, StateMachine};

/// Who waits for which outcomes of a batch.
enum Waiter {
    One(OutcomeSink),
    Viewed(super::View),
    Many(BatchReply, usize),
    Nobody,
}

pub(super) struct Executor {
    machine: StateMachine,
    partition: PartitionId,
    batch_max: usize,
    inbox: Receiver<Request>,
    /// Messages from other partitions (never refused: their source's batch is ahead of this
    /// partition's next batch in the writer's queue, so it is durable before or with it).
    transit: Receiver<TransitMessage>,
    /// Every partition's inbox of messages, by partition id.
    transit_out: Vec<Sender<TransitMessage>>,
    to_writer: Sender<WriterMessage>,
    carried: Option<Request>,
    output: CommitOutput,
    clock: Clock,
    /// Waiters of transfers whose credit is on its way, by the credit's number.
    parked: HashMap<u64, Vec<Parked>>,
    /// Finds the ids the id table forgot in storage, when the retention is longer than its window.
    recall: Option<Recall>,
    /// Finds the objects that left memory in storage (`restore.rs`).
    restorer: Restorer,
    /// Batches committed so far (the writer reports the last one durable to the restorer).
    batches: u64,
    /// Where each hold lives, with several partitions (`directory.rs`).
    directory: Option<Arc<Directory>>,
    /// With a log replica, messages leave once their batch is durable there (the writer sends
    /// them), not once it is queued (`replica.rs`).
    messages_when_durable: bool,
    /// Whether another engine owns this partition: this one applies its owner's records
    /// (`following.rs`).
    following: bool,
}

/// Wall-clock milliseconds since the Unix epoch.
pub(super) fn clock_ms() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970");
    u64::try_from(since_epoch.as_millis()).expect("milliseconds fit u64")
}

/// What one batch gathered before it commits.
#[derive(Default)]
struct Gathered {
    messages: Vec<TransitMessage>,
    commands: Vec<Submission>,
    waiters: Vec<Waiter>,
    reads: Vec<super::Read>,
    unsynced: Vec<super::Read>,
    shutdown: bool,
    /// A takeover's pause, taken once this batch is handed over (`executor/takeover.rs`).
    pause: Option<super::following::Pause>,
}

impl Executor {
    pub(super) fn new(
        machine: StateMachine,
        partition: PartitionId,
        config: &EngineConfig,
        (inbox, transit, to_writer): (Receiver<Request>, Receiver<TransitMessage>, Sender<WriterMessage>),
        transit_out: Vec<Sender<TransitMessage>>,
        (recall, restorer, directory): (Option<Recall>, Restorer, Option<Arc<Directory>>),
    ) -> Executor {
        Executor {
            transit_out,
            recall,
            restorer,
            directory,
            batches: 0,
            machine,
            partition,
            batch_max: config.batch_max,
            inbox,
            transit,
            to_writer,
            carried: None,
            output: CommitOutput::default(),
            clock: config.clock.clone(),
            parked: HashMap::new(),
            messages_when_durable: config.replica.is_some(),
            following: config.followed_partitions.contains(&partition),
        }
    }

    pub(super) fn run(mut self) {
        // A followed partition that is taken over goes on deciding.
        if !self.following || self.run_followed() {
            self.run_owned();
        }
        let _ = self.to_writer.send(WriterMessage::Shutdown);
    }

    fn run_owned(&mut self) {
        loop {
            let mut gathered = Gathered::default();
            let first = match self.carried.take() {
                Some(request) => Some(request),
                None => crossbeam_channel::select! {
                    recv(self.inbox) -> request => match request {
                        Ok(request) => Some(request),
                        Err(_) => break,
                    },
                    recv(self.transit) -> message => {
                        gathered.messages.extend(message.ok());
                        None
                    }
                },
            };
            self.gather(first, &mut gathered);
            let (shutdown, pause) = (gathered.shutdown, gathered.pause.take());
            if self.run_batch(gathered) || shutdown {
                break;
            }
            if let Some(pause) = pause
                && self.pause(pause)
            {
                break;
            }
        }
    }

    /// Gathers one batch: the messages waiting, then requests starting with `first`.
    fn gather(&mut self, first: Option<Request>, gathered: &mut Gathered) {
        while gathered.messages.len() < BATCH_COMMANDS_MAX
            && let Ok(message) = self.transit.try_recv()
        {
            gathered.messages.push(message);
        }
        let mut next = first.or_else(|| self.inbox.try_recv().ok());
        while let Some(request) = next.take() {
            let commands = &mut gathered.commands;
            match request {
                Request::Command(command, reply) => {
                    commands.push(command);
                    gathered.waiters.push(Waiter::One(reply));
                }
                Request::Batch(batch, reply) => {
                    if !commands.is_empty() && commands.len() + batch.len() > self.batch_max {
                        self.carried = Some(Request::Batch(batch, reply));
                        break;
                    }
                    gathered.waiters.push(Waiter::Many(reply, batch.len()));
                    commands.extend(batch);
                }
                Request::Viewed(command, view) => {
                    // The view runs once the batch is committed, on the state after it, which
                    // includes this command.
                    commands.push(command);
                    gathered.waiters.push(Waiter::Viewed(view));
                }
                Request::Tick => {
                    commands.push(Submission::admin(Command::Tick));
                    gathered.waiters.push(Waiter::Nobody);
                }
                Request::ReadNotDurable(read) => gathered.unsynced.push(read),
                // Never sent to a partition this engine owns (`Engine::follow` refuses it).
                Request::Follow(_) => {}
                Request::ResendOpen => gathered.messages.push(TransitMessage::ResendOpen),
                // A read does not end the batch: it runs after the batch commits, so it sees
                // every command submitted before it (and perhaps some after: those were
                // concurrent with it), and it is answered once that is durable.
                Request::Read(read) => gathered.reads.push(read),
                Request::Shutdown => {
                    gathered.shutdown = true;
                    break;
                }
                Request::Pause(pause) => {
                    gathered.pause = Some(pause);
                    break;
                }
            }
            if gathered.commands.len() >= self.batch_max {
                break;
            }
            next = self.inbox.try_recv().ok();
        }
    }

    /// Commits a gathered batch and passes it on. Returns whether the writer stopped.
    fn run_batch(&mut self, gathered: Gathered) -> bool {
        let Gathered { mut messages, commands, waiters, reads, unsynced, .. } = gathered;
        let mut ready = Vec::with_capacity(waiters.len() + reads.len());
        let mut record = None;
        let mut outgoing = Vec::new();
        if !commands.is_empty() || !messages.is_empty() {
            let started = Instant::now();
            self.output.clear();
            let now_ms = self.clock.now_ms();
            // Starting the batch takes out of memory what resolved a window ago (as `commit`
            // would; nothing else leaves in a batch), before anything looks at what memory holds.
            self.machine.begin_batch(now_ms);
            self.batches += 1;
            self.restorer.archived(self.batches, self.machine.archived_in_batch());
            if let Some(recall) = &self.recall {
                recall.recall(&mut self.machine, now_ms, &commands, &mut messages);
            }
            self.restorer.restore(&self.machine, &commands, &mut messages);
            self.note_holds_elsewhere(&commands, &mut messages);
            self.machine.commit_with_messages(now_ms, &messages, &commands, &mut self.output);
            metrics::histogram!("kassa_commit_seconds").record(started.elapsed().as_secs_f64());
            metrics::histogram!("kassa_batch_size").record(commands.len() as f64);
            record_metrics(&commands, &self.output.outcomes);
            self.enter_objects(&commands, &messages);
            self.answer(waiters, &mut ready);
            self.complete(&mut ready);
            let (committed, sent) = self.take_committed((messages, commands), false);
            (record, outgoing) = (Some(committed), sent);
        }
        for read in reads {
            ready.push(Ready::Deliver(read(&self.machine)));
        }
        for read in unsynced {
            read(&self.machine)();
        }
        self.hand_over(DurableBatch { record, ready, outgoing })
    }

    /// Queues a batch for the writer, and sends its messages on once it is queued (or leaves
    /// them to the writer, once it is durable). Returns whether the writer stopped.
    fn hand_over(&self, batch: DurableBatch) -> bool {
        if self.messages_when_durable {
            return self.to_writer.send(WriterMessage::Batch(batch)).is_err();
        }
        let DurableBatch { record, ready, outgoing } = batch;
        let batch = DurableBatch { record, ready, outgoing: Vec::new() };
        let writer_stopped = self.to_writer.send(WriterMessage::Batch(batch)).is_err();
        self.send_on(outgoing);
        writer_stopped
    }

    /// The loop of a partition another engine owns (`following.rs`): each record its owner
    /// logged is applied, logged here and passed on like a batch. Messages from this engine's
    /// partitions are dropped: the owner gets them from the records of the partitions that
    /// sent them. The engine refuses every other request for this partition. Returns true
    /// once the partition is taken over (`executor/takeover.rs`), false when the engine stops.
    fn run_followed(&mut self) -> bool {
        loop {
            crossbeam_channel::select! {
                recv(self.inbox) -> request => match request {
                    Ok(Request::Follow(record)) => {
                        if self.apply_followed(*record) {
                            return false;
                        }
                    }
                    Ok(Request::Pause(pause)) => {
                        if self.pause(pause) {
                            return false;
                        }
                        if !self.following {
                            return true;
                        }
                    }
                    Ok(Request::Shutdown) | Err(_) => return false,
                    Ok(_) => {}
                },
                recv(self.transit) -> _ => {}
            }
        }
    }

    /// Applies a followed record as recovery does (its messages are in it: nothing is
    /// recalled, restored or looked up), keeps the directory true to it, and hands it over.
    /// Returns whether the writer stopped.
    fn apply_followed(&mut self, record: crate::wal::WalRecord) -> bool {
        let crate::wal::WalRecord { now_ms, messages, commands, .. } = record;
        self.output.clear();
        self.machine.begin_batch(now_ms);
        self.batches += 1;
        self.restorer.archived(self.batches, self.machine.archived_in_batch());
        self.machine.commit_with_messages(now_ms, &messages, &commands, &mut self.output);
        self.enter_objects(&commands, &messages);
        let (record, outgoing) = self.take_committed((messages, commands), true);
        self.hand_over(DurableBatch { record: Some(record), ready: Vec::new(), outgoing })
    }

    /// The record of the batch just committed (`followed`: its owner's, applied here) and the
    /// messages it sends; what it took out of memory goes to the restorer until it is durable.
    fn take_committed(
        &mut self,
        (messages, commands): (Vec<TransitMessage>, Vec<Submission>),
        followed: bool,
    ) -> (Committed, Vec<Outgoing>) {
        let outgoing = std::mem::take(&mut self.output.outgoing);
        let archived = Arc::new(std::mem::take(&mut self.output.archived));
        self.restorer.committed(self.batches, &archived);
        let record = Committed {
            partition: self.partition,
            // The machine clamps time to be monotonic; log the time it actually used.
            now_ms: self.machine.state_now_ms(),
            messages,
            commands,
            events: std::mem::take(&mut self.output.events),
            number: self.batches,
            archived,
            position: self.machine.position(),
            followed,
        };
        (record, outgoing)
    }

    /// Sends the batch's messages to the partitions they are for, once the batch is in the
    /// writer's queue and before it is durable. The writer writes batches in the order it
    /// receives them, one synced write after another, so a batch that applies one of these
    /// messages becomes durable with this batch or after it, never before: a crash keeps the
    /// message's effect only where it keeps its cause. A message to a partition that already
    /// stopped is sent again, as an open credit, when the engine opens.
    fn send_on(&self, outgoing: Vec<Outgoing>) {
        for Outgoing { destination, message } in outgoing {
            let _ = self.transit_out[usize::from(destination)].send(message);
        }
    }

    /// Keeps the directory true to the holds and splits this batch created or refused to
    /// create: by its commands, and by the answers to their checks (a creation waiting for one
    /// keeps its entry).
    fn enter_objects(&self, commands: &[Submission], messages: &[TransitMessage]) {
        let Some(directory) = &self.directory else { return };
        let placed = commands.iter().filter_map(|submission| match &submission.command {
            Command::PlaceHold(place) => Some(&place.id),
            Command::SettlePos(settle) if settle.hold_until_ms.is_some() => Some(&settle.id),
            _ => None,
        });
        let checked = messages.iter().filter_map(|message| match message {
            TransitMessage::Checked { subject, .. } => subject.hold(),
            _ => None,
        });
        let hold = DirectoryKind::Hold;
        for id in placed.chain(checked) {
            match self.machine.hold(id) {
                Some(_) if self.machine.keeps_hold(id) => directory.placed(hold, id, self.partition),
                Some(_) => {}
                None if self.machine.placing_hold(id) => directory.placed(hold, id, self.partition),
                None => directory.refused(hold, id, self.partition),
            }
        }
        let requested = commands.iter().filter_map(|submission| match &submission.command {
            Command::RequestSplit(request) => Some(&request.split),
            _ => None,
        });
        let checked = messages.iter().filter_map(|message| match message {
            TransitMessage::Checked { subject: Checking::Split(id), .. } => Some(id),
            _ => None,
        });
        for id in requested.chain(checked) {
            if self.machine.split(id).is_some() || self.machine.requesting_split(id) {
                directory.placed(DirectoryKind::Split, id, self.partition);
            } else {
                directory.refused(DirectoryKind::Split, id, self.partition);
            }
        }
        self.enter_pos_objects(directory, commands, messages);
    }

    /// [`Executor::enter_objects`] for authorizations, settlements and bills: a creation pending
    /// here (waiting for a check, a claim, a coupon's price, its money, or behind another)
    /// keeps its entry.
    fn enter_pos_objects(&self, directory: &Directory, commands: &[Submission], messages: &[TransitMessage]) {
        let pending = |index: usize| self.output.pending.iter().any(|(pending, _)| *pending == index);
        let created = commands.iter().enumerate().filter_map(|(index, submission)| {
            let object = match &submission.command {
                Command::Authorize(authorize) => (DirectoryKind::Authorization, &authorize.id),
                Command::SettlePos(settle) => (DirectoryKind::Settlement, &settle.id),
                Command::OpenBill(open) => (DirectoryKind::Bill, &open.bill),
                _ => return None,
            };
            Some((object, pending(index)))
        });
        let checked = messages.iter().filter_map(|message| match message {
            TransitMessage::Checked { subject: Checking::Authorization(id), .. } => {
                Some(((DirectoryKind::Authorization, id), false))
            }
            TransitMessage::Checked { subject: Checking::SaleMerchant(id), .. } => {
                Some(((DirectoryKind::Settlement, id), false))
            }
            TransitMessage::Checked { subject: Checking::Bill(id), .. } => Some(((DirectoryKind::Bill, id), false)),
            _ => None,
        });
        for ((kind, id), pending) in created.chain(checked) {
            if pending || self.machine.keeps_pos_object(kind, id) {
                directory.placed(kind, id, self.partition);
            } else {
                directory.refused(kind, id, self.partition);
            }
        }
    }

    /// Tells the machine which hold ids a POS settlement of the batch would take from a hold
    /// living on another partition ([`TransitMessage::HoldElsewhere`]).
    fn note_holds_elsewhere(&self, commands: &[Submission], messages: &mut Vec<TransitMessage>) {
        let Some(directory) = &self.directory else { return };
        for submission in commands {
            if let Command::SettlePos(settle) = &submission.command
                && settle.hold_until_ms.is_some()
                && self.machine.hold(&settle.id).is_none()
                && directory.entry(DirectoryKind::Hold, &settle.id).is_some_and(|partition| partition != self.partition)
            {
                messages.push(TransitMessage::HoldElsewhere(settle.id.clone()));
            }
        }
    }

    /// Pairs each waiter with its outcomes: answered once the batch is durable, or parked until
    /// its transfer's credit is answered by the payee's partition.
    fn answer(&mut self, waiters: Vec<Waiter>, ready: &mut Vec<Ready>) {
        let pending: HashMap<usize, u64> = self.output.pending.drain(..).collect();
        let mut outcomes = self.output.outcomes.drain(..).enumerate();
        for waiter in waiters {
            match waiter {
                Waiter::One(sink) => {
                    let (index, outcome) = outcomes.next().expect("one outcome each");
                    match pending.get(&index) {
                        Some(number) => self.parked.entry(*number).or_default().push(Parked::Sink(sink)),
                        None => ready.push(Ready::One(sink, outcome)),
                    }
                }
                Waiter::Viewed(view) => {
                    let (index, outcome) = outcomes.next().expect("one outcome each");
                    match pending.get(&index) {
                        Some(number) => self.parked.entry(*number).or_default().push(Parked::View(view)),
                        None => ready.push(Ready::Deliver(view(outcome, &self.machine))),
                    }
                }
                Waiter::Many(reply, count) => {
                    let mine: Vec<(usize, Outcome)> = outcomes.by_ref().take(count).collect();
                    let any_pending = mine.iter().any(|(index, _)| pending.contains_key(index));
                    let (gather, slots) = match reply {
                        BatchReply::Whole(reply) if !any_pending => {
                            ready.push(Ready::Many(reply, mine.into_iter().map(|(_, outcome)| outcome).collect()));
                            continue;
                        }
                        BatchReply::Whole(reply) => (Gather::new(count, reply), (0..count).collect()),
                        BatchReply::Part(gather, slots) => (gather, slots),
                    };
                    let mut now = Vec::with_capacity(count);
                    for ((index, outcome), slot) in mine.into_iter().zip(slots) {
                        match pending.get(&index) {
                            Some(number) => {
                                self.parked.entry(*number).or_default().push(Parked::Slot(gather.clone(), slot))
                            }
                            None => now.push((slot, outcome)),
                        }
                    }
                    ready.push(Ready::Deliver(Box::new(move || {
                        for (slot, outcome) in now {
                            gather.fill(slot, outcome);
                        }
                    })));
                }
                Waiter::Nobody => {
                    outcomes.next().expect("one outcome each");
                }
            }
        }
        assert!(outcomes.next().is_none(), "every outcome has its waiter");
    }

    /// Answers the waiters of transfers this batch completed (once it is durable).
    fn complete(&mut self, ready: &mut Vec<Ready>) {
        for (number, outcome) in self.output.completed.drain(..) {
            for parked in self.parked.remove(&number).into_iter().flatten() {
                let outcome = outcome.clone();
                ready.push(match parked {
                    Parked::Sink(sink) => Ready::One(sink, outcome),
                    Parked::View(view) => Ready::Deliver(view(outcome, &self.machine)),
                    Parked::Slot(gather, slot) => Ready::Deliver(Box::new(move || gather.fill(slot, outcome))),
                });
            }
        }
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
