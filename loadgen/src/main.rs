//! `kassa-loadgen`: load generator for kassa. See `kassa-loadgen --help`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use kassa_engine::Durability;
use kassa_loadgen::embedded::{self, EmbeddedLoad};
use kassa_loadgen::skew::Skew;

/// Drives kassa with transfers and reports throughput, outcomes by code, the latency ladder
/// (p50/p90/p99/p99.9/p99.99/max from HDR histograms) and a money-conservation check.
///
/// Examples:
///   kassa-loadgen --target embedded --accounts 100000 --connections 1000 --duration 10
///   kassa-loadgen --target embedded --connections 8 --batch 1000 --skew zipf:1.1 --json out.json
///   kassa-loadgen --target http --addr 127.0.0.1:8080 --api-key "$KASSA_ADMIN_KEY" --connections 64 --accounts 10000
///   kassa-loadgen --target iso8583 --addr 127.0.0.1:8583 --http-addr 127.0.0.1:8080 --api-key "$KASSA_ADMIN_KEY" --connections 32 --accounts 1000
///   kassa-loadgen --target tcp --addr 127.0.0.1:7400 --api-key "$KASSA_ADMIN_KEY" --connections 1000 --duration 10
#[derive(Parser, Debug)]
#[command(version, about, verbatim_doc_comment)]
struct Cli {
    /// What to drive: the engine in this process, or a running `kassa serve` over TCP.
    #[arg(long, value_enum, default_value_t = Target::Embedded)]
    target: Target,
    /// Server address for network targets.
    #[arg(long, default_value = "127.0.0.1:7400")]
    addr: std::net::SocketAddr,
    /// HTTP address the iso8583 target uses for setup and authorizations.
    #[arg(long, default_value = "127.0.0.1:8080")]
    http_addr: std::net::SocketAddr,
    /// Admin API key for network targets.
    #[arg(long, env = "KASSA_ADMIN_KEY", default_value = "")]
    api_key: String,
    /// Requests in flight per connection (network targets).
    #[arg(long, default_value_t = 1)]
    depth: usize,
    /// Data directory of the embedded engine (emptied first).
    #[arg(long, default_value = "./kassa-loadgen-data")]
    data_dir: PathBuf,
    /// Accounts created and funded before the run.
    #[arg(long, default_value_t = 100_000)]
    accounts: usize,
    /// Concurrent submitters (closed loop: each waits for its answer before the next request).
    #[arg(long, default_value_t = 1_000)]
    connections: usize,
    /// Transfers per request: 1 for single commands, more for client-side batches (max 8190).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=8190))]
    batch: u16,
    /// Measured seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Unmeasured warm-up seconds before that.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Stop after this many measured commands if that comes first.
    #[arg(long)]
    count: Option<u64>,
    /// Account skew: `uniform` or `zipf:S` (hot accounts; e.g. zipf:1.1).
    #[arg(long, default_value = "uniform")]
    skew: Skew,
    /// Skip fsync (NOT durable; measures the pipeline without the disk).
    #[arg(long)]
    unsafe_no_sync: bool,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Target {
    /// The engine in this process.
    Embedded,
    /// `kassa serve`'s TCP binary protocol.
    Tcp,
    /// `kassa serve`'s HTTP/JSON API (`--addr` is then the HTTP address).
    Http,
    /// POS over ISO 8583 (`--addr` is the ISO 8583 address, `--http-addr` the HTTP one).
    Iso8583,
}

fn main() {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let network = kassa_loadgen::NetworkLoad {
        addr: cli.addr,
        api_key: cli.api_key.clone(),
        accounts: cli.accounts.max(2),
        connections: cli.connections.max(1),
        duration: Duration::from_secs(cli.duration),
        warmup: Duration::from_secs(cli.warmup),
        skew: cli.skew,
        run: std::process::id(),
    };
    let report = match cli.target {
        Target::Iso8583 => Some(runtime.block_on(kassa_loadgen::iso8583::run(network, cli.http_addr))),
        Target::Http => Some(runtime.block_on(kassa_loadgen::http::run(network))),
        Target::Tcp => Some(runtime.block_on(kassa_loadgen::tcp::run(network, cli.depth))),
        Target::Embedded => None,
    };
    if let Some(report) = report {
        finish(report, cli.json);
        return;
    }
    let load = EmbeddedLoad {
        data_dir: cli.data_dir,
        accounts: cli.accounts.max(2),
        connections: cli.connections.max(1),
        batch: usize::from(cli.batch),
        duration: Duration::from_secs(cli.duration),
        warmup: Duration::from_secs(cli.warmup),
        count: cli.count,
        skew: cli.skew,
        durability: if cli.unsafe_no_sync { Durability::UnsafeNoSync } else { Durability::Sync },
    };
    finish(runtime.block_on(embedded::run(load)), cli.json);
}

fn finish(report: Result<kassa_loadgen::report::Report, String>, json: Option<PathBuf>) {
    let report = match report {
        Ok(report) => report,
        Err(error) => {
            eprintln!("kassa-loadgen: {error}");
            std::process::exit(1);
        }
    };
    print!("{}", report.render());
    if let Some(path) = json {
        let json = serde_json::to_string_pretty(&report).expect("the report serializes");
        if let Err(error) = std::fs::write(&path, json) {
            eprintln!("kassa-loadgen: cannot write {}: {error}", path.display());
            std::process::exit(1);
        }
    }
    if report.conservation.is_some_and(|check| !check.holds()) {
        std::process::exit(3);
    }
}
