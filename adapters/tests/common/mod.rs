//! Shared by the attack and overload tests: a real `kassa serve` child process on loopback ports
//! with a temporary data directory and its log captured, a raw HTTP/1.1 client over
//! `std::net::TcpStream` (no client library: the tests control every byte), ISO 8583 exchanges
//! built with the adapters' codec, and the server's peak memory.
//!
//! Each test binary uses a different part of this module, hence `dead_code` is allowed.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kassa_adapters::iso8583::{Message, decode, encode, frame};
use kassa_adapters::tcp::frame::{decode_body, encode_frame};
use kassa_adapters::tcp::{ErrorCode, PROTOCOL_VERSION, Request, RequestBody, Response, ResponseBody};
use serde_json::{Value, json};

/// The bootstrap admin key every test server starts with.
pub const ADMIN_KEY: &str = "attack-test-admin-key-0123456789";

/// How long any single exchange with the server may take before the test calls it hung.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Most log bytes kept per server (later lines are dropped, and counted).
const LOG_BYTES_MAX: usize = 32 * 1024 * 1024;

/// A port that was free a moment ago.
pub fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// The captured stdout and stderr of the server, one line per entry.
#[derive(Default)]
struct Log {
    lines: Vec<String>,
    bytes: usize,
    dropped: usize,
}

/// A running `kassa serve`; killed when dropped.
pub struct Server {
    child: Child,
    /// HTTP/JSON address.
    pub http: SocketAddr,
    /// TCP binary protocol address.
    pub tcp: SocketAddr,
    /// ISO 8583 address.
    pub iso: SocketAddr,
    log: Arc<Mutex<Log>>,
    extra: Vec<String>,
    data_dir: PathBuf,
    /// The temporary data directory, when the server made its own.
    _data_dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts `kassa serve` with `extra` flags on free loopback ports and waits until it answers
    /// `GET /ready`. Logs at `info` (what the tests look for), without colours.
    pub fn start(extra: &[&str]) -> Server {
        let data_dir = tempfile::tempdir().unwrap();
        // A directory the server creates (0700): a temporary directory is as the umask makes it.
        let mut server = Server::start_in(&data_dir.path().join("data"), extra);
        server._data_dir = Some(data_dir);
        server
    }

    /// [`Server::start`] with `data_dir` as the data directory (the caller removes it).
    /// A port `free_port` found free may be taken by a parallel test before the server binds
    /// it: the server then exits saying so, and starts again on other ports (a few times).
    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Server {
        let extra: Vec<String> = extra.iter().map(|arg| arg.to_string()).collect();
        for _ in 0..4 {
            let (http, tcp, iso) = (free_port(), free_port(), free_port());
            let (child, log) = Server::spawn(data_dir, (http, tcp, iso), &extra);
            let (data_dir, extra) = (data_dir.to_path_buf(), extra.clone());
            let mut server = Server { child, http, tcp, iso, log, extra, data_dir, _data_dir: None };
            if server.wait_healthy_or_port_taken() {
                return server;
            }
        }
        panic!("kassa serve found a port taken four times in a row");
    }

    fn spawn(
        data_dir: &Path,
        (http, tcp, iso): (SocketAddr, SocketAddr, SocketAddr),
        extra: &[String],
    ) -> (Child, Arc<Mutex<Log>>) {
        let mut child = serve_command(data_dir, http, tcp, iso)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kassa serve starts");
        let log = Arc::new(Mutex::new(Log::default()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()) as Box<dyn Read + Send>,
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let mut log = log.lock().unwrap();
                    if log.bytes + line.len() > LOG_BYTES_MAX {
                        log.dropped += 1;
                        continue;
                    }
                    log.bytes += line.len();
                    log.lines.push(strip_ansi(&line));
                }
            });
        }
        (child, log)
    }

    fn wait_healthy(&mut self) {
        assert!(self.wait_healthy_or_port_taken(), "kassa serve found its port taken:\n{}", self.log());
    }

    /// Waits until the server answers `GET /ready`; false when it exited because a port it was
    /// given is in use (any other early exit fails the test).
    fn wait_healthy_or_port_taken(&mut self) -> bool {
        let started = Instant::now();
        while !self.healthy() {
            assert!(started.elapsed() < Duration::from_secs(60), "kassa serve did not become healthy");
            if self.child.try_wait().unwrap().is_some() {
                // Let the log threads take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                let log = self.log();
                assert!(log.contains("Address already in use"), "kassa serve exited early:\n{log}");
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    }

    /// Kills the server (SIGKILL) and starts it again on the same data directory and ports.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, log) = Server::spawn(&self.data_dir, (self.http, self.tcp, self.iso), &self.extra);
        (self.child, self.log) = (child, log);
        self.wait_healthy();
    }

    /// Whether `GET /ready` answers 200 within a few seconds (the engine is open).
    pub fn healthy(&self) -> bool {
        let request = format!("GET /ready HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.http);
        matches!(raw_http(self.http, request.as_bytes(), Duration::from_secs(5)), Some(answer) if answer.starts_with(b"HTTP/1.1 200"))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Sends the process SIGTERM (with `kill -TERM`).
    pub fn terminate(&self) {
        let sent = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().expect("kill runs");
        assert!(sent.success(), "kill -TERM {}", self.pid());
    }

    /// The process's exit status once it has exited, waiting at most `timeout`; `None` if it is
    /// still running then.
    pub fn exited_within(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The whole captured log so far.
    pub fn log(&self) -> String {
        let log = self.log.lock().unwrap();
        let mut text = log.lines.join("\n");
        if log.dropped > 0 {
            text.push_str(&format!("\n[{} more lines not kept]", log.dropped));
        }
        text
    }

    /// Waits (up to 10 s: logging is asynchronous to the answers) for a log line holding every
    /// one of `needles`, and fails the test with the log if none comes.
    pub fn assert_logged(&self, needles: &[&str]) {
        self.assert_logged_within(needles, Duration::from_secs(10));
    }

    /// [`Server::assert_logged`] with another time limit.
    pub fn assert_logged_within(&self, needles: &[&str], limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let found = self.log.lock().unwrap().lines.iter().any(|line| needles.iter().all(|n| line.contains(n)));
            if found {
                return;
            }
            assert!(Instant::now() < deadline, "no log line with {needles:?}; the log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (up to 10 s, like [`Server::assert_logged`]) for at least `at_least` log lines
    /// holding every one of `needles`, and fails the test with the log if they do not come.
    pub fn assert_logged_times(&self, needles: &[&str], at_least: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.count_logged(needles) < at_least {
            assert!(Instant::now() < deadline, "fewer than {at_least} log lines with {needles:?}:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// How many log lines hold every one of `needles`.
    pub fn count_logged(&self, needles: &[&str]) -> usize {
        self.log.lock().unwrap().lines.iter().filter(|line| needles.iter().all(|n| line.contains(n))).count()
    }

    /// `(VmHWM, VmRSS)` of the server in KiB: its peak and current resident memory.
    pub fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .unwrap_or_else(|| panic!("no {name} in /proc/<pid>/status"))
        };
        (field("VmHWM:"), field("VmRSS:"))
    }

    /// Waits until `kassa_objects_archived_total` has counted `at_least` objects out of memory
    /// (`--resolved-in-memory-secs`), for at most 20 s.
    pub fn wait_archived(&self, at_least: u64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let metrics = self.call("GET", "/metrics", None, None);
            let counted = (metrics.body.as_str().unwrap_or(""))
                .lines()
                .find_map(|line| line.strip_prefix("kassa_objects_archived_total ")?.trim().parse::<f64>().ok())
                .unwrap_or(0.0);
            if counted >= at_least as f64 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{at_least} objects did not leave memory in 20 s ({counted})"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    /// Sends a JSON request with a key and returns the answer; fails the test if none comes.
    pub fn call(&self, method: &str, path: &str, key: Option<&str>, body: Option<&Value>) -> Answer {
        let body = body.map(Value::to_string);
        self.call_raw(method, path, key, body.as_deref())
    }

    /// Like [`Server::call`] with a body given as text (which need not be valid JSON).
    pub fn call_raw(&self, method: &str, path: &str, key: Option<&str>, body: Option<&str>) -> Answer {
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.http);
        if let Some(key) = key {
            request.push_str(&format!("Authorization: Bearer {key}\r\n"));
        }
        if let Some(body) = body {
            request.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body.unwrap_or("").as_bytes());
        let raw = raw_http(self.http, &bytes, ANSWER_TIMEOUT).unwrap_or_else(|| panic!("{method} {path}: no answer"));
        Answer::parse(&raw).unwrap_or_else(|| panic!("{method} {path}: not HTTP: {}", String::from_utf8_lossy(&raw)))
    }

    /// An admin call that must answer 200; returns its body.
    pub fn admin(&self, method: &str, path: &str, body: Value) -> Value {
        let answer = self.call(method, path, Some(ADMIN_KEY), Some(&body));
        assert_eq!(answer.status, 200, "{method} {path} {body}: {answer:?}");
        answer.body
    }

    /// An admin GET that must answer 200; returns its body.
    pub fn admin_get(&self, path: &str) -> Value {
        let answer = self.call("GET", path, Some(ADMIN_KEY), None);
        assert_eq!(answer.status, 200, "GET {path}: {answer:?}");
        answer.body
    }

    /// Opens an account and deposits `funds` into it (when positive), as the admin.
    pub fn funded_account(&self, account: &str, currency: &str, funds: u64) {
        self.admin("POST", "/v1/accounts", json!({"id": account, "currency": currency}));
        if funds > 0 {
            let deposit = json!({"id": format!("dep-{account}"), "amount": funds});
            self.admin("POST", &format!("/v1/accounts/{account}/deposits"), deposit);
        }
    }

    /// `(balance, held)` of an account, read by the admin.
    pub fn balance(&self, account: &str) -> (i64, i64) {
        let body = self.admin_get(&format!("/v1/accounts/{account}"));
        (body["balance"].as_i64().unwrap(), body["held"].as_i64().unwrap())
    }

    /// A new API key with `role` (`{"role": "app", "app": "..."}` and so on).
    pub fn key(&self, role: Value) -> String {
        self.admin("POST", "/v1/keys", role)["key"].as_str().unwrap().to_string()
    }

    /// A merchant with its own EUR account (funded with `funds`) and a terminal (signing with
    /// `mac_key`, hex, when given).
    pub fn merchant_with_terminal(&self, merchant: &str, terminal: &str, mac_key: Option<&str>) {
        let account = format!("{merchant}-till");
        self.funded_account(&account, "EUR", 0);
        self.admin("POST", "/v1/merchants", json!({"id": merchant, "account": account}));
        let mut body = json!({"id": terminal, "merchant": merchant});
        if let Some(key) = mac_key {
            body["mac_key"] = json!(key);
        }
        self.admin("POST", "/v1/terminals", body);
    }

    /// A secure-code authorization of `account` for `user`; returns the code.
    pub fn authorize(&self, authorization: &str, user: &str, account: &str, limit: u64) -> String {
        let body = json!({"id": authorization, "user": user, "account": account, "limit": limit, "expires_in_s": 600});
        self.admin("POST", "/v1/authorizations", body)["code"].as_str().unwrap().to_string()
    }

    /// Asserts that the server still serves a normal client: health, an admin read and an
    /// admin write, each answered 200.
    pub fn assert_still_serving(&self) {
        assert!(self.healthy(), "health check failed after the attack");
        let probe = format!("probe-{}", std::process::id());
        let answer = self.call("POST", "/v1/accounts", Some(ADMIN_KEY), Some(&json!({"id": probe, "currency": "EUR"})));
        assert_eq!(answer.status, 200, "a normal write after the attack: {answer:?}");
        assert_eq!(self.admin_get(&format!("/v1/accounts/{probe}"))["id"], json!(probe));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kassa serve` on `data_dir` and the given loopback addresses with the test admin key,
/// logging at `info` without colours (what the tests look for).
pub fn serve_command(data_dir: &Path, http: SocketAddr, tcp: SocketAddr, iso: SocketAddr) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kassa"));
    command
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--http", &http.to_string(), "--tcp", &tcp.to_string(), "--iso8583", &iso.to_string()])
        .args(["--admin-key", ADMIN_KEY])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    command
}

/// Removes ANSI colour sequences (`ESC [ ... m`), should a log line carry any.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes `request` on a fresh connection and reads until the server closes it or `timeout`
/// passes; `None` if nothing at all came back.
pub fn raw_http(addr: SocketAddr, request: &[u8], timeout: Duration) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    // The server may answer (413, 400) and close before the whole body is written.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => answer.extend_from_slice(&chunk[..read]),
            Err(_) => break,
        }
    }
    (!answer.is_empty()).then_some(answer)
}

/// An HTTP answer: status and body (JSON when it parses, else a string).
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The body as JSON, or `Value::String` of the raw text.
    pub body: Value,
}

impl Answer {
    /// Parses a whole `Connection: close` answer.
    pub fn parse(raw: &[u8]) -> Option<Answer> {
        let text = String::from_utf8_lossy(raw);
        let status = text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        let body = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string()));
        Some(Answer { status, body })
    }

    /// The `error.code` of an error answer (empty when there is none).
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// Asserts the status and error code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!((self.status, self.code()), (status, code), "{self:?}");
    }
}

/// An ISO 8583 connection to the server (blocking, with timeouts).
pub struct Iso(pub TcpStream);

impl Iso {
    /// Connects.
    pub fn connect(addr: SocketAddr) -> Iso {
        let stream = TcpStream::connect_timeout(&addr, ANSWER_TIMEOUT).unwrap();
        stream.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(ANSWER_TIMEOUT)).unwrap();
        Iso(stream)
    }

    /// Sends one message body (framed) and reads the answer.
    pub fn exchange_body(&mut self, body: &[u8]) -> Message {
        self.0.write_all(&frame(body).unwrap()).unwrap();
        self.read().expect("an ISO 8583 answer")
    }

    /// Encodes, sends and reads the answer.
    pub fn exchange(&mut self, message: &Message) -> Message {
        self.exchange_body(&encode(message).unwrap())
    }

    /// Reads one answer; `None` if the server closed the connection.
    pub fn read(&mut self) -> Option<Message> {
        let mut length = [0u8; 2];
        self.0.read_exact(&mut length).ok()?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(length))];
        self.0.read_exact(&mut body).ok()?;
        Some(decode(&body).expect("the server's answer decodes"))
    }

    /// Whether the server has closed the connection (EOF or reset) within `timeout`.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        closed_within(&mut self.0, timeout)
    }
}

/// Whether the peer closes `stream` (EOF or reset) within `timeout`, discarding what it sends.
pub fn closed_within(stream: &mut TcpStream, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut sink = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(error) if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// `message` encoded and framed (2-byte length prefix), ready for the wire.
pub fn frame_bytes(message: &Message) -> Vec<u8> {
    frame(&encode(message).unwrap()).unwrap()
}

/// The transmission date and time (field 7, `MMDDhhmmss`) of the messages [`purchase`] builds.
pub const TRANSMITTED: &str = "1204120000";

/// A 0200 (purchase) from `terminal` for `user` with `code`, `amount` minor units in EUR, sent
/// at [`TRANSMITTED`].
pub fn purchase(terminal: &str, stan: u32, user: &str, code: &str, amount: u64) -> Message {
    Message::new("0200")
        .unwrap()
        .with(2, user)
        .with(3, "000000")
        .with(4, format!("{amount:012}"))
        .with(7, TRANSMITTED)
        .with(11, format!("{stan:06}"))
        .with(41, terminal)
        .with(48, code)
        .with(49, "978")
}

/// Field 39 of an answer.
pub fn response_code(message: &Message) -> &str {
    message.get_str(39).unwrap_or("")
}

// ----- TCP binary protocol over a blocking socket ---------------------------------------------

/// Connects to the TCP binary listener, with [`ANSWER_TIMEOUT`] on reads and writes.
pub fn tcp_connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, ANSWER_TIMEOUT).unwrap();
    stream.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(ANSWER_TIMEOUT)).unwrap();
    stream
}

/// Encodes and writes one request frame.
pub fn tcp_send(stream: &mut TcpStream, request: &Request) {
    let mut frame = Vec::new();
    encode_frame(request, &mut frame).unwrap();
    stream.write_all(&frame).unwrap();
}

/// Reads one response; `None` once the server closed the connection.
pub fn tcp_read(stream: &mut TcpStream) -> Option<Response> {
    let mut prefix = [0u8; 4];
    stream.read_exact(&mut prefix).ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(prefix) as usize];
    stream.read_exact(&mut body).ok()?;
    Some(decode_body(&body).expect("the server's frames decode"))
}

/// A Hello with `api_key`, request id 1.
pub fn hello(api_key: &str) -> Request {
    Request { request_id: 1, body: RequestBody::Hello { protocol_version: PROTOCOL_VERSION, api_key: api_key.into() } }
}

/// A connection that completed the handshake with the admin key.
pub fn tcp_session(addr: SocketAddr) -> TcpStream {
    let mut stream = tcp_connect(addr);
    tcp_send(&mut stream, &hello(ADMIN_KEY));
    let welcome = tcp_read(&mut stream).expect("a Welcome");
    assert!(matches!(welcome.body, ResponseBody::Welcome { .. }), "{welcome:?}");
    stream
}

/// Asserts that `response` is `Error { expected }` for `request_id`.
#[track_caller]
pub fn assert_tcp_error(response: Option<Response>, request_id: u64, expected: ErrorCode) {
    match response {
        Some(Response { request_id: id, body: ResponseBody::Error { code, .. } }) => {
            assert_eq!((id, code), (request_id, expected));
        }
        other => panic!("expected Error {{ {expected} }} for request {request_id}, got {other:?}"),
    }
}
