//! Overload against a real `kassa serve` (debug build) on loopback, with a small connection
//! limit (`--max-connections 32`) and a small engine queue (`--mailbox-max 256`: what does not
//! fit is refused with Busy at once).
//!
//! The test measures what the server takes over the TCP binary protocol (closed loop, 31
//! connections with 64 requests in flight each), then offers twice that rate open loop for a few
//! seconds while HTTP clients and ISO 8583 terminals load it at the same time and more
//! connections than the limit knock on every listener. It asserts that:
//! - every request gets an answer (no hang): TCP outcomes or `Busy`, HTTP 200 or 503, ISO 8583
//!   05 (this load's reversal of an unknown sale) or 96 — and each of Busy, 503 and 96 occurs:
//!   the excess is refused, not queued;
//! - connections over the limit are refused at once: TCP `Error{Busy}` with request id 0, ISO
//!   8583 closed without an answer; HTTP connections over actix's limit wait in the listen
//!   backlog and are answered (they are counted, not refused);
//! - admitted requests keep succeeding during the overload;
//! - the server's peak resident memory (VmHWM) stays under 1 GiB (printed);
//! - once the load stops, fresh connections up to the limit and normal requests succeed.
//!
//! No timing is asserted other than "answered" against "hung" with generous bounds; the
//! figures are printed (`cargo test -p kassa-adapters --test overload -- --nocapture`).
//! `scripts/overload.sh` runs the same shape at scale against the release binaries.

#![cfg(feature = "server")]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{ADMIN_KEY, ANSWER_TIMEOUT, Server, frame_bytes};
use kassa_adapters::iso8583::{Message, decode};
use kassa_adapters::tcp::frame::{decode_body, encode_frame};
use kassa_adapters::tcp::{Client, ErrorCode, PROTOCOL_VERSION, Request, RequestBody, Response, ResponseBody};
use kassa_engine::command::{Command, Movement, OpenAccount, Transfer};
use kassa_engine::{Currency, Id, Outcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::Semaphore;

/// The server's connection limit (per listener; for HTTP, per actix worker).
const MAX_CONNECTIONS: usize = 32;
/// TCP load connections: every slot but the admin client's.
const TCP_LOAD_CONNECTIONS: usize = MAX_CONNECTIONS - 1;
/// Requests in flight per TCP connection while measuring the capacity.
const MEASURE_DEPTH: usize = 64;
/// Funded accounts the transfers move money between.
const ACCOUNTS: usize = 1_000;
/// Concurrent HTTP clients (each a new connection per request): twice actix's admitted total.
const HTTP_CLIENTS: usize = 4 * MAX_CONNECTIONS;
/// ISO 8583 terminals loading the server, and idle ones holding the rest of the slots.
const ISO_TERMINALS: usize = 8;
/// Connections over the limit tried on the TCP and ISO 8583 listeners during the overload.
const FLOOD_CONNECTIONS: usize = 2 * MAX_CONNECTIONS;
const MEASURE_FOR: Duration = Duration::from_secs(3);
const OVERLOAD_FOR: Duration = Duration::from_secs(6);
/// Most unanswered requests an open-loop client keeps per connection (twice the server's
/// in-flight limit), so that answers stay well within [`ANSWER_TIMEOUT`] on slow machines.
const OUTSTANDING_MAX: u64 = 2 * kassa_adapters::tcp::IN_FLIGHT_MAX as u64;
/// Generous bound on the server's peak resident memory.
const PEAK_RSS_KIB_MAX: u64 = 1024 * 1024;

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

fn account(index: u64) -> Id {
    id(&format!("ov-{}", index % ACCOUNTS as u64))
}

/// A small deterministic generator (xorshift64), so the load needs no random crate.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// What the TCP load saw.
#[derive(Default)]
struct TcpTally {
    offered: AtomicU64,
    sent: AtomicU64,
    applied: AtomicU64,
    rejected: AtomicU64,
    busy: AtomicU64,
    other_errors: AtomicU64,
    slowest_us: AtomicU64,
}

impl TcpTally {
    fn answered(&self) -> u64 {
        self.applied.load(Ordering::Relaxed)
            + self.rejected.load(Ordering::Relaxed)
            + self.busy.load(Ordering::Relaxed)
            + self.other_errors.load(Ordering::Relaxed)
    }
}

/// How a TCP load connection paces its requests.
#[derive(Clone, Copy)]
enum Pace {
    /// Keep this many requests in flight.
    Closed(usize),
    /// Send at this many requests per second, whatever the answers.
    Open(u64),
}

/// Reads one response frame.
async fn read_response(reader: &mut BufReader<OwnedReadHalf>) -> std::io::Result<Response> {
    let mut prefix = [0u8; 4];
    reader.read_exact(&mut prefix).await?;
    let mut body = vec![0u8; u32::from_be_bytes(prefix) as usize];
    reader.read_exact(&mut body).await?;
    decode_body(&body).map_err(|error| std::io::Error::other(error.to_string()))
}

fn hello_frame() -> Vec<u8> {
    let mut frame = Vec::new();
    let hello = RequestBody::Hello { protocol_version: PROTOCOL_VERSION, api_key: ADMIN_KEY.into() };
    encode_frame(&Request { request_id: 1, body: hello }, &mut frame).unwrap();
    frame
}

/// Connects and sends Hello; returns the stream and the first response.
async fn tcp_hello(addr: SocketAddr) -> (BufReader<OwnedReadHalf>, tokio::net::tcp::OwnedWriteHalf, Response) {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (read, mut write) = stream.into_split();
    write.write_all(&hello_frame()).await.unwrap();
    let mut reader = BufReader::with_capacity(64 * 1024, read);
    let first =
        tokio::time::timeout(ANSWER_TIMEOUT, read_response(&mut reader)).await.expect("Hello answered").unwrap();
    (reader, write, first)
}

/// Connects and completes the handshake; a `Busy` refusal (the server has not yet released the
/// slot of a connection that just closed) is retried for up to 10 s, as a client should.
async fn tcp_session(addr: SocketAddr) -> (BufReader<OwnedReadHalf>, tokio::net::tcp::OwnedWriteHalf) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (reader, write, first) = tcp_hello(addr).await;
        match first.body {
            ResponseBody::Welcome { .. } => return (reader, write),
            ResponseBody::Error { code: ErrorCode::Busy, .. } if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("the handshake failed: {other:?}"),
        }
    }
}

/// One TCP load connection: transfers of 1 between funded accounts for `duration`, paced as
/// `pace`; then waits for every answer. Fails on a hang (no answer for [`ANSWER_TIMEOUT`]).
async fn tcp_load(addr: SocketAddr, tag: String, pace: Pace, duration: Duration, tally: Arc<TcpTally>) {
    let (mut reader, mut write) = tcp_session(addr).await;
    let answered_so_far = Arc::new(AtomicU64::new(0));
    let sent_at: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let window = Arc::new(Semaphore::new(match pace {
        Pace::Closed(depth) => depth,
        Pace::Open(_) => 0, // not used
    }));
    let mut writer = tokio::spawn({
        let (sent_at, window, tally, tag, answered_so_far) =
            (sent_at.clone(), window.clone(), tally.clone(), tag.clone(), answered_so_far.clone());
        async move {
            let mut dice = Dice(
                0x9E37_79B9_7F4A_7C15
                    ^ tag.bytes().fold(0u64, |hash, byte| hash.wrapping_mul(31).wrapping_add(u64::from(byte))),
            );
            let started = Instant::now();
            let mut sent = 0u64;
            let mut buffer = Vec::new();
            while started.elapsed() < duration {
                let due = match pace {
                    Pace::Closed(_) => {
                        window.acquire().await.unwrap().forget();
                        1
                    }
                    Pace::Open(per_second) => {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        let offered = per_second * started.elapsed().as_millis() as u64 / 1_000;
                        // A client keeps at most OUTSTANDING_MAX unanswered; what it cannot send
                        // is held back (counted as offered, not sent).
                        let outstanding = sent - answered_so_far.load(Ordering::Relaxed);
                        offered.saturating_sub(sent).min(OUTSTANDING_MAX.saturating_sub(outstanding))
                    }
                };
                buffer.clear();
                let now = Instant::now();
                for _ in 0..due {
                    sent += 1;
                    let (from, hop) = (dice.next(), 1 + dice.next() % (ACCOUNTS as u64 - 1));
                    let transfer = Transfer {
                        id: id(&format!("{tag}-{sent}")),
                        from: account(from),
                        to: account(from + hop),
                        amount: 1,
                        currency: Currency::EUR,
                    };
                    let request = Request { request_id: sent, body: RequestBody::Submit(Command::Transfer(transfer)) };
                    encode_frame(&request, &mut buffer).unwrap();
                    sent_at.lock().unwrap().insert(sent, now);
                }
                // Blocks while the server applies backpressure (it stops reading).
                write.write_all(&buffer).await.unwrap();
                tally.sent.fetch_add(due, Ordering::Relaxed);
            }
            if let Pace::Open(per_second) = pace {
                tally.offered.fetch_add(per_second * duration.as_millis() as u64 / 1_000, Ordering::Relaxed);
            }
            (write, sent) // the socket stays open until every answer is read
        }
    });
    // Responses are read by a task of their own, so that waiting for one can be combined with
    // waiting for the writer (a half-read frame is never abandoned).
    let (responses_in, mut responses) = tokio::sync::mpsc::unbounded_channel();
    let reading = tokio::spawn(async move {
        loop {
            let response = read_response(&mut reader).await;
            let failed = response.is_err();
            if responses_in.send(response).is_err() || failed {
                break;
            }
        }
    });
    let (mut answered, mut total, mut write_half) = (0u64, None, None);
    while total != Some(answered) {
        tokio::select! {
            done = &mut writer, if total.is_none() => {
                let (write, sent) = done.unwrap();
                (total, write_half) = (Some(sent), Some(write));
            }
            response = tokio::time::timeout(ANSWER_TIMEOUT, responses.recv()) => {
                let response = match response {
                    Err(_) => panic!("{tag}: hung: no answer for {ANSWER_TIMEOUT:?} after {answered} answers"),
                    Ok(None) => panic!("{tag}: the reader stopped after {answered} answers"),
                    Ok(Some(Err(error))) => panic!("{tag}: the connection failed after {answered} answers: {error}"),
                    Ok(Some(Ok(response))) => response,
                };
                answered += 1;
                answered_so_far.store(answered, Ordering::Relaxed);
                if let Pace::Closed(_) = pace {
                    window.add_permits(1);
                }
                let started = sent_at.lock().unwrap().remove(&response.request_id).expect("an answer to a request sent");
                tally.slowest_us.fetch_max(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                let counter = match response.body {
                    ResponseBody::Outcome(Outcome::Applied(_)) => &tally.applied,
                    ResponseBody::Outcome(Outcome::Rejected(_)) => &tally.rejected,
                    ResponseBody::Error { code: ErrorCode::Busy, .. } => &tally.busy,
                    _ => &tally.other_errors,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    // Close, and wait for the server to close its side: its slot is then (almost) free.
    let _ = write_half.expect("the writer finished").shutdown().await;
    let _ = tokio::time::timeout(ANSWER_TIMEOUT, reading).await;
}

/// What the HTTP load saw.
#[derive(Default)]
struct HttpTally {
    statuses: Mutex<BTreeMap<u16, u64>>,
    slowest_us: AtomicU64,
}

/// One HTTP client: a new connection per transfer (`Connection: close`) until `until`.
async fn http_load(addr: SocketAddr, client: usize, until: Instant, tally: Arc<HttpTally>) {
    let mut dice = Dice(0xD1B5_4A32_D192_ED03 ^ client as u64);
    let mut sequence = 0u64;
    while Instant::now() < until {
        sequence += 1;
        let (from, hop) = (dice.next(), 1 + dice.next() % (ACCOUNTS as u64 - 1));
        let body = format!(
            r#"{{"id":"h{client}-{sequence}","from":"{}","to":"{}","amount":1,"currency":"EUR"}}"#,
            account(from),
            account(from + hop)
        );
        let request = format!(
            "POST /v1/transfers HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {ADMIN_KEY}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let started = Instant::now();
        let exchange = async {
            let mut stream = TcpStream::connect(addr).await?;
            stream.write_all(request.as_bytes()).await?;
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await?;
            Ok::<_, std::io::Error>(answer)
        };
        let answer = tokio::time::timeout(ANSWER_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| panic!("HTTP client {client}: hung for {ANSWER_TIMEOUT:?}"))
            .unwrap_or_else(|error| panic!("HTTP client {client}: {error}"));
        tally.slowest_us.fetch_max(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        let status = common::Answer::parse(&answer).map_or(0, |answer| answer.status);
        *tally.statuses.lock().unwrap().entry(status).or_default() += 1;
    }
}

/// One ISO 8583 terminal: reversals of sales that never happened (the engine answers "not
/// found": 05), one at a time, until `until`; field 39 codes counted.
async fn iso_load(addr: SocketAddr, terminal: usize, until: Instant, codes: Arc<Mutex<BTreeMap<String, u64>>>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut stan = 0u32;
    while Instant::now() < until {
        stan += 1;
        let stan_field = format!("{:06}", (terminal as u32 * 100_000 + stan) % 1_000_000);
        let reversal =
            Message::new("0400").unwrap().with(7, common::TRANSMITTED).with(11, stan_field).with(41, "OVTERM01");
        let exchange = async {
            stream.write_all(&frame_bytes(&reversal)).await?;
            let mut length = [0u8; 2];
            stream.read_exact(&mut length).await?;
            let mut body = vec![0u8; usize::from(u16::from_be_bytes(length))];
            stream.read_exact(&mut body).await?;
            Ok::<_, std::io::Error>(body)
        };
        let body = tokio::time::timeout(ANSWER_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| panic!("ISO 8583 terminal {terminal}: hung"))
            .unwrap_or_else(|error| panic!("ISO 8583 terminal {terminal}: {error}"));
        let answer = decode(&body).unwrap();
        *codes.lock().unwrap().entry(answer.get_str(39).unwrap_or("").to_string()).or_default() += 1;
    }
}

/// Tries one TCP connection over the limit: it must be answered `Error{Busy}` (request id 0)
/// and closed, promptly. Returns how long the refusal took.
async fn tcp_refused(addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let (mut reader, _write, first) = tcp_hello(addr).await;
    assert!(
        matches!(first, Response { request_id: 0, body: ResponseBody::Error { code: ErrorCode::Busy, .. } }),
        "a connection over the limit: {first:?}"
    );
    let mut rest = Vec::new();
    tokio::time::timeout(ANSWER_TIMEOUT, reader.read_to_end(&mut rest)).await.expect("closed after Busy").ok();
    started.elapsed()
}

/// Tries one ISO 8583 connection over the limit: an echo on it gets no answer, the connection
/// is closed promptly. Returns how long the close took.
async fn iso_refused(addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let echo = Message::new("0800").unwrap().with(11, "000001").with(41, "OVTERM01");
    let _ = stream.write_all(&frame_bytes(&echo)).await;
    let mut rest = Vec::new();
    let read = tokio::time::timeout(ANSWER_TIMEOUT, stream.read_to_end(&mut rest)).await.expect("closed, not hung");
    assert!(read.is_err() || rest.is_empty(), "a connection over the limit was answered: {rest:?}");
    started.elapsed()
}

#[test]
fn overload_is_refused_fast_served_bounded_and_recovers() {
    // A small engine queue: what does not fit is refused with Busy at once instead of waiting.
    let mut server = Server::start(&["--max-connections", &MAX_CONNECTIONS.to_string(), "--mailbox-max", "256"]);
    server.merchant_with_terminal("ov-shop", "OVTERM01", None);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (tcp, http, iso) = (server.tcp, server.http, server.iso);
    let report = runtime.block_on(async move {
        let admin = Client::connect(tcp, ADMIN_KEY).await.unwrap();
        let mut setup = Vec::new();
        for index in 0..ACCOUNTS as u64 {
            setup.push(Command::OpenAccount(OpenAccount {
                account: account(index),
                currency: Currency::EUR,
                overdraft_limit: 0,
            }));
            setup.push(Command::Deposit(Movement {
                id: id(&format!("ov-dep-{index}")),
                account: account(index),
                amount: 1_000_000_000,
            }));
        }
        let outcomes = admin.submit_batch(setup).await.unwrap();
        assert!(outcomes.iter().all(Outcome::is_applied));

        // 1. Capacity: closed loop over every load connection.
        let measured = Arc::new(TcpTally::default());
        let started = Instant::now();
        let loads: Vec<_> = (0..TCP_LOAD_CONNECTIONS)
            .map(|c| {
                tokio::spawn(tcp_load(tcp, format!("m{c}"), Pace::Closed(MEASURE_DEPTH), MEASURE_FOR, measured.clone()))
            })
            .collect();
        for load in loads {
            load.await.unwrap();
        }
        let capacity = measured.applied.load(Ordering::Relaxed) * 1_000 / started.elapsed().as_millis().max(1) as u64;
        assert!(capacity > 0, "nothing was applied while measuring");

        // 2. Overload: twice the capacity, open loop, plus HTTP, ISO 8583 and connection floods.
        let offered_per_connection = (2 * capacity).div_ceil(TCP_LOAD_CONNECTIONS as u64);
        let overload = Arc::new(TcpTally::default());
        let http_tally = Arc::new(HttpTally::default());
        let iso_codes: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
        let until = Instant::now() + OVERLOAD_FOR;
        let mut tasks = Vec::new();
        for c in 0..TCP_LOAD_CONNECTIONS {
            let tally = overload.clone();
            tasks.push(tokio::spawn(tcp_load(
                tcp,
                format!("o{c}"),
                Pace::Open(offered_per_connection),
                OVERLOAD_FOR,
                tally,
            )));
        }
        for client in 0..HTTP_CLIENTS {
            tasks.push(tokio::spawn(http_load(http, client, until, http_tally.clone())));
        }
        for terminal in 0..ISO_TERMINALS {
            tasks.push(tokio::spawn(iso_load(iso, terminal, until, iso_codes.clone())));
        }
        // Idle terminals take the rest of the ISO 8583 slots.
        let mut holders = Vec::new();
        for _ in ISO_TERMINALS..MAX_CONNECTIONS {
            holders.push(TcpStream::connect(iso).await.unwrap());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let floods: Vec<_> = (0..FLOOD_CONNECTIONS).map(|_| tokio::spawn(tcp_refused(tcp))).collect();
        let iso_floods: Vec<_> = (0..FLOOD_CONNECTIONS).map(|_| tokio::spawn(iso_refused(iso))).collect();
        let mut slowest_refusal = Duration::ZERO;
        for flood in floods.into_iter().chain(iso_floods) {
            slowest_refusal = slowest_refusal.max(flood.await.unwrap());
        }
        for task in tasks {
            task.await.unwrap();
        }
        drop(holders);

        // 3. Recovery: the load has stopped; every slot can be taken again and requests succeed.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let recovery_started = Instant::now();
        let mut fresh = Vec::new();
        for _ in 0..TCP_LOAD_CONNECTIONS {
            fresh.push(tcp_session(tcp).await);
        }
        let transfer =
            Transfer { id: id("ov-after"), from: account(1), to: account(2), amount: 5, currency: Currency::EUR };
        let outcome = admin.submit(Command::Transfer(transfer)).await.unwrap();
        assert!(outcome.is_applied(), "a transfer after the overload: {outcome:?}");
        drop(fresh);
        let mut terminal = TcpStream::connect(iso).await.unwrap();
        let echo = Message::new("0800").unwrap().with(11, "000777").with(41, "OVTERM01");
        terminal.write_all(&frame_bytes(&echo)).await.unwrap();
        let mut length = [0u8; 2];
        tokio::time::timeout(ANSWER_TIMEOUT, terminal.read_exact(&mut length)).await.expect("echo answered").unwrap();
        let recovery = recovery_started.elapsed();
        (capacity, offered_per_connection, measured, overload, http_tally, iso_codes, slowest_refusal, recovery)
    });
    let (capacity, offered_per_connection, measured, overload, http_tally, iso_codes, slowest_refusal, recovery) =
        report;
    let after = server.call(
        "POST",
        "/v1/transfers",
        Some(ADMIN_KEY),
        Some(&serde_json::json!(
            {"id": "ov-after-http", "from": "ov-3", "to": "ov-4", "amount": 5, "currency": "EUR"}
        )),
    );
    assert_eq!(after.status, 200, "an HTTP transfer after the overload: {after:?}");
    let (peak_kib, now_kib) = server.memory_kib();
    assert!(server.running(), "the server survived");

    let statuses = http_tally.statuses.lock().unwrap().clone();
    let iso_codes = iso_codes.lock().unwrap().clone();
    let get = |tally: &TcpTally, counter: fn(&TcpTally) -> &AtomicU64| counter(tally).load(Ordering::Relaxed);
    eprintln!("overload report (debug build, shared 2-core machine):");
    eprintln!(
        "  capacity (TCP closed loop, {TCP_LOAD_CONNECTIONS} x {MEASURE_DEPTH} in flight): {capacity} transfers/s"
    );
    eprintln!(
        "  TCP offered {} /s open loop for {OVERLOAD_FOR:?} ({} requests): sent {} (the rest held back by \
         backpressure), applied {}, rejected {}, busy {}, other errors {}, slowest answer {} ms",
        offered_per_connection * TCP_LOAD_CONNECTIONS as u64,
        get(&overload, |t| &t.offered),
        get(&overload, |t| &t.sent),
        get(&overload, |t| &t.applied),
        get(&overload, |t| &t.rejected),
        get(&overload, |t| &t.busy),
        get(&overload, |t| &t.other_errors),
        get(&overload, |t| &t.slowest_us) / 1_000,
    );
    eprintln!(
        "  HTTP {HTTP_CLIENTS} clients: statuses {statuses:?}, slowest {} ms",
        http_tally.slowest_us.load(Ordering::Relaxed) / 1_000
    );
    eprintln!("  ISO 8583 {ISO_TERMINALS} terminals: field 39 codes {iso_codes:?}");
    eprintln!(
        "  {FLOOD_CONNECTIONS} TCP and {FLOOD_CONNECTIONS} ISO 8583 connections over the limit refused, slowest refusal {slowest_refusal:?}"
    );
    eprintln!("  recovery (31 fresh TCP sessions, a transfer, an ISO echo): {recovery:?}");
    eprintln!("  server memory: peak (VmHWM) {} MiB, now (VmRSS) {} MiB", peak_kib / 1024, now_kib / 1024);

    assert_eq!(get(&measured, |t| &t.other_errors) + get(&overload, |t| &t.other_errors), 0, "only outcomes or Busy");
    assert_eq!(overload.answered(), get(&overload, |t| &t.sent), "every TCP request answered once");
    assert!(get(&overload, |t| &t.applied) > 0, "admitted TCP requests kept being applied");
    // What the 256-request engine queue cannot take is refused with Busy on every listener.
    assert!(get(&overload, |t| &t.busy) > 0, "TCP excess answered Busy");
    assert!(statuses.get(&503).is_some_and(|&busy| busy > 0), "HTTP excess answered 503: {statuses:?}");
    assert!(iso_codes.get("96").is_some_and(|&busy| busy > 0), "ISO 8583 excess answered 96: {iso_codes:?}");
    assert!(statuses.keys().all(|status| [200, 503].contains(status)), "HTTP answers: {statuses:?}");
    assert!(statuses.get(&200).is_some_and(|&ok| ok > 0), "admitted HTTP requests succeeded: {statuses:?}");
    assert!(iso_codes.keys().all(|code| ["05", "96"].contains(&code.as_str())), "ISO 8583 answers: {iso_codes:?}");
    assert!(iso_codes.get("05").is_some_and(|&served| served > 0), "admitted ISO 8583 requests served");
    assert!(peak_kib < PEAK_RSS_KIB_MAX, "peak RSS {peak_kib} KiB over {PEAK_RSS_KIB_MAX} KiB");
    server.assert_logged(&["tcp connection refused", "too many connections"]);
    server.assert_logged(&["ISO 8583: connection limit reached"]);
    server.assert_logged_times(&["tcp connection refused", "too many connections"], FLOOD_CONNECTIONS);
    server.assert_still_serving();
}
