//! Pass/fail thresholds on a run's report, like k6's: `--threshold 'p99<5ms'`,
//! `--threshold 'throughput>=100k'`, `--threshold 'errors<1%'`.
//!
//! An expression is `<metric><op><value>`, spaces allowed around the operator:
//! - latency metrics `p50`, `p90`, `p99`, `p99.9`, `p99.99`, `max`, `mean`: the overall request
//!   latency of the report's `latency` line (every step kind together), the value with a unit
//!   `us`, `ms` or `s` (`5ms`, `0.25ms`, `1.5s`);
//! - `throughput`: measured commands per second, a plain number with an optional `k` (x1,000)
//!   or `M` (x1,000,000) suffix (`100000`, `100k`, `1.5M`);
//! - `errors` (or `error_rate`): the share of measured commands whose outcome was not
//!   `approved` (rejections and transport answers such as `busy` alike), as a fraction
//!   (`0.01`) or a percentage (`1%`);
//!
//! and the operator one of `<`, `<=`, `>`, `>=`. A run that measured no request fails every
//! threshold: there is nothing to vouch for.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::report::{APPROVED, Report};

/// The process exit code when a threshold failed (and money was conserved).
pub const EXIT_FAILED: i32 = 99;

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Median latency.
    P50,
    /// 90th percentile latency.
    P90,
    /// 99th percentile latency.
    P99,
    /// 99.9th percentile latency.
    P99_9,
    /// 99.99th percentile latency.
    P99_99,
    /// Largest latency.
    Max,
    /// Mean latency.
    Mean,
    /// Measured commands per second.
    Throughput,
    /// Share of measured commands not approved.
    ErrorRate,
}

impl Metric {
    /// Every metric with the names it is written as.
    const NAMES: [(&'static str, Metric); 10] = [
        ("p50", Metric::P50),
        ("p90", Metric::P90),
        ("p99", Metric::P99),
        ("p99.9", Metric::P99_9),
        ("p99.99", Metric::P99_99),
        ("max", Metric::Max),
        ("mean", Metric::Mean),
        ("throughput", Metric::Throughput),
        ("errors", Metric::ErrorRate),
        ("error_rate", Metric::ErrorRate),
    ];

    /// The metric's name in reports (`error_rate` for `errors` too).
    pub fn name(self) -> &'static str {
        match self {
            Metric::ErrorRate => "error_rate",
            metric => Metric::NAMES.iter().find(|(_, named)| *named == metric).expect("every metric is named").0,
        }
    }

    /// The unit of [`Threshold::limit`] and of the measured value.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::Throughput => "commands/s",
            Metric::ErrorRate => "fraction",
            _ => "us",
        }
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Less,
    /// `<=`
    LessOrEqual,
    /// `>`
    Greater,
    /// `>=`
    GreaterOrEqual,
}

impl Op {
    /// Whether `actual op limit` holds.
    pub fn holds(self, actual: f64, limit: f64) -> bool {
        match self {
            Op::Less => actual < limit,
            Op::LessOrEqual => actual <= limit,
            Op::Greater => actual > limit,
            Op::GreaterOrEqual => actual >= limit,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Op::Less => "<",
            Op::LessOrEqual => "<=",
            Op::Greater => ">",
            Op::GreaterOrEqual => ">=",
        }
    }
}

/// How a latency is shown: in the unit its threshold was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeUnit {
    Micros,
    Millis,
    Seconds,
}

/// A parsed `--threshold` expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    expression: String,
    metric: Metric,
    op: Op,
    limit: f64,
    unit: TimeUnit,
}

/// What an expression may look like, for error messages.
pub const SYNTAX: &str = "<metric><op><value>: metric p50, p90, p99, p99.9, p99.99, max, mean (value with a unit \
                          us, ms or s), throughput (commands/s, optional k or M suffix) or errors / error_rate \
                          (a fraction like 0.01 or a percentage like 1%); op <, <=, > or >=; e.g. p99<5ms, \
                          throughput>=100k, errors<1%";

impl FromStr for Threshold {
    type Err = String;

    fn from_str(text: &str) -> Result<Threshold, String> {
        let expression = text.trim();
        let refuse = |why: String| format!("invalid threshold {expression:?}: {why}; expected {SYNTAX}");
        let at = expression.find(['<', '>']).ok_or_else(|| refuse("no operator".into()))?;
        let (name, rest) = (expression[..at].trim(), &expression[at..]);
        let (op, value) = match rest.as_bytes() {
            [b'<', b'=', ..] => (Op::LessOrEqual, &rest[2..]),
            [b'>', b'=', ..] => (Op::GreaterOrEqual, &rest[2..]),
            [b'<', ..] => (Op::Less, &rest[1..]),
            _ => (Op::Greater, &rest[1..]),
        };
        let metric = Metric::NAMES
            .iter()
            .find(|(written, _)| *written == name)
            .map(|(_, metric)| *metric)
            .ok_or_else(|| refuse(format!("unknown metric {name:?}")))?;
        let value = value.trim();
        let (limit, unit) = match metric {
            Metric::Throughput => (throughput(value).map_err(refuse)?, TimeUnit::Micros),
            Metric::ErrorRate => (error_rate(value).map_err(refuse)?, TimeUnit::Micros),
            _ => latency(value).map_err(refuse)?,
        };
        Ok(Threshold { expression: expression.to_string(), metric, op, limit, unit })
    }
}

/// `digits[.digits]`, scaled by ten to the `exponent`, read exactly as `f64` parsing rounds
/// (no arithmetic: `1.1ms` is exactly the `f64` nearest 1100 us).
fn decimal(number: &str, exponent: i32) -> Option<f64> {
    let mut parts = number.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let fraction = parts.next().unwrap_or("");
    let digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if whole.len() + fraction.len() == 0 || !digits(whole) || !digits(fraction) {
        return None;
    }
    format!("{number}e{exponent}").parse().ok()
}

fn latency(value: &str) -> Result<(f64, TimeUnit), String> {
    let (number, unit) = value.split_at(value.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(value.len()));
    let (exponent, unit) = match unit.trim() {
        _ if number.is_empty() => return Err(format!("the latency {value:?} is not a number with a unit (5ms)")),
        "us" | "µs" => (0, TimeUnit::Micros),
        "ms" => (3, TimeUnit::Millis),
        "s" => (6, TimeUnit::Seconds),
        "" => return Err(format!("the latency {value:?} needs a unit: us, ms or s (e.g. 5ms)")),
        other => return Err(format!("unknown latency unit {other:?} (us, ms or s)")),
    };
    let limit =
        decimal(number, exponent).ok_or_else(|| format!("the latency {value:?} is not a number with a unit (5ms)"))?;
    Ok((limit, unit))
}

fn throughput(value: &str) -> Result<f64, String> {
    let (number, exponent) = match value.strip_suffix('k') {
        Some(number) => (number, 3),
        None => value.strip_suffix('M').map_or((value, 0), |number| (number, 6)),
    };
    decimal(number.trim(), exponent)
        .ok_or_else(|| format!("the throughput {value:?} is not a number of commands/s (100000, 100k, 1.5M)"))
}

fn error_rate(value: &str) -> Result<f64, String> {
    let (number, exponent, most) = match value.strip_suffix('%') {
        Some(number) => (number.trim(), -2, "100%"),
        None => (value, 0, "1"),
    };
    let rate = decimal(number, exponent)
        .ok_or_else(|| format!("the error rate {value:?} is not a fraction (0.01) or a percentage (1%)"))?;
    if rate > 1.0 {
        return Err(format!("the error rate {value:?} is over {most} (write a percentage as 1%)"));
    }
    Ok(rate)
}

impl fmt::Display for Threshold {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.expression)
    }
}

impl Threshold {
    /// The metric it measures.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The comparison.
    pub fn op(&self) -> Op {
        self.op
    }

    /// The value compared with, in [`Metric::unit`] (latencies in microseconds).
    pub fn limit(&self) -> f64 {
        self.limit
    }

    /// Evaluates the threshold on a report.
    pub fn evaluate(&self, report: &Report) -> Verdict {
        let actual = if report.requests == 0 { None } else { Some(self.measure(report)) };
        Verdict {
            expression: self.expression.clone(),
            metric: self.metric.name(),
            op: self.op.symbol(),
            limit: self.limit,
            unit: self.metric.unit(),
            actual,
            pass: actual.is_some_and(|actual| self.op.holds(actual, self.limit)),
            observed: match actual {
                Some(_) => self.describe(report),
                None => "no measured requests".into(),
            },
        }
    }

    /// The report's value of the metric, in [`Metric::unit`].
    fn measure(&self, report: &Report) -> f64 {
        match self.metric {
            Metric::Throughput => report.throughput_per_s,
            Metric::ErrorRate => error_fraction(report),
            _ => self.micros(report) as f64,
        }
    }

    /// A latency metric's value in microseconds, from the report's overall ladder.
    fn micros(&self, report: &Report) -> u64 {
        let ladder = &report.latency_us;
        match self.metric {
            Metric::P50 => ladder.p50,
            Metric::P90 => ladder.p90,
            Metric::P99 => ladder.p99,
            Metric::P99_9 => ladder.p99_9,
            Metric::P99_99 => ladder.p99_99,
            Metric::Max => ladder.max,
            Metric::Mean => ladder.mean,
            Metric::Throughput | Metric::ErrorRate => 0,
        }
    }

    /// The measured value as people read it: `p99 3.2 ms`, `throughput 104212.7 commands/s`.
    fn describe(&self, report: &Report) -> String {
        let name = self.metric.name();
        match self.metric {
            Metric::Throughput => return format!("{name} {:.1} commands/s", report.throughput_per_s),
            Metric::ErrorRate => {
                let (errors, commands) = errors(report);
                #[allow(clippy::float_arithmetic)] // a percentage for people, not money
                let percent = error_fraction(report) * 100.0;
                return format!("{name} {percent:.3}%: {errors} of {commands} commands not approved");
            }
            _ => {}
        }
        let micros = self.micros(report);
        let (scale, width, unit) = match self.unit {
            TimeUnit::Micros => return format!("{name} {micros} us"),
            TimeUnit::Millis => (1_000, 3, "ms"),
            TimeUnit::Seconds => (1_000_000, 6, "s"),
        };
        // Exact: whole units, then the remaining microseconds without trailing zeros.
        let fraction = format!("{:0width$}", micros % scale);
        let fraction = fraction.trim_end_matches('0');
        let dot = if fraction.is_empty() { "" } else { "." };
        format!("{name} {}{dot}{fraction} {unit}", micros / scale)
    }
}

/// Measured commands not approved, and measured commands.
fn errors(report: &Report) -> (u64, u64) {
    let approved = report.outcomes.get(APPROVED).copied().unwrap_or(0);
    (report.commands.saturating_sub(approved), report.commands)
}

fn error_fraction(report: &Report) -> f64 {
    let (errors, commands) = errors(report);
    #[allow(clippy::float_arithmetic)] // a rate, not money
    let fraction = errors as f64 / commands.max(1) as f64;
    fraction
}

/// A threshold evaluated on a run (one per `--threshold`, in the report and its JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The expression as given (`p99<5ms`).
    pub expression: String,
    /// The metric (`p99`, `throughput`, `error_rate`, ...).
    pub metric: &'static str,
    /// The comparison (`<`, `<=`, `>`, `>=`).
    pub op: &'static str,
    /// The value compared with, in `unit`.
    pub limit: f64,
    /// `us` (latencies), `commands/s` (throughput) or `fraction` (error rate).
    pub unit: &'static str,
    /// The run's value in `unit`; `None` when it measured no request.
    pub actual: Option<f64>,
    /// Whether the run met the threshold.
    pub pass: bool,
    /// The run's value as people read it (`p99 3.2 ms`).
    pub observed: String,
}

impl fmt::Display for Verdict {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.pass { "PASS" } else { "FAIL" };
        write!(formatter, "threshold {}: {verdict} ({})", self.expression, self.observed)
    }
}

/// Evaluates every threshold on a report.
pub fn evaluate(thresholds: &[Threshold], report: &Report) -> Vec<Verdict> {
    thresholds.iter().map(|threshold| threshold.evaluate(report)).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::report::{Ladder, Recorder};

    fn parse(text: &str) -> Threshold {
        text.parse().unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    fn parts(text: &str) -> (Metric, Op, f64) {
        let threshold = parse(text);
        (threshold.metric(), threshold.op(), threshold.limit())
    }

    /// A report of 1,000 requests (one command each, `errors` not approved) with this ladder.
    fn report(ladder: Ladder, throughput: f64, errors: u64) -> Report {
        let mut report = Report::new("embedded", "test".into(), &Recorder::default(), Duration::from_secs(1));
        report.latency_us = ladder;
        report.requests = 1_000;
        report.commands = 1_000;
        report.throughput_per_s = throughput;
        report.outcomes.insert(APPROVED.into(), 1_000 - errors);
        if errors > 0 {
            report.outcomes.insert("busy".into(), errors);
        }
        report
    }

    fn ladder() -> Ladder {
        Ladder {
            p50: 800,
            p90: 1_500,
            p99: 5_000,
            p99_9: 7_250,
            p99_99: 12_000,
            max: 1_500_000,
            mean: 950,
            requests: 1_000,
        }
    }

    #[test]
    fn every_metric_parses() {
        assert_eq!(parts("p50<1ms"), (Metric::P50, Op::Less, 1_000.0));
        assert_eq!(parts("p90<1ms"), (Metric::P90, Op::Less, 1_000.0));
        assert_eq!(parts("p99<5ms"), (Metric::P99, Op::Less, 5_000.0));
        assert_eq!(parts("p99.9<5ms"), (Metric::P99_9, Op::Less, 5_000.0));
        assert_eq!(parts("p99.99<5ms"), (Metric::P99_99, Op::Less, 5_000.0));
        assert_eq!(parts("max<1s"), (Metric::Max, Op::Less, 1_000_000.0));
        assert_eq!(parts("mean<800us"), (Metric::Mean, Op::Less, 800.0));
        assert_eq!(parts("throughput>=100000"), (Metric::Throughput, Op::GreaterOrEqual, 100_000.0));
        assert_eq!(parts("errors<0.01"), (Metric::ErrorRate, Op::Less, 0.01));
        assert_eq!(parts("error_rate<0.01"), (Metric::ErrorRate, Op::Less, 0.01));
        assert_eq!(Metric::ErrorRate.name(), "error_rate");
        assert_eq!(Metric::P99_9.name(), "p99.9");
    }

    #[test]
    fn every_operator_parses() {
        assert_eq!(parts("p99<5ms").1, Op::Less);
        assert_eq!(parts("p99<=5ms").1, Op::LessOrEqual);
        assert_eq!(parts("p99>5ms").1, Op::Greater);
        assert_eq!(parts("p99>=5ms").1, Op::GreaterOrEqual);
        assert_eq!(parts(" p99 <= 5 ms "), (Metric::P99, Op::LessOrEqual, 5_000.0), "spaces are fine");
        assert_eq!(parse(" p99 <= 5 ms ").to_string(), "p99 <= 5 ms", "shown as given, trimmed");
    }

    #[test]
    fn every_unit_and_suffix_parses_exactly() {
        assert_eq!(parts("p99<250us").2, 250.0);
        assert_eq!(parts("p99<250µs").2, 250.0);
        assert_eq!(parts("p99<0.5us").2, 0.5);
        assert_eq!(parts("p99<1.1ms").2, 1_100.0, "no 1100.0000000000002");
        assert_eq!(parts("p99<0.25ms").2, 250.0);
        assert_eq!(parts("p99<2s").2, 2_000_000.0);
        assert_eq!(parts("p99<1.5s").2, 1_500_000.0);
        assert_eq!(parts("p99<.5ms").2, 500.0);
        assert_eq!(parts("throughput>100k").2, 100_000.0);
        assert_eq!(parts("throughput>1.5M").2, 1_500_000.0);
        assert_eq!(parts("throughput>2500.5").2, 2_500.5);
        assert_eq!(parts("errors<1%").2, 0.01);
        assert_eq!(parts("errors<0.5%").2, 0.005);
        assert_eq!(parts("errors<=100%").2, 1.0);
        assert_eq!(parts("errors<=0").2, 0.0);
        assert_eq!(parts("errors<=1").2, 1.0);
    }

    #[test]
    fn bad_expressions_are_refused_with_the_syntax() {
        let refused = [
            ("p99", "no operator"),
            ("", "no operator"),
            ("p99=5ms", "no operator"),
            ("p98<5ms", "unknown metric \"p98\""),
            ("<5ms", "unknown metric \"\""),
            ("P99<5ms", "unknown metric \"P99\""),
            ("p99=<5ms", "unknown metric \"p99=\""),
            ("p99<5", "needs a unit"),
            ("p99<5m", "unknown latency unit \"m\""),
            ("p99<5sec", "unknown latency unit \"sec\""),
            ("p99<ms", "is not a number"),
            ("p99<-5ms", "is not a number"),
            ("p99<<5ms", "is not a number"),
            ("p99<1e3us", "unknown latency unit \"e3us\""),
            ("p99<1.2.3ms", "is not a number"),
            ("p99<5ms,", "unknown latency unit \"ms,\""),
            ("throughput>fast", "not a number of commands/s"),
            ("throughput>10G", "not a number of commands/s"),
            ("throughput>", "not a number of commands/s"),
            ("throughput>inf", "not a number of commands/s"),
            ("errors<5", "is over 1 (write a percentage as 1%)"),
            ("errors<101%", "is over 100%"),
            ("errors<1 percent", "not a fraction (0.01) or a percentage (1%)"),
            ("errors<nan", "not a fraction"),
        ];
        for (text, why) in refused {
            let error = text.parse::<Threshold>().unwrap_err();
            assert!(error.starts_with(&format!("invalid threshold {:?}: ", text.trim())), "{text}: {error}");
            assert!(error.contains(why), "{text}: {error}");
            assert!(error.ends_with(&format!("expected {SYNTAX}")), "{text}: {error}");
        }
    }

    #[test]
    fn latency_thresholds_pass_and_fail_at_the_boundary() {
        let report = report(ladder(), 0.0, 0);
        let pass = |text: &str| parse(text).evaluate(&report).pass;
        // p99 is exactly 5,000 us.
        assert!(!pass("p99<5ms"));
        assert!(pass("p99<=5ms"));
        assert!(pass("p99<5.001ms"));
        assert!(!pass("p99<=4999us"));
        assert!(!pass("p99>5ms"));
        assert!(pass("p99>=5ms"));
        assert!(pass("p99>4.999ms"));
        assert!(pass("p50<=800us") && !pass("p50<800us"));
        assert!(pass("p90<=1.5ms") && !pass("p90<1.5ms"));
        assert!(pass("p99.9<=7.25ms") && !pass("p99.9<7.25ms"));
        assert!(pass("p99.99<=0.012s") && !pass("p99.99<0.012s"));
        assert!(pass("max<=1.5s") && !pass("max<1.5s"));
        assert!(pass("mean<=950us") && !pass("mean<950us"));
    }

    #[test]
    fn throughput_and_error_thresholds_pass_and_fail_at_the_boundary() {
        let fast = report(ladder(), 100_000.0, 10);
        let pass = |text: &str| parse(text).evaluate(&fast).pass;
        assert!(pass("throughput>=100k") && pass("throughput>=100000") && !pass("throughput>100k"));
        assert!(!pass("throughput>=100000.1") && pass("throughput<=0.1M") && !pass("throughput<0.1M"));
        // 10 of 1,000 commands not approved: exactly 1%.
        assert!(pass("errors<=1%") && pass("errors<=0.01") && pass("error_rate<=0.01"));
        assert!(!pass("errors<1%") && !pass("errors<0.01"));
        assert!(pass("errors>0.9%") && !pass("errors>1%"));
        let clean = report(ladder(), 1.0, 0);
        assert!(parse("errors<=0").evaluate(&clean).pass);
        assert!(!parse("errors>0").evaluate(&clean).pass);
    }

    #[test]
    fn verdicts_read_in_the_thresholds_unit() {
        let report = report(ladder(), 104_212.66, 10);
        let line = |text: &str| parse(text).evaluate(&report).to_string();
        assert_eq!(line("p99<5ms"), "threshold p99<5ms: FAIL (p99 5 ms)");
        assert_eq!(line("p99.9<8ms"), "threshold p99.9<8ms: PASS (p99.9 7.25 ms)");
        assert_eq!(line("p99<=5000us"), "threshold p99<=5000us: PASS (p99 5000 us)");
        assert_eq!(line("max<2s"), "threshold max<2s: PASS (max 1.5 s)");
        assert_eq!(line("mean<1ms"), "threshold mean<1ms: PASS (mean 0.95 ms)");
        assert_eq!(line("throughput>=100k"), "threshold throughput>=100k: PASS (throughput 104212.7 commands/s)");
        assert_eq!(
            line("errors<1%"),
            "threshold errors<1%: FAIL (error_rate 1.000%: 10 of 1000 commands not approved)"
        );
        let verdict = parse("p99<5ms").evaluate(&report);
        assert_eq!((verdict.metric, verdict.op, verdict.unit), ("p99", "<", "us"));
        assert_eq!((verdict.limit, verdict.actual), (5_000.0, Some(5_000.0)));
        let json = serde_json::to_value(&verdict).unwrap();
        assert_eq!(json["expression"], "p99<5ms");
        assert_eq!(json["pass"], false);
        assert_eq!(json["actual"], 5_000.0);
    }

    #[test]
    fn a_run_without_measurements_fails_every_threshold() {
        let empty = Report::new("embedded", "test".into(), &Recorder::default(), Duration::from_secs(1));
        for text in ["p99<1s", "throughput<1M", "errors<=100%", "mean>=0us"] {
            let verdict = parse(text).evaluate(&empty);
            assert!(!verdict.pass, "{text}");
            assert_eq!(verdict.actual, None);
            assert_eq!(verdict.to_string(), format!("threshold {text}: FAIL (no measured requests)"));
        }
    }

    #[test]
    fn the_exit_code_reports_a_failed_threshold_after_conservation() {
        use crate::report::Conservation;

        let mut report = report(ladder(), 50_000.0, 0);
        report.thresholds = evaluate(&[parse("p99<10ms"), parse("throughput>=10k")], &report);
        assert_eq!(report.exit_code(), 0);
        assert!(report.render().ends_with(
            "threshold p99<10ms: PASS (p99 5 ms)\nthreshold throughput>=10k: PASS (throughput 50000.0 commands/s)\n"
        ));
        report.thresholds = evaluate(&[parse("p99<10ms"), parse("throughput>=100k")], &report);
        assert_eq!(report.exit_code(), EXIT_FAILED);
        assert!(report.render().contains("threshold throughput>=100k: FAIL (throughput 50000.0 commands/s)\n"));
        report.conservation = Some(Conservation::new(10, 0, 9, 0, 5, 0));
        assert_eq!(report.exit_code(), 3, "a conservation violation comes first");
        report.conservation = Some(Conservation::new(10, 0, 10, 0, 5, 0));
        assert_eq!(report.exit_code(), EXIT_FAILED);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["thresholds"][1]["expression"], "throughput>=100k");
        assert_eq!(json["thresholds"][1]["pass"], false);
        assert_eq!(json["latency_us"]["mean"], 950);
    }
}
