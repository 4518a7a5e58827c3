//! Measures memory per idle account, snapshot reopen time and WAL replay rate.
//!
//! Run: `cargo run --release -p kassa-engine --example recovery -- ACCOUNTS TRANSFERS [DATA_DIR]`
//! (figures go to BENCHMARKS.md). With `KASSA_REOPEN_ONLY=1` it only reopens `DATA_DIR` as a
//! previous run left it (for profiling the reopen).

use std::time::Instant;

use kassa_engine::command::Submission;
use kassa_engine::command::{Command, Movement, OpenAccount, Transfer};
use kassa_engine::constants::BATCH_COMMANDS_MAX;
use kassa_engine::{CommitOutput, Config, Currency, Durability, Engine, EngineConfig, Id, SecretKey, StateMachine};

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|field| field.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn account(index: usize) -> Id {
    Id::new(&format!("acc{index}")).expect("valid id")
}

fn opens(accounts: usize) -> Vec<Command> {
    (0..accounts)
        .map(|index| {
            Command::OpenAccount(OpenAccount { account: account(index), currency: Currency::EUR, overdraft_limit: 0 })
        })
        .collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let accounts: usize = args.next().and_then(|text| text.parse().ok()).unwrap_or(1_000_000);
    let transfers: usize = args.next().and_then(|text| text.parse().ok()).unwrap_or(1_000_000);
    let data_dir = args.next().map_or_else(|| std::env::temp_dir().join("kassa-recovery"), Into::into);

    let reopen_only = std::env::var_os("KASSA_REOPEN_ONLY").is_some();
    if !reopen_only {
        build(accounts, transfers, &data_dir);
    }
    let mut config = EngineConfig::new(&data_dir);
    config.snapshot_every_commands = (accounts * 2) as u64;
    config.tick_interval_ms = 0;
    reopen(config, accounts);
}

/// Measures memory per idle account, then writes a data directory of `accounts` accounts (and a
/// snapshot) followed by `transfers` transfers left in the WAL.
fn build(accounts: usize, transfers: usize, data_dir: &std::path::Path) {
    // 1. Memory per idle account in the state machine.
    let before = resident_bytes();
    let mut machine = StateMachine::new(Config::new(SecretKey::from_bytes(&[1; 32])));
    let mut output = CommitOutput::default();
    for chunk in opens(accounts).chunks(BATCH_COMMANDS_MAX) {
        output.clear();
        machine.commit(1, &Submission::admin_all(chunk.to_vec()), &mut output);
    }
    let per_account = (resident_bytes() - before) / accounts as u64;
    println!("memory: {accounts} idle accounts, {per_account} bytes of RSS each");
    drop(machine);

    // 2. A data directory: the accounts (then a snapshot), then transfers left in the WAL.
    let _ = std::fs::remove_dir_all(data_dir);
    let mut config = EngineConfig::new(data_dir);
    config.durability = Durability::UnsafeNoSync; // setup speed only; reopening is what is timed
    config.ids_max = (accounts + transfers) * 2;
    config.snapshot_every_commands = (accounts * 2) as u64;
    config.tick_interval_ms = 0;
    {
        let engine = Engine::open(config.clone()).expect("open");
        let mut setup = opens(accounts);
        setup.extend((0..accounts).map(|index| {
            Command::Deposit(Movement {
                id: Id::new(&format!("d{index}")).expect("id"),
                account: account(index),
                amount: 1_000_000,
            })
        }));
        for chunk in setup.chunks(BATCH_COMMANDS_MAX) {
            engine.submit_batch_blocking(Submission::admin_all(chunk.to_vec())).expect("setup");
        }
        let batch: Vec<Command> = (0..transfers)
            .map(|n| {
                Command::Transfer(Transfer {
                    id: Id::new(&format!("t{n}")).expect("id"),
                    from: account(n % accounts),
                    to: account((n * 7 + 1) % accounts),
                    amount: 1,
                    currency: Currency::EUR,
                })
            })
            .collect();
        for chunk in batch.chunks(BATCH_COMMANDS_MAX) {
            engine.submit_batch_blocking(Submission::admin_all(chunk.to_vec())).expect("transfers");
        }
        engine.shutdown();
    }
}

/// Reopens: loads the snapshot, replays the WAL after it.
fn reopen(config: EngineConfig, accounts: usize) {
    let started = Instant::now();
    let (engine, report) = Engine::open_with_report(config).expect("reopen");
    let elapsed = started.elapsed();
    let replay = report.elapsed.saturating_sub(report.snapshot_load);
    #[allow(clippy::float_arithmetic)] // a rate, not money
    let rate = report.commands_replayed as f64 / replay.as_secs_f64().max(1e-9);
    println!(
        "reopen: snapshot of {accounts} accounts (record {}) loaded in {:.2} s; {} records / {} commands replayed in {:.2} s ({:.0} commands/s); open returned after {:.2} s",
        report.snapshot_seq,
        report.snapshot_load.as_secs_f64(),
        report.records_replayed,
        report.commands_replayed,
        replay.as_secs_f64(),
        rate,
        elapsed.as_secs_f64()
    );
    let count = engine.read_blocking(|machine| machine.account_count()).expect("read");
    assert_eq!(count, accounts);
    engine.shutdown();
}
