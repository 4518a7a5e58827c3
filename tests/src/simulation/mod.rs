//! Model-based simulation: seeded random command streams run side by side through the real
//! engine (RocksDB in a directory, simulated time) and the reference model ([`crate::model`]).
//!
//! Each batch goes to the engine first; then every outcome is compared with the model's, which
//! takes from the engine's reply only new secrets (codes, challenges). Every few batches the
//! balances of every account are compared through engine reads, now and then the whole visible
//! state (every hold, authorization, settlement, bill, split, coupon, contact list, registry
//! entry, totals and the engine's own invariant check). The engine is shut down and reopened a
//! few times mid-run, so recovery (snapshot + WAL replay) is inside the comparison, and each
//! partition's whole state after the reopen must equal the state it stopped with
//! (`recovery.rs`: everything, the id table and the messages between partitions included). The first
//! divergence stops the run and is reported with the seed, the command's index, the command and
//! both outcomes; the same seed and length reproduce the run exactly: the stream, the restarts,
//! the clock and the engine's server key all derive from the seed.

pub mod generator;
pub mod partitions;
mod recovery;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kassa_engine::runtime::Clock;
use kassa_engine::{Command, Durability, Engine, EngineConfig, Outcome, Reply};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::model::Model;
pub use generator::Generator;
use kassa_engine::command::{Principal, Submission};

/// Simulated time at the start of every run (2025-11-24T16:00:00Z).
pub const START_MS: u64 = 1_764_000_000_000;

/// How to run one simulation.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The seed of the command stream, the restarts and the engine's server key.
    pub seed: u64,
    /// Commands to run.
    pub commands: u64,
    /// The engine's data directory (should be empty).
    pub data_dir: PathBuf,
    /// `Sync` (every batch fsynced, the default) or `UnsafeNoSync` (faster; recovery after a
    /// clean shutdown is still exercised, crash durability is not).
    pub durability: Durability,
    /// Engine restarts (shutdown + reopen) at points drawn from the seed.
    pub restarts: u32,
    /// Compare every account's balances every this many batches.
    pub accounts_every_batches: u64,
    /// Compare the whole visible state every this many batches (and after restarts, at the end).
    pub everything_every_batches: u64,
    /// Print a progress line every this many commands (0: never).
    pub progress_every_commands: u64,
    /// Partitions of the engine's data directory (`partitions.rs`: batches run in waves).
    pub partitions: u16,
}

impl SimConfig {
    /// Defaults for `seed` and `commands` in `data_dir`: synced, 5 restarts.
    pub fn new(seed: u64, commands: u64, data_dir: impl Into<PathBuf>) -> SimConfig {
        SimConfig {
            seed,
            commands,
            data_dir: data_dir.into(),
            durability: Durability::Sync,
            restarts: 5,
            accounts_every_batches: 10,
            everything_every_batches: 100,
            progress_every_commands: 0,
            partitions: 1,
        }
    }
}

/// Where the model and the engine disagreed.
#[derive(Debug, Clone)]
pub struct Divergence {
    /// The run's seed.
    pub seed: u64,
    /// The run's length (reproduce with the same seed and length).
    pub commands: u64,
    /// The engine's partitions.
    pub partitions: u16,
    /// Index of the command in the run (0-based), when an outcome differed.
    pub index: Option<u64>,
    /// Index of the batch (0-based).
    pub batch: u64,
    /// Simulated time of the batch.
    pub now_ms: u64,
    /// The command, when an outcome differed.
    pub command: Option<Submission>,
    /// What differed: `outcome`, or the state entry (`account:a3`, `hold:h12`, ...).
    pub what: String,
    /// What the model expected.
    pub model: String,
    /// What the engine answered.
    pub engine: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "DIVERGENCE in {} (seed {}, batch {}, now {} ms)", self.what, self.seed, self.batch, self.now_ms)?;
        if let Some(index) = self.index {
            writeln!(f, "  command index: {index}")?;
        }
        if let Some(command) = &self.command {
            writeln!(f, "  command: {command:?}")?;
        }
        writeln!(f, "  model:   {}", self.model)?;
        writeln!(f, "  engine:  {}", self.engine)?;
        let (seed, commands, partitions) = (self.seed, self.commands, self.partitions);
        write!(f, "  reproduce: kassa-simulate --seed {seed} --commands {commands} --partitions {partitions}")
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct SimReport {
    /// The seed.
    pub seed: u64,
    /// Commands run (and compared).
    pub commands: u64,
    /// Batches submitted.
    pub batches: u64,
    /// Engine restarts done.
    pub restarts: u32,
    /// Account-balance comparisons done.
    pub account_checks: u64,
    /// Whole-state comparisons done.
    pub state_checks: u64,
    /// Simulated time covered, in milliseconds.
    pub simulated_ms: u64,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
    /// Outcomes by code: `applied` or the rejection code, for top-level commands.
    pub outcomes: BTreeMap<String, u64>,
    /// Outcomes by command kind and code (`transfer/insufficient_funds`), including the
    /// transfers inside transfer batches (`transfer_batch/item/...`).
    pub by_kind: BTreeMap<String, u64>,
    /// FNV-1a digest of every engine outcome in order: equal digests, equal runs.
    pub digest: u64,
    /// The first divergence, if any (the run stopped there).
    pub divergence: Option<Divergence>,
}

impl SimReport {
    /// Divergences found (the run stops at the first).
    pub fn divergences(&self) -> usize {
        usize::from(self.divergence.is_some())
    }
}

impl fmt::Display for SimReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = u64::try_from(self.elapsed.as_millis()).unwrap_or(u64::MAX).max(1);
        let per_second = self.commands * 1_000 / millis;
        let tenths_of_days = self.simulated_ms / 8_640_000;
        writeln!(f, "seed:             {}", self.seed)?;
        writeln!(f, "commands run:     {}", self.commands)?;
        writeln!(f, "batches:          {}", self.batches)?;
        writeln!(f, "restarts:         {}", self.restarts)?;
        writeln!(f, "account checks:   {}", self.account_checks)?;
        writeln!(f, "state checks:     {}", self.state_checks)?;
        writeln!(f, "simulated time:   {}.{} days", tenths_of_days / 10, tenths_of_days % 10)?;
        writeln!(f, "elapsed:          {}.{} s ({per_second} commands/s)", millis / 1_000, millis % 1_000 / 100)?;
        writeln!(f, "digest:           {:016x}", self.digest)?;
        writeln!(f, "divergences:      {}", self.divergences())?;
        writeln!(f, "outcomes by code:")?;
        for (code, count) in &self.outcomes {
            writeln!(f, "  {code:<28} {count}")?;
        }
        writeln!(f, "outcomes by command and code:")?;
        for (key, count) in &self.by_kind {
            writeln!(f, "  {key:<52} {count}")?;
        }
        if let Some(divergence) = &self.divergence {
            writeln!(f, "{divergence}")?;
        }
        Ok(())
    }
}

/// Why a run could not go on (not a divergence: the engine failed to open or answer).
#[derive(Debug, Clone)]
pub struct SimError(pub String);

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SimError {}

fn fail(context: &str, error: impl fmt::Display) -> SimError {
    SimError(format!("{context}: {error}"))
}

/// The engine's server key for `seed`.
pub fn secret_key(seed: u64) -> [u8; 32] {
    let mut key = [0u8; 32];
    StdRng::seed_from_u64(seed ^ 0x6b61_7373_612d_6b65).fill(&mut key);
    key
}

/// FNV-1a over text.
fn fnv(mut hash: u64, text: &str) -> u64 {
    for byte in text.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

fn code(outcome: &Outcome) -> &'static str {
    outcome.rejection().map_or("applied", |rejection| rejection.code())
}

/// One run in progress.
struct Run {
    config: SimConfig,
    engine_config: EngineConfig,
    /// `None` only while restarting (RocksDB allows one open per directory).
    engine: Option<Engine>,
    clock: Arc<AtomicU64>,
    model: Model,
    generator: Generator,
    report: SimReport,
    now_ms: u64,
}

/// Runs a simulation to the end or to the first divergence.
pub fn run(config: SimConfig) -> Result<SimReport, SimError> {
    let clock = Arc::new(AtomicU64::new(START_MS));
    let mut engine_config = EngineConfig::new(&config.data_dir);
    engine_config.durability = config.durability;
    engine_config.tick_interval_ms = 0;
    engine_config.secret_key = Some(secret_key(config.seed));
    engine_config.clock = Clock::Manual(clock.clone());
    engine_config.partitions = config.partitions;
    // Several snapshots per run, so that recovery loads one and replays the log after it.
    engine_config.snapshot_every_commands = (config.commands / 7).max(1_000);
    let engine = Engine::open(engine_config.clone()).map_err(|error| fail("opening the engine", error))?;
    let report = SimReport {
        seed: config.seed,
        commands: 0,
        batches: 0,
        restarts: 0,
        account_checks: 0,
        state_checks: 0,
        simulated_ms: 0,
        elapsed: Duration::ZERO,
        outcomes: BTreeMap::new(),
        by_kind: BTreeMap::new(),
        digest: 0xcbf2_9ce4_8422_2325,
        divergence: None,
    };
    let generator = Generator::new(config.seed);
    let mut run = Run {
        model: Model::with_partitions(secret_key(config.seed), config.partitions),
        generator,
        config,
        engine_config,
        engine: Some(engine),
        clock,
        report,
        now_ms: START_MS,
    };
    let started = Instant::now();
    let result = run.run();
    if let Some(engine) = run.engine.take() {
        engine.shutdown();
    }
    run.report.elapsed = started.elapsed();
    run.report.simulated_ms = run.now_ms - START_MS;
    result?;
    Ok(run.report)
}

impl Run {
    fn engine(&self) -> &Engine {
        self.engine.as_ref().expect("the engine is open between restarts")
    }

    fn run(&mut self) -> Result<(), SimError> {
        // Restart points: command counts drawn from the seed (an rng of their own, so that the
        // command stream does not depend on the run's length).
        let mut restart_rng = StdRng::seed_from_u64(self.config.seed ^ 0x7265_7374_6172_7473);
        let mut restart_at: BTreeSet<u64> = BTreeSet::new();
        if self.config.commands > 1 {
            for _ in 0..self.config.restarts {
                restart_at.insert(restart_rng.random_range(1..self.config.commands));
            }
        }
        let mut next_progress = self.config.progress_every_commands;
        while self.report.commands < self.config.commands {
            self.now_ms += self.generator.time_step();
            self.clock.store(self.now_ms, Ordering::SeqCst);
            let left = usize::try_from(self.config.commands - self.report.commands).unwrap_or(usize::MAX);
            let size = self.generator.batch_size().min(left);
            let batch = self.generator.batch(&self.model, self.now_ms, size);
            let mut outcomes = Vec::with_capacity(batch.len());
            let model = &self.model;
            let hold_parties = |id: &kassa_engine::Id| model.holds.get(id).map(|hold| (&hold.from, &hold.to));
            let crossing_partitions = |submission: &Submission| model.crosses_partitions(submission);
            for wave in partitions::waves(&model.placement, &batch, hold_parties, crossing_partitions) {
                let answered = self
                    .engine()
                    .submit_batch_blocking(batch[wave].to_vec())
                    .map_err(|error| fail("submitting a batch", error))?;
                outcomes.extend(answered);
            }
            if !self.compare_outcomes(&batch, &outcomes) {
                return Ok(());
            }
            if !self.learn_rewards()? {
                return Ok(());
            }
            self.report.batches += 1;
            let batches = self.report.batches;
            let crossed = restart_at.range(..=self.report.commands).next_back().copied();
            if let Some(point) = crossed {
                restart_at.retain(|at| *at > point);
                if !self.restart()? || !self.compare_state(true)? {
                    return Ok(());
                }
            } else if batches.is_multiple_of(self.config.everything_every_batches.max(1)) {
                if !self.compare_state(true)? {
                    return Ok(());
                }
            } else if batches.is_multiple_of(self.config.accounts_every_batches.max(1)) && !self.compare_state(false)? {
                return Ok(());
            }
            if next_progress > 0 && self.report.commands >= next_progress {
                next_progress += self.config.progress_every_commands;
                eprintln!(
                    "progress: {} commands, {} batches, {} restarts",
                    self.report.commands, self.report.batches, self.report.restarts
                );
            }
        }
        self.compare_state(true)?;
        Ok(())
    }

    /// Applies the batch to the model and compares every outcome. False on a divergence.
    fn compare_outcomes(&mut self, batch: &[Submission], outcomes: &[Outcome]) -> bool {
        if outcomes.len() != batch.len() {
            self.diverge(None, None, "outcome count", batch.len().to_string(), outcomes.len().to_string());
            return false;
        }
        self.model.begin_batch(batch);
        for (submission, outcome) in batch.iter().zip(outcomes) {
            let expected = self.model.apply(self.now_ms, submission, outcome);
            let index = self.report.commands;
            self.report.commands += 1;
            self.count(submission, outcome);
            if expected != *outcome {
                self.diverge(
                    Some(index),
                    Some(submission.clone()),
                    "outcome",
                    format!("{expected:?}"),
                    format!("{outcome:?}"),
                );
                return false;
            }
        }
        true
    }

    fn count(&mut self, submission: &Submission, outcome: &Outcome) {
        let command = &submission.command;
        let report = &mut self.report;
        report.digest = fnv(report.digest, &format!("{outcome:?}"));
        *report.outcomes.entry(code(outcome).to_string()).or_default() += 1;
        *report.by_kind.entry(format!("{}/{}", command.kind(), code(outcome))).or_default() += 1;
        if submission.principal != Principal::Admin {
            *report.by_kind.entry(format!("as_tenant/{}", code(outcome))).or_default() += 1;
        }
        if let Some(coupon) = self.model.crossed(command) {
            let kind = match command {
                Command::TransferBatch(batch) if batch.atomic => "transfer_batch/linked",
                Command::SettlePos(settle) if settle.hold_until_ms.is_some() => "settle_pos/held",
                _ => command.kind(),
            };
            *report.by_kind.entry(format!("{kind}/between_partitions/{}", code(outcome))).or_default() += 1;
            if coupon {
                *report.by_kind.entry(format!("{kind}/between_partitions/coupon/{}", code(outcome))).or_default() += 1;
            }
        }
        if let Some(kind) = self.model.merchant_elsewhere(command) {
            *report.by_kind.entry(format!("{kind}/merchant_elsewhere/{}", code(outcome))).or_default() += 1;
        }
        if let Command::TransferBatch(batch) = command
            && batch.atomic
        {
            let placement = &self.model.placement;
            let first = batch.transfers.first().map(|transfer| placement.of_account(&transfer.from));
            if batch.transfers.iter().any(|transfer| Some(placement.of_account(&transfer.from)) != first) {
                // Its payers' funds reserved on their partitions (`transit/linked_payers.rs`).
                *report
                    .by_kind
                    .entry(format!("transfer_batch/linked/payer_elsewhere/{}", code(outcome)))
                    .or_default() += 1;
                if submission.principal != Principal::Admin {
                    let key = format!("as_tenant/transfer_batch/linked/payer_elsewhere/{}", code(outcome));
                    *report.by_kind.entry(key).or_default() += 1;
                }
            }
        }
        if let (Outcome::Applied(Reply::TransferBatch(items)), Command::TransferBatch(batch)) = (outcome, command) {
            let placement = &self.model.placement;
            let first = batch.transfers.first().map(|transfer| placement.of_account(&transfer.from));
            for (item, transfer) in items.iter().zip(&batch.transfers) {
                *report.by_kind.entry(format!("transfer_batch/item/{}", code(item))).or_default() += 1;
                if Some(placement.of_account(&transfer.from)) != first {
                    // A leg applied on its payer's partition, another than the batch's.
                    *report
                        .by_kind
                        .entry(format!("transfer_batch/item/payer_elsewhere/{}", code(item)))
                        .or_default() += 1;
                }
            }
        }
    }

    fn diverge(&mut self, index: Option<u64>, command: Option<Submission>, what: &str, model: String, engine: String) {
        self.report.divergence = Some(Divergence {
            seed: self.config.seed,
            commands: self.config.commands,
            partitions: self.config.partitions,
            index,
            batch: self.report.batches,
            now_ms: self.now_ms,
            command,
            what: what.to_string(),
            model,
            engine,
        });
    }

    /// Reads the redemption codes of the reward coupons the model expects, from the engine.
    fn learn_rewards(&mut self) -> Result<bool, SimError> {
        let rewards = std::mem::take(&mut self.model.unknown_reward_codes);
        if rewards.is_empty() {
            return Ok(true);
        }
        let codes = self
            .engine()
            .read_blocking(move |machine| {
                rewards.into_iter().map(|id| (machine.coupon_code(&id), id)).collect::<Vec<_>>()
            })
            .map_err(|error| fail("reading reward coupons", error))?;
        for (code, coupon) in codes {
            match code {
                Some(code) => {
                    self.model.learn_coupon_code(&coupon, code);
                    self.generator.note_reward(coupon);
                }
                None => {
                    let what = format!("coupon:{coupon}");
                    self.diverge(None, None, &what, "a reward coupon".into(), "<missing in the engine>".into());
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Compares account balances (or everything) through engine reads. False on a divergence.
    fn compare_state(&mut self, everything: bool) -> Result<bool, SimError> {
        let probe = self.model.probe(everything);
        let expected = self.model.view(&probe);
        let actual =
            partitions::engine_state(self.engine(), &probe).map_err(|error| fail("reading the state", error))?;
        if everything {
            self.report.state_checks += 1;
        } else {
            self.report.account_checks += 1;
        }
        let keys: BTreeSet<&String> = expected.keys().chain(actual.keys()).collect();
        for key in keys {
            let (model, engine) = (expected.get(key), actual.get(key));
            if model != engine {
                let missing = || "<none>".to_string();
                let (model, engine) = (model.cloned().unwrap_or_else(missing), engine.cloned().unwrap_or_else(missing));
                self.diverge(None, None, key, model, engine);
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Shuts the engine down and opens it again on the same directory (snapshot + replay).
    /// Stops the engine once it is quiet and opens it again; false (a divergence) if a
    /// partition's rebuilt state differs from the state it stopped with (`recovery.rs`).
    fn restart(&mut self) -> Result<bool, SimError> {
        let before = recovery::quiet_states(self.engine())?;
        if let Some(engine) = self.engine.take() {
            engine.shutdown();
        }
        self.report.restarts += 1;
        let engine = Engine::open(self.engine_config.clone()).map_err(|error| fail("reopening the engine", error))?;
        self.engine = Some(engine);
        let after = recovery::states(self.engine())?;
        if let Some(partition) = recovery::first_difference(&before, &after) {
            // The start of each (maps print in no fixed order: a pointer, not a diff).
            let state = |states: &[kassa_engine::state_machine::State]| {
                format!("{:?}", states.get(partition)).chars().take(2_000).collect::<String>()
            };
            self.diverge(
                None,
                None,
                &format!("partition {partition}'s state after a restart"),
                state(&before),
                state(&after),
            );
            return Ok(false);
        }
        Ok(true)
    }
}
