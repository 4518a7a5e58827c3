//! What an operations team relies on, against a real `kassa serve`: `/ready`, a request id per
//! HTTP request (accepted or made, echoed, in every JSON log line of the request), access logs,
//! Prometheus histograms with HELP text and per-route metrics; and a storage failure that makes
//! the server exit non-zero so that its supervisor restarts it.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{ADMIN_KEY, Server, free_port, raw_http, serve_command};
use kassa_adapters::tcp::client::Client;
use kassa_engine::command::{Command, Movement, OpenAccount};
use kassa_engine::{Currency, Id};

/// The status line and headers (lower-cased names) of a raw answer, and its body.
fn parts(raw: &[u8]) -> (String, Vec<(String, String)>, String) {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap_or("").to_string();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

fn get(server: &Server, path: &str, extra_headers: &str) -> (String, Vec<(String, String)>, String) {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_KEY}\r\nConnection: close\r\n{extra_headers}\r\n"
    );
    parts(&raw_http(server.http, request.as_bytes(), Duration::from_secs(10)).expect("an answer"))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
}

#[test]
fn ready_request_ids_json_logs_and_histograms() {
    let server = Server::start(&["--log-format", "json"]);
    let (status, _, body) = get(&server, "/ready", "");
    assert!(status.starts_with("HTTP/1.1 200") && body.contains("\"ready\""), "{status} {body}");

    // The caller's id is kept and echoed; a hostile one is replaced; none gets a new one.
    let (status, headers, _) = get(&server, "/v1/accounts/nobody", "X-Request-Id: order-42.try:1\r\n");
    assert!(status.starts_with("HTTP/1.1 404"), "{status}");
    assert_eq!(header(&headers, "x-request-id"), Some("order-42.try:1"));
    let (_, headers, _) = get(&server, "/v1/accounts/nobody", "X-Request-Id: a b\"c\r\n");
    let made = header(&headers, "x-request-id").expect("an id").to_string();
    assert!(made != "a b\"c" && !made.is_empty());
    let (_, headers, _) = get(&server, "/ready", "");
    assert_ne!(header(&headers, "x-request-id"), Some(made.as_str()), "ids are unique");

    // One JSON object per line; the request's lines carry its id.
    server.assert_logged_within(
        &["\"request_id\":\"order-42.try:1\"", "http access", "\"status\":404"],
        Duration::from_secs(5),
    );
    let log = server.log();
    let access = log.lines().find(|line| line.contains("order-42.try:1") && line.contains("http access")).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(access).expect("a JSON log line");
    assert_eq!(parsed["span"]["route"], "/v1/accounts/{id}", "{access}");

    // Late retries are answered from storage for 30 days unless configured otherwise.
    server.assert_logged_within(
        &["id filter for the idempotency retention", "\"retention_days\":30"],
        Duration::from_secs(5),
    );

    let (_, _, metrics) = get(&server, "/metrics", "");
    for needle in [
        "# HELP kassa_http_requests_total",
        "kassa_http_request_duration_seconds_bucket{",
        "route=\"/v1/accounts/{id}\"",
        "status=\"404\"",
    ] {
        assert!(metrics.contains(needle), "/metrics lacks {needle}:\n{metrics}");
    }
}

/// Starts `kassa serve` whose files may grow to 1 MiB, growing past it failing with EFBIG
/// instead of killing the process (SIGXFSZ ignored, which exec keeps): the log's next write
/// fails like a full disk. Returns it once its TCP listener answers; a server that exited
/// before listening (a port another process took between `free_port` and its bind) is started
/// again on other ports, at most three times.
fn start_with_small_files(
    data_dir: &std::path::Path,
    runtime: &tokio::runtime::Runtime,
) -> (std::process::Child, Client) {
    for _ in 0..3 {
        let (http, tcp, iso) = (free_port(), free_port(), free_port());
        let serve = serve_command(data_dir, http, tcp, iso);
        let mut child = std::process::Command::new("bash")
            .arg("-c")
            .arg("trap '' XFSZ; ulimit -f 1024; exec \"$0\" \"$@\"")
            .arg(serve.get_program())
            .args(serve.get_args())
            .envs(serve.get_envs().filter_map(|(key, value)| Some((key, value?))))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("kassa serve starts");
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if let Ok(client) = runtime.block_on(Client::connect(tcp, ADMIN_KEY)) {
                return (child, client);
            }
            assert!(started.elapsed() < Duration::from_secs(60), "the server never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("the server exited before listening, three times");
}

#[test]
fn a_storage_failure_stops_the_server_with_a_non_zero_exit() {
    let data_dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (mut child, client) = start_with_small_files(&data_dir.path().join("data"), &runtime);
    let id = |text: &str| Id::new(text).unwrap();
    let open = Command::OpenAccount(OpenAccount { account: id("a"), currency: Currency::EUR, overdraft_limit: 0 });
    runtime.block_on(client.submit(open)).expect("the account opens");
    // Batches of deposits until the log cannot grow: the engine stops, the server exits.
    let status = (0..1_000)
        .find_map(|round| {
            let deposits = (0..1_000)
                .map(|n| {
                    Command::Deposit(Movement {
                        id: id(&format!("deposit-{round}-{n:0>40}")),
                        account: id("a"),
                        amount: 1,
                    })
                })
                .collect();
            let _ = runtime.block_on(client.submit_batch(deposits));
            child.try_wait().unwrap()
        })
        .or_else(|| {
            std::thread::sleep(Duration::from_secs(5));
            child.try_wait().unwrap()
        });
    let _ = child.kill();
    let status = status.expect("the server exited after its storage failed");
    assert!(!status.success(), "exit status {status}");
}
