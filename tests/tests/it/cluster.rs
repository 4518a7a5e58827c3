//! Cluster mode with one node owning every partition (docs/cluster.md): `kassa serve
//! --cluster` against a nats-server started here, under transfers, holds and registrations over
//! TCP and HTTP on 3 partitions, SIGKILLed at a random moment, three times.
//!
//! After each kill:
//! - every partition's stream is a prefix of the local log's records of that partition, byte
//!   for byte (the tail it lacks was never acknowledged);
//! - every acknowledged command is in a record of a stream;
//! - the local directory recovers every acknowledgement.
//!
//! The next start copies the missing tail to the streams. After a last start the streams hold
//! exactly the local log. Then the directory is deleted: the node comes back from the cluster
//! alone, with every acknowledgement.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use kassa_cluster::{EntryKind, PartitionLog};
use kassa_engine::wal::{Wal, decode_record};
use kassa_engine::{Command, Durability};
use kassa_tests::Ack;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::torture::{
    collect_acks, load_and_kill, reopen_and_verify, start_load, start_server_with, try_start_server_with,
};

pub(super) const PARTITIONS: u16 = 3;

/// Held by each cluster test while it runs: the cluster tests run one at a time (each starts
/// three nats-servers and up to three nodes; two at once on two cores starve each other's NATS
/// elections and leases, and a node may then take longer to serve than a test waits).
pub(super) fn one_cluster_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static CLUSTER: std::sync::Mutex<()> = std::sync::Mutex::new(());
    CLUSTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Each partition's records: `(seq, encoded bytes)`, in order.
pub(super) type Records = Vec<Vec<(u64, Vec<u8>)>>;

pub(super) fn local_records(data_dir: &Path) -> Records {
    let wal = Wal::open(data_dir, Durability::Sync).unwrap();
    let mut records: Records = vec![Vec::new(); usize::from(PARTITIONS)];
    wal.replay(0, |record| records[usize::from(record.partition)].push((record.seq, record.encode().value))).unwrap();
    records
}

async fn stream_records(url: &str) -> Records {
    try_stream_records(url).await.unwrap()
}

async fn try_stream_records(url: &str) -> Result<Records, kassa_cluster::LogError> {
    let js = kassa_cluster::log::context(kassa_cluster::async_nats::connect(url).await.unwrap());
    read_streams(&js).await
}

async fn read_streams(js: &kassa_cluster::async_nats::jetstream::Context) -> Result<Records, kassa_cluster::LogError> {
    let mut records: Records = Vec::new();
    for partition in 0..PARTITIONS {
        let mut found = Vec::new();
        PartitionLog::read(js, "kassa", partition, 0, |entry| {
            if entry.kind == EntryKind::Record {
                let record = decode_record(&entry.payload).expect("a stream holds records");
                assert_eq!(record.partition, partition, "a record in its own partition's stream");
                found.push((record.seq, entry.payload.to_vec()));
            }
        })
        .await?;
        records.push(found);
    }
    Ok(records)
}

/// The ids of the transfers (batches' legs too), holds, merchants, POS sales, bills and splits
/// the records' commands name.
fn named_ids(records: &Records) -> HashSet<String> {
    let mut ids = HashSet::new();
    for (_, bytes) in records.iter().flatten() {
        for submission in decode_record(bytes).unwrap().commands {
            match submission.command {
                Command::Transfer(transfer) => ids.insert(transfer.id.to_string()),
                Command::PlaceHold(place) => ids.insert(place.id.to_string()),
                Command::RegisterMerchant(register) => ids.insert(register.merchant.to_string()),
                Command::SettlePos(settle) => ids.insert(settle.id.to_string()),
                Command::ConfirmBill(confirm) => ids.insert(confirm.bill.to_string()),
                Command::PaySplitShare(pay) => ids.insert(pay.split.to_string()),
                Command::RefundSplit { split } => ids.insert(split.to_string()),
                Command::TransferBatch(batch) => {
                    batch.transfers.iter().fold(false, |_, leg| ids.insert(leg.id.to_string()))
                }
                _ => false,
            };
        }
    }
    ids
}

fn ack_id(ack: &Ack) -> &str {
    match ack {
        Ack::Transfer { id, .. }
        | Ack::LinkedLeg { id, .. }
        | Ack::HoldCaptured { id, .. }
        | Ack::Settlement { id, .. }
        | Ack::BillPaid { id, .. }
        | Ack::SharePaid { id, .. }
        | Ack::SplitRefunded { id, .. } => id,
        Ack::Registered { merchant, .. } => merchant,
    }
}

#[test]
fn every_acknowledged_command_is_in_its_partitions_stream_across_kills() {
    let _one_cluster_at_a_time = one_cluster_at_a_time();
    let nats = kassa_cluster::testing::start_server();
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut rng = StdRng::seed_from_u64(0x6e61_7473);
    let cluster_args = ["--cluster", nats.url.as_str(), "--node-id", "node-1"];
    let mut all_acks: Vec<Ack> = Vec::new();
    for cycle in 0..3 {
        let mut server = start_server_with(&data_dir, PARTITIONS, &cluster_args);
        let run_for = Duration::from_millis(rng.random_range(300..1_000));
        all_acks.extend(runtime.block_on(load_and_kill(&mut server, cycle, rng.random(), run_for, true)));

        let (local, streams) = (local_records(&data_dir), runtime.block_on(stream_records(&nats.url)));
        for partition in 0..usize::from(PARTITIONS) {
            let (local, stream) = (&local[partition], &streams[partition]);
            assert!(
                local.starts_with(stream),
                "cycle {cycle}: partition {partition}'s stream is not the local log's prefix"
            );
        }
        let in_streams = named_ids(&streams);
        let lost: Vec<&Ack> = all_acks.iter().filter(|ack| !in_streams.contains(ack_id(ack))).collect();
        assert!(lost.is_empty(), "cycle {cycle}: acknowledged and in no stream: {:?}", &lost[..lost.len().min(5)]);

        reopen_and_verify(&data_dir, cycle, &all_acks);
    }
    assert!(all_acks.len() > 100, "the workload acknowledged only {} commands", all_acks.len());
    let sold = all_acks.iter().filter(|ack| matches!(ack, Ack::Settlement { result, .. } if result == "A")).count();
    assert!(sold > 5, "POS sales (payers on every partition) acknowledged: only {sold}");
    // A last start copies what the streams lack (the killed runs' tails, and the batches the
    // checks' reopening committed locally).
    let mut server = start_server_with(&data_dir, PARTITIONS, &cluster_args);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let streams = runtime.block_on(stream_records(&nats.url));
    assert_eq!(streams, local_records(&data_dir), "the streams hold the local log");

    // The node loses its directory: it comes back from the cluster (the server key and the
    // directory's facts from the key-value bucket, the log from the streams), with every
    // acknowledged command.
    std::fs::remove_dir_all(&data_dir).unwrap();
    let mut server = start_server_with(&data_dir, PARTITIONS, &cluster_args);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert!(local_records(&data_dir).iter().zip(&streams).all(|(local, stream)| local.starts_with(stream)));
    reopen_and_verify(&data_dir, 3, &all_acks);
}

/// Sends `signal` (`STOP`, `CONT`) to `child`.
pub(super) fn signal(child: &std::process::Child, signal: &str) {
    let status = std::process::Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status();
    assert!(status.expect("kill runs").success(), "kill -{signal}");
}

/// Waits up to `limit` for `child` (`what`) to exit; returns how it exited.
pub(super) fn stops_within(child: &mut std::process::Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(started.elapsed() < limit, "{what} still runs {limit:?} after waking");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET /v1/accounts/acc0` sent to `http` on a thread of its own: what came back before the
/// connection closed (empty if nothing).
pub(super) fn read_account_at(http: std::net::SocketAddr) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(http).expect("the listener's backlog takes it");
        let request = format!(
            "GET /v1/accounts/acc0 HTTP/1.1\r\nHost: kassa\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            super::torture::ADMIN_KEY
        );
        stream.write_all(request.as_bytes()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    })
}

#[test]
fn a_node_stopped_longer_than_its_lease_is_taken_over_and_answers_nothing_more() {
    let _one_cluster_at_a_time = one_cluster_at_a_time();
    let nats = kassa_cluster::testing::start_server();
    let root = tempfile::tempdir().unwrap();
    let (first_dir, second_dir) = (root.path().join("first"), root.path().join("second"));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let first_args = ["--cluster", nats.url.as_str(), "--node-id", "node-1"];
    let mut first = start_server_with(&first_dir, PARTITIONS, &first_args);
    let acks = runtime.block_on(async {
        let (workers, acks) = start_load(&first, 0, 0x5349_4753, true).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        // The load stops and the node goes idle: nothing of its own in flight when it wakes.
        for worker in workers {
            worker.abort();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        acks
    });
    signal(&first.child, "STOP");

    // Another node with a directory of its own: it waits for the stopped node's leases to
    // lapse, takes the streams over, fills its log from them and serves.
    let started = Instant::now();
    let second_args = ["--cluster", nats.url.as_str(), "--node-id", "node-2"];
    let mut second = start_server_with(&second_dir, PARTITIONS, &second_args);
    let took_over = started.elapsed();

    // A read sent to the stopped node waits in its listener's backlog. The second node
    // acknowledges commands meanwhile, so the stopped node's state is stale.
    runtime.block_on(async {
        let (workers, acks) = start_load(&second, 1, 0x7265_6164, true).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        for worker in workers {
            worker.abort();
        }
        assert!(!acks.lock().unwrap().is_empty(), "the new owner acknowledges");
    });
    let stale_read = read_account_at(first.http());
    std::thread::sleep(Duration::from_millis(200));

    // The stopped node wakes: its appends are fenced and its lease is gone, so it answers
    // nothing more and exits. The read it finds waiting is not answered from its stale state:
    // a read is answered only once the log is shown to be still its engine's.
    signal(&first.child, "CONT");
    let woke = Instant::now();
    let status = stops_within(&mut first.child, Duration::from_secs(15), "the stale node");
    assert!(!status.success(), "the stale node stops with an error: {status}");
    let answer = stale_read.join().unwrap();
    assert!(!answer.starts_with("HTTP/1.1 200"), "a stale owner answered a read: {answer}");
    println!("the read sent to the stopped node got: {:?}", answer.lines().next().unwrap_or("(connection closed)"));
    let acks = std::mem::take(&mut *acks.lock().unwrap());
    assert!(acks.len() > 20, "only {} acknowledgements before the stop", acks.len());
    println!(
        "node-2 served {took_over:?} after it started (leases of 3 s to lapse, the log filled from the streams); \
         node-1 stopped {:?} after waking ({status})",
        woke.elapsed()
    );
    second.child.kill().unwrap();
    second.child.wait().unwrap();
    // Every command the first node acknowledged is in the second node's state.
    reopen_and_verify(&second_dir, 0, &acks);
}

/// Starts the node until it serves: while the NATS servers elect leaders, joining may fail
/// and the node exit (its supervisor would start it again).
pub(super) fn start_until_serving(data_dir: &Path, args: &[&str]) -> super::torture::Server {
    start_until_serving_with(data_dir, PARTITIONS, args)
}

/// [`start_until_serving`] on a directory of `partitions`.
pub(super) fn start_until_serving_with(data_dir: &Path, partitions: u16, args: &[&str]) -> super::torture::Server {
    let started = Instant::now();
    loop {
        match try_start_server_with(data_dir, partitions, args) {
            Ok(server) => return server,
            Err(error) => {
                assert!(started.elapsed() < Duration::from_secs(90), "the node never served: {error}");
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
}

#[test]
fn killing_the_nats_server_leading_a_stream_loses_no_acknowledged_command() {
    let _one_cluster_at_a_time = one_cluster_at_a_time();
    let mut cluster = kassa_cluster::testing::start_cluster();
    let urls = kassa_cluster::testing::urls(&cluster);
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let args = ["--cluster", urls.as_str(), "--node-id", "node-1"];
    let mut node = start_until_serving(&data_dir, &args);
    let (workers, acks) = runtime.block_on(async {
        let load = start_load(&node, 0, 0x6c65_6164, true).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        load
    });
    // The server leading partition 0's stream (three copies) dies with the load running.
    let leader = runtime.block_on(async {
        let js = kassa_cluster::testing::connect_all(&cluster).await;
        let stream = js.get_stream("KASSA_P0").await.unwrap();
        stream.get_info().await.unwrap().cluster.and_then(|cluster| cluster.leader).unwrap()
    });
    cluster.iter_mut().find(|server| server.name == leader).unwrap().kill();
    let killed = Instant::now();
    // The node rides through the election (its copies resume on the new leader) and goes on
    // acknowledging; or, if the leases' bucket was electing for longer than a lease lasts, it
    // stops, and is started again (its supervisor's job). Either way nothing acknowledged is lost.
    let at_kill = acks.lock().unwrap().len();
    let rode_through = loop {
        if acks.lock().unwrap().len() > at_kill + 100 {
            break node.child.try_wait().unwrap().is_none();
        }
        if node.child.try_wait().unwrap().is_some() {
            break false;
        }
        assert!(killed.elapsed() < Duration::from_secs(60), "neither acknowledged nor stopped within 60 s of the kill");
        std::thread::sleep(Duration::from_millis(50));
    };
    let after = killed.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let _ = node.child.kill();
    node.child.wait().unwrap();
    let mut all_acks = runtime.block_on(collect_acks(workers, &acks));
    let what = if rode_through { "acknowledged again, without a restart," } else { "stopped" };
    println!("NATS stream leader {leader} killed: the node {what} {after:?} later; {} acknowledged", all_acks.len());

    // Started again after a SIGKILL, the node has everything acknowledged before, during and
    // after the NATS server's kill.
    let mut node = start_until_serving(&data_dir, &args);
    all_acks.extend(runtime.block_on(load_and_kill(&mut node, 1, 0x6c65_6165, Duration::from_millis(500), true)));
    let read_started = Instant::now();
    let js = runtime.block_on(kassa_cluster::testing::connect_all(&cluster));
    let streams = loop {
        // The two servers left may still be settling: a read that times out is tried again.
        match runtime.block_on(read_streams(&js)) {
            Ok(streams) => break streams,
            Err(error) => {
                assert!(read_started.elapsed() < Duration::from_secs(60), "the streams never read: {error}");
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let in_streams = named_ids(&streams);
    assert!(all_acks.iter().all(|ack| in_streams.contains(ack_id(ack))), "an acknowledged command is in no stream");
    reopen_and_verify(&data_dir, 1, &all_acks);
}
