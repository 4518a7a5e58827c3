//! Snapshots in the cluster's object store (docs/cluster.md): an owner publishing one every
//! second trims its partitions' streams below the one before, under load.
//! - A standby stopped meanwhile (SIGSTOP) wakes a trim behind: it starts again from the
//!   latest snapshot and follows on.
//! - A node that joins after the trim cannot read the streams from their start: it starts from
//!   the latest snapshot (the owner's whole directory: log, history, indexes, archive) and
//!   follows the streams from there.
//!
//! The owner is then killed and one of them takes over. Transfers acknowledged before the trim,
//! retried through the other, answer as they first did. Then all three restart on the trimmed
//! streams, and the owner's directory recovers every command acknowledged before and after
//! (history adding up to every balance).

use std::time::{Duration, Instant};

use super::cluster::{PARTITIONS, one_cluster_at_a_time, signal};
use super::cluster_nodes::{
    NAMES, Nodes, assert_prefix, assert_retries_answer_as_first, full_restart, kill, load_for,
    wait_for_common_state_hashes,
};
use super::torture::{Server, collect_acks, is_ready, reopen_and_verify};

/// Each partition stream's first sequence (1 when nothing was trimmed).
fn first_sequences(cluster: &[kassa_cluster::testing::NatsServer]) -> Vec<u64> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let js = kassa_cluster::testing::connect_all(cluster).await;
        let mut firsts = Vec::new();
        for partition in 0..PARTITIONS {
            let stream = js.get_stream(format!("KASSA_P{partition}")).await.unwrap();
            firsts.push(stream.get_info().await.unwrap().state.first_sequence);
        }
        firsts
    })
}

/// Waits until every stream starts after sequence `past`; returns their first sequences.
fn trimmed_past(cluster: &[kassa_cluster::testing::NatsServer], past: u64) -> Vec<u64> {
    let started = Instant::now();
    loop {
        let firsts = first_sequences(cluster);
        if firsts.iter().all(|first| *first > past) {
            return firsts;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the streams were not trimmed within 30 s: {firsts:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `node` answers ready (it forwards to the owner) and still runs.
fn wait_ready(node: &mut Server, what: &str) -> Duration {
    let started = Instant::now();
    while !is_ready(node.http()) {
        assert!(node.child.try_wait().unwrap().is_none(), "{what} stopped");
        assert!(started.elapsed() < Duration::from_secs(30), "{what} was not ready within 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

#[test]
fn nodes_behind_the_trimmed_streams_start_from_the_latest_snapshot() {
    let _one_cluster_at_a_time = one_cluster_at_a_time();
    let cluster = Nodes::new(PARTITIONS, &["--cluster-snapshot-secs", "1"]);
    let (runtime, dirs) = (&cluster.runtime, &cluster.dirs);
    let mut nodes = vec![cluster.start_until_serving(0), cluster.start(2)];

    // node-3 follows from the start, then stops; under load the owner publishes a snapshot
    // every second and trims below the one before, past where node-3 stopped reading.
    signal(&nodes[1].child, "STOP");
    let (workers, acks) = load_for(runtime, &nodes[0], 0, 0x736e_6170, 1_000);
    let trimmed = trimmed_past(&cluster.nats, 200);
    signal(&nodes[1].child, "CONT");
    wait_ready(&mut nodes[1], "node-3, woken behind the trim");
    // node-2 joins after the trim: the streams' first entries are gone.
    nodes.insert(1, cluster.start(1));
    trimmed_past(&cluster.nats, trimmed.iter().copied().max().unwrap());
    kill(&mut nodes[0]);
    let killed = Instant::now();
    let mut all_acks = runtime.block_on(collect_acks(workers, &acks));
    assert!(all_acks.len() > 200, "only {} acknowledged before the kill", all_acks.len());
    wait_ready(&mut nodes[1], "node-2");
    wait_ready(&mut nodes[2], "node-3");
    let takeover = killed.elapsed();
    let owner_index = cluster.owner_index();
    assert_ne!(owner_index, 0, "a node that started from a snapshot took over");
    let standby_index = 3 - owner_index;
    let retried = runtime.block_on(assert_retries_answer_as_first(&nodes[standby_index], &all_acks));
    assert!(retried > 20, "only {retried} transfers retried");
    let (workers, acks) = load_for(runtime, &nodes[standby_index], 1, 0x7472_696d, 1_000);
    kill(&mut nodes[standby_index]);
    let after = runtime.block_on(collect_acks(workers, &acks));
    assert!(after.len() > 50, "only {} acknowledged after the takeover", after.len());
    println!(
        "streams trimmed to start at {trimmed:?}: node-3 woke behind them, node-2 joined after them; both started \
         from the latest snapshot, and {} took over: both ready {takeover:?} after the owner's kill; {} acknowledged before, {} \
         after",
        NAMES[owner_index],
        all_acks.len(),
        after.len()
    );
    all_acks.extend(after);
    wait_for_common_state_hashes(&[&dirs[standby_index]], &dirs[owner_index]);
    kill(&mut nodes[owner_index]);
    assert_prefix(&dirs[standby_index], &dirs[owner_index], "the standby the load went through");
    // A full restart on the trimmed streams, the owner first: it wrote last, so it resumes on
    // its directory (its streams' last records found above the trim); the others start from
    // the snapshot.
    let last_owner = owner_index;
    let owner_index = full_restart(&cluster, &mut nodes, last_owner, &mut all_acks);
    assert_eq!(owner_index, last_owner, "the node started first owns");
    reopen_and_verify(&dirs[owner_index], 0, &all_acks);
}
