//! Attacks on the server as a process, against a real `kassa serve` on loopback (issue 14's
//! operational findings): unauthenticated TCP connections that announce large frames to make
//! the server allocate (memory), the data directory's permissions (the HMAC secret at rest),
//! SIGTERM while idle connections are open on every listener (bounded shutdown), and ISO 8583
//! retransmissions and STANs reused on another day (settlement identity).
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
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{
    ANSWER_TIMEOUT, Iso, Server, TRANSMITTED, assert_tcp_error, closed_within, purchase, response_code, tcp_connect,
    tcp_read, tcp_send, tcp_session,
};
use kassa_adapters::iso8583::Message;
use kassa_adapters::tcp::{ErrorCode, FRAME_BYTES_MAX, Request, RequestBody, ResponseBody};
use kassa_engine::command::{Command, Outcome, PlaceHold, Rejection, Reply, SettlePos};
use kassa_engine::{Currency, Id};

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

// ----- ISO 8583 settlement identity -----------------------------------------------------------

/// A 0100 (authorization hold) with the fields of a [`purchase`].
fn authorization(terminal: &str, stan: u32, user: &str, code: &str, amount: u64) -> Message {
    let mut message = purchase(terminal, stan, user, code, amount);
    message.set_mti("0100").unwrap();
    message
}

/// Sends `message` three times on `iso`: each answer has the same MTI, field 39 and field 38
/// (approval code, when approved). Returns the approval code.
fn answered_alike(iso: &mut Iso, message: &Message, expected_code: &str) -> Option<String> {
    let first = iso.exchange(message);
    assert_eq!(response_code(&first), expected_code, "{first:?}");
    for _ in 0..2 {
        let again = iso.exchange(message);
        assert_eq!(
            (again.mti(), response_code(&again), again.get_str(38)),
            (first.mti(), expected_code, first.get_str(38))
        );
    }
    first.get_str(38).map(str::to_string)
}

/// Identical retransmissions of a 0100, a 0200 and a 0400 each get the original answer (same
/// field 39 and approval code), and the money moves once; the same STAN with another field 7
/// is a new purchase, approved; no field 7 is a format error (30); a 0100 whose original
/// arrived on another day (so with another hold expiry) still gets the original answer.
#[test]
fn iso_8583_settlements_are_terminal_stan_and_transmission_time() {
    let server = Server::start(&[]);
    server.funded_account("id-payer", "EUR", 100_000);
    server.merchant_with_terminal("id-shop", "IDTERM01", None);
    let user = "4000000000000021";
    let mut iso = Iso::connect(server.iso);

    let code = server.authorize("id-auth-1", user, "id-payer", 10_000);
    let approval = answered_alike(&mut iso, &authorization("IDTERM01", 1, user, &code, 3_000), "00");
    assert_eq!(approval.map(|code| code.len()), Some(6));
    assert_eq!(server.balance("id-payer"), (100_000, 3_000), "held once");

    let code = server.authorize("id-auth-2", user, "id-payer", 10_000);
    let sale = answered_alike(&mut iso, &purchase("IDTERM01", 2, user, &code, 2_000), "00").unwrap();
    assert_eq!((server.balance("id-payer").0, server.balance("id-shop-till").0), (98_000, 2_000), "charged once");

    let original = format!("0200{:06}{TRANSMITTED}{}", 2, "0".repeat(22));
    let reversal = Message::new("0400").unwrap().with(7, "1204120500").with(11, "000003").with(41, "IDTERM01");
    answered_alike(&mut iso, &reversal.with(90, original), "00");
    assert_eq!((server.balance("id-payer").0, server.balance("id-shop-till").0), (100_000, 0), "refunded once");

    // The terminal's STAN 2 again, the next day: a new purchase.
    let code = server.authorize("id-auth-3", user, "id-payer", 10_000);
    let next_day = purchase("IDTERM01", 2, user, &code, 1_500).with(7, "1205090000");
    let approval = answered_alike(&mut iso, &next_day, "00").unwrap();
    assert_ne!(approval, sale, "another settlement");
    assert_eq!(server.balance("id-payer"), (98_500, 3_000));

    let code = server.authorize("id-auth-4", user, "id-payer", 10_000);
    let mut undated = purchase("IDTERM01", 4, user, &code, 1_000);
    undated.remove(7);
    answered_alike(&mut iso, &undated, "30");
    let bad_date = purchase("IDTERM01", 4, user, &code, 1_000).with(7, "1304120000");
    answered_alike(&mut iso, &bad_date, "30");
    assert_eq!(server.balance("id-payer"), (98_500, 3_000), "nothing moved");

    // A 0100 first received on an earlier day: its hold expires at another time than a 0100
    // received today would. Its retransmission still gets the original answer.
    let earlier = settle_over_tcp(&server, "iso:IDTERM01:000005:1204120000", user, &code, 700);
    let retransmitted = answered_alike(&mut iso, &authorization("IDTERM01", 5, user, &code, 700), "00");
    assert_eq!(retransmitted.as_deref(), Some(earlier.as_str()));
    assert_eq!(server.balance("id-payer"), (98_500, 3_700), "held once");
    server.assert_still_serving();
}

/// A 0220 completes a 0100: the hold is captured for the final amount (the rest released), a
/// repeated advice answers 00 again and moves nothing more, a second completion for another
/// amount is refused, and one for no known authorization is declined.
#[test]
fn iso_8583_completion_0220_captures_the_0100_hold() {
    let server = Server::start(&[]);
    server.funded_account("cp-payer", "EUR", 100_000);
    server.merchant_with_terminal("cp-shop", "CPTERM01", None);
    let user = "4000000000000041";
    let mut iso = Iso::connect(server.iso);
    let code = server.authorize("cp-auth-1", user, "cp-payer", 10_000);
    answered_alike(&mut iso, &authorization("CPTERM01", 7, user, &code, 5_000), "00");
    assert_eq!(server.balance("cp-payer"), (100_000, 5_000), "held");

    let original = format!("0100{:06}{TRANSMITTED}{}", 7, "0".repeat(22));
    let completion = |amount: u64| {
        Message::new("0220")
            .unwrap()
            .with(4, format!("{amount:012}"))
            .with(7, "1204130000")
            .with(11, "000008")
            .with(41, "CPTERM01")
            .with(90, original.clone())
    };
    let answer = iso.exchange(&completion(4_200));
    assert_eq!((answer.mti(), response_code(&answer)), ("0230", "00"), "{answer:?}");
    answered_alike(&mut iso, &completion(4_200), "00");
    assert_eq!(server.balance("cp-payer"), (95_800, 0), "captured 4,200 once, the rest released");
    assert_eq!(server.balance("cp-shop-till").0, 4_200);
    assert_ne!(response_code(&iso.exchange(&completion(4_300))), "00", "one completion per hold");
    let unknown = completion(100).with(90, format!("0100{:06}{TRANSMITTED}{}", 99, "0".repeat(22)));
    assert_eq!(response_code(&iso.exchange(&unknown)), "05");
    assert_eq!(server.balance("cp-payer"), (95_800, 0));
    server.assert_still_serving();
}

/// Places an authorization hold through the engine directly (TCP, admin) with an expiry three
/// days away, as a 0100 received on an earlier day would have; returns its approval code.
fn settle_over_tcp(server: &Server, id: &str, user: &str, code: &str, amount: u64) -> String {
    match submit_over_tcp(server, Command::SettlePos(pos_hold(id, "IDTERM01", user, code, amount))) {
        Outcome::Applied(Reply::Settled { approval_code, .. }) => approval_code,
        other => panic!("the hold placed over TCP: {other:?}"),
    }
}

/// A 0100-like settlement (a hold for three days) of `terminal`, as a TCP client sends it.
fn pos_hold(id: &str, terminal: &str, user: &str, code: &str, amount: u64) -> SettlePos {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    SettlePos {
        id: Id::new(id).unwrap(),
        user: Id::new(user).unwrap(),
        code: code.to_string(),
        amount,
        currency: Currency::EUR,
        terminal: Id::new(terminal).unwrap(),
        coupon: None,
        hold_until_ms: Some(u64::try_from(since_epoch.as_millis()).unwrap() + 3 * 86_400_000),
        location: None,
    }
}

/// `command`'s outcome, submitted with the admin key over the binary protocol.
fn submit_over_tcp(server: &Server, command: Command) -> Outcome {
    let mut session = tcp_session(server.tcp);
    tcp_send(&mut session, &Request { request_id: 9, body: RequestBody::Submit(command) });
    match tcp_read(&mut session).map(|response| response.body) {
        Some(ResponseBody::Outcome(outcome)) => outcome,
        other => panic!("no outcome: {other:?}"),
    }
}

/// An ISO 8583 settlement id belongs to the terminal it names: another terminal (here as the
/// sale of another merchant over the binary protocol) or a hold cannot take the id of that
/// terminal's next sale, so the sale, when it comes, is approved and not answered 94.
#[test]
fn another_terminal_cannot_take_an_iso_8583_settlement_id() {
    let server = Server::start(&[]);
    server.funded_account("it-payer", "EUR", 100_000);
    server.merchant_with_terminal("it-shop", "ITTERM01", None);
    server.merchant_with_terminal("it-rival", "ITTERM02", None);
    let user = "4000000000000057";
    let code = server.authorize("it-auth-1", user, "it-payer", 10_000);
    let next_sale = format!("iso:ITTERM01:000003:{TRANSMITTED}");
    let squatted = submit_over_tcp(&server, Command::SettlePos(pos_hold(&next_sale, "ITTERM02", user, &code, 1)));
    assert_eq!(squatted, Outcome::Rejected(Rejection::InvalidField));
    let hold = PlaceHold {
        id: Id::new(&next_sale).unwrap(),
        from: Id::new("it-payer").unwrap(),
        to: Id::new("it-shop-till").unwrap(),
        amount: 1,
        currency: Currency::EUR,
        expires_at_ms: pos_hold(&next_sale, "ITTERM01", user, &code, 1).hold_until_ms.unwrap(),
    };
    assert_eq!(submit_over_tcp(&server, Command::PlaceHold(hold)), Outcome::Rejected(Rejection::InvalidField));
    assert_eq!(server.balance("it-payer"), (100_000, 0), "nothing held");
    let mut iso = Iso::connect(server.iso);
    answered_alike(&mut iso, &purchase("ITTERM01", 3, user, &code, 2_500), "00");
    assert_eq!(server.balance("it-payer"), (97_500, 0));
    server.assert_still_serving();
}

/// The ISO 8583 listener caches the terminals it has seen (they never change once registered):
/// an unknown terminal is refused and not remembered as unknown, so once it is registered its
/// next message is served; a signing terminal's messages still need its MAC after it is cached.
#[test]
fn iso_8583_terminal_lookups_are_cached_only_for_registered_terminals() {
    let server = Server::start(&[]);
    server.funded_account("cache-payer", "EUR", 100_000);
    let user = "4000000000000031";
    let mut iso = Iso::connect(server.iso);
    server.merchant_with_terminal("cache-shop", "CACHET01", None);
    let code = server.authorize("cache-auth-1", user, "cache-payer", 10_000);
    let unknown = iso.exchange(&purchase("CACHET02", 1, user, &code, 1_000));
    assert_eq!(response_code(&unknown), "05", "an unknown terminal is refused");
    server.admin("POST", "/v1/terminals", serde_json::json!({"id": "CACHET02", "merchant": "cache-shop"}));
    let known = iso.exchange(&purchase("CACHET02", 2, user, &code, 1_000));
    assert_eq!(response_code(&known), "00", "registered since: served, not refused from a cache");
    assert_eq!(server.balance("cache-payer").0, 99_000);
    // A signing terminal: unsigned messages are refused before and after its entry is cached.
    server.admin(
        "POST",
        "/v1/terminals",
        serde_json::json!({"id": "CACHET03", "merchant": "cache-shop", "mac_key": "00112233445566778899aabbccddeeff"}),
    );
    let code = server.authorize("cache-auth-2", user, "cache-payer", 10_000);
    for stan in [3, 4] {
        let unsigned = iso.exchange(&purchase("CACHET03", stan, user, &code, 1_000));
        assert_eq!(response_code(&unsigned), "05", "stan {stan}: no MAC, no sale");
    }
    assert_eq!(server.balance("cache-payer").0, 99_000);
}
