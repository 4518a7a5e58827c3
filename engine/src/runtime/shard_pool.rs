//! Shard executors: one thread per shard, each owning one `StateMachine` (its partition of the
//! actors), running the protocol of [`crate::shards`] with messages over channels.
//!
//! The executor thread (the sequencer) routes every command of a batch and hands the batch to
//! every shard. Each shard applies, in batch order, the commands it takes part in: alone when
//! all their keys are its own; as coordinator (asks the other participants for buckets, applies,
//! hands them back); or as participant (serves the coordinator's requests for that command and
//! waits for its buckets to come back). Messages for a later command wait in a stash until the
//! shard gets there. The sequencer merges the outcomes and events back into batch order.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use crate::command::{Command, Event, Outcome};
use crate::shards::{Route, StateView, Transport, coordinate, route};
use crate::state_machine::{Bucket, CommitOutput, Config, Key, State, StateMachine};
use crate::types::TimestampMs;

/// One batch, as every shard receives it.
struct Work {
    now_ms: TimestampMs,
    commands: Arc<Vec<Command>>,
    routes: Arc<Vec<Route>>,
}

/// What shards send each other and what the sequencer sends them.
enum Message {
    Work(Work),
    /// Coordinator -> participant: hand over the buckets of these keys.
    Take {
        item: usize,
        from: usize,
        keys: Vec<Key>,
    },
    /// Participant -> coordinator: the buckets asked for.
    Buckets {
        item: usize,
        buckets: Vec<Bucket>,
    },
    /// Coordinator -> participant (ticks): which of your objects are due to expire?
    Expiring {
        item: usize,
        from: usize,
        now: TimestampMs,
    },
    /// Participant -> coordinator: the keys of the objects due.
    Keys {
        item: usize,
        keys: Vec<Key>,
    },
    /// Coordinator -> participant: your buckets back; the command is done.
    Release {
        item: usize,
        buckets: Vec<Bucket>,
    },
    Stop,
}

impl Message {
    fn item(&self) -> Option<usize> {
        match self {
            Message::Take { item, .. }
            | Message::Buckets { item, .. }
            | Message::Expiring { item, .. }
            | Message::Keys { item, .. }
            | Message::Release { item, .. } => Some(*item),
            Message::Work(_) | Message::Stop => None,
        }
    }
}

/// What one shard did with one batch: the outcomes of the commands it coordinated, in order,
/// with the end of each one's events.
struct ShardResult {
    shard: usize,
    outcomes: Vec<(usize, Outcome, usize)>,
    events: Vec<Event>,
}

/// The shard executors.
pub(super) struct ShardPool {
    config: Config,
    machines: Vec<Arc<Mutex<StateMachine>>>,
    inboxes: Vec<Sender<Message>>,
    results: Receiver<ShardResult>,
    threads: Vec<JoinHandle<()>>,
}

/// A shard's mailbox, with the messages that arrived before the shard reached their command.
struct Mailbox {
    inbox: Receiver<Message>,
    stash: Vec<Message>,
}

impl Mailbox {
    /// The next message about `item` (stashing any about later commands).
    fn next_for(&mut self, item: usize) -> Message {
        if let Some(position) = self.stash.iter().position(|message| message.item() == Some(item)) {
            return self.stash.swap_remove(position);
        }
        loop {
            let message = self.inbox.recv().expect("the pool outlives its shards");
            if message.item() == Some(item) {
                return message;
            }
            assert!(message.item().is_some(), "no new batch while one runs");
            self.stash.push(message);
        }
    }
}

/// [`Transport`] of a coordinating shard: requests and replies over the channels.
struct Channels<'a> {
    me: usize,
    item: usize,
    participants: u64,
    mailbox: &'a mut Mailbox,
    peers: &'a [Sender<Message>],
}

impl Transport for Channels<'_> {
    fn fetch(&mut self, requests: Vec<(usize, Vec<Key>)>) -> Vec<Bucket> {
        let asked = requests.len();
        for (shard, keys) in requests {
            let _ = self.peers[shard].send(Message::Take { item: self.item, from: self.me, keys });
        }
        let mut buckets = Vec::new();
        for _ in 0..asked {
            match self.mailbox.next_for(self.item) {
                Message::Buckets { buckets: more, .. } => buckets.extend(more),
                _ => panic!("a participant answered a request for buckets with something else"),
            }
        }
        buckets
    }

    fn expiring(&mut self, now: TimestampMs) -> Vec<Key> {
        let others: Vec<usize> =
            (0..self.peers.len()).filter(|shard| *shard != self.me && self.participants & (1 << shard) != 0).collect();
        for shard in &others {
            let _ = self.peers[*shard].send(Message::Expiring { item: self.item, from: self.me, now });
        }
        let mut keys = Vec::new();
        for _ in &others {
            match self.mailbox.next_for(self.item) {
                Message::Keys { keys: more, .. } => keys.extend(more),
                _ => panic!("a participant answered a request for expiring keys with something else"),
            }
        }
        keys
    }

    fn release(&mut self, returns: Vec<(usize, Vec<Bucket>)>) {
        for (shard, buckets) in returns {
            let _ = self.peers[shard].send(Message::Release { item: self.item, buckets });
        }
    }
}

/// Serves the coordinator of `item` until it hands the buckets back.
fn participate(machine: &mut StateMachine, item: usize, mailbox: &mut Mailbox, peers: &[Sender<Message>]) {
    loop {
        match mailbox.next_for(item) {
            Message::Take { from, keys, .. } => {
                let state = machine.state_mut();
                let buckets = keys.iter().map(|key| state.take_bucket(key)).collect();
                let _ = peers[from].send(Message::Buckets { item, buckets });
            }
            Message::Expiring { from, now, .. } => {
                let keys = machine.state().expiring_keys(now);
                let _ = peers[from].send(Message::Keys { item, keys });
            }
            Message::Release { buckets, .. } => {
                let state = machine.state_mut();
                for bucket in buckets {
                    state.put_bucket(bucket);
                }
                return;
            }
            _ => panic!("a coordinator sent a participant a reply"),
        }
    }
}

/// The loop of shard `me`.
fn run_shard(
    me: usize,
    machine: Arc<Mutex<StateMachine>>,
    inbox: Receiver<Message>,
    peers: Vec<Sender<Message>>,
    results: Sender<ShardResult>,
) {
    let shards = peers.len();
    let mut mailbox = Mailbox { inbox, stash: Vec::new() };
    loop {
        let work = loop {
            match mailbox.inbox.recv() {
                Ok(Message::Work(work)) => break work,
                Ok(Message::Stop) | Err(_) => return,
                Ok(early) => mailbox.stash.push(early),
            }
        };
        let mut result = ShardResult { shard: me, outcomes: Vec::new(), events: Vec::new() };
        {
            let mut machine = machine.lock();
            let now = machine.begin_batch(work.now_ms);
            for (item, (command, route)) in work.commands.iter().zip(work.routes.iter()).enumerate() {
                if !route.includes(me) {
                    continue;
                }
                if route.coordinator != me {
                    participate(&mut machine, item, &mut mailbox, &peers);
                    continue;
                }
                let outcome = if route.is_local() {
                    machine.apply(now, command, &mut result.events)
                } else {
                    let mut transport =
                        Channels { me, item, participants: route.participants, mailbox: &mut mailbox, peers: &peers };
                    coordinate(&mut machine, me, shards, now, command, route, &mut transport, &mut result.events)
                };
                result.outcomes.push((item, outcome, result.events.len()));
            }
        }
        drop(work);
        if results.send(result).is_err() {
            return;
        }
    }
}

impl ShardPool {
    /// Starts one executor thread per machine (shard `s` owns `machines[s]`).
    pub(super) fn start(config: Config, machines: Vec<StateMachine>) -> ShardPool {
        let shards = machines.len();
        let machines: Vec<Arc<Mutex<StateMachine>>> =
            machines.into_iter().map(|machine| Arc::new(Mutex::new(machine))).collect();
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..shards).map(|_| crossbeam_channel::unbounded()).unzip();
        let (to_sequencer, results) = crossbeam_channel::bounded(shards);
        let mut threads = Vec::with_capacity(shards);
        for (me, inbox) in receivers.into_iter().enumerate() {
            let (machine, peers, results) = (machines[me].clone(), senders.clone(), to_sequencer.clone());
            let thread = std::thread::Builder::new()
                .name(format!("kassa-shard-{me}"))
                .spawn(move || run_shard(me, machine, inbox, peers, results))
                .expect("spawn a shard executor");
            threads.push(thread);
        }
        ShardPool { config, machines, inboxes: senders, results, threads }
    }

    /// Number of shards.
    pub(super) fn shards(&self) -> usize {
        self.machines.len()
    }

    /// Applies `commands` at `now_ms` on the shards; outcomes and events come back in batch
    /// order, exactly as one machine gives them. Returns the commands.
    pub(super) fn commit(
        &self,
        now_ms: TimestampMs,
        commands: Vec<Command>,
        output: &mut CommitOutput,
    ) -> Vec<Command> {
        let shards = self.shards();
        let routes: Vec<Route> = commands.iter().map(|command| route(&self.config, command, shards)).collect();
        let (commands, routes) = (Arc::new(commands), Arc::new(routes));
        for inbox in &self.inboxes {
            let work = Work { now_ms, commands: commands.clone(), routes: routes.clone() };
            inbox.send(Message::Work(work)).expect("shard executors run while the pool does");
        }
        let mut results: Vec<Option<ShardResult>> = (0..shards).map(|_| None).collect();
        let mut received = 0;
        while received < shards {
            match self.results.recv_timeout(std::time::Duration::from_millis(500)) {
                Ok(result) => {
                    let shard = result.shard;
                    results[shard] = Some(result);
                    received += 1;
                }
                Err(_) => {
                    // Shards wait for each other: one that died stops them all. Say so, loudly.
                    let dead = self.threads.iter().position(JoinHandle::is_finished);
                    assert!(dead.is_none(), "shard executor {dead:?} stopped; the engine cannot go on");
                }
            }
        }
        let mut results: Vec<ShardResult> = results.into_iter().map(|result| result.expect("every shard")).collect();
        let mut cursors = vec![(0usize, 0usize); shards];
        for (item, route) in routes.iter().enumerate() {
            let shard = route.coordinator;
            let (next, events_from) = cursors[shard];
            let (index, outcome, events_to) = std::mem::replace(
                &mut results[shard].outcomes[next],
                (usize::MAX, Outcome::Applied(crate::Reply::Done), 0),
            );
            assert_eq!(index, item, "shard {shard} answered out of order");
            output.events.extend(results[shard].events[events_from..events_to].iter().cloned());
            output.outcomes.push(outcome);
            cursors[shard] = (next + 1, events_to);
        }
        drop(routes);
        Arc::try_unwrap(commands).unwrap_or_else(|shared| (*shared).clone())
    }

    /// Runs `read` against a view of every shard (between batches, so the shards are idle).
    pub(super) fn read<R>(&self, read: impl FnOnce(&StateView) -> R) -> R {
        let guards: Vec<_> = self.machines.iter().map(|machine| machine.lock()).collect();
        let view = StateView::new(guards.iter().map(|guard| &**guard).collect());
        read(&view)
    }

    /// The `now` of the last batch.
    pub(super) fn state_now_ms(&self) -> TimestampMs {
        self.machines[0].lock().state_now_ms()
    }

    /// Encodes every shard's state as one snapshot (between batches).
    pub(super) fn encode_snapshot(&self) -> Vec<u8> {
        let parts = self.machines.iter().map(|machine| machine.lock().encode_snapshot()).collect();
        State::join_shard_snapshots(parts)
    }
}

impl Drop for ShardPool {
    fn drop(&mut self) {
        for inbox in &self.inboxes {
            let _ = inbox.send(Message::Stop);
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
