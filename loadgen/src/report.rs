//! Measurements and the final report: throughput, outcomes by code, and the latency ladder.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histograms track (one minute, in microseconds).
const LATENCY_US_MAX: u64 = 60_000_000;

/// Latencies and outcome counts of one submitter; merged at the end.
pub struct Recorder {
    histogram: Histogram<u64>,
    outcomes: BTreeMap<String, u64>,
    commands: u64,
}

impl Default for Recorder {
    fn default() -> Recorder {
        Recorder {
            histogram: Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).expect("valid histogram bounds"),
            outcomes: BTreeMap::new(),
            commands: 0,
        }
    }
}

impl Recorder {
    /// Records one request's latency and the results of its `commands`.
    pub fn record(&mut self, latency: Duration, results: impl IntoIterator<Item = String>) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).clamp(1, LATENCY_US_MAX);
        self.histogram.record(micros).expect("clamped into bounds");
        for result in results {
            *self.outcomes.entry(result).or_default() += 1;
            self.commands += 1;
        }
    }

    /// Adds another recorder's measurements to this one.
    pub fn merge(&mut self, other: &Recorder) {
        self.histogram.add(&other.histogram).expect("same bounds");
        for (result, count) in &other.outcomes {
            *self.outcomes.entry(result.clone()).or_default() += count;
        }
        self.commands += other.commands;
    }

    /// Commands recorded.
    pub fn commands(&self) -> u64 {
        self.commands
    }

    /// The latency ladder in microseconds.
    pub fn ladder(&self) -> Ladder {
        ladder(&self.histogram)
    }

    /// Outcome counts by result code (`applied`, `insufficient_funds`, `busy`, ...).
    pub fn outcomes(&self) -> &BTreeMap<String, u64> {
        &self.outcomes
    }
}

/// Waits for every submitter and merges their recorders.
pub async fn gather(tasks: Vec<tokio::task::JoinHandle<Recorder>>) -> Result<Recorder, String> {
    let mut recorder = Recorder::default();
    for task in tasks {
        recorder.merge(&task.await.map_err(|error| error.to_string())?);
    }
    Ok(recorder)
}

/// The measured time: from the end of warm-up to the deadline (or now, if the run ended early).
pub fn measured_time(measure_from: std::time::Instant, deadline: std::time::Instant) -> Duration {
    std::time::Instant::now().min(deadline).saturating_duration_since(measure_from).max(Duration::from_millis(1))
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
    /// Number of requests measured.
    pub requests: u64,
}

/// The ladder of a histogram (zeros when it is empty).
pub fn ladder(histogram: &Histogram<u64>) -> Ladder {
    if histogram.is_empty() {
        return Ladder { p50: 0, p90: 0, p99: 0, p99_9: 0, p99_99: 0, max: 0, requests: 0 };
    }
    Ladder {
        p50: histogram.value_at_quantile(0.5),
        p90: histogram.value_at_quantile(0.9),
        p99: histogram.value_at_quantile(0.99),
        p99_9: histogram.value_at_quantile(0.999),
        p99_99: histogram.value_at_quantile(0.9999),
        max: histogram.max(),
        requests: histogram.len(),
    }
}

/// Whether money was conserved, from account queries at the end of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Conservation {
    /// Deposits minus withdrawals.
    pub expected: i128,
    /// Sum of the load's account balances.
    pub actual: i128,
}

impl Conservation {
    /// Whether the two agree.
    pub fn holds(&self) -> bool {
        self.expected == self.actual
    }
}

/// The final report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What was driven (`embedded`, ...).
    pub target: String,
    /// The command line's description of the load.
    pub load: String,
    /// Commands measured (after warm-up).
    pub commands: u64,
    /// Measured seconds.
    pub elapsed_s: f64,
    /// Commands per second.
    pub throughput_per_s: f64,
    /// Outcomes by result code.
    pub outcomes: BTreeMap<String, u64>,
    /// Request latency in microseconds.
    pub latency_us: Ladder,
    /// The end-of-run conservation check.
    pub conservation: Option<Conservation>,
}

impl Report {
    /// Builds a report from merged measurements.
    pub fn new(target: &str, load: String, recorder: &Recorder, elapsed: Duration) -> Report {
        let elapsed_s = elapsed.as_secs_f64().max(f64::EPSILON);
        #[allow(clippy::float_arithmetic)] // a rate, not money
        let throughput_per_s = recorder.commands() as f64 / elapsed_s;
        Report {
            target: target.into(),
            load,
            commands: recorder.commands(),
            elapsed_s,
            throughput_per_s,
            outcomes: recorder.outcomes().clone(),
            latency_us: recorder.ladder(),
            conservation: None,
        }
    }

    /// The human-readable report.
    pub fn render(&self) -> String {
        let ladder = &self.latency_us;
        let mut text = format!(
            "target      {}\nload        {}\ncommands    {} in {:.2} s\nthroughput  {:.0} commands/s\n",
            self.target, self.load, self.commands, self.elapsed_s, self.throughput_per_s
        );
        text += "outcomes   ";
        for (result, count) in &self.outcomes {
            text += &format!(" {result}={count}");
        }
        text += &format!(
            "\nlatency     p50 {} us  p90 {} us  p99 {} us  p99.9 {} us  p99.99 {} us  max {} us  ({} requests)\n",
            ladder.p50, ladder.p90, ladder.p99, ladder.p99_9, ladder.p99_99, ladder.max, ladder.requests
        );
        match &self.conservation {
            Some(check) if check.holds() => text += &format!("conservation OK (sum of balances = {})\n", check.actual),
            Some(check) => {
                text += &format!("conservation VIOLATED: expected {}, found {}\n", check.expected, check.actual)
            }
            None => text += "conservation not checked\n",
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ladder_reads_percentiles_off_the_histogram() {
        let mut recorder = Recorder::default();
        for micros in 1..=10_000u64 {
            recorder.record(Duration::from_micros(micros), ["applied".to_string()]);
        }
        let ladder = recorder.ladder();
        // HDR histograms with 3 significant digits are exact to 0.1%.
        let near = |value: u64, expected: u64| value.abs_diff(expected) * 1_000 <= expected;
        assert!(near(ladder.p50, 5_000), "{ladder:?}");
        assert!(near(ladder.p90, 9_000), "{ladder:?}");
        assert!(near(ladder.p99, 9_900), "{ladder:?}");
        assert!(near(ladder.p99_9, 9_990), "{ladder:?}");
        assert!(near(ladder.max, 10_000), "{ladder:?}");
        assert_eq!(ladder.requests, 10_000);
    }

    #[test]
    fn recorders_merge_and_count_outcomes() {
        let mut left = Recorder::default();
        let mut right = Recorder::default();
        left.record(Duration::from_micros(10), ["applied".to_string(), "applied".to_string()]);
        right.record(Duration::from_millis(5), ["insufficient_funds".to_string()]);
        right.record(Duration::from_secs(3_600), ["busy".to_string()]); // clamped, not lost
        left.merge(&right);
        assert_eq!(left.commands(), 4);
        assert_eq!(left.outcomes()["applied"], 2);
        assert_eq!(left.outcomes()["busy"], 1);
        assert_eq!(left.ladder().requests, 3);
        assert!(left.ladder().max >= 59_000_000, "an hour is clamped to the minute the histogram holds");
    }

    #[test]
    fn conservation_is_reported() {
        let mut report = Report::new("embedded", "test".into(), &Recorder::default(), Duration::from_secs(1));
        report.conservation = Some(Conservation { expected: 10, actual: 10 });
        assert!(report.render().contains("conservation OK"));
        report.conservation = Some(Conservation { expected: 10, actual: 9 });
        assert!(report.render().contains("conservation VIOLATED: expected 10, found 9"));
        let empty = Report::new("embedded", "test".into(), &Recorder::default(), Duration::from_secs(1));
        assert_eq!(empty.latency_us.p99, 0);
    }
}
