//! `kassa-loadgen`: load generator for kassa. See `kassa-loadgen --help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use kassa_engine::Durability;
use kassa_loadgen::duration;
use kassa_loadgen::mix::Mix;
use kassa_loadgen::skew::Skew;
use kassa_loadgen::threshold::Threshold;
use kassa_loadgen::{LoadConfig, Target};

/// Drives kassa with a weighted mix of payment flows and reports throughput, outcomes by code,
/// the latency ladder (p50/p90/p99/p99.9/p99.99/max, HDR histograms) overall and per step, and
/// a money-conservation check.
///
/// SCENARIOS (--mix name=weight,...; default transfers=100):
///   transfers  a transfer between two accounts
///   pos        authorize (the user's secure code), then settle a purchase with the code
///   holds      place a hold, then capture part of it or void it
///   bills      open a bill, add 1-3 items at the terminal, submit, confirm with the challenge
///   splits     request a split from 3 members, each pays their share (a failed payment
///              cancels the split, refunding the paid shares)
///   coupons    the merchant issues a coupon, the holder shares it into their pool, a contact
///              claims it and redeems it with a payment: at the POS (authorize, settle with the
///              coupon) or by the merchant's operator (redeem, then pay what is left)
/// Each command of a flow is a step, reported as <scenario>.<step> (pos.settle, ...); a flow
/// stops at its first step that is not approved.
///
/// TARGETS (--target) and which channel carries each step:
///   embedded   the engine in this process on --data-dir (emptied first): every step is an
///              Engine::submit; conservation is read from the engine.
///   tcp        kassa serve's binary protocol at --addr (default 127.0.0.1:7400): every step
///              is a Command over it (--depth workers pipeline on one connection); it has no
///              reads, so conservation queries balances over HTTP at --http-addr.
///   http       kassa serve's HTTP API at --addr (default 127.0.0.1:8080): every step is its
///              REST call (coupon redemptions with an operator key the setup creates).
///   iso8583    ISO 8583 at --addr (default 127.0.0.1:8583) where a message exists: pos
///              settlements as 0200, holds as a 0100 authorization hold then either a 0400
///              reversal or a partial capture over HTTP; everything else (authorizations,
///              bills, splits, coupons, coupon settlements: 0200 has no coupon field, setup,
///              conservation) over HTTP at --http-addr. Each worker is one terminal.
///
/// MODES:
///   closed loop (default, no --rate): --connections x --depth workers, each sends its next
///     step when its previous one answered; latency is from the actual send.
///   open loop (--rate N): N steps per second in total on a fixed schedule (step k is due at
///     start + k/N); latency is measured from each step's INTENDED send time, so when no
///     worker is free or the server is slow the wait counts (no coordinated omission).
///     --connections x --depth is then the most steps in flight at once.
///
/// A run: setup (accounts opened and funded with 10,000,000.00 EUR each, the merchant and its
/// account, one terminal per worker, the operator, contacts for coupons), then --warmup
/// unmeasured, then --duration or --count measured commands, whichever comes first. Durations:
/// a number of seconds (10, 0.5) or a number with a unit (500ms, 10s, 2m, 1h, 1m30s).
/// Ids are prefixed lg<pid> so runs can share a server. The end checks conservation: the
/// balances of every account the run touched (merchant included) plus the escrow of splits left
/// open must equal the run's deposits minus withdrawals; exit code 3 when they differ.
/// Output: a progress bar on stderr (when it is a terminal), the report on stdout, --json FILE,
/// --plot FILE.svg (throughput and p99 per second).
///
/// THRESHOLDS (--threshold EXPR, repeatable; like k6's): EXPR is <metric><op><value>, op one of
/// <, <=, >, >= (quote it: the shell reads < and > as redirections):
///   p50 p90 p99 p99.9 p99.99 max mean   the overall request latency of the report's latency
///                                       line (every step together); value with a unit us, ms
///                                       or s: 'p99<5ms', 'p99.9<=1.5ms', 'max<1s', 'mean<800us'
///   throughput                          measured commands/s, optional k (x1000) or M suffix:
///                                       'throughput>=100000', 'throughput>=100k'
///   errors (or error_rate)              the share of measured commands not approved
///                                       (rejections and busy alike), a fraction or a percentage:
///                                       'errors<0.01', 'errors<=1%'
/// After the run each prints a line, e.g. "threshold p99<5ms: PASS (p99 3.2 ms)" or
/// "threshold p99<5ms: FAIL (p99 7.913 ms)", and goes into --json as "thresholds". A run that
/// measured no request fails every threshold.
///
/// EXIT CODES:
///   0   the run completed, money was conserved and every threshold passed
///   1   the run or writing --json / --plot failed
///   2   invalid arguments (a bad --threshold or --duration included)
///   3   conservation violated (whatever the thresholds say)
///   99  a threshold failed
///
/// Examples:
///   kassa-loadgen --target embedded --accounts 100000 --connections 1000 --duration 10
///   kassa-loadgen --target embedded --connections 8 --batch 1000 --skew zipf:1.1 --json out.json
///   kassa-loadgen --target embedded --mix transfers=70,pos=10,holds=10,bills=4,splits=3,coupons=3 --rate 20000 --plot run.svg
///   kassa-loadgen --target embedded --mix bills --count 10000 --unsafe-no-sync
///   kassa-loadgen --target embedded --duration 1m30s --warmup 5s --threshold 'p99<5ms' --threshold 'throughput>=100k'
///   kassa-loadgen --target tcp --addr 127.0.0.1:7400 --api-key "$KASSA_ADMIN_KEY" --connections 64 --depth 16 --duration 10
///   kassa-loadgen --target http --api-key "$KASSA_ADMIN_KEY" --connections 64 --accounts 10000 --mix transfers=50,splits=50
///   kassa-loadgen --target iso8583 --http-addr 127.0.0.1:8080 --api-key "$KASSA_ADMIN_KEY" --mix pos=80,holds=20 --rate 2000
#[derive(Parser, Debug)]
#[command(version, about, verbatim_doc_comment)]
struct Cli {
    /// What to drive (see TARGETS above).
    #[arg(long, value_enum, default_value_t = Target::Embedded)]
    target: Target,
    /// Address of the listener driven [default: 127.0.0.1:7400 tcp, :8080 http, :8583 iso8583].
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// HTTP API address: setup and non-ISO steps of iso8583, balance queries of tcp.
    #[arg(long, default_value = "127.0.0.1:8080")]
    http_addr: SocketAddr,
    /// Admin API key for network targets.
    #[arg(long, env = "KASSA_ADMIN_KEY", default_value = "", hide_env_values = true)]
    api_key: String,
    /// Scenario weights, e.g. transfers=70,pos=10,holds=10,bills=4,splits=3,coupons=3.
    #[arg(long, default_value = "transfers=100")]
    mix: Mix,
    /// Open loop: this many steps per second in total, latency from intended send times.
    /// Without it: closed loop.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    rate: Option<u64>,
    /// Connections (embedded: concurrent submitters).
    #[arg(long, default_value_t = 1_000)]
    connections: usize,
    /// Workers per connection: requests in flight per connection (tcp pipelines them on the
    /// connection; the other targets open one connection per worker).
    #[arg(long, default_value_t = 1)]
    depth: usize,
    /// Transfers per request in the transfers flow, as one engine batch (embedded and tcp).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=8190))]
    batch: u16,
    /// Accounts created and funded in the setup phase.
    #[arg(long, default_value_t = 100_000)]
    accounts: usize,
    /// Account skew: `uniform` or `zipf:S` (hot accounts; e.g. zipf:1.1).
    #[arg(long, default_value = "uniform")]
    skew: Skew,
    /// Measured time: seconds (10, 0.5) or with a unit (500ms, 10s, 2m, 1h, 1m30s).
    #[arg(long, default_value = "10s", value_parser = duration::parse)]
    duration: Duration,
    /// Unmeasured warm-up before that, written as --duration.
    #[arg(long, default_value = "1s", value_parser = duration::parse)]
    warmup: Duration,
    /// Stop after this many measured commands if that comes before --duration (every target).
    #[arg(long)]
    count: Option<u64>,
    /// Data directory of the embedded engine (emptied first).
    #[arg(long, default_value = "./kassa-loadgen-data")]
    data_dir: PathBuf,
    /// Embedded: skip fsync (NOT durable; measures the pipeline without the disk).
    #[arg(long)]
    unsafe_no_sync: bool,
    /// Embedded: the engine's idempotency table size (default: 16,777,216: half a minute at full speed does not fill it).
    #[arg(long)]
    ids_max: Option<usize>,
    /// Embedded: the engine's partitions (each a state machine with its own executor).
    #[arg(long, default_value_t = 1)]
    partitions: u16,
    /// Embedded: the partition the merchant's account lives on [default: wherever its name
    /// places it].
    #[arg(long)]
    merchant_partition: Option<u16>,
    /// Embedded: name each account so that it lives on its user's partition (what placing a
    /// user's accounts with the user would give) [default: wherever its name places it].
    #[arg(long)]
    accounts_with_users: bool,
    /// Embedded: days ids are answered as repeats, found in storage past the id table's window
    /// (0: the window only).
    #[arg(long, default_value_t = 0)]
    idempotency_retention_days: u64,
    /// Embedded: seconds a resolved POS settlement or authorization stays in memory before it
    /// moves to storage [default: the engine's, 60].
    #[arg(long)]
    resolved_in_memory_secs: Option<u64>,
    /// Seed of the random choices (scenarios, accounts, amounts).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the report as JSON to this file (with the per-second time series).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write throughput and p99 latency per second as an SVG chart to this file.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Pass/fail threshold <metric><op><value>, repeatable, e.g. 'p99<5ms', 'throughput>=100k',
    /// 'errors<1%' (see THRESHOLDS above); exit code 99 when one fails.
    #[arg(long = "threshold", value_name = "EXPR")]
    thresholds: Vec<Threshold>,
}

fn main() {
    let cli = Cli::parse();
    let mut config = LoadConfig::new(cli.target);
    config.addr = cli.addr;
    config.http_addr = cli.http_addr;
    config.api_key = cli.api_key;
    config.mix = cli.mix;
    config.rate = cli.rate;
    config.connections = cli.connections;
    config.depth = cli.depth;
    config.batch = usize::from(cli.batch);
    config.accounts = cli.accounts;
    config.skew = cli.skew;
    config.duration = cli.duration;
    config.warmup = cli.warmup;
    config.count = cli.count;
    config.data_dir = cli.data_dir;
    config.ids_max = cli.ids_max;
    config.idempotency_retention_days = cli.idempotency_retention_days;
    config.resolved_in_memory_secs = cli.resolved_in_memory_secs;
    config.partitions = cli.partitions;
    config.merchant_partition = cli.merchant_partition;
    config.accounts_with_users = cli.accounts_with_users;
    config.durability = if cli.unsafe_no_sync { Durability::UnsafeNoSync } else { Durability::Sync };
    config.seed = cli.seed;
    config.progress = !cli.quiet;
    config.thresholds = cli.thresholds;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    let report = match runtime.block_on(kassa_loadgen::run(config)) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("kassa-loadgen: {error}");
            std::process::exit(1);
        }
    };
    print!("{}", report.render());
    if let Some(path) = &cli.json {
        let json = serde_json::to_string_pretty(&report).expect("the report serializes");
        if let Err(error) = std::fs::write(path, json) {
            eprintln!("kassa-loadgen: cannot write {}: {error}", path.display());
            std::process::exit(1);
        }
    }
    if let Some(path) = &cli.plot
        && let Err(error) = kassa_loadgen::plot::write_svg(&report, path)
    {
        eprintln!("kassa-loadgen: cannot write the plot: {error}");
        std::process::exit(1);
    }
    std::process::exit(report.exit_code());
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, String> {
        Cli::try_parse_from([&["kassa-loadgen"], args].concat()).map_err(|error| error.to_string())
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_are_written_as_people_write_them() {
        let cli = parse(&[]).unwrap();
        assert_eq!((cli.duration, cli.warmup), (Duration::from_secs(10), Duration::from_secs(1)));
        let cli = parse(&["--duration", "1m30s", "--warmup", "500ms"]).unwrap();
        assert_eq!((cli.duration, cli.warmup), (Duration::from_secs(90), Duration::from_millis(500)));
        let cli = parse(&["--duration", "10", "--warmup", "0.5"]).unwrap();
        assert_eq!((cli.duration, cli.warmup), (Duration::from_secs(10), Duration::from_millis(500)));
        let cli = parse(&["--duration=2m", "--warmup=1h"]).unwrap();
        assert_eq!((cli.duration, cli.warmup), (Duration::from_secs(120), Duration::from_secs(3_600)));
        for flag in ["--duration", "--warmup"] {
            let error = parse(&[flag, "10x"]).unwrap_err();
            assert!(error.contains(&format!("invalid value '10x' for '{flag} <")), "{error}");
            assert!(error.contains(duration::FORMS), "{error}");
        }
    }

    #[test]
    fn thresholds_repeat_and_bad_ones_are_refused_at_parsing() {
        let cli = parse(&["--threshold", "p99<5ms", "--threshold", "throughput>=100000"]).unwrap();
        let written: Vec<String> = cli.thresholds.iter().map(ToString::to_string).collect();
        assert_eq!(written, ["p99<5ms", "throughput>=100000"]);
        assert!(parse(&[]).unwrap().thresholds.is_empty());
        let error = parse(&["--threshold", "p99<5"]).unwrap_err();
        assert!(error.contains("invalid value 'p99<5' for '--threshold <EXPR>'"), "{error}");
        assert!(error.contains("needs a unit"), "{error}");
    }
}
