//! Shards: the state split over several state machines by key, and the protocol that runs a
//! command whose buckets sit on several of them.
//!
//! Every command of a batch has a [`Route`]: the shards that own its keys (its participants)
//! and the one that applies it (its coordinator, the owner of most of its keys). A command whose
//! keys all live on one shard runs there, alone. Otherwise the buckets it needs are moved to its
//! coordinator, which applies it with the ordinary `StateMachine` code, and moved back. Every
//! shard applies its part of the batch in the batch's order, and a command runs only once every
//! bucket it can touch is with its coordinator, so the batch has the effect of applying its
//! commands one after another on one machine. A command whose keys depend on the state (a
//! capture, a settlement, a tick...) has every shard as participant: the coordinator
//! ([`coordinate_run`]) asks for buckets round after round, following references, until it has
//! all of them. Because the batch order is the WAL order, replay (the same protocol in one
//! thread, [`ShardSet`]) reaches the same state: a crash never leaves a cross-shard command half
//! done. Shards exchange buckets only as messages: no shard reads another's memory.
//!
//! This module holds routing, placement checks, the one-thread [`ShardSet`] (replay and the
//! reference for tests) and the coordinator of commands that follow references; the shard
//! executors (`runtime/shard_pool.rs`) move the buckets of commands with known keys one way,
//! along a plan made per batch.

use std::collections::{BTreeMap, HashSet};

use crate::authority::{self, Facts, Read};
use crate::command::{Command, Event, Outcome, Principal, Submission};
use crate::state_machine::{Bucket, CommitOutput, Config, Key, State, StateMachine, command_keys};
use crate::types::{Id, TimestampMs};

/// Most shards (participant sets are 64-bit masks).
pub const SHARDS_MAX: usize = 64;

/// How one command runs on the shards.
#[derive(Debug, Clone)]
pub struct Route {
    /// The shard that applies the command: the one owning most of its keys.
    pub coordinator: usize,
    /// Bit `s` set: shard `s` takes part (always includes the coordinator).
    pub participants: u64,
    /// Whether the keys depend on the state (every shard takes part; references are followed).
    pub follows_references: bool,
    /// The keys the command names, each once, in the order named.
    pub keys: Vec<Key>,
}

impl Route {
    /// Whether shard `shard` takes part.
    pub fn includes(&self, shard: usize) -> bool {
        self.participants & (1 << shard) != 0
    }

    /// Whether the command runs on its coordinator alone.
    pub fn is_local(&self) -> bool {
        self.participants == 1 << self.coordinator
    }
}

/// Routes `command` over `shards` shards.
pub fn route(config: &Config, command: &Submission, shards: usize) -> Route {
    let (mut keys, follows_references) = command_keys(config, command);
    dedup_in_order(&mut keys);
    let coordinator = coordinator_of(&keys, shards);
    let participants = if follows_references && shards > 1 {
        u64::MAX >> (64 - shards)
    } else {
        keys.iter().fold(1u64 << coordinator, |mask, key| mask | 1 << key.shard(shards))
    };
    Route { coordinator, participants, follows_references: follows_references && shards > 1, keys }
}

/// The shard that owns most of `keys` (fewest buckets to move); on a tie, the one owning the
/// earliest key (a transfer's payer). Shard 0 for a command without keys.
fn coordinator_of(keys: &[Key], shards: usize) -> usize {
    if shards == 1 || keys.is_empty() {
        return 0;
    }
    let owners: Vec<usize> = keys.iter().take(64).map(|key| key.shard(shards)).collect();
    let mut best = (0usize, owners[0]);
    for (position, owner) in owners.iter().enumerate() {
        if owners[..position].contains(owner) {
            continue;
        }
        let count = owners.iter().filter(|other| *other == owner).count();
        if count > best.0 {
            best = (count, *owner);
        }
    }
    best.1
}

/// Removes repeated keys, keeping the first of each.
fn dedup_in_order(keys: &mut Vec<Key>) {
    if keys.len() <= 16 {
        let mut index = 1;
        while index < keys.len() {
            if keys[..index].contains(&keys[index]) {
                keys.remove(index);
            } else {
                index += 1;
            }
        }
    } else {
        let mut seen = HashSet::with_capacity(keys.len());
        keys.retain(|key| seen.insert(key.clone()));
    }
}

/// How a coordinator reaches the other participants of a command.
pub trait Transport {
    /// Moves the buckets of each `(shard, keys)` request into the caller's hands.
    fn fetch(&mut self, requests: Vec<(usize, Vec<Key>)>) -> Vec<Bucket>;
    /// The keys of objects due to expire at `now` on every participant but the coordinator.
    fn expiring(&mut self, now: TimestampMs) -> Vec<Key>;
    /// Gives each participant its buckets back (possibly none) and releases it.
    fn release(&mut self, returns: Vec<(usize, Vec<Bucket>)>);
}

/// Which shard a machine is, of how many.
#[derive(Debug, Clone, Copy)]
pub struct Seat {
    /// This shard's index.
    pub me: usize,
    /// Number of shards.
    pub shards: usize,
}

/// Applies commands that every shard takes part in (a run of them, in order) on their coordinator
/// `machine` (at `seat`): before each, gathers the buckets it can touch (its keys and, when it
/// follows references, what they refer to, round after round), applies it, reports its outcome
/// and the length of `events` after it to `on_outcome`; at the end gives every bucket back and
/// releases the other shards. Buckets stay with the coordinator for the whole run, so a run of
/// POS settlements costs the other shards one stop, not one per settlement.
#[allow(clippy::too_many_arguments, reason = "the protocol's inputs, each needed")]
pub fn coordinate_run<'a>(
    machine: &mut StateMachine,
    Seat { me, shards }: Seat,
    now: TimestampMs,
    items: impl IntoIterator<Item = (&'a Submission, &'a Route)>,
    participants: u64,
    transport: &mut impl Transport,
    events: &mut Vec<Event>,
    mut on_outcome: impl FnMut(Outcome, usize),
) {
    // Keys owned elsewhere whose buckets are here for the rest of the run, by owner.
    let mut present: HashSet<Key> = HashSet::new();
    let mut fetched: BTreeMap<usize, Vec<Key>> = BTreeMap::new();
    let items: Vec<(&Submission, &Route)> = items.into_iter().collect();
    let mut gather = |frontier: Vec<Key>, follow: bool, machine: &mut StateMachine, transport: &mut _| {
        gather_buckets(machine, Seat { me, shards }, frontier, follow, &mut present, &mut fetched, transport);
    };
    if items.len() > 1 {
        // Up front, for the whole run: one round of requests per step of references, not per command.
        let keys: Vec<Key> = items.iter().flat_map(|(_, route)| route.keys.iter().cloned()).collect();
        gather(keys, true, machine, transport);
    }
    for (command, route) in items {
        let mut frontier = route.keys.clone();
        if matches!(command.command, Command::Tick) {
            frontier.extend(machine.state().expiring_keys(now));
            frontier.extend(transport.expiring(now));
        }
        // Again for this command: earlier ones in the run may have changed what refers to what.
        gather(frontier, route.follows_references, machine, transport);
        let outcome = machine.apply(now, command, events);
        on_outcome(outcome, events.len());
    }
    let mut returns = Vec::new();
    for shard in (0..shards).filter(|shard| *shard != me && participants & (1 << shard) != 0) {
        let keys = fetched.remove(&shard).unwrap_or_default();
        returns.push((shard, keys.iter().map(|key| machine.state_mut().take_bucket(key)).collect()));
    }
    transport.release(returns);
}

/// Brings to the coordinator the buckets of `frontier` and (when `follow`) of what they refer to,
/// transitively, that are not here yet; `present` and `fetched` record what came from where.
fn gather_buckets(
    machine: &mut StateMachine,
    Seat { me, shards }: Seat,
    mut frontier: Vec<Key>,
    follow: bool,
    present: &mut HashSet<Key>,
    fetched: &mut BTreeMap<usize, Vec<Key>>,
    transport: &mut impl Transport,
) {
    let mut visited: HashSet<Key> = HashSet::new();
    loop {
        frontier.retain(|key| visited.insert(key.clone()));
        if frontier.is_empty() {
            return;
        }
        let mut requests: BTreeMap<usize, Vec<Key>> = BTreeMap::new();
        for key in &frontier {
            let owner = key.shard(shards);
            if owner != me && present.insert(key.clone()) {
                requests.entry(owner).or_default().push(key.clone());
            }
        }
        if !requests.is_empty() {
            for (owner, keys) in &requests {
                fetched.entry(*owner).or_default().extend(keys.iter().cloned());
            }
            for bucket in transport.fetch(requests.into_iter().collect()) {
                machine.state_mut().put_bucket(bucket);
            }
        }
        if !follow {
            return;
        }
        frontier = frontier.iter().flat_map(|key| machine.references(key)).collect();
    }
}

/// Applies one command that involves other shards on its coordinator ([`coordinate_run`] of one).
pub fn coordinate(
    machine: &mut StateMachine,
    seat: Seat,
    now: TimestampMs,
    command: &Submission,
    route: &Route,
    transport: &mut impl Transport,
    events: &mut Vec<Event>,
) -> Outcome {
    let mut outcome = None;
    let participants = route.participants;
    coordinate_run(machine, seat, now, [(command, route)], participants, transport, events, |answer, _| {
        outcome = Some(answer);
    });
    outcome.expect("one command, one outcome")
}

/// `shards` state machines run in one thread: the reference implementation of the protocol,
/// used to replay the log (and by tests). The runtime's shard executors do the same work with
/// one thread per shard.
pub struct ShardSet {
    machines: Vec<StateMachine>,
}

/// [`Transport`] between the machines of a [`ShardSet`]: direct moves.
struct Direct<'a> {
    others: Vec<(usize, &'a mut StateMachine)>,
}

impl Direct<'_> {
    fn machine(&mut self, shard: usize) -> &mut StateMachine {
        let (_, machine) = self.others.iter_mut().find(|(index, _)| *index == shard).expect("a participant");
        machine
    }
}

impl Transport for Direct<'_> {
    fn fetch(&mut self, requests: Vec<(usize, Vec<Key>)>) -> Vec<Bucket> {
        let mut buckets = Vec::new();
        for (shard, keys) in requests {
            let state = self.machine(shard).state_mut();
            buckets.extend(keys.iter().map(|key| state.take_bucket(key)));
        }
        buckets
    }

    fn expiring(&mut self, now: TimestampMs) -> Vec<Key> {
        self.others.iter().flat_map(|(_, machine)| machine.state().expiring_keys(now)).collect()
    }

    fn release(&mut self, returns: Vec<(usize, Vec<Bucket>)>) {
        for (shard, buckets) in returns {
            let state = self.machine(shard).state_mut();
            for bucket in buckets {
                state.put_bucket(bucket);
            }
        }
    }
}

impl ShardSet {
    /// `shards` empty machines.
    pub fn new(config: Config, shards: usize) -> ShardSet {
        assert!((1..=SHARDS_MAX).contains(&shards), "1..={SHARDS_MAX} shards");
        ShardSet { machines: (0..shards).map(|_| StateMachine::new(config.clone())).collect() }
    }

    /// Machines restored from snapshot states, re-partitioned if the snapshot was written with
    /// another number of shards.
    pub fn from_states(config: Config, states: Vec<State>, shards: usize) -> ShardSet {
        assert!((1..=SHARDS_MAX).contains(&shards), "1..={SHARDS_MAX} shards");
        let states = if states.len() == shards { states } else { repartition(states, shards) };
        ShardSet { machines: states.into_iter().map(|state| StateMachine::from_state(config.clone(), state)).collect() }
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.machines.len()
    }

    /// The machines, shard by shard.
    pub fn machines(&self) -> &[StateMachine] {
        &self.machines
    }

    /// Gives the machines up (to the shard executors).
    pub fn into_machines(self) -> Vec<StateMachine> {
        self.machines
    }

    /// Applies `batch` at `now_ms` on every shard, in batch order, appending one outcome per
    /// command and the events to `output`: the same outcomes and events one machine gives.
    pub fn commit(&mut self, now_ms: TimestampMs, batch: &[Submission], output: &mut CommitOutput) {
        let shards = self.machines.len();
        if shards == 1 {
            self.machines[0].commit(now_ms, batch, output);
            return;
        }
        let mut now = now_ms;
        for machine in &mut self.machines {
            now = machine.begin_batch(now_ms);
        }
        let config = self.machines[0].config().clone();
        for command in batch {
            let route = route(&config, command, shards);
            let me = route.coordinator;
            let (left, rest) = self.machines.split_at_mut(me);
            let (machine, right) = rest.split_first_mut().expect("the coordinator exists");
            if route.is_local() {
                output.outcomes.push(machine.apply(now, command, &mut output.events));
                continue;
            }
            let others = left
                .iter_mut()
                .enumerate()
                .chain(right.iter_mut().enumerate().map(|(index, machine)| (me + 1 + index, machine)));
            let mut transport = Direct { others: others.filter(|(shard, _)| route.includes(*shard)).collect() };
            let outcome = if route.follows_references {
                coordinate(machine, Seat { me, shards }, now, command, &route, &mut transport, &mut output.events)
            } else {
                // Keys known up front: move the remote buckets in, apply, move them back (without
                // the bookkeeping `coordinate` needs to follow references; replay takes this path).
                let remote: Vec<&Key> = route.keys.iter().filter(|key| key.shard(shards) != me).collect();
                for key in &remote {
                    let bucket = transport.machine(key.shard(shards)).state_mut().take_bucket(key);
                    machine.state_mut().put_bucket(bucket);
                }
                let outcome = machine.apply(now, command, &mut output.events);
                for key in remote {
                    let bucket = machine.state_mut().take_bucket(key);
                    transport.machine(key.shard(shards)).state_mut().put_bucket(bucket);
                }
                outcome
            };
            output.outcomes.push(outcome);
        }
    }

    /// A read-only view across the shards.
    pub fn view(&self) -> StateView<'_> {
        StateView { shards: self.machines.iter().collect() }
    }
}

/// Moves every bucket of `states` into `shards` new states (deposit and withdrawal totals go to
/// shard 0; they only count as a sum).
pub fn repartition(states: Vec<State>, shards: usize) -> Vec<State> {
    let template = states.first().map(State::empty_like).unwrap_or_default();
    let mut target: Vec<State> = (0..shards).map(|_| template.empty_like()).collect();
    for mut state in states {
        for key in state.bucket_keys() {
            let bucket = state.take_bucket(&key);
            target[key.shard(shards)].put_bucket(bucket);
        }
        for (currency, totals) in std::mem::take(&mut state.totals) {
            let entry = target[0].totals.entry(currency).or_default();
            entry.deposited += totals.deposited;
            entry.withdrawn += totals.withdrawn;
        }
    }
    target
}

/// Read access to the state across shards: each lookup goes to the shard that owns the key.
/// [`crate::Engine::read`] hands one to its closure.
pub struct StateView<'a> {
    shards: Vec<&'a StateMachine>,
}

impl<'a> StateView<'a> {
    /// A view of the given shards (in shard order).
    pub fn new(shards: Vec<&'a StateMachine>) -> StateView<'a> {
        StateView { shards }
    }

    fn shard_for(&self, id: &Id) -> &'a StateMachine {
        self.shards[Key::Id(id.clone()).shard(self.shards.len())]
    }

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The shards' machines, in shard order.
    pub fn machines(&self) -> &[&'a StateMachine] {
        &self.shards
    }

    /// The `now` of the last commit.
    pub fn state_now_ms(&self) -> TimestampMs {
        self.shards[0].state_now_ms()
    }

    /// An account.
    pub fn account(&self, id: &Id) -> Option<&'a crate::state_machine::Account> {
        self.shard_for(id).account(id)
    }

    /// Number of accounts.
    pub fn account_count(&self) -> usize {
        self.shards.iter().map(|machine| machine.account_count()).sum()
    }

    /// Whether this exact transfer was applied ([`StateMachine::transfer_applied`]).
    pub fn transfer_applied(&self, transfer: &crate::command::Transfer) -> Option<bool> {
        self.shard_for(&transfer.id).transfer_applied(transfer)
    }

    /// The answer given to a POS settlement.
    pub fn settlement(&self, id: &Id) -> Option<&'a Outcome> {
        self.shard_for(id).settlement(id)
    }

    /// A hold.
    pub fn hold(&self, id: &Id) -> Option<&'a crate::state_machine::Hold> {
        self.shard_for(id).hold(id)
    }

    /// A bill.
    pub fn bill(&self, id: &Id) -> Option<&'a crate::state_machine::Bill> {
        self.shard_for(id).bill(id)
    }

    /// A split.
    pub fn split(&self, id: &Id) -> Option<&'a crate::state_machine::Split> {
        self.shard_for(id).split(id)
    }

    /// A coupon.
    pub fn coupon(&self, id: &Id) -> Option<&'a crate::state_machine::Coupon> {
        self.shard_for(id).coupon(id)
    }

    /// A coupon's redemption code.
    pub fn coupon_code(&self, id: &Id) -> Option<String> {
        self.shard_for(id).coupon_code(id)
    }

    /// An authorization.
    pub fn authorization(&self, id: &Id) -> Option<&'a crate::state_machine::Authorization> {
        self.shard_for(id).authorization(id)
    }

    /// A merchant.
    pub fn merchant(&self, id: &Id) -> Option<&'a crate::state_machine::Merchant> {
        self.shard_for(id).merchant(id)
    }

    /// A terminal.
    pub fn terminal(&self, id: &Id) -> Option<&'a crate::state_machine::Terminal> {
        self.shard_for(id).terminal(id)
    }

    /// An operator.
    pub fn operator(&self, id: &Id) -> Option<&'a crate::state_machine::Operator> {
        self.shard_for(id).operator(id)
    }

    /// The coupons in `user`'s share pool.
    pub fn pool(&self, user: &Id) -> impl Iterator<Item = &'a Id> + use<'a> {
        self.shard_for(user).pool(user).collect::<Vec<_>>().into_iter()
    }

    /// `user`'s contacts.
    pub fn contacts(&self, user: &Id) -> impl Iterator<Item = &'a Id> + use<'a> {
        self.shard_for(user).contacts(user).collect::<Vec<_>>().into_iter()
    }

    /// The coupons shared by `user`'s contacts, which `user` may claim.
    pub fn claimable_coupons(&self, user: &Id) -> Vec<Id> {
        let mut claimable = Vec::new();
        for contact in self.contacts(user) {
            claimable.extend(self.pool(contact).cloned());
        }
        claimable
    }

    /// Prices a coupon for an operator without redeeming it ([`StateMachine::verify_coupon`]).
    pub fn verify_coupon(
        &self,
        now: TimestampMs,
        operator: &Id,
        code: &str,
        amount: u64,
        location: Option<crate::types::GeoPoint>,
    ) -> Result<(Id, crate::state_machine::rules::Quote), crate::command::Rejection> {
        use crate::command::Rejection;
        let operator = self.operator(operator).ok_or(Rejection::OperatorNotFound)?;
        StateMachine::check_amount(amount)?;
        if !crate::state_machine::is_code(code) {
            return Err(Rejection::CouponNotFound);
        }
        let index = self.shards[0].coupon_index(code);
        let code_owner = self.shards[Key::Code(index).shard(self.shards.len())];
        let id = code_owner.coupon_id_by_index(&index).ok_or(Rejection::CouponNotFound)?;
        let coupon = self.coupon(id).expect("an indexed coupon exists");
        if coupon.merchant != operator.merchant {
            return Err(Rejection::WrongMerchant);
        }
        let quote = StateMachine::quote_coupon(now, coupon, amount, location)?;
        Ok((id.clone(), quote))
    }

    /// An API key.
    pub fn api_key(&self, key_id: &Id) -> Option<&'a crate::state_machine::ApiKey> {
        self.shard_for(key_id).api_key(key_id)
    }

    /// Every API key.
    pub fn api_keys(&self) -> impl Iterator<Item = (&'a Id, &'a crate::state_machine::ApiKey)> + use<'a> {
        self.shards.clone().into_iter().flat_map(|machine| machine.api_keys())
    }

    /// The owner recorded for an object (none: the admin's, or an unclaimed user).
    pub fn owner(&self, object: crate::command::ObjectKind, id: &Id) -> Option<&'a Principal> {
        self.shard_for(id).owner(object, id)
    }

    /// Whether `principal` may make `read` now (`crate::authority`): call it in the same
    /// [`Engine::read`](crate::Engine::read) as the read it guards.
    pub fn check_read(&self, principal: &Principal, read: &Read) -> Result<(), crate::Rejection> {
        authority::check_read(self, principal, read)
    }

    /// Deposits and withdrawals per currency, summed over the shards.
    pub fn totals(&self) -> BTreeMap<crate::types::Currency, crate::state_machine::Totals> {
        let mut sums: BTreeMap<crate::types::Currency, crate::state_machine::Totals> = BTreeMap::new();
        for machine in &self.shards {
            for (currency, totals) in machine.totals() {
                let sum = sums.entry(*currency).or_default();
                sum.deposited += totals.deposited;
                sum.withdrawn += totals.withdrawn;
            }
        }
        sums
    }

    /// The whole state as one machine (O(state): tests and tools only).
    pub fn merged(&self) -> StateMachine {
        let config = self.shards[0].config().clone();
        if self.shards.len() == 1 {
            return StateMachine::from_state(config, self.shards[0].state().clone());
        }
        let states = self.shards.iter().map(|machine| machine.state().clone()).collect();
        let state = repartition(states, 1).pop().expect("one shard");
        StateMachine::from_state(config, state)
    }

    /// Checks the global invariants over all shards (O(state): tests only), and that every
    /// bucket sits on the shard that owns its key.
    pub fn check_invariants(&self) {
        let shards = self.shards.len();
        for (index, machine) in self.shards.iter().enumerate() {
            for key in machine.state().bucket_keys() {
                assert_eq!(key.shard(shards), index, "{key:?} is on shard {index}, not on its owner");
            }
        }
        self.merged().check_invariants();
    }
}

impl Facts for StateView<'_> {
    fn owner(&self, kind: crate::command::ObjectKind, id: &Id) -> Option<&Principal> {
        StateView::owner(self, kind, id)
    }

    fn merchant_account(&self, merchant: &Id) -> Option<&Id> {
        self.merchant(merchant).map(|merchant| &merchant.account)
    }

    fn terminal_merchant(&self, terminal: &Id) -> Option<&Id> {
        self.terminal(terminal).map(|terminal| &terminal.merchant)
    }

    fn settlement_terminal(&self, settlement: &Id) -> Option<&Id> {
        Facts::settlement_terminal(self.shard_for(settlement), settlement)
    }

    fn hold(&self, id: &Id) -> Option<&crate::state_machine::Hold> {
        StateView::hold(self, id)
    }

    fn bill(&self, id: &Id) -> Option<&crate::state_machine::Bill> {
        StateView::bill(self, id)
    }

    fn split(&self, id: &Id) -> Option<&crate::state_machine::Split> {
        StateView::split(self, id)
    }

    fn coupon(&self, id: &Id) -> Option<&crate::state_machine::Coupon> {
        StateView::coupon(self, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Movement, Transfer};
    use crate::state_machine::SecretKey;
    use crate::types::Currency;

    fn id(text: &str) -> Id {
        Id::new(text).unwrap()
    }

    fn config() -> Config {
        Config { secret_key: SecretKey::from_bytes(&[9; 32]) }
    }

    #[test]
    fn commands_route_to_the_shard_owning_most_of_their_keys_with_every_key_once() {
        let transfer = Submission::admin(Command::Transfer(Transfer {
            id: id("t1"),
            from: id("a"),
            to: id("a"),
            amount: 1,
            currency: Currency::EUR,
        }));
        let route = route(&config(), &transfer, 4);
        assert_eq!(route.keys, vec![Key::Id(id("a")), Key::Id(id("t1"))]);
        assert_eq!(route.coordinator, Key::Id(id("a")).shard(4), "a tie goes to the payer's shard");
        let owners = [Key::Id(id("a")).shard(4), Key::Id(id("t1")).shard(4)];
        assert_eq!(route.participants, owners.iter().fold(0, |mask, shard| mask | 1 << shard));
        assert!(!route.follows_references);
        // A tick follows references: every shard takes part.
        let tick = super::route(&config(), &Submission::admin(Command::Tick), 4);
        assert!(tick.follows_references && tick.participants == 0b1111);
        // One shard: everything is local.
        let deposit = Submission::admin(Command::Deposit(Movement { id: id("d"), account: id("z"), amount: 5 }));
        assert!(super::route(&config(), &deposit, 1).is_local());
    }

    #[test]
    fn placement_is_stable_and_spreads_keys() {
        // Placement is persisted (in snapshots): these values must never change.
        assert_eq!(Key::Id(id("alice")).shard(1), 0);
        let pinned = [("alice", 0, 12), ("bob", 1, 13), ("acct-7", 3, 11)];
        for (name, of_4, of_16) in pinned {
            assert_eq!((Key::Id(id(name)).shard(4), Key::Id(id(name)).shard(16)), (of_4, of_16), "{name}");
        }
        let mut counts = [0usize; 4];
        for index in 0..4_000 {
            counts[Key::Id(id(&format!("acct-{index}"))).shard(4)] += 1;
        }
        assert!(counts.iter().all(|count| (800..1_200).contains(count)), "{counts:?}");
    }
}
