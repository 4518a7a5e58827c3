//! Network crash torture: `kassa serve` under mixed load from many TCP and HTTP clients is killed
//! with SIGKILL at a random moment, again and again on one data directory. After each kill the
//! data directory is recovered in this process and checked: every acknowledged command survived
//! with its result, none was applied twice, money is conserved, no hold, bill or split is
//! half-done. Then the server restarts on it and the next cycle begins.
//!
//! `KASSA_TORTURE_CYCLES` sets the number of cycles (default 10, the CI run);
//! RELIABILITY.md records a long run. A second test runs 5 cycles of transfers and holds on a
//! server of 3 partitions, killed while credits and payee checks travel between them.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kassa_engine::{Engine, EngineConfig};
use kassa_tests::Ack;
use kassa_tests::channels::{HttpChannel, TcpChannel};
use kassa_tests::recovered::verify_recovered;
use kassa_tests::workload::{run_worker, setup_applied, setup_batches};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub(super) const ADMIN_KEY: &str = "kassa_torture_admin-secret-for-tests";
const TCP_CLIENTS: usize = 24;
const HTTP_CLIENTS: usize = 24;

fn free_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], kassa_cluster::testing::free_port()))
}

pub(super) struct Server {
    pub(super) child: Child,
    http: SocketAddr,
    tcp: SocketAddr,
}

impl Drop for Server {
    /// A test that fails leaves no server behind (a cluster node whose NATS servers are gone
    /// would otherwise wait for them).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Its HTTP listener.
    pub(super) fn http(&self) -> SocketAddr {
        self.http
    }

    /// Its TCP binary protocol listener.
    pub(super) fn tcp(&self) -> SocketAddr {
        self.tcp
    }
}

/// Starts `kassa serve` on `data_dir` (created with `partitions`) and waits until it is ready
/// and its binary protocol listener accepts.
fn start_server(data_dir: &Path, partitions: u16) -> Server {
    start_server_with(data_dir, partitions, &[])
}

/// [`start_server`] with `extra` arguments.
pub(super) fn start_server_with(data_dir: &Path, partitions: u16, extra: &[&str]) -> Server {
    try_start_server_with(data_dir, partitions, extra).unwrap_or_else(|error| panic!("{error}"))
}

/// [`start_server_with`], or why the server exited at start.
pub(super) fn try_start_server_with(data_dir: &Path, partitions: u16, extra: &[&str]) -> Result<Server, String> {
    let (http, tcp, iso) = (free_port(), free_port(), free_port());
    let child = Process::new(env!("CARGO_BIN_EXE_kassa-torture-server"))
        .args(["--data-dir", &data_dir.display().to_string()])
        .args(["--http", &http.to_string(), "--tcp", &tcp.to_string(), "--iso8583", &iso.to_string()])
        .args(["--admin-key", ADMIN_KEY, "--partitions", &partitions.to_string()])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("kassa serve starts");
    let mut server = Server { child, http, tcp };
    let deadline = Instant::now() + Duration::from_secs(60);
    // In cluster mode the listeners accept at once (a standby forwards), so wait for /ready.
    while !is_ready(http) || TcpStream::connect(tcp).is_err() {
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!("kassa serve exited at start: {status}"));
        }
        assert!(Instant::now() < deadline, "kassa serve did not listen within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.child.try_wait().expect("child status");
    Ok(server)
}

/// Whether `GET /ready` on `http` answers 200 (the engine open, or the owner's when forwarded).
pub(super) fn is_ready(http: SocketAddr) -> bool {
    is_ready_within(http, Duration::from_secs(2))
}

/// [`is_ready`], waiting at most `timeout` to connect and for the answer.
pub(super) fn is_ready_within(http: SocketAddr, timeout: Duration) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = TcpStream::connect_timeout(&http, timeout) else { return false };
    let _ = stream.set_read_timeout(Some(timeout));
    if stream.write_all(b"GET /ready HTTP/1.1\r\nHost: kassa\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/1.1 200"
}

/// One cycle: setup, load from TCP and HTTP clients for `run_for`, SIGKILL. Returns the acks.
/// Only transfers and holds when `partitioned` (several partitions keep merchants on partition 0).
pub(super) async fn load_and_kill(
    server: &mut Server,
    cycle: u64,
    seed: u64,
    run_for: Duration,
    partitioned: bool,
) -> Vec<Ack> {
    let (workers, acks) = start_load(server, cycle, seed, partitioned).await;
    tokio::time::sleep(run_for).await;
    server.child.kill().expect("SIGKILL kassa serve");
    server.child.wait().expect("reap kassa serve");
    collect_acks(workers, &acks).await
}

/// The acknowledgements of TCP and HTTP clients.
pub(super) type Acks = Arc<Mutex<Vec<Ack>>>;

/// Submits the setup, then starts the clients, each recording what it got acknowledged.
pub(super) async fn start_load(
    server: &Server,
    cycle: u64,
    seed: u64,
    partitioned: bool,
) -> (Vec<tokio::task::JoinHandle<()>>, Acks) {
    let setup = TcpChannel::connect(server.tcp, ADMIN_KEY).await.expect("setup connection");
    let mut outcomes = Vec::new();
    for batch in setup_batches() {
        outcomes.extend(setup.0.submit_batch(batch).await.expect("setup accepted"));
    }
    assert!(setup_applied(&outcomes), "setup applied: {outcomes:?}");
    let acks = Arc::new(Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for client in 0..TCP_CLIENTS + HTTP_CLIENTS {
        let acks = acks.clone();
        let (tcp, http) = (server.tcp, server.http);
        let seed = seed ^ (client as u64).wrapping_mul(0x9E37_79B9);
        workers.push(tokio::spawn(async move {
            let record = |ack| acks.lock().unwrap().push(ack);
            if client < TCP_CLIENTS {
                let Some(mut channel) = TcpChannel::connect(tcp, ADMIN_KEY).await else { return };
                run_worker(&mut channel, &format!("n{cycle}-tcp{client}"), seed, None, partitioned, record).await;
            } else {
                let Some(mut channel) = HttpChannel::connect(http, ADMIN_KEY).await else { return };
                run_worker(&mut channel, &format!("n{cycle}-http{client}"), seed, None, partitioned, record).await;
            }
        }));
    }
    (workers, acks)
}

/// Waits for the clients to stop (their server is gone) and returns what they got acknowledged.
pub(super) async fn collect_acks(workers: Vec<tokio::task::JoinHandle<()>>, acks: &Acks) -> Vec<Ack> {
    // Every reply that arrived before the server died is in `acks`; the workers stop on dead
    // channels.
    for worker in workers {
        tokio::time::timeout(Duration::from_secs(30), worker)
            .await
            .expect("a worker stops once its server is gone")
            .expect("worker");
    }
    std::mem::take(&mut *acks.lock().unwrap())
}

#[test]
fn acknowledged_network_commands_survive_sigkill_of_kassa_serve() {
    let cycles: u64 = std::env::var("KASSA_TORTURE_CYCLES").ok().and_then(|text| text.parse().ok()).unwrap_or(10);
    let all_acks = torture(cycles, 1, 0x0074_6f72_7475_7265);
    for kind in ["T", "H", "P", "B", "S"] {
        assert!(all_acks.iter().any(|ack| ack.line().starts_with(kind)), "no {kind} acknowledgements");
    }
}

#[test]
fn acknowledged_network_transfers_between_partitions_survive_sigkill() {
    let all_acks = torture(5, 3, 0x7061_7274_6974);
    assert!(
        all_acks.iter().all(|ack| matches!(
            ack,
            Ack::Transfer { .. }
                | Ack::LinkedLeg { .. }
                | Ack::HoldCaptured { .. }
                | Ack::Settlement { .. }
                | Ack::BillPaid { .. }
                | Ack::SharePaid { .. }
                | Ack::SplitRefunded { .. }
                | Ack::Registered { .. }
        )),
        "transfers, holds, POS sales, bills, splits and merchants' registrations"
    );
    kassa_tests::assert_every_flow_crossed(&all_acks);
}

/// Opens the killed server's data directory in this process and checks every acknowledgement.
pub(super) fn reopen_and_verify(data_dir: &Path, cycle: u64, acks: &[Ack]) {
    let mut config = EngineConfig::new(data_dir);
    config.tick_interval_ms = 0;
    let engine = Engine::open(config).unwrap_or_else(|error| panic!("cycle {cycle}: reopen failed: {error}"));
    if let Err(error) = verify_recovered(&engine, acks) {
        panic!("cycle {cycle}: {error}");
    }
    engine.shutdown();
}

/// `cycles` kill cycles on one data directory of `partitions`; returns every acknowledgement.
fn torture(cycles: u64, partitions: u16, seed: u64) -> Vec<Ack> {
    let root = tempfile::tempdir().unwrap();
    // Created by the server (0700): it refuses a data directory others may enter.
    let data_dir = root.path().join("data");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let mut all_acks: Vec<Ack> = Vec::new();
    let mut over = [0usize; 2];
    for cycle in 0..cycles {
        let mut server = start_server(&data_dir, partitions);
        let run_for = Duration::from_millis(rng.random_range(200..1_200));
        let acks = runtime.block_on(load_and_kill(&mut server, cycle, rng.random(), run_for, partitions > 1));
        over[0] += acks.iter().filter(|ack| ack.line().contains("-tcp")).count();
        over[1] += acks.iter().filter(|ack| ack.line().contains("-http")).count();
        all_acks.extend(acks);

        reopen_and_verify(&data_dir, cycle, &all_acks);
    }
    assert!(over[0] > 0 && over[1] > 0, "acknowledgements over TCP and HTTP: {over:?}");
    eprintln!(
        "{cycles} kill cycles of kassa serve ({partitions} partitions): {} acknowledged commands ({} over TCP, {} over \
         HTTP) all recovered in {:?}",
        all_acks.len(),
        over[0],
        over[1],
        started.elapsed()
    );
    all_acks
}
