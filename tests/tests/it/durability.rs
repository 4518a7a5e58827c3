//! Crash durability: a child process drives a concurrent mixed workload against a durable engine
//! and prints every acknowledged command; the test kills it with SIGKILL at a random moment,
//! reopens the engine and checks that every acknowledged command is there with the same result,
//! nothing was applied twice, money is conserved and no hold, bill or split is half-done.
//! 20 cycles on one data directory, each bounded in time; then 10 cycles of a transfers-only
//! workload on an engine of 3 partitions, most transfers and holds crossing partitions (killed
//! while credits and payee checks are on their way: each is applied once after the restart and
//! the transit drains).

use std::io::{BufRead, BufReader};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use kassa_engine::{Engine, EngineConfig};
use kassa_tests::Ack;
use kassa_tests::recovered::verify_recovered;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CYCLES: u64 = 20;

/// Runs the child until it has acknowledged for `run_for` (after READY), then SIGKILLs it.
fn run_and_kill(data_dir: &std::path::Path, cycle: u64, seed: u64, partitions: u16, run_for: Duration) -> Vec<Ack> {
    let args = [cycle.to_string(), seed.to_string(), partitions.to_string()];
    run_child_and_kill(data_dir, &args, run_for, Ack::parse)
}

/// Runs `kassa-crash-child DATA_DIR ARGS...` until it has acknowledged for `run_for` (after
/// READY), then SIGKILLs it; returns the acknowledgements `parse` reads from its lines.
pub(crate) fn run_child_and_kill<T: Send + 'static>(
    data_dir: &std::path::Path,
    args: &[String],
    run_for: Duration,
    parse: fn(&str) -> Option<T>,
) -> Vec<T> {
    let mut child = Process::new(env!("CARGO_BIN_EXE_kassa-crash-child"))
        .arg(data_dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the crash child starts");
    let stdout = child.stdout.take().expect("piped");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line == "READY" {
                let _ = ready_tx.send(());
            } else if let Some(ack) = parse(&line) {
                acks.push(ack);
            }
        }
        acks
    });
    let ready = ready_rx.recv_timeout(Duration::from_secs(60));
    if ready.is_ok() {
        std::thread::sleep(run_for);
    }
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");
    assert!(ready.is_ok(), "{args:?}: the child never became ready");
    reader.join().expect("reader thread")
}

#[test]
fn acknowledged_commands_survive_sigkill() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(0x006b_6173_7361);
    let started = Instant::now();
    let mut all_acks: Vec<Ack> = Vec::new();
    for cycle in 0..CYCLES {
        let run_for = Duration::from_millis(rng.random_range(50..600));
        let acks = run_and_kill(data_dir.path(), cycle, rng.random(), 1, run_for);
        all_acks.extend(acks);

        let mut config = EngineConfig::new(data_dir.path());
        config.tick_interval_ms = 0;
        let engine = Engine::open(config).unwrap_or_else(|error| panic!("cycle {cycle}: reopen failed: {error}"));
        if let Err(error) = verify_recovered(&engine, &all_acks) {
            panic!("cycle {cycle}: {error}");
        }
        engine.shutdown();
    }
    let applied = all_acks.iter().filter(|ack| matches!(ack, Ack::Transfer { result, .. } if result == "A")).count();
    assert!(applied > 100, "the workload acknowledged only {applied} transfers");
    for kind in ["P", "B", "S"] {
        assert!(all_acks.iter().any(|ack| ack.line().starts_with(kind)), "no {kind} acknowledgements");
    }
    eprintln!("{CYCLES} crash cycles, {} acknowledged commands checked in {:?}", all_acks.len(), started.elapsed());
}

#[test]
fn acknowledged_transfers_between_partitions_survive_sigkill() {
    const PARTITIONS: u16 = 3;
    let data_dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(0x7061_7274);
    let mut all_acks: Vec<Ack> = Vec::new();
    for cycle in 0..10 {
        let run_for = Duration::from_millis(rng.random_range(50..600));
        all_acks.extend(run_and_kill(data_dir.path(), cycle, rng.random(), PARTITIONS, run_for));
        let mut config = EngineConfig::new(data_dir.path());
        config.tick_interval_ms = 0;
        let engine = Engine::open(config).unwrap_or_else(|error| panic!("cycle {cycle}: reopen failed: {error}"));
        assert_eq!(engine.placement().count(), PARTITIONS, "the directory keeps its partitions");
        if let Err(error) = verify_recovered(&engine, &all_acks) {
            panic!("cycle {cycle}: {error}");
        }
        engine.shutdown();
    }
    let applied = all_acks.iter().filter(|ack| matches!(ack, Ack::Transfer { result, .. } if result == "A")).count();
    assert!(applied > 100, "the workload acknowledged only {applied} transfers");
    kassa_tests::assert_every_flow_crossed(&all_acks);
}
