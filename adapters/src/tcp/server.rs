//! The TCP binary protocol server: accept, handshake, pipelined requests, graceful shutdown.
//!
//! Each connection runs in its own task: a reader loop (this task) decodes frames and starts
//! each request's engine submission itself, so commands enter the engine in the order they
//! arrived. A single command's durable outcome is handed by the engine's WAL writer thread
//! straight to the connection's writer task (`Engine::submit_with`: no task per request); a
//! batch waits in a task of its own. The writer encodes every response that is ready into one
//! buffer and writes it with one system call. At most `in_flight_max` requests per connection
//! are in flight; when that many are, the reader stops reading (TCP backpressure).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use kassa_engine::command::Submission;
use kassa_engine::{Engine, SubmitError};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::timeout;

use super::frame::{
    BATCH_COMMANDS_MAX, ErrorCode, FRAME_BYTES_MAX, FrameError, PROTOCOL_VERSION, ReadError, Request, RequestBody,
    Response, ResponseBody, decode_body, encode_frame, read_frame, read_hello_frame,
};
use crate::auth::{Auth, Caller};

/// Default most requests in flight per connection; beyond it the server stops reading.
pub const IN_FLIGHT_MAX: usize = 1024;

/// Default time a client has to complete a frame it started (and to send Hello after connecting).
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// Default time one write to a client may take before the connection is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest the server waits, after its last reply, for a closing client to stop sending (so
/// that unread bytes do not turn the close into a reset that could drop the reply).
const LINGER_MAX: Duration = Duration::from_secs(1);

/// The writer gathers up to this many bytes of ready responses into one write.
const WRITE_BATCH_BYTES: usize = 64 * 1024;

/// Read buffer per connection.
const READ_BUFFER_BYTES: usize = 16 * 1024;

/// A body buffer grown above this by a large frame is released after use.
const BODY_BUFFER_KEEP_BYTES: usize = 64 * 1024;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Most concurrent connections; more are accepted, answered `Error{Busy}` and closed.
    pub max_connections: usize,
    /// Time to complete a frame once its first byte arrived, and to send Hello after connecting.
    pub frame_timeout: Duration,
    /// Time one write to a client may take (a client that stops reading is dropped).
    pub write_timeout: Duration,
    /// Most requests in flight per connection.
    pub in_flight_max: usize,
    /// TLS for every connection (`None`: plain TCP). The handshake must finish within
    /// `frame_timeout`, like the Hello.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl ServerConfig {
    /// Defaults ([`FRAME_TIMEOUT`], [`WRITE_TIMEOUT`], [`IN_FLIGHT_MAX`]) with a connection limit.
    pub fn new(max_connections: usize) -> ServerConfig {
        ServerConfig {
            max_connections,
            frame_timeout: FRAME_TIMEOUT,
            write_timeout: WRITE_TIMEOUT,
            in_flight_max: IN_FLIGHT_MAX,
            tls: None,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig::new(10_000)
    }
}

/// Serves the binary protocol on `listener` with the default [`ServerConfig`] and
/// `max_connections`, until `shutdown` becomes true (or its sender is dropped); see
/// [`serve_with_config`].
pub async fn serve(
    listener: TcpListener,
    engine: Arc<Engine>,
    auth: Arc<Auth>,
    max_connections: usize,
    shutdown: watch::Receiver<bool>,
) {
    serve_with_config(listener, engine, auth, ServerConfig::new(max_connections), shutdown).await;
}

/// Serves the binary protocol on `listener` until `shutdown` becomes true (or its sender is
/// dropped). Then it stops accepting (the listener is closed), every connection stops reading,
/// answers the requests it has in flight and closes, and this returns once all have.
pub async fn serve_with_config(
    listener: TcpListener,
    engine: Arc<Engine>,
    auth: Arc<Auth>,
    config: ServerConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let local = listener.local_addr().ok();
    let slots = Arc::new(Semaphore::new(config.max_connections.clamp(1, Semaphore::MAX_PERMITS)));
    let shared = Arc::new(Shared { engine, auth, config });
    let mut busy = Vec::new();
    encode_frame(&Response::error(0, ErrorCode::Busy, "too many connections"), &mut busy).expect("small frame");
    let mut connections = JoinSet::new();
    tracing::info!(?local, "tcp binary protocol listening");
    loop {
        tokio::select! {
            biased;
            _ = stopped(&mut shutdown) => break,
            Some(joined) = connections.join_next(), if !connections.is_empty() => log_join(joined),
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match slots.clone().try_acquire_owned() {
                    Ok(slot) => {
                        metrics::counter!("kassa_tcp_connections_total").increment(1);
                        // Every log line of the connection carries its id.
                        let span = tracing::info_span!("tcp", connection_id = %crate::http::observe::request_id(None));
                        let connection = connection(stream, peer, shared.clone(), shutdown.clone(), slot);
                        connections.spawn(tracing::Instrument::instrument(connection, span));
                    }
                    Err(_) => {
                        metrics::counter!("kassa_tcp_refused_total", "reason" => "busy").increment(1);
                        tracing::warn!(%peer, reason = "too many connections", "tcp connection refused");
                        // A fresh socket's send buffer is empty: this never blocks.
                        let _ = stream.try_write(&busy);
                    }
                },
                Err(error) => {
                    // Out of file descriptors and the like: do not spin.
                    tracing::warn!(%error, "tcp accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    tracing::info!(?local, open = connections.len(), "tcp: stopped accepting; draining connections");
    while let Some(joined) = connections.join_next().await {
        log_join(joined);
    }
    tracing::info!(?local, "tcp: stopped");
}

fn log_join(joined: Result<(), tokio::task::JoinError>) {
    if let Err(error) = joined {
        tracing::error!(%error, "tcp connection task failed");
    }
}

/// Resolves once shutdown is requested (or the sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|&stop| stop).await;
}

/// What every connection shares.
struct Shared {
    engine: Arc<Engine>,
    auth: Arc<Auth>,
    config: ServerConfig,
}

/// A response on its way to the writer, with the in-flight slot it frees once encoded.
struct Outgoing {
    response: Response,
    _slot: Option<OwnedSemaphorePermit>,
}

/// Why a connection's reader stopped.
#[derive(Debug)]
enum End {
    /// The client closed its side cleanly.
    Eof,
    /// The server is shutting down.
    Shutdown,
    /// The writer failed (client gone or not reading).
    WriterGone,
    /// The socket failed, or ended inside a frame.
    Io(io::Error),
    /// The client broke the protocol; an error reply was queued.
    Refused(ErrorCode),
}

/// A connection's reading side: the socket's, or its TLS session's.
type Reader = Box<dyn AsyncRead + Unpin + Send>;
/// A connection's writing side.
type Writer = Box<dyn tokio::io::AsyncWrite + Unpin + Send>;

/// The two sides of a new connection, after the TLS handshake when the server has TLS (`None`
/// when that failed or took longer than `frame_timeout`: the connection is closed).
async fn split(stream: TcpStream, peer: SocketAddr, config: &ServerConfig) -> Option<(Reader, Writer)> {
    let Some(tls) = &config.tls else {
        let (read, write) = stream.into_split();
        return Some((Box::new(read), Box::new(write)));
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.clone());
    match timeout(config.frame_timeout, acceptor.accept(stream)).await {
        Ok(Ok(session)) => {
            let (read, write) = tokio::io::split(session);
            Some((Box::new(read), Box::new(write)))
        }
        Ok(Err(error)) => {
            metrics::counter!("kassa_tcp_refused_total", "reason" => "tls").increment(1);
            tracing::info!(%peer, %error, "tcp connection refused: TLS handshake failed");
            None
        }
        Err(_) => {
            metrics::counter!("kassa_tcp_refused_total", "reason" => "tls").increment(1);
            tracing::info!(%peer, "tcp connection refused: no TLS handshake before the frame timeout");
            None
        }
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let Some((mut read, mut write)) = split(stream, peer, &shared.config).await else { return };
    let mut body = Vec::new();
    let Some(caller) = greet(&mut read, &mut write, &mut body, peer, &shared, &mut shutdown).await else {
        return;
    };
    tracing::debug!(%peer, key = %caller.key_id, "tcp connection authenticated");

    // The read buffer only once the peer is authenticated: before, it costs at most the Hello.
    let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, read);
    let config = &shared.config;
    let (outgoing, queue) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_loop(write, queue, config.write_timeout));
    let end = read_loop(&mut reader, &mut body, &outgoing, &shared, &caller, &mut shutdown).await;
    drop(outgoing);
    // The writer ends once every request in flight has been answered (each holds a sender).
    let written = writer.await;
    match &end {
        End::Refused(code) => tracing::info!(%peer, reason = %code, "tcp connection closed: protocol error"),
        End::Io(error) => tracing::debug!(%peer, %error, "tcp connection closed: read failed"),
        end => tracing::debug!(%peer, ?end, "tcp connection closed"),
    }
    if let Ok(Err(error)) = written {
        tracing::debug!(%peer, %error, "tcp connection: write failed");
    }
    if !matches!(end, End::Eof | End::Io(_)) {
        drain(&mut reader, config.frame_timeout.min(LINGER_MAX)).await;
    }
}

/// The handshake: reads the Hello (at most `HELLO_BYTES_MAX` bytes, whole within
/// `frame_timeout` of the connection), answers Welcome and returns true, or answers the refusal,
/// closes and returns false. Read directly from the socket, unbuffered: bytes pipelined behind
/// the Hello stay in the socket for the session's reader. `Some(caller)` once welcomed.
async fn greet(
    read: &mut Reader,
    write: &mut Writer,
    body: &mut Vec<u8>,
    peer: SocketAddr,
    shared: &Shared,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Caller> {
    let config = &shared.config;
    let hello = tokio::select! {
        biased;
        _ = stopped(shutdown) => return None,
        read = timeout(config.frame_timeout, read_hello_frame(read, body)) => read,
    };
    let reply = match hello {
        Err(_) => Err(Response::error(0, ErrorCode::Unauthenticated, "no Hello before the frame timeout")),
        Ok(Err(ReadError::Io(error))) => {
            tracing::debug!(%peer, %error, "tcp connection closed before Hello");
            return None;
        }
        Ok(Err(ReadError::Frame(error))) => Err(Response::error(0, error.code(), error.to_string())),
        Ok(Ok(())) => handshake(body, &shared.auth),
    };
    let (reply, caller) = match reply {
        Ok((welcome, caller)) => (welcome, Some(caller)),
        Err(refusal) => (refusal, None),
    };
    if let ResponseBody::Error { code, message } = &reply.body {
        metrics::counter!("kassa_tcp_refused_total", "reason" => code.as_str()).increment(1);
        tracing::info!(%peer, reason = %code, %message, "tcp connection refused");
    }
    let mut frame = Vec::new();
    encode_frame(&reply, &mut frame).expect("small frame");
    if !matches!(timeout(config.write_timeout, write.write_all(&frame)).await, Ok(Ok(()))) {
        return None;
    }
    if caller.is_none() {
        let _ = timeout(config.write_timeout, write.shutdown()).await;
        drain(read, config.frame_timeout.min(LINGER_MAX)).await;
    }
    caller
}

/// Checks the first frame: a Hello of this version with a valid key of any role (what the key
/// may then do is decided by the engine, per command). `Err` is the refusal.
fn handshake(body: &[u8], auth: &Auth) -> Result<(Response, Caller), Response> {
    let request: Request =
        decode_body(body).map_err(|error| Response::error(0, ErrorCode::MalformedFrame, error.to_string()))?;
    let id = request.request_id;
    let RequestBody::Hello { protocol_version, api_key } = request.body else {
        return Err(Response::error(id, ErrorCode::Unauthenticated, "the first request must be Hello"));
    };
    if protocol_version != PROTOCOL_VERSION {
        let message =
            format!("protocol version {protocol_version} is not supported; this server speaks {PROTOCOL_VERSION}");
        return Err(Response::error(id, ErrorCode::UnsupportedVersion, message));
    }
    let caller = auth
        .authenticate(Some(&api_key))
        .map_err(|error| Response::error(id, ErrorCode::Unauthenticated, error.to_string()))?;
    let frame_bytes_max = u32::try_from(FRAME_BYTES_MAX).expect("1 MiB fits");
    let welcome = ResponseBody::Welcome { protocol_version: PROTOCOL_VERSION, frame_bytes_max };
    Ok((Response { request_id: id, body: welcome }, caller))
}

/// Reads requests until the client closes, breaks the protocol, or the server shuts down.
async fn read_loop(
    reader: &mut BufReader<Reader>,
    body: &mut Vec<u8>,
    outgoing: &mpsc::UnboundedSender<Outgoing>,
    shared: &Arc<Shared>,
    caller: &Caller,
    shutdown: &mut watch::Receiver<bool>,
) -> End {
    let config = &shared.config;
    let in_flight = Arc::new(Semaphore::new(config.in_flight_max.clamp(1, Semaphore::MAX_PERMITS)));
    let refuse = |request_id: u64, code: ErrorCode, message: String| {
        let _ = outgoing.send(Outgoing { response: Response::error(request_id, code, message), _slot: None });
        End::Refused(code)
    };
    loop {
        if *shutdown.borrow() {
            return End::Shutdown;
        }
        // A slot first: with `in_flight_max` requests unanswered, stop reading (backpressure).
        let slot = match in_flight.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => tokio::select! {
                biased;
                _ = stopped(shutdown) => return End::Shutdown,
                _ = outgoing.closed() => return End::WriterGone,
                slot = in_flight.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            },
        };
        // Then the start of a frame; idle connections may wait for it as long as they like.
        if reader.buffer().is_empty() {
            let filled = tokio::select! {
                biased;
                _ = stopped(shutdown) => return End::Shutdown,
                _ = outgoing.closed() => return End::WriterGone,
                filled = reader.fill_buf() => filled.map(|bytes| bytes.is_empty()),
            };
            match filled {
                Ok(true) => return End::Eof,
                Ok(false) => {}
                Err(error) => return End::Io(error),
            }
        }
        // A started frame must complete within frame_timeout (slowloris).
        match timeout(config.frame_timeout, read_frame(reader, body)).await {
            Err(_) => {
                let message = format!("frame not completed within {:?}", config.frame_timeout);
                return refuse(0, ErrorCode::MalformedFrame, message);
            }
            Ok(Err(ReadError::Io(error))) => return End::Io(error),
            Ok(Err(ReadError::Frame(error))) => return refuse(0, error.code(), error.to_string()),
            Ok(Ok(())) => {}
        }
        let decoded = decode_body::<Request>(body);
        if body.capacity() > BODY_BUFFER_KEEP_BYTES {
            *body = Vec::new();
        }
        let request = match decoded {
            Ok(request) => request,
            Err(error) => return refuse(0, ErrorCode::MalformedFrame, error.to_string()),
        };
        if let Some(end) = serve_request(request, slot, shared, caller, outgoing) {
            return end;
        }
    }
}

/// Answers one decoded request, or sends it to the engine to be answered in order. `Some`:
/// the connection ends (its key was revoked, or it broke the protocol).
fn serve_request(
    request: Request,
    slot: OwnedSemaphorePermit,
    shared: &Arc<Shared>,
    caller: &Caller,
    outgoing: &mpsc::UnboundedSender<Outgoing>,
) -> Option<End> {
    let request_id = request.request_id;
    let refuse = |code: ErrorCode, message: String| {
        let _ = outgoing.send(Outgoing { response: Response::error(request_id, code, message), _slot: None });
        Some(End::Refused(code))
    };
    if !shared.auth.is_live(caller) {
        return refuse(ErrorCode::Unauthenticated, "the API key was revoked".into());
    }
    match request.body {
        RequestBody::Hello { .. } => return refuse(ErrorCode::MalformedFrame, "Hello after the handshake".into()),
        RequestBody::Ping => {
            let response = Response { request_id, body: ResponseBody::Pong };
            let _ = outgoing.send(Outgoing { response, _slot: Some(slot) });
        }
        RequestBody::Batch(commands) if commands.is_empty() || commands.len() > BATCH_COMMANDS_MAX => {
            let message = format!("a batch holds 1..={BATCH_COMMANDS_MAX} commands, not {}", commands.len());
            let response = Response::error(request_id, ErrorCode::InvalidBatch, message);
            let _ = outgoing.send(Outgoing { response, _slot: Some(slot) });
        }
        RequestBody::Submit(command) => submit_one(shared, caller.sends(command), request_id, slot, outgoing),
        RequestBody::SubmitWithMetadata { command, metadata } => {
            submit_one(shared, caller.sends(command).with_metadata(metadata), request_id, slot, outgoing);
        }
        RequestBody::Batch(commands) => {
            let engine = shared.engine.clone();
            let batch = commands.into_iter().map(|command| caller.sends(command)).collect();
            let submit = async move { engine.submit_batch(batch).await };
            submit_in_order(submit, ResponseBody::Outcomes, request_id, slot, outgoing);
        }
    }
    None
}

/// Submits one command. No task per request: the engine's writer thread queues the durable
/// outcome straight to this connection's writer.
fn submit_one(
    shared: &Shared,
    submission: Submission,
    request_id: u64,
    slot: OwnedSemaphorePermit,
    outgoing: &mpsc::UnboundedSender<Outgoing>,
) {
    let queue = outgoing.clone();
    let respond = move |result| {
        let body = result_body(result, ResponseBody::Outcome);
        let _ = queue.send(Outgoing { response: Response { request_id, body }, _slot: Some(slot) });
    };
    if let Err(error) = shared.engine.submit_with(submission, respond) {
        let body = error_body(error);
        let _ = outgoing.send(Outgoing { response: Response { request_id, body }, _slot: None });
    }
}

/// The response body of an engine submission's result.
fn result_body<T>(result: Result<T, SubmitError>, into_body: fn(T) -> ResponseBody) -> ResponseBody {
    result.map_or_else(error_body, into_body)
}

/// The response body of a submission the engine refused or could not answer.
fn error_body(error: SubmitError) -> ResponseBody {
    ResponseBody::Error { code: error.into(), message: error.to_string() }
}

/// Starts an engine submission and queues its response once it resolves.
///
/// The first poll happens here, on the reader, so the command enters the engine's mailbox
/// before the next frame is read: pipelined requests are applied in the order they arrived.
/// Only the wait for the (durable) outcome moves to a task of its own.
fn submit_in_order<T: Send + 'static>(
    submit: impl Future<Output = Result<T, SubmitError>> + Send + 'static,
    into_body: fn(T) -> ResponseBody,
    request_id: u64,
    slot: OwnedSemaphorePermit,
    outgoing: &mpsc::UnboundedSender<Outgoing>,
) {
    let respond = move |result: Result<T, SubmitError>| Outgoing {
        response: Response { request_id, body: result_body(result, into_body) },
        _slot: Some(slot),
    };
    let mut submit = Box::pin(submit);
    // The waker does not matter: a pending future is polled again by the task spawned below.
    match submit.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => {
            let _ = outgoing.send(respond(result));
        }
        Poll::Pending => {
            let outgoing = outgoing.clone();
            tokio::spawn(async move {
                let result = submit.await;
                let _ = outgoing.send(respond(result));
            });
        }
    }
}

/// Writes responses as they come, as many per write as are ready, until every sender is gone;
/// then closes the sending side.
async fn write_loop(
    mut socket: Writer,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    write_timeout: Duration,
) -> io::Result<()> {
    let mut buffer = Vec::with_capacity(WRITE_BATCH_BYTES);
    while let Some(first) = queue.recv().await {
        encode_response(first, &mut buffer);
        while buffer.len() < WRITE_BATCH_BYTES {
            match queue.try_recv() {
                Ok(next) => encode_response(next, &mut buffer),
                Err(_) => break,
            }
        }
        timeout(write_timeout, socket.write_all(&buffer))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "client not reading"))??;
        buffer.clear();
        if buffer.capacity() > 4 * WRITE_BATCH_BYTES {
            buffer = Vec::with_capacity(WRITE_BATCH_BYTES);
        }
    }
    timeout(write_timeout, socket.shutdown()).await.map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
}

/// Appends one response frame; a reply too large for a frame becomes a `FrameTooLarge` error.
fn encode_response(outgoing: Outgoing, buffer: &mut Vec<u8>) {
    if let Err(FrameError::TooLarge(bytes)) = encode_frame(&outgoing.response, buffer) {
        let message = format!("the reply of {bytes} bytes exceeds the frame limit; the request was processed");
        let error = Response::error(outgoing.response.request_id, ErrorCode::FrameTooLarge, message);
        encode_frame(&error, buffer).expect("small frame");
    }
}

/// Reads and discards what a closing client still sends, until it closes or `linger` passes.
async fn drain<R: AsyncRead + Unpin>(reader: &mut R, linger: Duration) {
    let mut sink = [0u8; 4096];
    let _ = timeout(linger, async {
        while let Ok(read) = reader.read(&mut sink).await {
            if read == 0 {
                break;
            }
        }
    })
    .await;
}
