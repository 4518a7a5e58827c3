//! kassa-loadgen: drives kassa with a weighted mix of payment flows, in closed or open loop, and
//! reports throughput, outcomes by code, the latency ladder (p50 ... p99.99, max, from HDR
//! histograms) overall and per step, a per-second time series, and a money-conservation check.
//!
//! Layout:
//! - [`mix`]: the scenarios and their weights (`--mix transfers=70,pos=10,...`).
//! - [`schedule`]: closed loop or open loop (intended send times), deadline and `--count`.
//! - [`scenario`]: the flows, written once in engine commands; the setup phase; run ids.
//! - [`channel`]: how a worker reaches kassa; [`embedded`], [`tcp`], [`http`], [`iso8583`]
//!   hold what is particular to each target.
//! - [`skew`]: which accounts a flow touches: uniform or Zipf-skewed (hot accounts).
//! - [`report`]: histograms, outcome counts, time series, the printed and JSON report.
//! - [`progress`]: the live progress bar; [`plot`]: the SVG chart.
//! - [`threshold`]: pass/fail thresholds on the report (`--threshold 'p99<5ms'`).
//! - [`duration`]: `--duration`/`--warmup` as people write them (`10s`, `500ms`, `1m30s`, `10`).

pub mod channel;
pub mod duration;
pub mod embedded;
pub mod http;
pub mod iso8583;
pub mod mix;
pub mod plot;
pub mod progress;
pub mod report;
pub mod scenario;
pub mod schedule;
pub mod skew;
pub mod tcp;
pub mod threshold;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use kassa_engine::{Durability, Engine, Id};

use crate::channel::Channel;
use crate::mix::{Mix, Scenario};
use crate::progress::Progress;
use crate::report::{Conservation, Report, Stats};
use crate::scenario::{Ids, Shared, Worker};
use crate::schedule::{Mode, Pacer};
use crate::skew::{AccountPicker, Skew};
use crate::threshold::Threshold;

/// Most workers (connections x depth): terminal ids have room for this many.
pub const WORKERS_MAX: usize = 100_000;

/// Shards of the recorders (workers record into `index % SHARDS`).
const SHARDS: usize = 8;

/// What a run drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// The engine in this process (`--data-dir`).
    Embedded,
    /// `kassa serve`'s TCP binary protocol (`--addr`, default 127.0.0.1:7400).
    Tcp,
    /// `kassa serve`'s HTTP/JSON API (`--addr`, default 127.0.0.1:8080).
    Http,
    /// `kassa serve`'s ISO 8583 POS channel (`--addr`, default 127.0.0.1:8583) plus HTTP
    /// (`--http-addr`) for the steps ISO 8583 does not carry.
    Iso8583,
}

impl Target {
    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Target::Embedded => "embedded",
            Target::Tcp => "tcp",
            Target::Http => "http",
            Target::Iso8583 => "iso8583",
        }
    }

    /// The loopback address of `kassa serve`'s listener for this target.
    pub fn default_addr(self) -> SocketAddr {
        let port = match self {
            Target::Embedded | Target::Tcp => 7_400,
            Target::Http => 8_080,
            Target::Iso8583 => 8_583,
        };
        SocketAddr::from(([127, 0, 0, 1], port))
    }
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// What to drive.
    pub target: Target,
    /// The listener driven (network targets); `None`: the target's default.
    pub addr: Option<SocketAddr>,
    /// The HTTP API: setup and non-ISO steps of `iso8583`, conservation queries of `tcp`.
    pub http_addr: SocketAddr,
    /// An admin API key (network targets).
    pub api_key: String,
    /// Data directory of the embedded engine (emptied first).
    pub data_dir: PathBuf,
    /// Durability of the embedded engine.
    pub durability: Durability,
    /// Embedded: the idempotency table's size (`None`: the engine's default).
    pub ids_max: Option<usize>,
    /// Embedded: the engine's partitions.
    pub partitions: u16,
    /// Embedded: the partition the merchant's account lives on (`None`: wherever its name
    /// places it).
    pub merchant_partition: Option<u16>,
    /// Embedded: each account named so that it lives on its user's partition (what placing a
    /// user's accounts with the user would give), not wherever its name places it.
    pub accounts_with_users: bool,
    /// Embedded: days ids are answered as repeats (0: the id table's window only).
    pub idempotency_retention_days: u64,
    /// Embedded: seconds resolved settlements and authorizations stay in memory (`None`: the
    /// engine's default).
    pub resolved_in_memory_secs: Option<u64>,
    /// Accounts created and funded in the setup phase.
    pub accounts: usize,
    /// Which accounts flows touch.
    pub skew: Skew,
    /// Connections (or, embedded, submitters).
    pub connections: usize,
    /// Workers per connection (requests in flight per connection; TCP pipelines them on one
    /// connection, the other targets give each its own).
    pub depth: usize,
    /// Transfers per request in the transfers flow (embedded and tcp).
    pub batch: usize,
    /// Open loop at this many steps per second; `None`: closed loop.
    pub rate: Option<u64>,
    /// The scenario mix.
    pub mix: Mix,
    /// Measured time.
    pub duration: Duration,
    /// Unmeasured time first.
    pub warmup: Duration,
    /// Stop after this many measured commands, if that comes first.
    pub count: Option<u64>,
    /// Seed of the workers' random sources.
    pub seed: u64,
    /// A number that makes this run's ids unique on a shared server (`lg<run>-...`).
    pub run: u32,
    /// Show the progress bar on stderr.
    pub progress: bool,
    /// Pass/fail thresholds evaluated on the report ([`Report::thresholds`]).
    pub thresholds: Vec<Threshold>,
}

impl LoadConfig {
    /// The defaults for `target`: loopback addresses, 1,000 accounts, 16 connections, closed
    /// loop, transfers only, 10 s after 1 s of warm-up.
    pub fn new(target: Target) -> LoadConfig {
        LoadConfig {
            target,
            addr: None,
            http_addr: Target::Http.default_addr(),
            api_key: String::new(),
            data_dir: PathBuf::from("./kassa-loadgen-data"),
            durability: Durability::Sync,
            ids_max: None,
            idempotency_retention_days: 0,
            resolved_in_memory_secs: None,
            partitions: 1,
            merchant_partition: None,
            accounts_with_users: false,
            accounts: 1_000,
            skew: Skew::Uniform,
            connections: 16,
            depth: 1,
            batch: 1,
            rate: None,
            mix: Mix::default(),
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(1),
            count: None,
            seed: 1,
            run: std::process::id(),
            progress: false,
            thresholds: Vec::new(),
        }
    }

    /// The listener driven.
    pub fn addr(&self) -> SocketAddr {
        self.addr.unwrap_or_else(|| self.target.default_addr())
    }

    /// Connections x depth.
    pub fn workers(&self) -> usize {
        self.connections.saturating_mul(self.depth)
    }

    fn check(&self) -> Result<(), String> {
        if self.accounts < 2 {
            return Err("--accounts must be at least 2".into());
        }
        if self.connections == 0 || self.depth == 0 {
            return Err("--connections and --depth must be at least 1".into());
        }
        if self.workers() > WORKERS_MAX {
            return Err(format!("--connections x --depth must be at most {WORKERS_MAX}"));
        }
        if self.batch > 1 && !matches!(self.target, Target::Embedded | Target::Tcp) {
            return Err("--batch needs --target embedded or tcp (engine batches)".into());
        }
        if self.batch == 0 || self.batch > kassa_engine::constants::BATCH_COMMANDS_MAX {
            return Err(format!("--batch must be 1..={}", kassa_engine::constants::BATCH_COMMANDS_MAX));
        }
        if self.rate == Some(0) {
            return Err("--rate must be at least 1".into());
        }
        if self.merchant_partition.is_some_and(|partition| partition >= self.partitions) {
            return Err("--merchant-partition must be one of the engine's --partitions".into());
        }
        if self.merchant_partition.is_some() && self.target != Target::Embedded {
            return Err("--merchant-partition needs --target embedded".into());
        }
        if self.accounts_with_users && self.target != Target::Embedded {
            return Err("--accounts-with-users needs --target embedded".into());
        }
        Ok(())
    }

    fn mode(&self) -> Mode {
        match self.rate {
            Some(rate) => Mode::Open { rate },
            None => Mode::Closed,
        }
    }

    fn describe_mode(&self) -> String {
        let workers = self.workers();
        match self.rate {
            None => format!(
                "closed loop: {workers} workers ({} connections x depth {}), each sends its next step when the \
                 previous one answered",
                self.connections, self.depth
            ),
            Some(rate) => format!(
                "open loop: {rate} steps/s on a fixed schedule, latency from each step's intended send time, \
                 at most {workers} in flight ({} connections x depth {})",
                self.connections, self.depth
            ),
        }
    }

    fn describe_load(&self) -> String {
        let place = match self.target {
            Target::Embedded => format!("engine in {} ({:?})", self.data_dir.display(), self.durability),
            Target::Tcp => format!("TCP {} (balances over HTTP {})", self.addr(), self.http_addr),
            Target::Http => format!("HTTP {}", self.addr()),
            Target::Iso8583 => format!("ISO 8583 {} + HTTP {}", self.addr(), self.http_addr),
        };
        let batch = if self.batch > 1 { format!(", transfers in batches of {}", self.batch) } else { String::new() };
        format!("{place}, {} accounts ({:?}){batch}, run id lg{}", self.accounts, self.skew, self.run)
    }
}

/// What the setup made, per target.
enum Backend {
    Embedded(Arc<Engine>),
    Tcp,
    Http { operator_key: Option<String> },
}

/// Runs the setup, the load and the conservation check, evaluates the thresholds; returns the
/// report.
pub async fn run(config: LoadConfig) -> Result<Report, String> {
    config.check()?;
    let progress = Progress::new(config.progress);
    let result = run_with(&config, &progress).await;
    progress.finish();
    let mut report = result?;
    report.thresholds = threshold::evaluate(&config.thresholds, &report);
    Ok(report)
}

async fn run_with(config: &LoadConfig, progress: &Progress) -> Result<Report, String> {
    let (backend, ids, deposited) = prepare(config, progress).await?;
    progress.setup(format!("connecting {} workers", config.workers()));
    let channels = channels(config, &backend, &ids).await?;
    let shared = drive(config, progress, channels, &ids).await?;
    let elapsed = Instant::now().saturating_duration_since(shared.pacer.measure_from()).max(Duration::from_millis(1));

    let recorder = shared.stats.merged();
    let mut report = Report::new(config.target.name(), config.describe_load(), &recorder, elapsed);
    report.mode = config.describe_mode();
    report.mix = config.mix.to_string();
    report.timeline = shared.stats.timeline();

    progress.message("checking conservation");
    let splits: Vec<Id> = std::mem::take(&mut *shared.open_splits.lock().unwrap_or_else(PoisonError::into_inner));
    check_conservation(config, &backend, (&ids, splits, deposited), &mut report).await;
    if let Backend::Embedded(engine) = backend {
        tokio::task::spawn_blocking(move || engine.shutdown()).await.map_err(|error| error.to_string())?;
    }
    Ok(report)
}

/// Opens the embedded engine or reaches the server, and runs the setup phases: the backend,
/// the run's names, and the sum deposited.
async fn prepare(config: &LoadConfig, progress: &Progress) -> Result<(Backend, Ids, i128), String> {
    let mut ids = Ids::new(config.run);
    let workers = config.workers();
    // Over ISO 8583 a hold is a sale's pre-authorization at a terminal: it needs the merchant.
    let merchant = !config.mix.only_between_accounts() || config.target == Target::Iso8583;
    let engine = match config.target {
        Target::Embedded => {
            let engine = embedded::open(
                &config.data_dir,
                config.durability,
                config.ids_max,
                (config.partitions, config.idempotency_retention_days, config.resolved_in_memory_secs),
            )?;
            // In process the placement is known: the merchant's account may be named to live on
            // a chosen partition.
            if let Some(partition) = config.merchant_partition {
                ids = ids.with_merchant_account_on(engine.placement(), partition);
            }
            if config.accounts_with_users {
                ids = ids.with_accounts_on_users_partitions(engine.placement(), config.accounts);
            }
            Some(engine)
        }
        _ => None,
    };
    let (phases, deposited) = scenario::setup_phases(&ids, config.accounts, workers, &config.mix, merchant);
    let commands: usize = phases.iter().map(Vec::len).sum();
    progress.setup(format!("{commands} commands: {} accounts, merchant, {workers} terminals", config.accounts));
    let backend = match (config.target, engine) {
        (Target::Embedded, Some(engine)) => {
            embedded::setup(&engine, &phases).await?;
            Backend::Embedded(engine)
        }
        (Target::Embedded, None) => unreachable!("opened above"),
        (Target::Tcp, _) => {
            let client = tcp::connect(config.addr(), &config.api_key).await?;
            tcp::setup(&client, &phases).await?;
            Backend::Tcp
        }
        (Target::Http | Target::Iso8583, _) => {
            let http = http_addr(config);
            http::setup(http, &config.api_key, &phases).await?;
            let operator_key = if config.mix.contains(Scenario::Coupons) {
                Some(http::create_operator_key(http, &config.api_key, &ids.operator()).await?)
            } else {
                None
            };
            Backend::Http { operator_key }
        }
    };
    Ok((backend, ids, deposited))
}

/// Runs one worker per channel until the pacer ends the run, the progress bar following the
/// counters; returns what they shared (the counters, the splits left open).
async fn drive(
    config: &LoadConfig,
    progress: &Progress,
    channels: Vec<Channel>,
    ids: &Ids,
) -> Result<Arc<Shared>, String> {
    let start = Instant::now();
    let pacer = Pacer::new(config.mode(), start, config.warmup, config.duration, config.count);
    let shared = Arc::new(Shared {
        ids: ids.clone(),
        picker: AccountPicker::new(config.accounts, config.skew),
        accounts: config.accounts,
        mix: config.mix.clone(),
        iso: config.target == Target::Iso8583,
        batch: config.batch,
        stats: Stats::new(SHARDS, pacer.measure_from()),
        pacer,
        open_splits: Mutex::new(Vec::new()),
    });
    progress.start(config.count, config.warmup + config.duration);
    let tasks: Vec<_> = channels
        .into_iter()
        .enumerate()
        .map(|(index, channel)| tokio::spawn(Worker::new(index, shared.clone(), channel, config.seed).run()))
        .collect();
    let watch = async {
        for task in tasks {
            task.await.map_err(|error| format!("a worker failed: {error}"))?;
        }
        Ok::<(), String>(())
    };
    // The progress bar follows the counters until every worker is done.
    tokio::select! {
        result = watch => result?,
        () = progress.follow(&shared.pacer, &shared.stats, config.count) => {}
    }
    Ok(shared)
}

/// Reads every account the run touched (the merchant's included) and the splits' escrow, and
/// records whether they still hold what was deposited.
async fn check_conservation(
    config: &LoadConfig,
    backend: &Backend,
    (ids, splits, deposited): (&Ids, Vec<Id>, i128),
    report: &mut Report,
) {
    let mut accounts: Vec<Id> = (0..config.accounts).map(|index| ids.account(index)).collect();
    accounts.push(ids.merchant_account());
    let (account_count, split_count) = (accounts.len(), splits.len());
    let balances = match backend {
        Backend::Embedded(engine) => embedded::balances(engine, accounts, splits).await,
        Backend::Tcp | Backend::Http { .. } => {
            http::balances(http_addr(config), &config.api_key, accounts, splits).await
        }
    };
    match balances {
        Ok((balances, escrow)) => {
            report.conservation = Some(Conservation::new(deposited, 0, balances, escrow, account_count, split_count));
        }
        Err(error) => report.conservation_note = Some(error),
    }
}

/// The HTTP address: `--http-addr`, or `--addr` for the `http` target.
fn http_addr(config: &LoadConfig) -> SocketAddr {
    if config.target == Target::Http { config.addr() } else { config.http_addr }
}

/// One channel per worker, connected before the clock starts.
async fn channels(config: &LoadConfig, backend: &Backend, ids: &Ids) -> Result<Vec<Channel>, String> {
    let workers = config.workers();
    let mut channels = Vec::with_capacity(workers);
    match backend {
        Backend::Embedded(engine) => channels.extend((0..workers).map(|_| Channel::Embedded(engine.clone()))),
        Backend::Tcp => {
            for _ in 0..config.connections {
                if config.depth == 1 {
                    let client = tcp::connect_serial(config.addr(), &config.api_key).await?;
                    channels.push(Channel::TcpSerial(Box::new(client)));
                    continue;
                }
                let client = tcp::connect(config.addr(), &config.api_key).await?;
                channels.extend((0..config.depth).map(|_| Channel::Tcp(client.clone())));
            }
        }
        Backend::Http { operator_key } => {
            for worker in 0..workers {
                let http_channel =
                    http::HttpChannel::new(http_addr(config), config.api_key.clone(), operator_key.clone());
                let channel = if config.target == Target::Iso8583 {
                    let mut iso = iso8583::IsoChannel::new(config.addr(), &ids.terminal(worker), http_channel);
                    iso.connect().await?;
                    Channel::Iso(iso)
                } else {
                    let mut http_channel = http_channel;
                    http_channel.connect().await?;
                    Channel::Http(http_channel)
                };
                channels.push(channel);
            }
        }
    }
    Ok(channels)
}
