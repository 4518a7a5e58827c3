//! `kassa serve`: resolve the configuration (flag > environment > config file > default), open
//! the engine, load keys, start the listeners, and shut down gracefully on SIGINT/SIGTERM: every
//! listener stops accepting and closes its idle connections at once (HTTP keep-alive, TCP,
//! ISO 8583), requests in flight are answered once durable (each has a deadline), then the
//! engine drains and RocksDB is flushed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use actix_web::dev::Service;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, ResponseError, web};
use clap::Args;
use kassa_engine::{Engine, EngineConfig};
use serde::Deserialize;

use crate::auth::Auth;
use crate::http::{self, AppState};

/// Flags of `kassa serve`; each has an environment variable and a config-file key.
#[derive(Args, Debug, Clone, Default)]
pub struct ServeArgs {
    /// TOML config file with any of the keys below (`data_dir`, `http`, `tcp`, `iso8583`,
    /// `admin_key`, `max_connections`, `mailbox_max`, `socket_threads`, `ids_max`,
    /// `idempotency_retention_days`, `resolved_in_memory_secs`, `partitions`).
    #[arg(long, env = "KASSA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory of the engine [default: ./kassa-data].
    #[arg(long, env = "KASSA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// HTTP/JSON listen address [default: 127.0.0.1:8080].
    #[arg(long, env = "KASSA_HTTP")]
    pub http: Option<SocketAddr>,
    /// TCP binary protocol listen address [default: 127.0.0.1:7400].
    #[arg(long, env = "KASSA_TCP")]
    pub tcp: Option<SocketAddr>,
    /// ISO 8583 listen address [default: 127.0.0.1:8583].
    #[arg(long, env = "KASSA_ISO8583")]
    pub iso8583: Option<SocketAddr>,
    /// Bootstrap admin API key; when absent, one is generated at first start and printed once.
    #[arg(long, env = "KASSA_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Most concurrent connections per listener [default: 10000].
    #[arg(long, env = "KASSA_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Most requests queued for the engine; beyond it requests are refused at once with Busy
    /// (HTTP 503 `busy`, ISO 8583 code 96, TCP `Busy`) instead of waiting [default: 4096].
    #[arg(long, env = "KASSA_MAILBOX_MAX")]
    pub mailbox_max: Option<usize>,
    /// Threads serving sockets: the HTTP workers, and the runtime of the TCP and ISO 8583
    /// listeners, each get this many [default: the number of CPU cores, at least 2].
    #[arg(long, env = "KASSA_SOCKET_THREADS")]
    pub socket_threads: Option<usize>,
    /// Most transfer, deposit and withdrawal ids remembered for idempotent retries (one to two
    /// days each; 32 bytes per id; fixed when the data directory is created; beyond it new ids
    /// are refused `id_table_full`) [default: 4,194,304].
    #[arg(long, env = "KASSA_IDS_MAX")]
    pub ids_max: Option<usize>,
    /// Days a transfer, deposit or withdrawal id is answered as a repeat: past the id table's
    /// one to two days, the executor finds the id in storage, so a late retry gets its first
    /// answer instead of applying twice. Costs durable throughput and an in-memory filter of the
    /// retention's ids (BENCHMARKS.md); 0 keeps the id table's window only [default: 30].
    #[arg(long, env = "KASSA_IDEMPOTENCY_RETENTION_DAYS")]
    pub idempotency_retention_days: Option<u64>,
    /// Seconds a resolved POS settlement, authorization, hold, bill or split stays in memory
    /// before it moves to storage, where lookups, lists, retries, captures, reversals and
    /// refunds still find it (fixed when the data directory is created) [default: 60].
    #[arg(long, env = "KASSA_RESOLVED_IN_MEMORY_SECS")]
    pub resolved_in_memory_secs: Option<u64>,
    /// Partitions of a new data directory, each a state machine with its own executor (fixed
    /// at creation). With more than one, accounts are spread over them and transfers cross
    /// them; every other object lives on partition 0 with the accounts it names (see
    /// ARCHITECTURE.md) [default: 1].
    #[arg(long, env = "KASSA_PARTITIONS")]
    pub partitions: Option<u16>,
    /// Log lines as `text` (for people) or `json` (one object per line, for collectors); each
    /// HTTP request's lines carry its request id, each TCP / ISO 8583 connection's its id.
    #[arg(long, env = "KASSA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// PEM certificate chain (leaf first): with `--tls-key`, HTTP and the TCP binary protocol
    /// speak TLS only (off by default: loopback and trusted networks need none).
    #[arg(long, env = "KASSA_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`, readable by its owner only (0600).
    #[arg(long, env = "KASSA_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The NATS servers of a cluster (`nats://host:port`, comma-separated; 2.10 or later with
    /// `sync_interval: always`): this node takes every partition's lease, and each group commit
    /// is also stored in its partitions' JetStream streams before it is acknowledged
    /// (docs/cluster.md) [default: none: one node on its local log].
    #[arg(long, env = "KASSA_CLUSTER", value_delimiter = ',', requires = "node_id")]
    pub cluster: Vec<String>,
    /// This node's name in the cluster (the holder of its leases).
    #[arg(long, env = "KASSA_NODE_ID")]
    pub node_id: Option<String>,
    /// Seconds between the snapshots an owner publishes to the cluster's object store (a node
    /// that builds its directory from the cluster starts from the latest; the streams are
    /// trimmed below the one before) [default: 60].
    #[arg(long, env = "KASSA_CLUSTER_SNAPSHOT_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub cluster_snapshot_secs: Option<u64>,
    /// The host other nodes reach this one at, with each listener's port (cluster mode:
    /// standbys forward to it) [default: each listener's own address].
    #[arg(long, env = "KASSA_ADVERTISE_HOST")]
    pub advertise_host: Option<String>,
    /// Hash each partition's state every this many records into `state-hashes` in the data
    /// directory (an owner's and its standbys' hashes at the same record must be equal). Each
    /// hash encodes the partition's whole state on its snapshot thread, and the file gains a
    /// line per hash: a check, not for production load [default: 0, never].
    #[arg(long, env = "KASSA_STATE_HASH_EVERY")]
    pub state_hash_every: Option<u64>,
}

/// How log lines are written (`--log-format`).
#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Keeps the log writer's thread; dropping it writes out every line still queued (drop it
/// before `std::process::exit`, which runs no destructors).
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    _writer: tracing_appender::non_blocking::WorkerGuard,
}

/// Sends log lines to stderr, as `format` says; `RUST_LOG` filters (default `info`). Lines are
/// written by a thread of their own, in batches: a `write` per access-log line on the request
/// path cost ~18 % of the HTTP rate (BENCHMARKS.md). Never lossy: a full queue makes the logger
/// wait rather than drop a line.
pub fn init_logging(format: LogFormat) -> LogGuard {
    let (writer, guard) =
        tracing_appender::non_blocking::NonBlockingBuilder::default().lossy(false).finish(std::io::stderr());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).init(),
    }
    LogGuard { _writer: guard }
}

/// The keys a config file may hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    http: Option<SocketAddr>,
    tcp: Option<SocketAddr>,
    iso8583: Option<SocketAddr>,
    admin_key: Option<String>,
    max_connections: Option<usize>,
    mailbox_max: Option<usize>,
    socket_threads: Option<usize>,
    ids_max: Option<usize>,
    idempotency_retention_days: Option<u64>,
    resolved_in_memory_secs: Option<u64>,
    partitions: Option<u16>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    cluster: Option<Vec<String>>,
    node_id: Option<String>,
    cluster_snapshot_secs: Option<u64>,
    advertise_host: Option<String>,
    state_hash_every: Option<u64>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Data directory.
    pub data_dir: PathBuf,
    /// HTTP address.
    pub http: SocketAddr,
    /// TCP binary address.
    pub tcp: SocketAddr,
    /// ISO 8583 address.
    pub iso8583: SocketAddr,
    /// Bootstrap admin key.
    pub admin_key: Option<String>,
    /// Connection limit per listener.
    pub max_connections: usize,
    /// The engine's request queue bound (Busy beyond it).
    pub mailbox_max: usize,
    /// HTTP workers, and worker threads of the TCP / ISO 8583 runtime.
    pub socket_threads: usize,
    /// The idempotency table's size for a new data directory.
    pub ids_max: usize,
    /// How long ids are answered as repeats, in milliseconds.
    pub idempotency_retention_ms: u64,
    /// How long resolved objects stay in memory, in milliseconds (a new data directory's).
    pub resolved_in_memory_ms: u64,
    /// Partitions of a new data directory.
    pub partitions: u16,
    /// TLS for HTTP and the binary protocol, when a certificate and key were given.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Cluster mode, when NATS servers were given.
    pub cluster: Option<kassa_cluster::ClusterOptions>,
    /// The host other nodes reach this one at (cluster mode).
    pub advertise_host: Option<String>,
    /// Records between two hashes of each partition's state (0: none).
    pub state_hash_every: u64,
}

impl ServeArgs {
    /// Merges flags and environment (already in `self`) over the config file and defaults.
    pub fn resolve(self) -> Result<ServeConfig, String> {
        let file = match &self.config {
            None => FileConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
                toml::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))?
            }
        };
        let address = |text: &str| text.parse::<SocketAddr>().expect("valid default address");
        Ok(ServeConfig {
            data_dir: self.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("./kassa-data")),
            http: self.http.or(file.http).unwrap_or_else(|| address("127.0.0.1:8080")),
            tcp: self.tcp.or(file.tcp).unwrap_or_else(|| address("127.0.0.1:7400")),
            iso8583: self.iso8583.or(file.iso8583).unwrap_or_else(|| address("127.0.0.1:8583")),
            admin_key: self.admin_key.or(file.admin_key),
            max_connections: self.max_connections.or(file.max_connections).unwrap_or(10_000).max(1),
            mailbox_max: self.mailbox_max.or(file.mailbox_max).unwrap_or(4_096).max(1),
            socket_threads: self.socket_threads.or(file.socket_threads).unwrap_or_else(default_socket_threads).max(1),
            ids_max: self.ids_max.or(file.ids_max).unwrap_or(kassa_engine::state_machine::IDS_MAX_DEFAULT),
            idempotency_retention_ms: self
                .idempotency_retention_days
                .or(file.idempotency_retention_days)
                .unwrap_or(IDEMPOTENCY_RETENTION_DAYS_DEFAULT)
                .saturating_mul(24 * 3_600_000),
            resolved_in_memory_ms: self
                .resolved_in_memory_secs
                .or(file.resolved_in_memory_secs)
                .map_or(kassa_engine::constants::RESOLVED_IN_MEMORY_MS_DEFAULT, |secs| secs.saturating_mul(1_000)),
            partitions: self.partitions.or(file.partitions).unwrap_or(1),
            tls: match (self.tls_cert.or(file.tls_cert), self.tls_key.or(file.tls_key)) {
                (Some(cert), Some(key)) => Some(crate::tls::server_config(&cert, &key)?),
                (None, None) => None,
                _ => return Err("TLS needs both a certificate (tls_cert) and a key (tls_key)".into()),
            },
            state_hash_every: self.state_hash_every.or(file.state_hash_every).unwrap_or(0),
            advertise_host: match self.advertise_host.or(file.advertise_host) {
                Some(host) if host.is_empty() || host.chars().any(char::is_whitespace) => {
                    return Err(format!("advertise host {host:?}: a host name or address, without spaces"));
                }
                host => host,
            },
            cluster: match (
                if self.cluster.is_empty() { file.cluster.unwrap_or_default() } else { self.cluster },
                self.node_id.or(file.node_id),
            ) {
                (urls, _) if urls.is_empty() => None,
                (_, Some(node_id)) if !valid_node_id(&node_id) => {
                    return Err(format!("node id {node_id:?}: 1 to 64 letters, digits, '-' or '_'"));
                }
                (urls, Some(node_id)) => Some(kassa_cluster::ClusterOptions {
                    // Three copies of each stream in a cluster of three or more servers.
                    replicas: urls.len().min(3),
                    urls,
                    node_id,
                    prefix: "kassa".into(),
                    lease_ttl: CLUSTER_LEASE_TTL,
                    addresses: None,
                    snapshot_interval: std::time::Duration::from_secs(
                        self.cluster_snapshot_secs.or(file.cluster_snapshot_secs).unwrap_or(60).max(1),
                    ),
                }),
                (_, None) => return Err("cluster mode needs a node id (--node-id)".into()),
            },
        })
    }
}

/// A node id names the node in the cluster's buckets (its lease, its addresses).
fn valid_node_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// Days ids are answered as repeats unless configured: a client retrying a payment within a
/// month gets its first answer, never a second application (at about 7-11 % of durable
/// throughput and 150 MB of filter at the default `ids_max`: BENCHMARKS.md).
const IDEMPOTENCY_RETENTION_DAYS_DEFAULT: u64 = 30;

/// How long a partition's lease lasts unless its owner renews it (every third of it): a node
/// that stops answering loses its partitions this long after its last renewal.
const CLUSTER_LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(3);

/// One socket thread per core, at least 2.
fn default_socket_threads() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZero::get).max(2)
}

/// Longest an HTTP request may take from its arrival to its answer, body included.
const REQUEST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15);

/// Longest graceful HTTP shutdown: connections still open this long after SIGTERM (a request
/// has [`REQUEST_DEADLINE`]; idle keep-alive connections close at once) are dropped.
const HTTP_SHUTDOWN_TIMEOUT_S: u64 = REQUEST_DEADLINE.as_secs() + 1;

/// An HTTP request that did not arrive and get its answer within [`REQUEST_DEADLINE`]: 408
/// `request_timeout`, and the connection is closed.
#[derive(Debug)]
struct RequestTimedOut;

impl std::fmt::Display for RequestTimedOut {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "the request was not received and answered within {} s", REQUEST_DEADLINE.as_secs())
    }
}

impl ResponseError for RequestTimedOut {
    fn error_response(&self) -> HttpResponse {
        tracing::warn!("HTTP request past its deadline: 408 request_timeout, connection closed");
        HttpResponse::RequestTimeout()
            .force_close()
            .json(serde_json::json!({"error": {"code": "request_timeout", "message": self.to_string()}}))
    }
}

/// Runs the server until SIGINT or SIGTERM.
pub fn run(config: ServeConfig) -> Result<(), String> {
    // It holds the secret key: created 0700, refused while group or others may enter it.
    kassa_engine::wal::dir::create_private_dir(&config.data_dir)?;
    kassa_engine::wal::dir::check_private_dir(&config.data_dir)?;
    let metrics = crate::metrics::install()?;
    // One listening socket for the whole run: the recovery listener and then the full one
    // serve it, so a connection made in between waits in its backlog instead of being refused.
    let http_listener = std::net::TcpListener::bind(config.http)
        .map_err(|error| format!("cannot listen on {}: {error}", config.http))?;
    actix_web::rt::System::new().block_on(async move {
        let recovery_listener = http_listener.try_clone().map_err(|error| error.to_string())?;
        let (engine, report) = open_engine(&config, recovery_listener).await?;
        tracing::info!(?report, data_dir = %config.data_dir.display(), "engine open");
        let engine = Arc::new(engine);
        let (auth, generated) = Auth::load(&engine, config.admin_key.as_deref()).await?;
        if let Some(key) = generated {
            println!("kassa: generated admin API key (shown once, store it now): {key}");
        }
        let auth = Arc::new(auth);
        let state = web::Data::new(AppState { engine: engine.clone(), auth: auth.clone(), metrics: Some(metrics) });
        let server = http_server(&config, state, http_listener)?;
        let server_handle = server.handle();
        let (stop_listeners, stopping) = tokio::sync::watch::channel(false);
        let socket_runtime = SocketListeners::start(&config, engine.clone(), auth, stopping)?;
        println!("kassa: HTTP listening on http://{}", config.http);
        println!("kassa: ISO 8583 listening on {}", config.iso8583);
        println!("kassa: TCP binary protocol listening on {}", config.tcp);
        tracing::info!(http = %config.http, iso8583 = %config.iso8583, tcp = %config.tcp, "listening");
        let server_task = tokio::spawn(server);
        let outcome = tokio::select! {
            () = wait_for_signal() => Ok(()),
            () = storage_failure(&engine) => Err("the engine stopped after a storage failure".to_string()),
        };
        tracing::info!("shutting down: no new connections, draining");
        let _ = stop_listeners.send(true);
        server_handle.stop(true).await;
        let _ = server_task.await;
        socket_runtime.stop().await;
        tokio::task::spawn_blocking(move || engine.shutdown()).await.map_err(|error| error.to_string())?;
        println!("kassa: stopped");
        outcome
    })
}

/// Opens the engine while an HTTP listener answers `/health` (200) and `/ready` (503
/// `recovering`), so that a supervisor can tell a long recovery from a dead process. In
/// cluster mode the node joins the cluster instead, forwarding every connection to the owner
/// while it is a standby (`cluster_node.rs`).
async fn open_engine(
    config: &ServeConfig,
    listener: std::net::TcpListener,
) -> Result<(Engine, kassa_engine::runtime::RecoveryReport), String> {
    let mut engine_config = EngineConfig::new(config.data_dir.clone());
    engine_config.mailbox_max = config.mailbox_max;
    engine_config.ids_max = config.ids_max;
    engine_config.idempotency_retention_ms = config.idempotency_retention_ms;
    engine_config.resolved_in_memory_ms = config.resolved_in_memory_ms;
    engine_config.partitions = config.partitions;
    engine_config.state_hash_every = config.state_hash_every;
    if let Some(options) = &config.cluster {
        return crate::cluster_node::open(config, options, engine_config, listener).await;
    }
    let recovering =
        HttpServer::new(|| App::new().wrap(from_fn(http::observe::observe)).configure(http::configure_recovering))
            .workers(1)
            .disable_signals()
            .shutdown_timeout(1);
    let recovering = match &config.tls {
        Some(tls) => recovering.listen_rustls_0_23(listener, (**tls).clone()),
        None => recovering.listen(listener),
    };
    let recovering = recovering.map_err(|error| format!("cannot listen on {}: {error}", config.http))?.run();
    let recovering_handle = recovering.handle();
    let recovering_task = tokio::spawn(recovering);
    let opened = tokio::task::spawn_blocking(move || {
        Engine::open_with_report(engine_config).map_err(|error| format!("opening the engine failed: {error}"))
    })
    .await;
    recovering_handle.stop(true).await;
    let _ = recovering_task.await;
    opened.map_err(|error| error.to_string())?
}

/// Resolves once the engine has stopped after a storage failure: the server then drains,
/// answering what it can, and exits non-zero so that its supervisor restarts it (recovery
/// replays the log).
async fn storage_failure(engine: &Engine) {
    while !engine.has_failed() {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tracing::error!("storage failed: the engine stopped; shutting down to be restarted");
}

/// The HTTP/JSON listener, bound and not yet running.
fn http_server(
    config: &ServeConfig,
    state: web::Data<AppState>,
    listener: std::net::TcpListener,
) -> Result<actix_web::dev::Server, String> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap_fn(|request, service| {
                // actix's head timeout covers a connection's first request head only: this
                // deadline bounds every request, body included (slowloris bodies get 408).
                // A long poll of the event feed may wait its `wait_ms` on top.
                let deadline = if request.path() == "/v1/events" {
                    REQUEST_DEADLINE + std::time::Duration::from_millis(http::requests::EVENTS_WAIT_MS_MAX)
                } else {
                    REQUEST_DEADLINE
                };
                let call = service.call(request);
                async move {
                    match tokio::time::timeout(deadline, call).await {
                        Ok(answer) => answer,
                        Err(_) => Err(RequestTimedOut.into()),
                    }
                }
            })
            .configure(http::configure)
            // Outermost: the request id and the access log cover everything, timeouts included.
            .wrap(from_fn(http::observe::observe))
    })
    .workers(config.socket_threads)
    .max_connections(config.max_connections)
    .client_request_timeout(std::time::Duration::from_secs(10))
    .shutdown_timeout(HTTP_SHUTDOWN_TIMEOUT_S)
    .disable_signals();
    let server = match &config.tls {
        Some(tls) => server.listen_rustls_0_23(listener, (**tls).clone()),
        None => server.listen(listener),
    };
    Ok(server.map_err(|error| format!("cannot listen on {}: {error}", config.http))?.run())
}

/// The ISO 8583 and TCP binary listeners, on their own multi-threaded tokio runtime (actix runs
/// one single-threaded runtime per HTTP worker).
struct SocketListeners {
    runtime: tokio::runtime::Runtime,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl SocketListeners {
    fn start(
        config: &ServeConfig,
        engine: Arc<Engine>,
        auth: Arc<Auth>,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) -> Result<SocketListeners, String> {
        let bind = |address: SocketAddr| {
            let listener =
                std::net::TcpListener::bind(address).map_err(|error| format!("cannot listen on {address}: {error}"))?;
            listener.set_nonblocking(true).map_err(|error| error.to_string())?;
            Ok::<_, String>(listener)
        };
        let (iso_listener, tcp_listener) = (bind(config.iso8583)?, bind(config.tcp)?);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.socket_threads)
            .thread_name("kassa-sockets")
            .enable_all()
            .build()
            .map_err(|error| error.to_string())?;
        let iso_config = crate::iso8583::IsoConfig { max_connections: config.max_connections, ..Default::default() };
        let (iso_engine, iso_stopping) = (engine.clone(), stopping.clone());
        let iso = runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(iso_listener).expect("a non-blocking listener");
            crate::iso8583::serve(listener, iso_engine, iso_config, iso_stopping).await;
        });
        let (max_connections, tls) = (config.max_connections, config.tls.clone());
        let tcp = runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(tcp_listener).expect("a non-blocking listener");
            let config = crate::tcp::ServerConfig { tls, ..crate::tcp::ServerConfig::new(max_connections) };
            crate::tcp::serve_with_config(listener, engine, auth, config, stopping).await;
        });
        Ok(SocketListeners { runtime, tasks: vec![iso, tcp] })
    }

    /// Waits for the listeners to drain, then drops their runtime off the async context.
    async fn stop(self) {
        for task in self.tasks {
            let _ = task.await;
        }
        let runtime = self.runtime;
        let _ = tokio::task::spawn_blocking(move || drop(runtime)).await;
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn node_ids_are_short_plain_names() {
        for good in ["kassa-1", "n_2", "A", &"x".repeat(64)] {
            assert!(super::valid_node_id(good), "{good}");
        }
        for bad in ["", "a b", "node.1", "n/1", "ü", &"x".repeat(65)] {
            assert!(!super::valid_node_id(bad), "{bad}");
        }
    }
}
