//! Attacks on the server as a process, against a real `kassa serve` on loopback (issue 14's
//! operational findings): unauthenticated TCP connections that announce large frames to make the
//! server allocate (memory), the data directory's permissions (the HMAC secret at rest), and
//! SIGTERM while idle connections are open on every listener (bounded shutdown).
//!
//! The conventions of `attacks.rs` hold: each test asserts the documented refusal, that nothing
//! else changed, and that the server still serves other clients; every exchange has a timeout,
//! and nothing asserts a duration other than "answered" against "hung" with generous bounds.

#![cfg(feature = "server")]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{
    ANSWER_TIMEOUT, Iso, Server, assert_tcp_error, closed_within, response_code, tcp_connect, tcp_read, tcp_send,
    tcp_session,
};
use kassa_adapters::iso8583::Message;
use kassa_adapters::tcp::{ErrorCode, FRAME_BYTES_MAX, Request, RequestBody, ResponseBody};

// ----- memory: nothing unauthenticated costs memory -----------------------------------------

/// Unauthenticated connections held open at once, each announcing a 1 MiB frame.
const UNAUTHENTICATED: usize = 1_500;

/// Authenticated connections held open at once, each announcing a 1 MiB frame.
const AUTHENTICATED: usize = 400;

/// The most the server's peak resident memory may grow by, per phase (a server that allocates
/// by the announced length grows by 1.5 GiB and 400 MiB).
const GROWTH_MAX_KIB: u64 = 200 * 1024;

/// A 1 MiB announcement followed by 16 bytes of the body (the rest never comes).
fn announce_a_large_frame(stream: &mut TcpStream) {
    let mut bytes = u32::try_from(FRAME_BYTES_MAX).unwrap().to_be_bytes().to_vec();
    bytes.extend_from_slice(&[0u8; 16]);
    stream.write_all(&bytes).unwrap();
}

/// How much the server's peak resident memory grew since `before`, in KiB, after giving it a
/// moment to read what was sent (pacing, not a timing assertion).
fn peak_growth_kib(server: &Server, before: u64) -> u64 {
    std::thread::sleep(Duration::from_secs(2));
    server.memory_kib().0.saturating_sub(before)
}

/// 1,500 connections that each announce a 1 MiB frame before Hello: each is refused
/// `FrameTooLarge` (the Hello is limited to 4 KiB) and closed, and the server's peak memory
/// grows by far less than 1.5 GiB. Then 400 authenticated connections announce 1 MiB and send
/// 16 bytes: the server's buffers grow with what arrives, not with what was announced. A fresh
/// client is served throughout.
#[test]
fn frames_announced_but_not_sent_cost_no_memory() {
    let server = Server::start(&["--max-connections", "4000"]);

    let (before, _) = server.memory_kib();
    let mut unauthenticated: Vec<TcpStream> = (0..UNAUTHENTICATED).map(|_| tcp_connect(server.tcp)).collect();
    for stream in &mut unauthenticated {
        announce_a_large_frame(stream);
    }
    let growth = peak_growth_kib(&server, before);
    assert!(growth < GROWTH_MAX_KIB, "{UNAUTHENTICATED} unauthenticated connections grew the peak by {growth} KiB");
    for stream in &mut unauthenticated {
        assert_tcp_error(tcp_read(stream), 0, ErrorCode::FrameTooLarge);
        assert!(closed_within(stream, ANSWER_TIMEOUT), "an oversized frame before Hello closes the connection");
    }
    drop(unauthenticated);

    let (before, _) = server.memory_kib();
    let mut sessions: Vec<TcpStream> = (0..AUTHENTICATED).map(|_| tcp_session(server.tcp)).collect();
    for stream in &mut sessions {
        announce_a_large_frame(stream);
    }
    let growth = peak_growth_kib(&server, before);
    assert!(growth < GROWTH_MAX_KIB, "{AUTHENTICATED} half-sent 1 MiB frames grew the peak by {growth} KiB");
    drop(sessions);

    let mut fresh = tcp_session(server.tcp);
    tcp_send(&mut fresh, &Request { request_id: 2, body: RequestBody::Ping });
    assert_eq!(tcp_read(&mut fresh).map(|response| response.body), Some(ResponseBody::Pong));
    server.assert_logged(&["tcp connection refused", "frame_too_large", "before the handshake"]);
    server.assert_still_serving();
}

// ----- secrets at rest: the data directory ----------------------------------------------------

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Runs `kassa serve` on `data_dir` until it exits (at most [`ANSWER_TIMEOUT`]); its status and
/// everything it printed.
fn serve_until_exit(data_dir: &Path) -> (ExitStatus, String) {
    let (http, tcp, iso) = (common::free_port(), common::free_port(), common::free_port());
    let mut child = common::serve_command(data_dir, http, tcp, iso)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kassa serve starts");
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("kassa serve on a data directory open to others is still running");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut printed = String::new();
    child.stdout.take().unwrap().read_to_string(&mut printed).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut printed).unwrap();
    (status, printed)
}

/// A fresh data directory (and its missing parent) is created 0700: it holds the HMAC secret
/// behind every secure code. An existing one that others may enter (0755) is refused: the
/// server exits non-zero, says `chmod 700 <dir>`, and writes nothing into it; after that chmod
/// it starts.
#[test]
fn the_data_directory_is_private_and_one_open_to_others_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let fresh = root.path().join("parent").join("data");
    let server = Server::start_in(&fresh, &[]);
    assert_eq!(mode(&fresh), 0o700, "a fresh data directory is private");
    assert_eq!(mode(&root.path().join("parent")), 0o700, "so is the parent created for it");
    server.assert_still_serving();
    drop(server);

    let open = root.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (status, printed) = serve_until_exit(&open);
    assert!(!status.success(), "kassa serve must refuse a data directory open to others: {printed}");
    assert!(printed.contains(&format!("chmod 700 {}", open.display())), "the fix is named: {printed}");
    assert!(printed.contains("0755"), "the mode is named: {printed}");
    assert_eq!(mode(&open), 0o755, "the mode is the operator's to change");
    assert_eq!(std::fs::read_dir(&open).unwrap().count(), 0, "nothing was written into it");

    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o700)).unwrap();
    Server::start_in(&open, &[]).assert_still_serving();
}

// ----- bounded shutdown -----------------------------------------------------------------------

/// Opens an HTTP/1.1 connection, gets one answer on it and leaves it open (kept alive).
fn http_kept_alive(server: &Server) -> TcpStream {
    let mut stream = tcp_connect(server.http);
    stream.write_all(format!("GET /health HTTP/1.1\r\nHost: {}\r\n\r\n", server.http).as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    while !answer.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = stream.read(&mut chunk).unwrap();
        assert!(read > 0, "the server closed a kept-alive connection");
        answer.extend_from_slice(&chunk[..read]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
    stream
}

/// SIGTERM while an ISO 8583 terminal, an authenticated TCP client and an HTTP keep-alive
/// client are connected and idle: the process exits 0 within 8 s (it closes idle connections
/// on every listener at once), after logging that it stopped.
#[test]
fn sigterm_with_idle_connections_on_every_listener_exits_promptly() {
    let mut server = Server::start(&[]);
    let mut iso = Iso::connect(server.iso);
    let echo = iso.exchange(&Message::new("0800").unwrap().with(11, "000001").with(41, "SDTERM01"));
    assert_eq!(response_code(&echo), "00", "{echo:?}");
    let mut tcp = tcp_session(server.tcp);
    tcp_send(&mut tcp, &Request { request_id: 2, body: RequestBody::Ping });
    assert_eq!(tcp_read(&mut tcp).map(|response| response.body), Some(ResponseBody::Pong));
    let mut http = http_kept_alive(&server);

    server.terminate();
    let Some(status) = server.exited_within(Duration::from_secs(8)) else {
        panic!("kassa serve still runs 8 s after SIGTERM with idle connections open:\n{}", server.log());
    };
    assert!(status.success(), "{status:?}\n{}", server.log());
    assert!(iso.closed_within(ANSWER_TIMEOUT) && closed_within(&mut tcp, ANSWER_TIMEOUT));
    assert!(closed_within(&mut http, ANSWER_TIMEOUT));
    server.assert_logged(&["kassa: stopped"]);
}
