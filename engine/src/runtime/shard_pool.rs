//! Shard executors: one thread per shard, each owning one `StateMachine` (its partition of the
//! actors).
//!
//! The executor thread (the sequencer) routes every command of a batch and plans how buckets
//! travel, then hands batch and plan to every shard. Each shard applies, in batch order, the
//! commands it coordinates. For commands whose keys are in their body (transfers, deposits,
//! holds, registrations: nearly all traffic) buckets flow one way: at the start of a stretch of
//! such commands, each shard sends every bucket it owns that another shard uses first to that
//! shard; after applying a command, a shard sends each bucket on to its next user (or home
//! after its last use). A shard runs a command once the buckets the plan says it awaits have
//! arrived; nobody waits for an answer, and buckets travel in bundles. Commands that follow
//! references (captures, settlements, ticks...) end such a stretch: every bucket is home, and
//! the coordinator asks the other shards for buckets round after round
//! ([`crate::shards::coordinate`]). The result is the batch applied in order, command after
//! command, exactly as by one machine: the sequencer merges outcomes and events back into batch
//! order.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use crate::command::{Event, Outcome, Submission};
use crate::shards::{Route, Seat, StateView, Transport, coordinate_run, route};
use crate::state_machine::{Bucket, CommitOutput, Config, Key, State, StateMachine};
use crate::types::TimestampMs;

/// One batch, as every shard receives it.
struct Work {
    now_ms: TimestampMs,
    commands: Arc<Vec<Submission>>,
    plan: Arc<Plan>,
}

/// Where a bucket goes next: the item (command index) of its next use, or home.
const HOME: usize = usize::MAX;

/// How the buckets of one batch travel between shards.
struct Plan {
    routes: Vec<Route>,
    /// Per item: how many buckets must arrive before its coordinator can apply it.
    awaits: Vec<u32>,
    /// Per item: buckets its coordinator sends on afterwards: (index in the route's keys,
    /// shard, item or `HOME`).
    forwards: Vec<Vec<(usize, usize, usize)>>,
    /// Stretches of commands between those that follow references.
    segments: Vec<Segment>,
}

/// A stretch of commands whose keys are all in their bodies, then the run of commands that follow
/// references after it (possibly empty), which every shard takes part in.
struct Segment {
    start: usize,
    end: usize,
    run: std::ops::Range<usize>,
    /// Per shard: buckets it sends out at the start: (key, shard, item).
    sends: Vec<Vec<(Key, usize, usize)>>,
    /// Per shard: buckets that come home at the end.
    returns: Vec<u32>,
}

impl Plan {
    /// Routes `commands` over `shards` and plans every bucket's trip.
    fn new(config: &Config, commands: &[Submission], shards: usize) -> Plan {
        let mut routes: Vec<Route> = commands.iter().map(|command| route(config, command, shards)).collect();
        let mut awaits = vec![0u32; routes.len()];
        let mut forwards: Vec<Vec<(usize, usize, usize)>> = vec![Vec::new(); routes.len()];
        let mut segments = Vec::new();
        let mut start = 0;
        loop {
            let end = (start..routes.len()).find(|item| routes[*item].follows_references).unwrap_or(routes.len());
            let run_end = (end..routes.len()).find(|item| !routes[*item].follows_references).unwrap_or(routes.len());
            // One coordinator for the whole run: the first command's.
            if end < run_end {
                let coordinator = routes[end].coordinator;
                for route in &mut routes[end..run_end] {
                    route.coordinator = coordinator;
                }
            }
            let mut segment =
                Segment { start, end, run: end..run_end, sends: vec![Vec::new(); shards], returns: vec![0; shards] };
            // key -> (shard holding it after its last use so far, that use: (item, key index)).
            let mut last: crate::state_machine::Map<&Key, (usize, usize, usize)> =
                crate::state_machine::Map::with_capacity_and_hasher(4 * (end - start), ahash::RandomState::default());
            for item in start..end {
                let coordinator = routes[item].coordinator;
                for (index, key) in routes[item].keys.iter().enumerate() {
                    match last.get(key) {
                        None => {
                            let home = key.shard(shards);
                            if home != coordinator {
                                segment.sends[home].push((key.clone(), coordinator, item));
                                awaits[item] += 1;
                            }
                        }
                        Some(&(holder, previous, previous_index)) => {
                            if holder != coordinator {
                                forwards[previous].push((previous_index, coordinator, item));
                                awaits[item] += 1;
                            }
                        }
                    }
                    last.insert(key, (coordinator, item, index));
                }
            }
            for (key, (holder, previous, previous_index)) in last {
                let home = key.shard(shards);
                if holder != home {
                    forwards[previous].push((previous_index, home, HOME));
                    segment.returns[home] += 1;
                }
            }
            segments.push(segment);
            if run_end == routes.len() {
                break;
            }
            start = run_end;
        }
        Plan { routes, awaits, forwards, segments }
    }
}

/// What shards send each other and what the sequencer sends them.
enum Message {
    Work(Work),
    /// Buckets travelling to their next use (or home): (item or `HOME`, bucket).
    Forward(Vec<(usize, Bucket)>),
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
            Message::Work(_) | Message::Forward(_) | Message::Stop => None,
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

/// Times a waiting shard yields its core before it sleeps on its mailbox: the answer it waits
/// for usually comes within microseconds, and a sleep and wake-up costs more than that.
const SPINS_BEFORE_BLOCKING: u32 = 32;

/// The next message, yielding the core a few times before sleeping on the channel.
fn recv_soon(inbox: &Receiver<Message>) -> Result<Message, crossbeam_channel::RecvError> {
    for _ in 0..SPINS_BEFORE_BLOCKING {
        if let Ok(message) = inbox.try_recv() {
            return Ok(message);
        }
        std::thread::yield_now();
    }
    inbox.recv()
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
            let message = recv_soon(&self.inbox).expect("the pool outlives its shards");
            if message.item() == Some(item) {
                return message;
            }
            assert!(!matches!(message, Message::Work(_) | Message::Stop), "no new batch while one runs");
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

/// Bucket bundles waiting to leave a shard, one per destination.
struct Outbox {
    bundles: Vec<Vec<(usize, Bucket)>>,
}

/// Buckets a shard sends in one message at most before it sends the bundle anyway.
const BUNDLE_MAX: usize = 64;

impl Outbox {
    fn push(&mut self, shard: usize, item: usize, bucket: Bucket, peers: &[Sender<Message>]) {
        self.bundles[shard].push((item, bucket));
        if self.bundles[shard].len() >= BUNDLE_MAX {
            let bundle = std::mem::take(&mut self.bundles[shard]);
            let _ = peers[shard].send(Message::Forward(bundle));
        }
    }

    /// Sends every waiting bundle (before the shard waits for anything).
    fn flush(&mut self, peers: &[Sender<Message>]) {
        for (shard, bundle) in self.bundles.iter_mut().enumerate() {
            if !bundle.is_empty() {
                let _ = peers[shard].send(Message::Forward(std::mem::take(bundle)));
            }
        }
    }
}

/// A shard's progress through one batch: buckets arrived per item, and home.
struct Arrivals {
    per_item: Vec<u32>,
    home: u32,
}

impl Arrivals {
    /// Files arrived buckets into the state (safe at once: the plan sends a bucket to a shard
    /// only when no command before its use there touches it) and counts them.
    fn receive(&mut self, machine: &mut StateMachine, bundle: Vec<(usize, Bucket)>) {
        let state = machine.state_mut();
        for (item, bucket) in bundle {
            state.put_bucket(bucket);
            if item == HOME {
                self.home += 1;
            } else {
                self.per_item[item] += 1;
            }
        }
    }

    /// Waits until `done(self)` holds, filing arriving buckets; other messages (requests about a
    /// later command that follows references) are kept for later.
    fn wait(&mut self, machine: &mut StateMachine, mailbox: &mut Mailbox, done: impl Fn(&Arrivals) -> bool) {
        while !done(self) {
            let message = recv_soon(&mailbox.inbox).expect("the pool outlives its shards");
            match message {
                Message::Forward(bundle) => self.receive(machine, bundle),
                Message::Work(_) | Message::Stop => panic!("no new batch while one runs"),
                other => mailbox.stash.push(other),
            }
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
    let mut outbox = Outbox { bundles: (0..shards).map(|_| Vec::new()).collect() };
    loop {
        let work = loop {
            match recv_soon(&mailbox.inbox) {
                Ok(Message::Work(work)) => break work,
                Ok(Message::Stop) | Err(_) => return,
                Ok(early) => mailbox.stash.push(early),
            }
        };
        let mut result = ShardResult { shard: me, outcomes: Vec::new(), events: Vec::new() };
        {
            let mut guard = machine.lock();
            let machine = &mut *guard;
            let now = machine.begin_batch(work.now_ms);
            let plan = &*work.plan;
            let mut arrivals = Arrivals { per_item: vec![0; plan.routes.len()], home: 0 };
            // Bundles that came before the batch did.
            for message in std::mem::take(&mut mailbox.stash) {
                match message {
                    Message::Forward(bundle) => arrivals.receive(machine, bundle),
                    other => mailbox.stash.push(other),
                }
            }
            for segment in &plan.segments {
                for (key, shard, item) in &segment.sends[me] {
                    let bucket = machine.state_mut().take_bucket(key);
                    outbox.push(*shard, *item, bucket, &peers);
                }
                // Other shards' first commands wait for these: send them before applying ours.
                outbox.flush(&peers);
                for item in segment.start..segment.end {
                    let route = &plan.routes[item];
                    if route.coordinator != me {
                        continue;
                    }
                    if arrivals.per_item[item] < plan.awaits[item] {
                        outbox.flush(&peers);
                        arrivals.wait(machine, &mut mailbox, |arrived| arrived.per_item[item] >= plan.awaits[item]);
                    }
                    let outcome = machine.apply(now, &work.commands[item], &mut result.events);
                    result.outcomes.push((item, outcome, result.events.len()));
                    for (index, shard, next) in &plan.forwards[item] {
                        let bucket = machine.state_mut().take_bucket(&route.keys[*index]);
                        outbox.push(*shard, *next, bucket, &peers);
                    }
                }
                outbox.flush(&peers);
                let returns = segment.returns[me];
                arrivals.wait(machine, &mut mailbox, |arrived| arrived.home >= returns);
                arrivals.home = 0;
                if segment.run.is_empty() {
                    continue;
                }
                // Commands that follow references: every shard takes part, every bucket is home.
                let item = segment.run.start;
                let route = &plan.routes[item];
                if route.coordinator == me {
                    let mut transport =
                        Channels { me, item, participants: route.participants, mailbox: &mut mailbox, peers: &peers };
                    let run = segment.run.clone().map(|item| (&work.commands[item], &plan.routes[item]));
                    let mut next_item = item;
                    let outcomes = &mut result.outcomes;
                    coordinate_run(
                        machine,
                        Seat { me, shards },
                        now,
                        run,
                        route.participants,
                        &mut transport,
                        &mut result.events,
                        |outcome, events_len| {
                            outcomes.push((next_item, outcome, events_len));
                            next_item += 1;
                        },
                    );
                } else {
                    participate(machine, item, &mut mailbox, &peers);
                }
                // Bundles of the next stretch that came during the exchange.
                let stashed = std::mem::take(&mut mailbox.stash);
                for message in stashed {
                    match message {
                        Message::Forward(bundle) => arrivals.receive(machine, bundle),
                        other => mailbox.stash.push(other),
                    }
                }
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
        commands: Vec<Submission>,
        output: &mut CommitOutput,
    ) -> Vec<Submission> {
        let shards = self.shards();
        let plan = Arc::new(Plan::new(&self.config, &commands, shards));
        let everywhere = plan.routes.iter().filter(|route| route.follows_references).count();
        let moving = plan.awaits.iter().filter(|awaits| **awaits > 0).count();
        let moved: u64 = plan.awaits.iter().map(|awaits| u64::from(*awaits)).sum();
        metrics::counter!("kassa_shard_commands_total", "route" => "every_shard").increment(everywhere as u64);
        metrics::counter!("kassa_shard_commands_total", "route" => "buckets_moved_in").increment(moving as u64);
        metrics::counter!("kassa_shard_commands_total", "route" => "local")
            .increment((plan.routes.len() - everywhere - moving) as u64);
        metrics::counter!("kassa_shard_bucket_moves_total").increment(moved);
        let commands = Arc::new(commands);
        for inbox in &self.inboxes {
            let work = Work { now_ms, commands: commands.clone(), plan: plan.clone() };
            inbox.send(Message::Work(work)).expect("shard executors run while the pool does");
        }
        let mut results: Vec<Option<ShardResult>> = (0..shards).map(|_| None).collect();
        let mut received = 0;
        while received < shards {
            let soon = (0..SPINS_BEFORE_BLOCKING).find_map(|_| {
                let result = self.results.try_recv().ok();
                if result.is_none() {
                    std::thread::yield_now();
                }
                result
            });
            let result = match soon {
                Some(result) => Ok(result),
                None => self.results.recv_timeout(std::time::Duration::from_millis(500)),
            };
            match result {
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
        // Each shard's outcomes and events are in batch order: walk them with one cursor each.
        let mut outcomes: Vec<_> =
            results.iter_mut().map(|result| std::mem::take(&mut result.outcomes).into_iter()).collect();
        let mut events: Vec<_> =
            results.iter_mut().map(|result| std::mem::take(&mut result.events).into_iter()).collect();
        let mut events_taken = vec![0usize; shards];
        for (item, route) in plan.routes.iter().enumerate() {
            let shard = route.coordinator;
            let (index, outcome, events_to) = outcomes[shard].next().expect("the coordinator answered");
            assert_eq!(index, item, "shard {shard} answered out of order");
            output.events.extend(events[shard].by_ref().take(events_to - events_taken[shard]));
            events_taken[shard] = events_to;
            output.outcomes.push(outcome);
        }
        drop(plan);
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
