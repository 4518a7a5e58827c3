//! Snapshots in the cluster's object store (docs/cluster.md): an owner publishing one every
//! second trims its partitions' streams below the one before, under load. A node that joins
//! after the trim cannot read the streams from their start: it starts from the latest snapshot
//! (the owner's whole directory: log, history, indexes, archive), follows the streams from
//! there, and takes over when the owner is killed. Its directory then recovers every command
//! acknowledged before and after (history adding up to every balance), and transfers
//! acknowledged before the trim, retried through it, answer as they first did.

use std::time::{Duration, Instant};

use super::cluster::{PARTITIONS, start_until_serving};
use super::cluster_nodes::{assert_retries_answer_as_first, kill, load_for, owner};
use super::torture::{collect_acks, is_ready, reopen_and_verify, start_server_with};

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

#[test]
fn a_node_joining_after_the_streams_were_trimmed_starts_from_the_latest_snapshot() {
    let cluster = kassa_cluster::testing::start_cluster();
    let urls = kassa_cluster::testing::urls(&cluster);
    let root = tempfile::tempdir().unwrap();
    let dirs: Vec<_> = (1..=2).map(|node| root.path().join(format!("node-{node}"))).collect();
    let names = ["node-1", "node-2"];
    let args = |node: usize| ["--cluster", urls.as_str(), "--node-id", names[node], "--cluster-snapshot-secs", "1"];
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut nodes = vec![start_until_serving(&dirs[0], &args(0))];

    // Under load the owner publishes a snapshot every second and trims below the one before.
    let (workers, acks) = load_for(&runtime, &nodes[0], 0, 0x736e_6170, 1_000);
    let started = Instant::now();
    let trimmed = loop {
        let firsts = first_sequences(&cluster);
        if firsts.iter().all(|first| *first > 1) {
            break firsts;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the streams were not trimmed within 30 s: {firsts:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    // A node joins: the streams' first entries are gone, so it starts from the snapshot.
    nodes.push(start_server_with(&dirs[1], PARTITIONS, &args(1)));
    assert_eq!(owner(&urls), "node-1");
    std::thread::sleep(Duration::from_millis(500));
    kill(&mut nodes[0]);
    let killed = Instant::now();
    let mut all_acks = runtime.block_on(collect_acks(workers, &acks));
    assert!(all_acks.len() > 200, "only {} acknowledged before the kill", all_acks.len());
    while !is_ready(nodes[1].http()) {
        assert!(killed.elapsed() < Duration::from_secs(30), "node-2 was not ready 30 s after the owner's kill");
        std::thread::sleep(Duration::from_millis(20));
    }
    let takeover = killed.elapsed();
    assert_eq!(owner(&urls), "node-2");
    let retried = runtime.block_on(assert_retries_answer_as_first(&nodes[1], &all_acks));
    assert!(retried > 20, "only {retried} transfers retried");
    let (workers, acks) = load_for(&runtime, &nodes[1], 1, 0x7472_696d, 1_000);
    kill(&mut nodes[1]);
    let after = runtime.block_on(collect_acks(workers, &acks));
    assert!(after.len() > 50, "only {} acknowledged after the takeover", after.len());
    println!(
        "streams trimmed to start at {trimmed:?}; node-2 started from the snapshot and was ready {takeover:?} after \
         the owner's kill; {} acknowledged before, {} after",
        all_acks.len(),
        after.len()
    );
    all_acks.extend(after);
    reopen_and_verify(&dirs[1], 0, &all_acks);
}
