//! End-to-end tests of the TCP binary protocol: a real engine, the server on 127.0.0.1:0, the
//! Rust client and raw sockets. Every test is bounded in time.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kassa_adapters::auth::{Auth, new_key};
use kassa_adapters::tcp::frame::{decode_body, encode_frame, split_frame};
use kassa_adapters::tcp::{
    Client, ClientError, ErrorCode, FRAME_BYTES_MAX, PROTOCOL_VERSION, Request, RequestBody, Response, ResponseBody,
    SerialClient, ServerConfig, serve_with_config,
};
use kassa_engine::command::Submission;
use kassa_engine::command::{Command, Movement, OpenAccount, Principal, RegisterApiKey, Transfer};
use kassa_engine::state_machine::ApiKey;
use kassa_engine::{Currency, Durability, Engine, EngineConfig, Id, Outcome, Rejection, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const ADMIN_KEY: &str = "admin-key";
const TEST_TIMEOUT: Duration = Duration::from_secs(60);
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs a test body with a time limit.
async fn bounded<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_TIMEOUT, test).await.expect("the test took too long");
}

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

/// An engine, its keys, and the server running on a local port.
struct Harness {
    addr: SocketAddr,
    engine: Arc<Engine>,
    auth: Arc<Auth>,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn start() -> Harness {
        Harness::start_with(ServerConfig::new(100)).await
    }

    async fn start_with(config: ServerConfig) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let mut engine_config = EngineConfig::new(dir.path());
        engine_config.durability = Durability::UnsafeNoSync;
        engine_config.tick_interval_ms = 0;
        let engine = Arc::new(Engine::open(engine_config).unwrap());
        let (auth, generated) = Auth::load(&engine, Some(ADMIN_KEY)).await.unwrap();
        assert!(generated.is_none());
        let auth = Arc::new(auth);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, shutdown) = watch::channel(false);
        let server = tokio::spawn(serve_with_config(listener, engine.clone(), auth.clone(), config, shutdown));
        Harness { addr, engine, auth, stop, server, _dir: dir }
    }

    async fn client(&self) -> Client {
        Client::connect(self.addr, ADMIN_KEY).await.unwrap()
    }

    /// Registers an app (non-admin) key and returns it.
    async fn app_key(&self) -> String {
        let (key, key_id, secret_hash) = new_key();
        let role = Principal::App(id("shop"));
        let register = RegisterApiKey { key_id: key_id.clone(), role: role.clone(), secret_hash };
        let outcome = self.engine.submit(Submission::admin(Command::RegisterApiKey(register))).await.unwrap();
        assert!(outcome.is_applied(), "{outcome:?}");
        self.auth.remember_key(&key_id, ApiKey { role, secret_hash, revoked: false });
        key
    }

    /// Opens EUR accounts and deposits `funds` into each.
    async fn accounts(&self, client: &Client, names: &[&str], funds: u64) {
        let mut commands = Vec::new();
        for name in names {
            commands.push(Command::OpenAccount(OpenAccount {
                account: id(name),
                currency: Currency::EUR,
                overdraft_limit: 0,
            }));
            commands.push(Command::Deposit(Movement {
                id: id(&format!("dep-{name}")),
                account: id(name),
                amount: funds,
            }));
        }
        let outcomes = client.submit_batch(commands).await.unwrap();
        assert!(outcomes.iter().all(Outcome::is_applied), "{outcomes:?}");
    }

    /// Stops the server and waits for `serve` to return.
    async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(READ_TIMEOUT, self.server).await.expect("serve returns after shutdown").unwrap();
    }
}

fn transfer(transfer_id: &str, from: &str, to: &str, amount: u64) -> Command {
    Command::Transfer(Transfer { id: id(transfer_id), from: id(from), to: id(to), amount, currency: Currency::EUR })
}

fn frame_of(message: &Request) -> Vec<u8> {
    let mut frame = Vec::new();
    encode_frame(message, &mut frame).unwrap();
    frame
}

fn hello(api_key: &str, protocol_version: u16) -> Request {
    Request { request_id: 1, body: RequestBody::Hello { protocol_version, api_key: api_key.into() } }
}

/// Reads one frame's raw bytes; `None` once the server closed (or reset) the connection.
async fn read_raw(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut frame = vec![0u8; 4];
    let read = tokio::time::timeout(READ_TIMEOUT, stream.read_exact(&mut frame)).await.expect("no frame in time");
    read.ok()?;
    let length = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
    assert!(length <= FRAME_BYTES_MAX);
    frame.resize(4 + length, 0);
    tokio::time::timeout(READ_TIMEOUT, stream.read_exact(&mut frame[4..])).await.expect("no body in time").ok()?;
    Some(frame)
}

/// Reads and decodes one response; `None` once the connection is closed.
async fn read_response(stream: &mut TcpStream) -> Option<Response> {
    let frame = read_raw(stream).await?;
    let (body, _) = split_frame(&frame).unwrap().unwrap();
    Some(decode_body(body).unwrap())
}

/// Asserts that the server closes the connection (EOF or reset) in time.
async fn assert_closed(stream: &mut TcpStream) {
    let mut sink = [0u8; 1024];
    let closed = tokio::time::timeout(READ_TIMEOUT, async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server did not close the connection");
}

fn assert_error(response: &Response, request_id: u64, expected: ErrorCode) {
    match &response.body {
        ResponseBody::Error { code, .. } => assert_eq!((response.request_id, *code), (request_id, expected)),
        other => panic!("expected {expected} error, got {other:?}"),
    }
}

/// A raw connection that completed the handshake.
async fn raw_session(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&frame_of(&hello(ADMIN_KEY, PROTOCOL_VERSION))).await.unwrap();
    let welcome = read_response(&mut stream).await.unwrap();
    assert!(matches!(welcome.body, ResponseBody::Welcome { .. }), "{welcome:?}");
    stream
}

/// Opens a raw connection, sends `first`, and returns the reply; the server must then close.
async fn refused_handshake(addr: SocketAddr, first: &Request) -> Response {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&frame_of(first)).await.unwrap();
    let response = read_response(&mut stream).await.expect("an error reply before closing");
    assert_closed(&mut stream).await;
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_handshake_accepts_an_admin_key() {
    bounded(async {
        let harness = Harness::start().await;
        let mut stream = TcpStream::connect(harness.addr).await.unwrap();
        stream.write_all(&frame_of(&hello(ADMIN_KEY, PROTOCOL_VERSION))).await.unwrap();
        let welcome = read_response(&mut stream).await.unwrap();
        assert_eq!(
            welcome,
            Response { request_id: 1, body: ResponseBody::Welcome { protocol_version: 1, frame_bytes_max: 1 << 20 } }
        );
        let client = harness.client().await;
        client.ping().await.unwrap();
        assert!(!client.is_closed());
        harness.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_handshake_refuses_a_bad_key() {
    bounded(async {
        let harness = Harness::start().await;
        let response = refused_handshake(harness.addr, &hello("kassa_nope_wrong", PROTOCOL_VERSION)).await;
        assert_error(&response, 1, ErrorCode::Unauthenticated);
        let response = refused_handshake(harness.addr, &hello("", PROTOCOL_VERSION)).await;
        assert_error(&response, 1, ErrorCode::Unauthenticated);
        match Client::connect(harness.addr, "wrong").await {
            Err(ClientError::Server { code: ErrorCode::Unauthenticated, .. }) => {}
            other => panic!("expected unauthenticated, got {:?}", other.map(|_| ())),
        }
        harness.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_scopes_a_tenant_key_to_what_the_engine_allows_it() {
    bounded(async {
        let harness = Harness::start().await;
        let admin = harness.client().await;
        let open = |account: &str| {
            Command::OpenAccount(OpenAccount { account: id(account), currency: Currency::EUR, overdraft_limit: 0 })
        };
        assert!(admin.submit(open("admins")).await.unwrap().is_applied());
        // An app key is welcomed; each command it sends carries its principal.
        let app_key = harness.app_key().await;
        let app = Client::connect(harness.addr, &app_key).await.unwrap();
        assert!(app.submit(open("apps")).await.unwrap().is_applied());
        let deposit = Command::Deposit(Movement { id: id("d-app"), account: id("apps"), amount: 5 });
        assert_eq!(app.submit(deposit).await.unwrap(), Outcome::Rejected(Rejection::Forbidden));
        let steal = transfer("steal", "admins", "apps", 1);
        assert_eq!(app.submit(steal).await.unwrap(), Outcome::Rejected(Rejection::Forbidden));
        assert_eq!(app.submit(open("admins")).await.unwrap(), Outcome::Rejected(Rejection::AlreadyExists));
        let batch = app.submit_batch(vec![open("apps"), Command::Tick]).await.unwrap();
        assert_eq!(batch, vec![Outcome::Applied(Reply::Done), Outcome::Rejected(Rejection::Forbidden)]);
        harness.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_handshake_refuses_another_protocol_version() {
    bounded(async {
        let harness = Harness::start().await;
        for version in [0, 2, u16::MAX] {
            let response = refused_handshake(harness.addr, &hello(ADMIN_KEY, version)).await;
            assert_error(&response, 1, ErrorCode::UnsupportedVersion);
        }
        harness.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_requests_before_hello_are_refused() {
    bounded(async {
        let harness = Harness::start().await;
        let ping = Request { request_id: 5, body: RequestBody::Ping };
        assert_error(&refused_handshake(harness.addr, &ping).await, 5, ErrorCode::Unauthenticated);
        let submit = Request { request_id: 6, body: RequestBody::Submit(Command::Tick) };
        assert_error(&refused_handshake(harness.addr, &submit).await, 6, ErrorCode::Unauthenticated);
        // Nothing was applied: no Tick reached the engine through the refused connection.
        harness.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_submit_and_batch_return_the_engine_outcomes() {
    bounded(async {
        let harness = Harness::start().await;
        let client = harness.client().await;
        harness.accounts(&client, &["alice", "bob"], 1_000).await;
        assert_eq!(client.submit(transfer("t1", "alice", "bob", 600)).await.unwrap(), Outcome::Applied(Reply::Done));
        assert_eq!(
            client.submit(transfer("t2", "alice", "bob", 600)).await.unwrap(),
            Outcome::Rejected(Rejection::InsufficientFunds)
        );
        let outcomes = client
            .submit_batch(vec![
                transfer("t3", "bob", "alice", 100),
                transfer("t4", "alice", "alice", 1),
                transfer("t5", "alice", "nobody", 1),
                Command::Tick,
            ])
            .await
            .unwrap();
        assert_eq!(
            outcomes,
            vec![
                Outcome::Applied(Reply::Done),
                Outcome::Rejected(Rejection::SameAccount),
                Outcome::Rejected(Rejection::CounterpartyNotFound),
                Outcome::Applied(Reply::Ticked { expired: 0 }),
            ]
        );
        // An invalid batch is refused for that request only; the connection stays open.
        match client.submit_batch(vec![]).await {
            Err(ClientError::Server { code: ErrorCode::InvalidBatch, .. }) => {}
            other => panic!("expected invalid batch, got {other:?}"),
        }
        match client.submit_batch(vec![Command::Tick; 8_191]).await {
            Err(ClientError::Server { code: ErrorCode::InvalidBatch, .. }) => {}
            other => panic!("expected invalid batch, got {other:?}"),
        }
        assert_eq!(client.submit_batch(vec![Command::Tick; 8_190]).await.unwrap().len(), 8_190);
        client.ping().await.unwrap();
        harness.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_serial_client_runs_one_request_at_a_time() {
    bounded(async {
        let harness = Harness::start().await;
        let client = harness.client().await;
        harness.accounts(&client, &["alice", "bob"], 1_000).await;
        let mut serial = SerialClient::connect(harness.addr, ADMIN_KEY).await.unwrap();
        assert_eq!(serial.submit(transfer("s1", "alice", "bob", 600)).await.unwrap(), Outcome::Applied(Reply::Done));
        // The same id and body again: the first answer, nothing applied twice.
        assert_eq!(serial.submit(transfer("s1", "alice", "bob", 600)).await.unwrap(), Outcome::Applied(Reply::Done));
        assert_eq!(
            serial.submit(transfer("s2", "alice", "bob", 600)).await.unwrap(),
            Outcome::Rejected(Rejection::InsufficientFunds)
        );
        // A request-level error keeps the connection open.
        match serial.submit_batch(vec![]).await {
            Err(ClientError::Server { code: ErrorCode::InvalidBatch, .. }) => {}
            other => panic!("expected invalid batch, got {other:?}"),
        }
        assert!(!serial.is_closed());
        let outcomes = serial.submit_batch(vec![transfer("s3", "bob", "alice", 100), Command::Tick]).await.unwrap();
        assert_eq!(outcomes, vec![Outcome::Applied(Reply::Done), Outcome::Applied(Reply::Ticked { expired: 0 })]);
        let balances = harness
            .engine
            .read(|machine| {
                (machine.account(&id("alice")).unwrap().posted, machine.account(&id("bob")).unwrap().posted)
            })
            .await
            .unwrap();
        assert_eq!(balances, (500, 1_500));
        // A wrong key is refused at the handshake.
        match SerialClient::connect(harness.addr, "wrong").await {
            Err(ClientError::Server { code: ErrorCode::Unauthenticated, .. }) => {}
            Err(other) => panic!("expected unauthenticated, got {other:?}"),
            Ok(_) => panic!("a wrong key was accepted"),
        }
        harness.stop().await;
    })
    .await;
}

/// The Transfer example of `docs/protocol.md` against a live server, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_documented_hex_exchange_is_what_the_server_sends() {
    bounded(async {
        let harness = Harness::start().await;
        let client = harness.client().await;
        harness.accounts(&client, &["alice", "bob"], 1_500).await;
        let unhex = |text: &str| hex::decode(text.replace(' ', "")).unwrap();
        let mut stream = TcpStream::connect(harness.addr).await.unwrap();
        stream.write_all(&unhex("0000000e 01 01 00 01 09 61646d696e2d6b6579")).await.unwrap();
        assert_eq!(read_raw(&mut stream).await.unwrap(), unhex("00000009 01 01 00 01 fc00001000"));
        let request = unhex("00000018 01 07 01 04 03742d31 05616c696365 03626f62 fbd204 fbd203");
        stream.write_all(&request).await.unwrap();
        assert_eq!(read_raw(&mut stream).await.unwrap(), unhex("00000005 01 07 01 00 00"));
        // Repeating it (same id, same body) is idempotent: the same answer, nothing moves.
        stream.write_all(&request).await.unwrap();
        assert_eq!(read_raw(&mut stream).await.unwrap(), unhex("00000005 01 07 01 00 00"));
        // "t-2" for the same amount: 266 left, so rejected with InsufficientFunds (index 9).
        let mut again = request.clone();
        assert_eq!(again[11], b'1');
        again[11] = b'2';
        stream.write_all(&again).await.unwrap();
        assert_eq!(read_raw(&mut stream).await.unwrap(), unhex("00000005 01 07 01 01 09"));
        harness.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_a_thousand_pipelined_requests_from_many_tasks_are_matched() {
    bounded(async {
        let harness = Harness::start().await;
        let client = Arc::new(harness.client().await);
        harness.accounts(&client, &["a", "b", "usd"], 1_000_000).await;
        let usd =
            Command::OpenAccount(OpenAccount { account: id("dollars"), currency: Currency::USD, overdraft_limit: 0 });
        assert!(client.submit(usd).await.unwrap().is_applied());
        // Each request has an outcome that depends on it, so a mismatched reply fails the test.
        let expected = |n: usize| -> (Command, Outcome) {
            let name = format!("p{n}");
            match n % 4 {
                0 => (transfer(&name, "a", "b", 1), Outcome::Applied(Reply::Done)),
                1 => (transfer(&name, "a", "a", 1), Outcome::Rejected(Rejection::SameAccount)),
                2 => (
                    transfer(&name, "a", &format!("missing{n}"), 1),
                    Outcome::Rejected(Rejection::CounterpartyNotFound),
                ),
                _ => (transfer(&name, "a", "dollars", 1), Outcome::Rejected(Rejection::CurrencyMismatch)),
            }
        };
        let tasks: Vec<_> = (0..40)
            .map(|task| {
                let client = client.clone();
                tokio::spawn(async move {
                    // 25 requests per task, all in flight at once.
                    let requests = (0..25).map(|i| {
                        let (command, outcome) = expected(task * 25 + i);
                        let client = client.clone();
                        async move { (client.submit(command).await.unwrap(), outcome) }
                    });
                    let handles: Vec<_> = requests.map(tokio::spawn).collect();
                    for handle in handles {
                        let (got, want) = handle.await.unwrap();
                        assert_eq!(got, want);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let balance =
            harness.engine.read(|machine| machine.account(&Id::new("b").unwrap()).map(|account| account.posted)).await;
        assert_eq!(balance.unwrap(), Some(1_000_250));
        harness.stop().await;
    })
    .await;
}

/// Pipelined requests enter the engine in the order they arrived: each deposit depends on the
/// account opened by the frame just before it, all written at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_pipelined_requests_are_applied_in_arrival_order() {
    bounded(async {
        let harness = Harness::start().await;
        let mut stream = raw_session(harness.addr).await;
        let mut frames = Vec::new();
        for n in 0..200u64 {
            let account = id(&format!("ordered{n}"));
            let open = Command::OpenAccount(OpenAccount {
                account: account.clone(),
                currency: Currency::EUR,
                overdraft_limit: 0,
            });
            let deposit = Command::Deposit(Movement { id: id(&format!("od{n}")), account: account.clone(), amount: 5 });
            let withdraw = Command::Withdraw(Movement { id: id(&format!("ow{n}")), account, amount: 5 });
            for (offset, command) in [open, deposit, withdraw].into_iter().enumerate() {
                let request = Request { request_id: 10 + 3 * n + offset as u64, body: RequestBody::Submit(command) };
                encode_frame(&request, &mut frames).unwrap();
            }
        }
        stream.write_all(&frames).await.unwrap();
        let mut answered = std::collections::BTreeSet::new();
        while answered.len() < 600 {
            let response = read_response(&mut stream).await.unwrap();
            assert_eq!(response.body, ResponseBody::Outcome(Outcome::Applied(Reply::Done)), "{}", response.request_id);
            assert!(answered.insert(response.request_id));
        }
        harness.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_backpressure_with_a_small_in_flight_limit_answers_everything() {
    bounded(async {
        let mut config = ServerConfig::new(10);
        config.in_flight_max = 4;
        let harness = Harness::start_with(config).await;
        let mut stream = raw_session(harness.addr).await;
        // 500 requests written in one go without reading: the server reads 4 at a time.
        let mut frames = Vec::new();
        for request_id in 100..600u64 {
            let body = if request_id % 2 == 0 { RequestBody::Ping } else { RequestBody::Submit(Command::Tick) };
            encode_frame(&Request { request_id, body }, &mut frames).unwrap();
        }
        let (mut read, mut write) = stream.split();
        let writing = async { write.write_all(&frames).await.unwrap() };
        let reading = async {
            let mut seen = std::collections::BTreeSet::new();
            let mut buffer = Vec::new();
            while seen.len() < 500 {
                let mut chunk = [0u8; 4096];
                let read = tokio::time::timeout(READ_TIMEOUT, read.read(&mut chunk)).await.unwrap().unwrap();
                assert!(read > 0);
                buffer.extend_from_slice(&chunk[..read]);
                while let Some((body, consumed)) = split_frame(&buffer).unwrap() {
                    let response: Response = decode_body(body).unwrap();
                    match (response.request_id % 2, &response.body) {
                        (0, ResponseBody::Pong)
                        | (1, ResponseBody::Outcome(Outcome::Applied(Reply::Ticked { .. }))) => {}
                        other => panic!("unexpected {other:?}"),
                    }
                    assert!(seen.insert(response.request_id));
                    buffer.drain(..consumed);
                }
            }
            seen
        };
        let ((), seen) = tokio::join!(writing, reading);
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), (100..600).collect::<Vec<_>>());
        harness.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_fifty_concurrent_connections_are_served() {
    bounded(async {
        let harness = Harness::start().await;
        let setup = harness.client().await;
        harness.accounts(&setup, &["src", "dst"], 1_000_000).await;
        let addr = harness.addr;
        let connections: Vec<_> = (0..50)
            .map(|connection| {
                tokio::spawn(async move {
                    let client = Client::connect(addr, ADMIN_KEY).await.unwrap();
                    for i in 0..10 {
                        let command = transfer(&format!("c{connection}-{i}"), "src", "dst", 1);
                        assert_eq!(client.submit(command).await.unwrap(), Outcome::Applied(Reply::Done));
                    }
                    client.ping().await.unwrap();
                    client
                })
            })
            .collect();
        let mut clients = Vec::new();
        for connection in connections {
            clients.push(connection.await.unwrap());
        }
        // All 50 are open at once and still work.
        for client in &clients {
            client.ping().await.unwrap();
        }
        harness.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_malformed_frames_close_only_their_connection() {
    bounded(async {
        let harness = Harness::start().await;
        let bystander = harness.client().await;
        // A body that is not a Request.
        let mut stream = raw_session(harness.addr).await;
        stream.write_all(&[0, 0, 0, 3, 1, 0xee, 0xee]).await.unwrap();
        assert_error(&read_response(&mut stream).await.unwrap(), 0, ErrorCode::MalformedFrame);
        assert_closed(&mut stream).await;
        // A wrong format-version byte.
        let mut stream = raw_session(harness.addr).await;
        stream.write_all(&[0, 0, 0, 3, 9, 1, 3]).await.unwrap();
        assert_error(&read_response(&mut stream).await.unwrap(), 0, ErrorCode::MalformedFrame);
        assert_closed(&mut stream).await;
        // An empty frame.
        let mut stream = raw_session(harness.addr).await;
        stream.write_all(&[0, 0, 0, 0]).await.unwrap();
        assert_error(&read_response(&mut stream).await.unwrap(), 0, ErrorCode::MalformedFrame);
        assert_closed(&mut stream).await;
        // A second Hello.
        let mut stream = raw_session(harness.addr).await;
        let mut second = hello(ADMIN_KEY, PROTOCOL_VERSION);
        second.request_id = 42;
        stream.write_all(&frame_of(&second)).await.unwrap();
        assert_error(&read_response(&mut stream).await.unwrap(), 42, ErrorCode::MalformedFrame);
        assert_closed(&mut stream).await;
        // Garbage before the handshake.
        let mut stream = TcpStream::connect(harness.addr).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let response = read_response(&mut stream).await.unwrap();
        assert_error(&response, 0, ErrorCode::FrameTooLarge);
        assert_closed(&mut stream).await;
        bystander.ping().await.unwrap();
        assert_eq!(bystander.submit(Command::Tick).await.unwrap(), Outcome::Applied(Reply::Ticked { expired: 0 }));
        harness.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_oversized_frames_are_refused_before_reading_them() {
    bounded(async {
        let harness = Harness::start().await;
        let bystander = harness.client().await;
        let mut stream = raw_session(harness.addr).await;
        let announced = u32::try_from(FRAME_BYTES_MAX + 1).unwrap();
        stream.write_all(&announced.to_be_bytes()).await.unwrap();
        stream.write_all(&[1; 1000]).await.unwrap();
        assert_error(&read_response(&mut stream).await.unwrap(), 0, ErrorCode::FrameTooLarge);
        assert_closed(&mut stream).await;
        let mut stream = raw_session(harness.addr).await;
        stream.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        assert_error(&read_response(&mut stream).await.unwrap(), 0, ErrorCode::FrameTooLarge);
        assert_closed(&mut stream).await;
        // The client refuses to send one.
        let huge = vec![transfer("t", "a", "b", 1); 100_000];
        assert!(matches!(bystander.submit_batch(huge).await, Err(ClientError::FrameTooLarge(_))));
        bystander.ping().await.unwrap();
        harness.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_half_written_frames_are_closed_after_the_frame_timeout() {
    bounded(async {
        let mut config = ServerConfig::new(10);
        config.frame_timeout = Duration::from_millis(200);
        let harness = Harness::start_with(config).await;
        let bystander = harness.client().await;
        // Half a length prefix, then silence.
        let mut stream = raw_session(harness.addr).await;
        let started = Instant::now();
        stream.write_all(&[0, 0]).await.unwrap();
        assert_error(&read_response(&mut stream).await.unwrap(), 0, ErrorCode::MalformedFrame);
        assert_closed(&mut stream).await;
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(180) && elapsed < Duration::from_secs(5), "{elapsed:?}");
        // A body trickled one byte at a time never completes in time either.
        let mut stream = raw_session(harness.addr).await;
        let frame = frame_of(&Request { request_id: 3, body: RequestBody::Ping });
        let trickle = async {
            for byte in &frame[..frame.len() - 1] {
                if stream.write_all(&[*byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
        };
        trickle.await;
        assert_error(&read_response(&mut stream).await.unwrap(), 0, ErrorCode::MalformedFrame);
        // A connection that never says Hello is closed too.
        let mut silent = TcpStream::connect(harness.addr).await.unwrap();
        assert_error(&read_response(&mut silent).await.unwrap(), 0, ErrorCode::Unauthenticated);
        assert_closed(&mut silent).await;
        // Idle (no frame started) authenticated connections stay open.
        let idle = harness.client().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        idle.ping().await.unwrap();
        bystander.ping().await.unwrap();
        harness.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_over_the_limit_get_busy() {
    bounded(async {
        let harness = Harness::start_with(ServerConfig::new(2)).await;
        let first = harness.client().await;
        let second = harness.client().await;
        let mut third = TcpStream::connect(harness.addr).await.unwrap();
        assert_error(&read_response(&mut third).await.unwrap(), 0, ErrorCode::Busy);
        assert_closed(&mut third).await;
        match Client::connect(harness.addr, ADMIN_KEY).await {
            Err(ClientError::Server { code: ErrorCode::Busy, .. } | ClientError::Closed | ClientError::Io(_)) => {}
            other => panic!("expected busy, got {:?}", other.map(|_| ())),
        }
        first.ping().await.unwrap();
        second.ping().await.unwrap();
        // A freed slot is reused (the server notices the close asynchronously).
        drop(first);
        let mut attempts = 0;
        let third = loop {
            match Client::connect(harness.addr, ADMIN_KEY).await {
                Ok(client) => break client,
                Err(_) if attempts < 100 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(error) => panic!("the slot was not freed: {error}"),
            }
        };
        third.ping().await.unwrap();
        harness.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_shutdown_stops_accepting_and_answers_in_flight_requests() {
    bounded(async {
        let harness = Harness::start().await;
        let client = Arc::new(harness.client().await);
        harness.accounts(&client, &["x", "y"], 1_000_000).await;
        let addr = harness.addr;
        // Requests in flight while the server stops are answered or fail cleanly, never hang.
        let requests: Vec<_> = (0..300)
            .map(|n| {
                let client = client.clone();
                tokio::spawn(async move { client.submit(transfer(&format!("s{n}"), "x", "y", 1)).await })
            })
            .collect();
        tokio::task::yield_now().await;
        harness.stop.send(true).unwrap();
        tokio::time::timeout(READ_TIMEOUT, harness.server).await.expect("serve returns").unwrap();
        let mut answered = 0;
        for request in requests {
            match request.await.unwrap() {
                Ok(outcome) => {
                    assert_eq!(outcome, Outcome::Applied(Reply::Done));
                    answered += 1;
                }
                Err(ClientError::Closed | ClientError::Io(_)) => {}
                Err(error) => panic!("unexpected {error}"),
            }
        }
        // Every transfer that was answered was applied, and none that was not.
        let balance = harness
            .engine
            .read(|machine| machine.account(&Id::new("y").unwrap()).map(|account| account.posted))
            .await
            .unwrap();
        assert_eq!(balance, Some(1_000_000 + answered));
        // The listener is closed and the connection is closed.
        assert!(TcpStream::connect(addr).await.is_err());
        assert!(matches!(client.ping().await, Err(ClientError::Closed | ClientError::Io(_))));
        assert!(client.is_closed());
    })
    .await;
}
