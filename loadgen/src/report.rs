//! Measurements and the final report: throughput, outcomes by code, the latency ladder overall
//! and per scenario step, a per-second time series, and the conservation check.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::threshold::{EXIT_FAILED, Verdict};

/// Highest latency the histograms track (one minute, in microseconds); longer ones are clamped.
const LATENCY_US_MAX: u64 = 60_000_000;

/// The result code of an applied command.
pub const APPROVED: &str = "approved";

/// Longest time series kept, in seconds (longer runs fold their tail into the last second).
const TIMELINE_SECONDS_MAX: usize = 7 * 24 * 3_600;

/// A result code: `approved`, a rejection (`insufficient_funds`), or a transport answer (`busy`).
pub type Code = Cow<'static, str>;

fn histogram(significant_digits: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, significant_digits).expect("valid histogram bounds")
}

fn micros(latency: Duration) -> u64 {
    u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).clamp(1, LATENCY_US_MAX)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Recording never panics while holding a lock; keep going if something else did.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Latencies and outcomes of one kind of scenario step (`pos.settle`, ...).
pub struct StepRecorder {
    histogram: Histogram<u64>,
    outcomes: BTreeMap<Code, u64>,
    commands: u64,
}

impl Default for StepRecorder {
    fn default() -> StepRecorder {
        StepRecorder { histogram: histogram(3), outcomes: BTreeMap::new(), commands: 0 }
    }
}

impl StepRecorder {
    fn record(&mut self, micros: u64, results: &[Code]) {
        self.histogram.record(micros).expect("clamped into bounds");
        for result in results {
            *self.outcomes.entry(result.clone()).or_default() += 1;
        }
        self.commands += results.len() as u64;
    }

    fn merge(&mut self, other: &StepRecorder) {
        self.histogram.add(&other.histogram).expect("same bounds");
        for (result, count) in &other.outcomes {
            *self.outcomes.entry(result.clone()).or_default() += count;
        }
        self.commands += other.commands;
    }

    /// Commands recorded (a request may carry several).
    pub fn commands(&self) -> u64 {
        self.commands
    }

    /// The latency ladder of the requests, in microseconds.
    pub fn ladder(&self) -> Ladder {
        ladder(&self.histogram)
    }

    /// Outcome counts by result code.
    pub fn outcomes(&self) -> &BTreeMap<Code, u64> {
        &self.outcomes
    }
}

/// How many scenario instances started (their first step measured) and how many had every step
/// approved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ScenarioCount {
    /// Instances whose first step was measured.
    pub started: u64,
    /// Of those, the ones whose every step was approved.
    pub completed: u64,
}

/// Measurements of one group of workers: overall and per step kind; merged at the end.
#[derive(Default)]
pub struct Recorder {
    overall: StepRecorder,
    steps: BTreeMap<&'static str, StepRecorder>,
    scenarios: BTreeMap<&'static str, ScenarioCount>,
}

impl Recorder {
    /// Records one request of step kind `step`, its latency and the result of each of its commands.
    pub fn record(&mut self, step: &'static str, latency: Duration, results: &[Code]) {
        let micros = micros(latency);
        self.overall.record(micros, results);
        self.steps.entry(step).or_default().record(micros, results);
    }

    /// Counts a measured scenario instance.
    pub fn scenario(&mut self, scenario: &'static str, completed: bool) {
        let count = self.scenarios.entry(scenario).or_default();
        count.started += 1;
        count.completed += u64::from(completed);
    }

    /// Adds another recorder's measurements to this one.
    pub fn merge(&mut self, other: &Recorder) {
        self.overall.merge(&other.overall);
        for (step, recorder) in &other.steps {
            self.steps.entry(step).or_default().merge(recorder);
        }
        for (scenario, count) in &other.scenarios {
            let mine = self.scenarios.entry(scenario).or_default();
            mine.started += count.started;
            mine.completed += count.completed;
        }
    }

    /// Commands recorded.
    pub fn commands(&self) -> u64 {
        self.overall.commands
    }

    /// Requests recorded (one latency each).
    pub fn requests(&self) -> u64 {
        self.overall.histogram.len()
    }

    /// The overall latency ladder in microseconds.
    pub fn ladder(&self) -> Ladder {
        self.overall.ladder()
    }

    /// Outcome counts by result code (`approved`, `insufficient_funds`, `busy`, ...).
    pub fn outcomes(&self) -> &BTreeMap<Code, u64> {
        &self.overall.outcomes
    }

    /// Measurements per step kind.
    pub fn steps(&self) -> &BTreeMap<&'static str, StepRecorder> {
        &self.steps
    }

    /// Scenario instances by scenario.
    pub fn scenarios(&self) -> &BTreeMap<&'static str, ScenarioCount> {
        &self.scenarios
    }
}

/// One second of the run, by completion time.
pub struct Second {
    histogram: Histogram<u64>,
    commands: u64,
    errors: u64,
}

impl Default for Second {
    fn default() -> Second {
        // Two significant digits: enough for a per-second p99, a tenth of the memory.
        Second { histogram: histogram(2), commands: 0, errors: 0 }
    }
}

/// Completions per second since the end of warm-up.
#[derive(Default)]
pub struct Timeline {
    seconds: Vec<Second>,
}

impl Timeline {
    /// Records a request that completed `since_start` after the end of warm-up.
    pub fn record(&mut self, since_start: Duration, latency: Duration, results: &[Code]) {
        let index = usize::try_from(since_start.as_secs()).unwrap_or(usize::MAX).min(TIMELINE_SECONDS_MAX - 1);
        if self.seconds.len() <= index {
            self.seconds.resize_with(index + 1, Second::default);
        }
        let second = &mut self.seconds[index];
        second.histogram.record(micros(latency)).expect("clamped into bounds");
        second.commands += results.len() as u64;
        second.errors += results.iter().filter(|result| *result != APPROVED).count() as u64;
    }

    /// The per-second report rows.
    pub fn report(&self) -> Vec<SecondReport> {
        self.seconds
            .iter()
            .enumerate()
            .map(|(index, second)| SecondReport {
                second: index as u64,
                commands: second.commands,
                requests: second.histogram.len(),
                errors: second.errors,
                p50_us: if second.histogram.is_empty() { 0 } else { second.histogram.value_at_quantile(0.5) },
                p99_us: if second.histogram.is_empty() { 0 } else { second.histogram.value_at_quantile(0.99) },
                max_us: second.histogram.max(),
            })
            .collect()
    }
}

/// Everything the workers record into, shared: recorders in a few locked shards (a worker uses
/// the shard of its index), the time series, and live counters for the progress bar.
pub struct Stats {
    shards: Vec<Mutex<Recorder>>,
    timeline: Mutex<Timeline>,
    measure_from: Instant,
    commands: AtomicU64,
    errors: AtomicU64,
    unmeasured: AtomicU64,
}

impl Stats {
    /// Stats for a run whose measured time starts at `measure_from`.
    pub fn new(shards: usize, measure_from: Instant) -> Stats {
        Stats {
            shards: (0..shards.max(1)).map(|_| Mutex::new(Recorder::default())).collect(),
            timeline: Mutex::new(Timeline::default()),
            measure_from,
            commands: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            unmeasured: AtomicU64::new(0),
        }
    }

    /// Records a measured request of `step` that was due at `intended` and answered at `done`.
    pub fn record(&self, worker: usize, step: &'static str, intended: Instant, done: Instant, results: &[Code]) {
        let latency = done.saturating_duration_since(intended);
        lock(&self.shards[worker % self.shards.len()]).record(step, latency, results);
        lock(&self.timeline).record(done.saturating_duration_since(self.measure_from), latency, results);
        self.commands.fetch_add(results.len() as u64, Ordering::Relaxed);
        let errors = results.iter().filter(|result| *result != APPROVED).count() as u64;
        if errors > 0 {
            self.errors.fetch_add(errors, Ordering::Relaxed);
        }
    }

    /// Counts commands answered during warm-up (only the progress bar's rate uses them).
    pub fn unmeasured(&self, commands: u64) {
        self.unmeasured.fetch_add(commands, Ordering::Relaxed);
    }

    /// Commands answered so far, warm-up included.
    pub fn answered(&self) -> u64 {
        self.commands() + self.unmeasured.load(Ordering::Relaxed)
    }

    /// Counts a measured scenario instance.
    pub fn scenario(&self, worker: usize, scenario: &'static str, completed: bool) {
        lock(&self.shards[worker % self.shards.len()]).scenario(scenario, completed);
    }

    /// Measured commands so far.
    pub fn commands(&self) -> u64 {
        self.commands.load(Ordering::Relaxed)
    }

    /// Measured commands so far whose result was not `approved`.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Every shard merged.
    pub fn merged(&self) -> Recorder {
        let mut merged = Recorder::default();
        for shard in &self.shards {
            merged.merge(&lock(shard));
        }
        merged
    }

    /// The per-second series.
    pub fn timeline(&self) -> Vec<SecondReport> {
        lock(&self.timeline).report()
    }
}

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ladder {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p99_9: u64,
    /// 99.99th percentile.
    pub p99_99: u64,
    /// Largest.
    pub max: u64,
    /// Mean, rounded to a microsecond.
    pub mean: u64,
    /// Number of requests measured.
    pub requests: u64,
}

/// The ladder of a histogram (zeros when it is empty).
pub fn ladder(histogram: &Histogram<u64>) -> Ladder {
    if histogram.is_empty() {
        return Ladder { p50: 0, p90: 0, p99: 0, p99_9: 0, p99_99: 0, max: 0, mean: 0, requests: 0 };
    }
    Ladder {
        p50: histogram.value_at_quantile(0.5),
        p90: histogram.value_at_quantile(0.9),
        p99: histogram.value_at_quantile(0.99),
        p99_9: histogram.value_at_quantile(0.999),
        p99_99: histogram.value_at_quantile(0.9999),
        max: histogram.max(),
        mean: histogram.mean().round() as u64,
        requests: histogram.len(),
    }
}

/// Whether money was conserved, from account queries at the end of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conservation {
    /// Sum of the run's deposits.
    pub deposited: i128,
    /// Sum of the run's withdrawals.
    pub withdrawn: i128,
    /// Deposits minus withdrawals.
    pub expected: i128,
    /// Sum of the balances of every account the run touched, plus money in its splits' escrow.
    pub actual: i128,
    /// Accounts queried.
    pub accounts: usize,
    /// Splits queried for escrow (those the run did not see complete or cancelled).
    pub splits: usize,
    /// Money found in those splits' escrow (included in `actual`).
    pub escrow: i128,
}

impl Conservation {
    /// A check of `balances` (and `escrow`) against the run's deposits and withdrawals.
    pub fn new(deposited: i128, withdrawn: i128, balances: i128, escrow: i128, accounts: usize, splits: usize) -> Self {
        Conservation {
            deposited,
            withdrawn,
            expected: deposited - withdrawn,
            actual: balances + escrow,
            accounts,
            splits,
            escrow,
        }
    }

    /// Whether the two agree.
    pub fn holds(&self) -> bool {
        self.expected == self.actual
    }
}

/// One kind of scenario step in the report.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// Requests measured.
    pub requests: u64,
    /// Commands they carried.
    pub commands: u64,
    /// Outcomes by result code.
    pub outcomes: BTreeMap<String, u64>,
    /// Latency in microseconds.
    pub latency_us: Ladder,
}

/// One second of the time series (by completion time, from the end of warm-up).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecondReport {
    /// Seconds since the end of warm-up.
    pub second: u64,
    /// Commands completed in this second.
    pub commands: u64,
    /// Requests completed in this second.
    pub requests: u64,
    /// Of the commands, those not approved.
    pub errors: u64,
    /// Median latency of the requests, in microseconds.
    pub p50_us: u64,
    /// 99th percentile latency of the requests, in microseconds.
    pub p99_us: u64,
    /// Largest latency, in microseconds.
    pub max_us: u64,
}

/// The final report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What was driven (`embedded`, `tcp`, `http`, `iso8583`).
    pub target: String,
    /// The load: addresses, accounts, skew, workers.
    pub load: String,
    /// Closed or open loop, with its parameters.
    pub mode: String,
    /// The scenario mix.
    pub mix: String,
    /// Commands measured (after warm-up).
    pub commands: u64,
    /// Requests measured (a client-side batch is one request of several commands).
    pub requests: u64,
    /// Measured seconds (from the end of warm-up until the last answer).
    pub elapsed_s: f64,
    /// Commands per second.
    pub throughput_per_s: f64,
    /// Outcomes by result code.
    pub outcomes: BTreeMap<String, u64>,
    /// Request latency in microseconds, every step kind together.
    pub latency_us: Ladder,
    /// Per step kind (`pos.settle`, ...).
    pub steps: BTreeMap<String, StepReport>,
    /// Scenario instances started and completed.
    pub scenarios: BTreeMap<String, ScenarioCount>,
    /// Per second: throughput and latency.
    pub timeline: Vec<SecondReport>,
    /// The end-of-run conservation check.
    pub conservation: Option<Conservation>,
    /// Why conservation was not checked, when it was not.
    pub conservation_note: Option<String>,
    /// The `--threshold`s, evaluated on this report.
    pub thresholds: Vec<Verdict>,
}

fn owned(outcomes: &BTreeMap<Code, u64>) -> BTreeMap<String, u64> {
    outcomes.iter().map(|(code, count)| (code.to_string(), *count)).collect()
}

impl Report {
    /// Builds a report from merged measurements.
    pub fn new(target: &str, load: String, recorder: &Recorder, elapsed: Duration) -> Report {
        let elapsed_s = elapsed.as_secs_f64().max(f64::EPSILON);
        #[allow(clippy::float_arithmetic)] // a rate, not money
        let throughput_per_s = recorder.commands() as f64 / elapsed_s;
        let steps = recorder
            .steps()
            .iter()
            .map(|(step, measured)| {
                let report = StepReport {
                    requests: measured.histogram.len(),
                    commands: measured.commands(),
                    outcomes: owned(measured.outcomes()),
                    latency_us: measured.ladder(),
                };
                (step.to_string(), report)
            })
            .collect();
        Report {
            target: target.into(),
            load,
            mode: String::new(),
            mix: String::new(),
            commands: recorder.commands(),
            requests: recorder.requests(),
            elapsed_s,
            throughput_per_s,
            outcomes: owned(recorder.outcomes()),
            latency_us: recorder.ladder(),
            steps,
            scenarios: recorder.scenarios().iter().map(|(name, count)| (name.to_string(), *count)).collect(),
            timeline: Vec::new(),
            conservation: None,
            conservation_note: None,
            thresholds: Vec::new(),
        }
    }

    /// The process exit code the report calls for: 3 when conservation failed, else
    /// [`EXIT_FAILED`] (99) when a threshold failed, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.conservation.as_ref().is_some_and(|check| !check.holds()) {
            3
        } else if self.thresholds.iter().any(|verdict| !verdict.pass) {
            EXIT_FAILED
        } else {
            0
        }
    }

    /// The human-readable report.
    pub fn render(&self) -> String {
        let ladder = |ladder: &Ladder| {
            format!(
                "p50 {} us  p90 {} us  p99 {} us  p99.9 {} us  p99.99 {} us  max {} us  mean {} us",
                ladder.p50, ladder.p90, ladder.p99, ladder.p99_9, ladder.p99_99, ladder.max, ladder.mean
            )
        };
        let outcomes = |outcomes: &BTreeMap<String, u64>| {
            outcomes.iter().map(|(code, count)| format!("{code}={count}")).collect::<Vec<_>>().join(" ")
        };
        let mut text = format!(
            "target      {}\nload        {}\nmode        {}\nmix         {}\n\
             commands    {} in {:.2} s ({} requests)\nthroughput  {:.0} commands/s\noutcomes    {}\n\
             latency     {}  ({} requests)\n",
            self.target,
            self.load,
            self.mode,
            self.mix,
            self.commands,
            self.elapsed_s,
            self.requests,
            self.throughput_per_s,
            outcomes(&self.outcomes),
            ladder(&self.latency_us),
            self.latency_us.requests,
        );
        if !self.scenarios.is_empty() {
            let scenarios: Vec<String> = self
                .scenarios
                .iter()
                .map(|(name, count)| format!("{name} {}/{}", count.completed, count.started))
                .collect();
            text += &format!("scenarios   {} (completed/started)\n", scenarios.join("  "));
        }
        let width = self.steps.keys().map(String::len).max().unwrap_or(0);
        for (step, report) in &self.steps {
            text += &format!(
                "  {step:<width$}  {:>8} req  {}  {}\n",
                report.requests,
                ladder(&report.latency_us),
                outcomes(&report.outcomes)
            );
        }
        match (&self.conservation, &self.conservation_note) {
            (Some(check), _) => {
                let verdict = if check.holds() { "OK" } else { "VIOLATED" };
                text += &format!(
                    "conservation {verdict}: {} accounts + {} split escrows hold {} (escrow {}); \
                     deposits {} - withdrawals {} = {}\n",
                    check.accounts,
                    check.splits,
                    check.actual,
                    check.escrow,
                    check.deposited,
                    check.withdrawn,
                    check.expected
                );
                if !check.holds() {
                    text += &format!("conservation VIOLATED: expected {}, found {}\n", check.expected, check.actual);
                }
            }
            (None, Some(note)) => text += &format!("conservation not checked: {note}\n"),
            (None, None) => text += "conservation not checked\n",
        }
        for verdict in &self.thresholds {
            text += &format!("{verdict}\n");
        }
        text
    }
}

#[cfg(test)]
mod tests;
