//! Crash durability: a child process drives a concurrent mixed workload against a durable engine
//! and prints every acknowledged command; the test kills it with SIGKILL at a random moment,
//! reopens the engine and checks that every acknowledged command is there with the same result,
//! nothing was applied twice, money is conserved and no hold, bill or split is half-done.
//! 20 cycles on one data directory, each bounded in time.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use kassa_engine::command::PostingCause;
use kassa_engine::state_machine::{BillState, StateMachine};
use kassa_engine::{Engine, EngineConfig, Id};
use kassa_tests::{ACCOUNTS, Ack, account};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CYCLES: u64 = 20;

/// Runs the child until it has acknowledged for `run_for` (after READY), then SIGKILLs it.
fn run_and_kill(data_dir: &std::path::Path, cycle: u64, seed: u64, run_for: Duration) -> Vec<Ack> {
    let mut child = Process::new(env!("CARGO_BIN_EXE_kassa-crash-child"))
        .arg(data_dir)
        .arg(cycle.to_string())
        .arg(seed.to_string())
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
            } else if let Some(ack) = Ack::parse(&line) {
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
    assert!(ready.is_ok(), "cycle {cycle}: the child never became ready");
    reader.join().expect("reader thread")
}

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

/// Checks every acknowledgement against the recovered machine.
fn verify_acks(machine: &StateMachine, acks: &[Ack]) -> Result<(), String> {
    for ack in acks {
        match ack {
            Ack::Transfer { id: transfer, from, to, amount, result } => {
                let body = kassa_engine::command::Transfer {
                    id: id(transfer),
                    from: id(from),
                    to: id(to),
                    amount: *amount,
                    currency: kassa_engine::Currency::EUR,
                };
                let found = machine.transfer_applied(&body);
                if result == "A" {
                    if found != Some(true) {
                        return Err(format!("acknowledged transfer {transfer} lost: {found:?}"));
                    }
                } else if found.is_some() {
                    return Err(format!("rejected transfer {transfer} was applied"));
                }
            }
            Ack::Settlement { id: settlement, result } => {
                let found = machine.settlement(&id(settlement)).map(kassa_tests::result_of);
                if found.as_deref() != Some(result.as_str()) {
                    return Err(format!("settlement {settlement} acknowledged {result}, recovered {found:?}"));
                }
            }
            Ack::BillPaid { id: bill, result } => {
                let state = machine.bill(&id(bill)).map(|bill| bill.state.clone());
                let paid = matches!(state, Some(BillState::Paid { .. }));
                if (result == "A") != paid {
                    return Err(format!("bill {bill} acknowledged {result}, recovered {state:?}"));
                }
            }
            Ack::SharePaid { id: split, member, result } => {
                let paid = machine.split(&id(split)).map(|split| split.paid[*member]);
                if result == "A" && paid != Some(true) {
                    return Err(format!("share {member} of {split} acknowledged paid, recovered {paid:?}"));
                }
            }
        }
    }
    Ok(())
}

#[test]
fn acknowledged_commands_survive_sigkill() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(0x006b_6173_7361);
    let started = Instant::now();
    let mut all_acks: Vec<Ack> = Vec::new();
    for cycle in 0..CYCLES {
        let run_for = Duration::from_millis(rng.random_range(50..600));
        let acks = run_and_kill(data_dir.path(), cycle, rng.random(), run_for);
        all_acks.extend(acks);

        let mut config = EngineConfig::new(data_dir.path());
        config.tick_interval_ms = 0;
        let engine = Engine::open(config).unwrap_or_else(|error| panic!("cycle {cycle}: reopen failed: {error}"));
        let acks = all_acks.clone();
        let verdict = engine
            .read_blocking(move |machine| {
                machine.check_invariants(); // conservation, overdraft limits, held = active holds
                verify_acks(machine, &acks)?;
                let balances: Vec<(Id, i64)> = (0..ACCOUNTS)
                    .map(account)
                    .chain([id("shop")])
                    .map(|account| (account.clone(), machine.account(&account).map_or(0, |state| state.posted)))
                    .collect();
                Ok::<_, String>(balances)
            })
            .unwrap();
        let balances = verdict.unwrap_or_else(|error| panic!("cycle {cycle}: {error}"));
        // Nothing applied twice: every account's history adds up to its balance, and no
        // transfer appears twice in it.
        for (account, posted) in balances {
            let history = engine.history(&account, usize::MAX).unwrap();
            let sum: i64 = history.iter().map(|line| line.posting.posted_delta).sum();
            assert_eq!(sum, posted, "cycle {cycle}: history of {account} does not add up");
            let mut transfers: HashMap<&Id, u32> = HashMap::new();
            for line in &history {
                if let PostingCause::Transfer(transfer) = &line.posting.cause {
                    *transfers.entry(transfer).or_default() += 1;
                }
            }
            assert!(
                transfers.values().all(|count| *count == 1),
                "cycle {cycle}: a transfer applied twice on {account}"
            );
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
