//! Cluster mode with three kassa nodes on three nats-servers (docs/cluster.md): one owns every
//! partition, two follow it as hot standbys and forward their connections to it.
//!
//! The load (transfers, holds, POS sales and pre-authorizations, bills, splits, linked batches
//! and registrations over TCP and HTTP on 3 partitions, their accounts on any partition) goes
//! through a standby. The owner is SIGKILLed; a standby takes the partitions over, and the
//! time from the kill to the first node answering ready again is printed (RELIABILITY.md).
//! The killed node comes back as a standby (its directory rebuilt from the streams) and the
//! load goes on through it. Then every node is killed and started again (a full restart), and
//! the load goes on through a standby. At the end of each part:
//! - the new owner's directory recovers every command acknowledged before and after the kill,
//!   with money conserved and transit drained (the recovery checks);
//! - every standby's log is a prefix of the owner's, record for record, so its state at that
//!   position is the owner's (commit is deterministic);
//! - transfers acknowledged before the kill, retried through a standby after it, answer as
//!   they first did.
//!
//! A second test SIGSTOPs the owner under load for longer than its lease: a standby takes over,
//! and the owner, woken, answers nothing more (not even a read that waited for it) and stops.
//!
//! A third kills the nats-server leading the most partition streams under load: the owner
//! rides through NATS's elections (or a standby takes over) and nothing acknowledged is lost.
//!
//! A fourth test kills the owner and the nats-server leading partition 0's stream together,
//! under the same workload.

use std::path::Path;
use std::time::{Duration, Instant};

use super::cluster::{
    PARTITIONS, local_records, one_cluster_at_a_time, read_account_at, signal, start_until_serving_with, stops_within,
};
use kassa_engine::Currency;
use kassa_engine::command::{Command, Transfer};
use kassa_tests::channels::TcpChannel;
use kassa_tests::workload::{Channel, id};
use kassa_tests::{Ack, account};

use super::torture::{
    ADMIN_KEY, Server, collect_acks, is_ready, is_ready_within, reopen_and_verify, start_load, start_server_with,
};

pub(super) fn kill(server: &mut Server) {
    let _ = server.child.kill();
    let _ = server.child.wait();
}

/// The nodes' names, node-1 first.
pub(super) const NAMES: [&str; 3] = ["node-1", "node-2", "node-3"];

/// Three nats-servers, and where three kassa nodes keep their directories.
pub(super) struct Nodes {
    pub(super) nats: Vec<kassa_cluster::testing::NatsServer>,
    pub(super) urls: String,
    pub(super) dirs: Vec<std::path::PathBuf>,
    pub(super) runtime: tokio::runtime::Runtime,
    partitions: u16,
    extra: Vec<&'static str>,
    _root: tempfile::TempDir,
}

impl Nodes {
    /// Three nats-servers; nodes of `partitions` started with `extra` arguments besides.
    pub(super) fn new(partitions: u16, extra: &[&'static str]) -> Nodes {
        let nats = kassa_cluster::testing::start_cluster();
        let urls = kassa_cluster::testing::urls(&nats);
        let root = tempfile::tempdir().unwrap();
        let dirs = (1..=3).map(|node| root.path().join(format!("node-{node}"))).collect();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        Nodes { nats, urls, dirs, runtime, partitions, extra: extra.to_vec(), _root: root }
    }

    fn args(&self, node: usize) -> Vec<&str> {
        let mut args = vec!["--cluster", self.urls.as_str(), "--node-id", NAMES[node]];
        // Each partition's state hashed every STATE_HASH_EVERY records, compared by `assert_prefix`.
        args.extend(["--state-hash-every", STATE_HASH_EVERY]);
        args.extend(&self.extra);
        args
    }

    /// Starts node `node` (a standby is ready once it forwards to the owner).
    pub(super) fn start(&self, node: usize) -> Server {
        start_server_with(&self.dirs[node], self.partitions, &self.args(node))
    }

    /// Starts node `node` until it serves (joining fails while NATS elects leaders).
    pub(super) fn start_until_serving(&self, node: usize) -> Server {
        start_until_serving_with(&self.dirs[node], self.partitions, &self.args(node))
    }

    /// node-1 until it owns, then node-2 and node-3, standbys.
    pub(super) fn start_all(&self) -> Vec<Server> {
        let mut nodes = vec![self.start_until_serving(0)];
        nodes.push(self.start(1));
        nodes.push(self.start(2));
        nodes
    }

    /// Which node owns partition 0.
    pub(super) fn owner_index(&self) -> usize {
        owner_index(&self.urls, &NAMES)
    }
}

/// Whose is partition 0's lease: the owner's name.
pub(super) fn owner(urls: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = kassa_cluster::async_nats::connect(urls.split(',').collect::<Vec<_>>().as_slice()).await.unwrap();
        let js = kassa_cluster::log::context(client);
        let leases = kassa_cluster::Leases::open(&js, "kassa_leases", Duration::from_secs(3), 3).await.unwrap();
        leases.holder(0).await.unwrap().unwrap_or_default()
    })
}

/// Submits again, through `server`, up to 200 of the transfers `acks` acknowledged: each must
/// answer as it first did (its id is remembered on whichever node owns it now).
pub(super) async fn assert_retries_answer_as_first(server: &Server, acks: &[Ack]) -> usize {
    let mut channel = TcpChannel::connect(server.tcp(), ADMIN_KEY).await.expect("a connection");
    let mut retried = 0;
    for ack in acks.iter().take(2_000) {
        let Ack::Transfer { id: transfer, from, to, amount, result } = ack else { continue };
        let index = |name: &str| name.trim_start_matches("acc").parse::<usize>().expect("accN");
        let (from, to) = (account(index(from)), account(index(to)));
        let command = Transfer { id: id(transfer), from, to, amount: *amount, currency: Currency::EUR };
        let answer = channel.submit(Command::Transfer(command)).await.expect("an answer");
        assert_eq!(&answer.result(), result, "transfer {transfer} retried after the takeover");
        retried += 1;
        if retried == 200 {
            break;
        }
    }
    retried
}

/// Starts the workload through `server` and lets it run for `ms`.
pub(super) fn load_for(runtime: &tokio::runtime::Runtime, server: &Server, cycle: u64, seed: u64, ms: u64) -> Load {
    runtime.block_on(async {
        let load = start_load(server, cycle, seed, true).await;
        tokio::time::sleep(Duration::from_millis(ms)).await;
        load
    })
}

pub(super) type Load = (Vec<tokio::task::JoinHandle<()>>, super::torture::Acks);

/// Which of `names` owns partition 0.
pub(super) fn owner_index(urls: &str, names: &[&str]) -> usize {
    let owner = owner(urls);
    names.iter().position(|name| *name == owner).expect("a node owns partition 0")
}

/// Records between two hashes of a partition's state, on every node.
const STATE_HASH_EVERY: &str = "64";

/// Waits (30 s at most) until the owner and each of `standbys` hashed some partition's state
/// after the same record: a running standby catches up, and the owner's replica, which hashes
/// behind the acknowledgements, reaches what a standby stopped earlier hashed. Also long enough
/// for a running standby to follow the owner's last records before the nodes are stopped.
pub(super) fn wait_for_common_state_hashes(standbys: &[&Path], owner: &Path) {
    let hashes = |dir| kassa_engine::runtime::read_state_hashes(dir).unwrap_or_default();
    let started = Instant::now();
    while !standbys.iter().all(|standby| {
        let (followed, owned) = (hashes(standby), hashes(owner));
        followed.keys().any(|position| owned.contains_key(position))
    }) && started.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
}

/// The standby's log is a prefix of the owner's, record for record, and wherever both hashed a
/// partition's state after the same record, the hashes are equal (and there is such a place).
pub(super) fn assert_prefix(standby: &Path, owner: &Path, what: &str) {
    let hashes = |dir| kassa_engine::runtime::read_state_hashes(dir).unwrap_or_else(|error| panic!("{what}: {error}"));
    let (followed, owned) = (hashes(standby), hashes(owner));
    let mut common = 0;
    for (position, hash) in followed.iter().filter(|(position, _)| owned.contains_key(position)) {
        let (partition, record) = position;
        assert_eq!(hash, &owned[position], "{what}: partition {partition}'s state after record {record}");
        common += 1;
    }
    assert!(common > 0, "{what}: no record after which both hashed a partition's state");
    println!("{what}: the same state hash at {common} positions (of {} followed)", followed.len());
    let (standby, owner) = (local_records(standby), local_records(owner));
    for partition in 0..usize::from(PARTITIONS) {
        let (followed, owned) = (&standby[partition], &owner[partition]);
        assert!(
            owned.starts_with(followed),
            "{what}: partition {partition}'s {} followed records are not the owner's first {}",
            followed.len(),
            owned.len()
        );
    }
}

#[test]
fn a_standby_takes_the_partitions_over_when_the_owner_is_killed() {
    let _one_cluster_at_a_time = one_cluster_at_a_time();
    let cluster = Nodes::new(PARTITIONS, &[]);
    let (runtime, dirs) = (&cluster.runtime, &cluster.dirs);
    let mut nodes = cluster.start_all();
    assert_eq!(owner(&cluster.urls), "node-1");

    // Load through node-3, a standby: its connections are forwarded to node-1.
    let (workers, acks) = load_for(runtime, &nodes[2], 0, 0x6e6f_6465, 1_500);
    kill(&mut nodes[0]);
    let killed = Instant::now();
    let mut all_acks = runtime.block_on(collect_acks(workers, &acks));
    assert!(all_acks.len() > 50, "only {} acknowledged through the standby", all_acks.len());
    while !is_ready(nodes[1].http()) && !is_ready(nodes[2].http()) {
        assert!(killed.elapsed() < Duration::from_secs(30), "no node ready 30 s after the owner's kill");
        std::thread::sleep(Duration::from_millis(20));
    }
    let takeover = killed.elapsed();
    let owner_index = cluster.owner_index();
    let new_owner = NAMES[owner_index];
    assert_ne!(owner_index, 0, "a standby took the partitions over");
    let standby_index = 3 - owner_index;
    // Clients retry through any node: every id answers its first outcome.
    let retried = runtime.block_on(assert_retries_answer_as_first(&nodes[standby_index], &all_acks));
    assert!(retried > 20, "only {retried} transfers retried");

    // The killed node comes back as a standby of the new owner; the load goes through it.
    nodes[0] = cluster.start(0);
    assert_eq!(owner(&cluster.urls), new_owner, "a restarted node does not take the partitions back");
    let (workers, acks) = load_for(runtime, &nodes[0], 1, 0x6f77_6e65, 1_500);
    // Stopping the standby the load goes through ends the load.
    kill(&mut nodes[0]);
    let acks = runtime.block_on(collect_acks(workers, &acks));
    let after_kill = acks.len();
    all_acks.extend(acks);
    assert!(after_kill > 50, "only {after_kill} acknowledged after the takeover");
    // Let the other standby catch up with the owner, then stop both.
    wait_for_common_state_hashes(&[&dirs[standby_index], &dirs[0]], &dirs[owner_index]);
    kill(&mut nodes[standby_index]);
    kill(&mut nodes[owner_index]);
    println!(
        "owner killed: {new_owner} took over and a node answered ready {takeover:?} later; {} commands acknowledged \
         through standbys ({after_kill} after the takeover)",
        all_acks.len()
    );
    assert_prefix(&dirs[standby_index], &dirs[owner_index], "the standby that stayed one");
    assert_prefix(&dirs[0], &dirs[owner_index], "the killed owner, back as a standby");

    let owner_index = full_restart(&cluster, &mut nodes, 0, &mut all_acks);
    reopen_and_verify(&dirs[owner_index], 0, &all_acks);
}

/// Every node was killed; they start again, node `first` first (it wins partition 0). The
/// owner keeps its directory if it wrote last, the others rebuild theirs, and the load goes on
/// through another. Returns the owner's index.
pub(super) fn full_restart(cluster: &Nodes, nodes: &mut [Server], first: usize, all_acks: &mut Vec<Ack>) -> usize {
    let (runtime, dirs) = (&cluster.runtime, &cluster.dirs);
    let started = Instant::now();
    for node in (0..3).map(|offset| (first + offset) % 3) {
        nodes[node] = cluster.start(node);
    }
    let restarted = started.elapsed();
    let owner_index = cluster.owner_index();
    let through = (owner_index + 1) % 3;
    let (workers, acks) = load_for(runtime, &nodes[through], 2, 0x7265_7374, 1_000);
    // Both standbys, still following, hash a record the owner's replica hashes after its start
    // (its recovery hashed nothing).
    let standbys: Vec<&Path> = (0..3).filter(|node| *node != owner_index).map(|node| dirs[node].as_path()).collect();
    wait_for_common_state_hashes(&standbys, &dirs[owner_index]);
    kill(&mut nodes[through]);
    let acks = runtime.block_on(collect_acks(workers, &acks));
    assert!(acks.len() > 50, "only {} acknowledged after the full restart", acks.len());
    all_acks.extend(acks);
    for server in nodes.iter_mut() {
        kill(server);
    }
    println!("full restart: every node ready {restarted:?} after the first started; {} owns", NAMES[owner_index]);
    for node in (0..3).filter(|node| *node != owner_index) {
        assert_prefix(&dirs[node], &dirs[owner_index], "a standby after the full restart");
    }
    owner_index
}

/// Waits until one of `candidates` answers ready; returns how long that took. A standby
/// forwards `/ready` to the stopped owner, where it waits: each try gives up soon.
fn first_ready(nodes: &[Server], candidates: &[usize], since: Instant) -> Duration {
    let ready = |node: &usize| is_ready_within(nodes[*node].http(), Duration::from_millis(100));
    loop {
        if candidates.iter().any(ready) {
            return since.elapsed();
        }
        assert!(since.elapsed() < Duration::from_secs(30), "no standby ready 30 s after the owner stopped");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_owner_stopped_longer_than_its_lease_is_taken_over_and_answers_nothing_more() {
    let _one_cluster_at_a_time = one_cluster_at_a_time();
    let cluster = Nodes::new(PARTITIONS, &[]);
    let (runtime, dirs) = (&cluster.runtime, &cluster.dirs);
    let mut nodes = cluster.start_all();

    // The owner stops under load (through node-3), perhaps in the middle of a group.
    let (workers, acks) = load_for(runtime, &nodes[2], 0, 0x7374_6f70, 1_000);
    signal(&nodes[0].child, "STOP");
    let stopped = Instant::now();
    // Its leases lapse (3 s) and a standby takes over; the load's connections wait meanwhile.
    // (A standby answers ready too once it forwards to the new owner.)
    let takeover = first_ready(&nodes, &[1, 2], stopped);
    let owner_index = cluster.owner_index();
    assert_ne!(owner_index, 0, "a standby took the partitions over");
    let standby_index = 3 - owner_index;

    // A read sent to the stopped node waits in its listener's backlog while the new owner
    // acknowledges commands through the standby, so the stopped node's state is stale.
    let (second, second_acks) = load_for(runtime, &nodes[standby_index], 1, 0x6167_6169, 1_000);
    let stale_read = read_account_at(nodes[0].http());
    std::thread::sleep(Duration::from_millis(200));
    for worker in second {
        worker.abort();
    }
    let mut all_acks = std::mem::take(&mut *second_acks.lock().unwrap());
    assert!(all_acks.len() > 50, "only {} acknowledged by the new owner", all_acks.len());

    // Woken, the old owner's appends are fenced and its leases gone: it answers nothing more,
    // not the read that waited for it, and stops; the connections it held close.
    signal(&nodes[0].child, "CONT");
    let woke = Instant::now();
    let status = stops_within(&mut nodes[0].child, Duration::from_secs(15), "the stale owner");
    assert!(!status.success(), "the stale owner stops with an error: {status}");
    let answer = stale_read.join().unwrap();
    assert!(!answer.starts_with("HTTP/1.1 200"), "a stale owner answered a read: {answer}");
    let before = runtime.block_on(collect_acks(workers, &acks));
    assert!(before.len() > 50, "only {} acknowledged before the stop", before.len());
    let retried = runtime.block_on(assert_retries_answer_as_first(&nodes[standby_index], &before));
    assert!(retried > 20, "only {retried} transfers retried");
    all_acks.extend(before);
    println!(
        "owner stopped: {} ready {takeover:?} later; the woken owner stopped {:?} after SIGCONT ({status}); the \
         read that waited for it got {:?}",
        NAMES[owner_index],
        woke.elapsed(),
        answer.lines().next().unwrap_or("(connection closed)")
    );

    // Back as a standby, the old owner follows the new one.
    nodes[0] = cluster.start(0);
    wait_for_common_state_hashes(&[&dirs[standby_index], &dirs[0]], &dirs[owner_index]);
    for server in &mut nodes {
        kill(server);
    }
    assert_prefix(&dirs[standby_index], &dirs[owner_index], "the standby that stayed one");
    assert_prefix(&dirs[0], &dirs[owner_index], "the stopped owner, back as a standby");
    reopen_and_verify(&dirs[owner_index], 0, &all_acks);
}

#[test]
fn killing_the_owner_and_the_nats_server_leading_a_stream_together_loses_nothing() {
    let _one_cluster_at_a_time = one_cluster_at_a_time();
    // Three partitions and the whole workload, each flow's accounts on any partition: POS sales
    // and pre-authorizations, bills, splits and linked batches besides transfers and holds.
    let mut cluster = Nodes::new(PARTITIONS, &[]);
    let mut nodes = cluster.start_all();
    let runtime = &cluster.runtime;
    let (workers, acks) = runtime.block_on(async {
        let load = start_load(&nodes[2], 0, 0x626f_7468, true).await;
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        load
    });
    let leader = runtime.block_on(async {
        let js = kassa_cluster::testing::connect_all(&cluster.nats).await;
        let stream = js.get_stream("KASSA_P0").await.unwrap();
        stream.get_info().await.unwrap().cluster.and_then(|cluster| cluster.leader).unwrap()
    });
    kill(&mut nodes[0]);
    cluster.nats.iter_mut().find(|server| server.name == leader).unwrap().kill();
    let killed = Instant::now();
    let mut all_acks = runtime.block_on(collect_acks(workers, &acks));
    // A standby takes over once the lease lapsed and the streams elected new leaders; one that
    // stopped meanwhile (NATS unreachable for longer than it rides through) is started again.
    let owner_index = 'ready: loop {
        for node in [1, 2] {
            if nodes[node].child.try_wait().unwrap().is_some() {
                nodes[node] = cluster.start_until_serving(node);
            }
            if is_ready(nodes[node].http()) {
                break 'ready cluster.owner_index();
            }
        }
        assert!(killed.elapsed() < Duration::from_secs(60), "no standby was ready 60 s after the kills");
        std::thread::sleep(Duration::from_millis(20));
    };
    let takeover = killed.elapsed();
    let standby_index = 3 - owner_index;
    let (workers, acks) = runtime.block_on(async {
        let load = start_load(&nodes[standby_index], 1, 0x6c65_6164, true).await;
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        load
    });
    kill(&mut nodes[standby_index]);
    let after = runtime.block_on(collect_acks(workers, &acks));
    assert!(after.len() > 50, "only {} acknowledged after the takeover", after.len());
    wait_for_common_state_hashes(&[&cluster.dirs[standby_index]], &cluster.dirs[owner_index]);
    kill(&mut nodes[owner_index]);
    let sales = all_acks.iter().chain(&after).filter(|ack| matches!(ack, Ack::Settlement { .. })).count();
    assert!(sales > 0, "POS sales in the load");
    let held = |ack: &&Ack| matches!(ack, Ack::HoldCaptured { id, .. } if id.starts_with("p-"));
    let pre_authorized = all_acks.iter().chain(&after).filter(held).count();
    println!(
        "owner and NATS leader {leader} killed together: {} ready {takeover:?} later; {} acknowledged before, {} \
         after ({sales} POS sales, {pre_authorized} pre-authorizations)",
        NAMES[owner_index],
        all_acks.len(),
        after.len()
    );
    all_acks.extend(after);
    assert_prefix(&cluster.dirs[standby_index], &cluster.dirs[owner_index], "the standby the load went through");
    reopen_and_verify(&cluster.dirs[owner_index], 0, &all_acks);
}

/// The name of the nats-server leading the most partition streams.
fn leader_of_most_streams(cluster: &[kassa_cluster::testing::NatsServer]) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let leaders: Vec<String> = runtime.block_on(async {
        let js = kassa_cluster::testing::connect_all(cluster).await;
        let mut leaders = Vec::new();
        for partition in 0..PARTITIONS {
            let stream = js.get_stream(format!("KASSA_P{partition}")).await.unwrap();
            leaders.extend(stream.get_info().await.unwrap().cluster.and_then(|cluster| cluster.leader));
        }
        leaders
    });
    let count = |name: &String| leaders.iter().filter(|leader| *leader == name).count();
    leaders.iter().max_by_key(|name| count(name)).cloned().expect("the streams have leaders")
}

#[test]
fn killing_the_nats_server_leading_the_most_streams_loses_nothing() {
    let _one_cluster_at_a_time = one_cluster_at_a_time();
    let mut cluster = Nodes::new(PARTITIONS, &[]);
    let mut nodes = cluster.start_all();
    let (workers, acks) = load_for(&cluster.runtime, &nodes[2], 0, 0x6d6f_7374, 800);
    let leader = leader_of_most_streams(&cluster.nats);
    cluster.nats.iter_mut().find(|server| server.name == leader).unwrap().kill();
    let (runtime, dirs) = (&cluster.runtime, &cluster.dirs);
    let killed = Instant::now();
    // The owner rides through the elections (its copies resume on the new leaders) and goes on
    // acknowledging; if it stopped instead, a standby takes over.
    let at_kill = acks.lock().unwrap().len();
    let rode_through = loop {
        if acks.lock().unwrap().len() > at_kill + 100 {
            break true;
        }
        if nodes[0].child.try_wait().unwrap().is_some() {
            break false;
        }
        assert!(killed.elapsed() < Duration::from_secs(60), "neither acknowledged nor stopped within 60 s of the kill");
        std::thread::sleep(Duration::from_millis(50));
    };
    let after = killed.elapsed();
    for worker in workers {
        worker.abort();
    }
    let mut all_acks = std::mem::take(&mut *acks.lock().unwrap());
    if !rode_through {
        first_ready(&nodes, &[1, 2], killed);
    }
    let owner_index = cluster.owner_index();
    let through = if owner_index == 1 { 2 } else { 1 };
    let (workers, acks) = load_for(runtime, &nodes[through], 1, 0x6c65_6164, 1_000);
    kill(&mut nodes[through]);
    let later = runtime.block_on(collect_acks(workers, &acks));
    assert!(later.len() > 50, "only {} acknowledged after the NATS server's kill", later.len());
    let what =
        if rode_through { "acknowledged again, without a takeover," } else { "stopped, and a standby took over" };
    println!("NATS leader {leader} of the most streams killed: the owner {what} {after:?} later");
    all_acks.extend(later);
    let standbys: Vec<&Path> = (0..3).filter(|node| *node != owner_index).map(|node| dirs[node].as_path()).collect();
    wait_for_common_state_hashes(&standbys, &dirs[owner_index]);
    for server in &mut nodes {
        kill(server);
    }
    // (An owner that stopped may hold an unacknowledged tail its successor cut off.)
    for node in (1..3).filter(|node| *node != owner_index) {
        assert_prefix(&dirs[node], &dirs[owner_index], "a standby");
    }
    reopen_and_verify(&dirs[owner_index], 0, &all_acks);
}
