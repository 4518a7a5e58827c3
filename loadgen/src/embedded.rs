//! The embedded target: an `Engine` in this process, on its own data directory, driven by
//! `connections` concurrent submitters, each with one request in flight (closed loop).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kassa_engine::command::{Command, Movement, OpenAccount, Transfer};
use kassa_engine::constants::BATCH_COMMANDS_MAX;
use kassa_engine::{Currency, Durability, Engine, EngineConfig, Id, SubmitError};
use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::report::{Conservation, Recorder, Report, gather, measured_time};
use crate::skew::{AccountPicker, Skew};

/// Opening balance of every load account, in minor units.
pub const OPENING_BALANCE: u64 = 1_000_000_000;

/// What to run against the embedded engine.
#[derive(Debug, Clone)]
pub struct EmbeddedLoad {
    /// Data directory (emptied first).
    pub data_dir: PathBuf,
    /// Accounts created and funded in the setup phase.
    pub accounts: usize,
    /// Concurrent submitters.
    pub connections: usize,
    /// Transfers per request (1: single commands; more: client-side batches).
    pub batch: usize,
    /// Measured time, after warm-up.
    pub duration: Duration,
    /// Unmeasured time at the start.
    pub warmup: Duration,
    /// Stop after this many measured commands, if sooner.
    pub count: Option<u64>,
    /// Account skew.
    pub skew: Skew,
    /// Sync (default) or the test-only unsafe mode.
    pub durability: Durability,
}

fn account(index: usize) -> Id {
    Id::new(&format!("acc{index}")).expect("valid id")
}

/// Creates and funds the accounts, in batches.
async fn setup(engine: &Engine, accounts: usize) -> Result<(), SubmitError> {
    let commands: Vec<Command> = (0..accounts)
        .flat_map(|index| {
            [
                Command::OpenAccount(OpenAccount {
                    account: account(index),
                    currency: Currency::EUR,
                    overdraft_limit: 0,
                }),
                Command::Deposit(Movement {
                    id: Id::new(&format!("fund{index}")).expect("valid id"),
                    account: account(index),
                    amount: OPENING_BALANCE,
                }),
            ]
        })
        .collect();
    for chunk in commands.chunks(BATCH_COMMANDS_MAX) {
        let outcomes = engine.submit_batch(chunk.to_vec()).await?;
        assert!(outcomes.iter().all(|outcome| outcome.is_applied()), "setup failed: {outcomes:?}");
    }
    Ok(())
}

/// Runs the load and returns the report (with the conservation check).
pub async fn run(load: EmbeddedLoad) -> Result<Report, String> {
    let _ = std::fs::remove_dir_all(&load.data_dir);
    let mut config = EngineConfig::new(&load.data_dir);
    config.durability = load.durability;
    let engine = Arc::new(Engine::open(config).map_err(|error| error.to_string())?);
    setup(&engine, load.accounts).await.map_err(|error| format!("setup: {error}"))?;

    let picker = Arc::new(AccountPicker::new(load.accounts, load.skew));
    let started = Instant::now();
    let measure_from = started + load.warmup;
    let deadline = measure_from + load.duration;
    let measured = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(load.connections);
    for task in 0..load.connections {
        let (engine, picker, measured, count, batch) =
            (engine.clone(), picker.clone(), measured.clone(), load.count, load.batch.max(1));
        tasks.push(tokio::spawn(async move {
            let mut rng = SmallRng::seed_from_u64(task as u64);
            let mut recorder = Recorder::default();
            let mut sequence = 0u64;
            loop {
                let now = Instant::now();
                if now >= deadline || count.is_some_and(|count| measured.load(Ordering::Relaxed) >= count) {
                    break;
                }
                let transfers: Vec<Command> = (0..batch)
                    .map(|_| {
                        sequence += 1;
                        let (from, to) = picker.pick_pair(&mut rng);
                        Command::Transfer(Transfer {
                            id: Id::new(&format!("w{task}-{sequence}")).expect("valid id"),
                            from: account(from),
                            to: account(to),
                            amount: 1 + sequence % 100,
                            currency: Currency::EUR,
                        })
                    })
                    .collect();
                let sent = Instant::now();
                let results: Vec<String> = if batch == 1 {
                    let command = transfers.into_iter().next().expect("one transfer");
                    match engine.submit(command).await {
                        Ok(outcome) => vec![result_code(&outcome)],
                        Err(error) => vec![error_code(error)],
                    }
                } else {
                    match engine.submit_batch(transfers).await {
                        Ok(outcomes) => outcomes.iter().map(result_code).collect(),
                        Err(error) => vec![error_code(error); batch],
                    }
                };
                if results.iter().any(|result| result == "busy") {
                    tokio::task::yield_now().await;
                }
                if sent >= measure_from {
                    measured.fetch_add(results.len() as u64, Ordering::Relaxed);
                    recorder.record(sent.elapsed(), results);
                }
            }
            recorder
        }));
    }
    let recorder = gather(tasks).await?;
    let elapsed = measured_time(measure_from, deadline);
    let description = format!(
        "transfers, {} accounts ({:?}), {} connections x {} per request, {:?}",
        load.accounts, load.skew, load.connections, load.batch, load.durability
    );
    let mut report = Report::new("embedded", description, &recorder, elapsed);
    let accounts = load.accounts;
    let conservation = engine
        .read(move |machine| {
            let actual: i128 =
                (0..accounts).filter_map(|index| machine.account(&account(index))).map(|a| i128::from(a.posted)).sum();
            let totals = machine.totals().get(&Currency::EUR).copied().unwrap_or_default();
            let expected =
                i128::try_from(totals.deposited).expect("fits") - i128::try_from(totals.withdrawn).expect("fits");
            Conservation { expected, actual }
        })
        .await
        .map_err(|error| error.to_string())?;
    report.conservation = Some(conservation);
    engine.shutdown();
    Ok(report)
}

fn result_code(outcome: &kassa_engine::Outcome) -> String {
    outcome.rejection().map_or_else(|| "applied".to_string(), |rejection| rejection.code().to_string())
}

fn error_code(error: SubmitError) -> String {
    match error {
        SubmitError::Busy => "busy",
        SubmitError::ShuttingDown => "shutting_down",
        SubmitError::StorageFailed => "storage_failed",
        SubmitError::InvalidBatch => "invalid_batch",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_short_embedded_run_conserves_money() {
        let dir = tempfile::tempdir().unwrap();
        let load = EmbeddedLoad {
            data_dir: dir.path().join("data"),
            accounts: 50,
            connections: 16,
            batch: 4,
            duration: Duration::from_secs(60),
            warmup: Duration::ZERO,
            count: Some(2_000),
            skew: Skew::Zipf(1.2),
            durability: Durability::Sync,
        };
        let report = run(load).await.unwrap();
        assert!(report.commands >= 2_000, "{report:?}");
        assert!(report.conservation.unwrap().holds(), "{report:?}");
        assert_eq!(report.outcomes.keys().collect::<Vec<_>>(), vec!["applied"]);
    }
}
