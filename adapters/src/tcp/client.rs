//! The Rust client of the TCP binary protocol, built for pipelining.
//!
//! One [`Client`] is one connection, shared by any number of tasks (`Arc<Client>`): each request
//! gets an id from an atomic counter, is encoded by the calling task, and is queued to a writer
//! task that writes whatever is queued and flushes once per burst; a reader task matches each
//! response to its waiter by request id. Replies may come in any order.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kassa_engine::command::{Command, Outcome};
use kassa_engine::metadata::Metadata;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::frame::{
    ErrorCode, FrameError, PROTOCOL_VERSION, ReadError, Request, RequestBody, Response, ResponseBody, decode_body,
    encode_frame, read_frame,
};

/// Time [`Client::connect`] allows for the TCP connection and the handshake together.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Frames queued to the writer before callers wait.
const QUEUE_FRAMES_MAX: usize = 4096;

/// Socket buffer sizes of the client's reader and writer.
const BUFFER_BYTES: usize = 64 * 1024;

/// Why a request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The socket failed.
    #[error("connection failed: {0}")]
    Io(#[source] Arc<io::Error>),
    /// The server answered with an error (see [`ErrorCode`] for which ones close the connection).
    #[error("server error {code}: {message}")]
    Server {
        /// What went wrong.
        code: ErrorCode,
        /// The server's detail.
        message: String,
    },
    /// The connection is closed; the request may or may not have been processed.
    #[error("connection closed")]
    Closed,
    /// The request encodes to more than `FRAME_BYTES_MAX` bytes; it was not sent.
    #[error("request of {0} bytes exceeds the frame limit")]
    FrameTooLarge(usize),
    /// The server sent something that does not follow the protocol.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// Connecting and the handshake took longer than [`CONNECT_TIMEOUT`].
    #[error("connecting timed out")]
    Timeout,
}

impl From<io::Error> for ClientError {
    fn from(error: io::Error) -> ClientError {
        ClientError::Io(Arc::new(error))
    }
}

type Waiter = oneshot::Sender<Result<ResponseBody, ClientError>>;

/// Requests waiting for their response; once `closed` is set, no more are accepted.
#[derive(Default)]
struct Pending {
    waiters: HashMap<u64, Waiter>,
    closed: Option<ClientError>,
}

/// State shared by the callers and the two tasks.
struct Shared {
    pending: Mutex<Pending>,
    /// Wakes the writer when the connection is closed by the other side.
    closing: Notify,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding the lock cannot leave the map inconsistent: keep going.
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Closes the connection for new requests and fails every waiting one with `error`.
    fn fail(&self, error: ClientError) {
        let waiters = {
            let mut pending = self.pending();
            let error = pending.closed.get_or_insert(error).clone();
            pending.waiters.drain().map(|(_, waiter)| (waiter, error.clone())).collect::<Vec<_>>()
        };
        for (waiter, error) in waiters {
            let _ = waiter.send(Err(error));
        }
        self.closing.notify_one();
    }
}

/// Removes a request's waiter if its caller gives up before the response.
struct WaiterGuard<'a> {
    shared: &'a Shared,
    request_id: u64,
    armed: bool,
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.shared.pending().waiters.remove(&self.request_id);
        }
    }
}

/// A connection to a kassa server speaking the binary protocol; share it (`Arc<Client>`) to
/// pipeline requests from many tasks.
pub struct Client {
    frames: mpsc::Sender<Vec<u8>>,
    shared: Arc<Shared>,
    next_request_id: AtomicU64,
    reader: JoinHandle<()>,
}

impl Client {
    /// Connects and performs the handshake with an API key (its principal sends every command).
    pub async fn connect(addr: SocketAddr, api_key: &str) -> Result<Client, ClientError> {
        tokio::time::timeout(CONNECT_TIMEOUT, Client::connect_now(addr, api_key))
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    async fn connect_now(addr: SocketAddr, api_key: &str) -> Result<Client, ClientError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (read, write) = stream.into_split();
        let mut reader = BufReader::with_capacity(BUFFER_BYTES, read);
        let mut writer = BufWriter::with_capacity(BUFFER_BYTES, write);
        let mut body = Vec::new();
        handshake(&mut reader, &mut writer, &mut body, api_key).await?;
        let shared = Arc::new(Shared { pending: Mutex::new(Pending::default()), closing: Notify::new() });
        let (frames, queue) = mpsc::channel(QUEUE_FRAMES_MAX);
        tokio::spawn(write_loop(writer, queue, shared.clone()));
        let reader = tokio::spawn(read_loop(reader, body, shared.clone()));
        Ok(Client { frames, shared, next_request_id: AtomicU64::new(HELLO_REQUEST_ID + 1), reader })
    }

    /// Submits one command; resolves with its outcome once it is durable.
    pub async fn submit(&self, command: Command) -> Result<Outcome, ClientError> {
        match self.request(RequestBody::Submit(command)).await? {
            ResponseBody::Outcome(outcome) => Ok(outcome),
            other => Err(unexpected(other)),
        }
    }

    /// Submits one command with metadata for what it creates (a transfer, hold, POS
    /// settlement, bill or split); resolves with its outcome once it is durable.
    pub async fn submit_with_metadata(&self, command: Command, metadata: Metadata) -> Result<Outcome, ClientError> {
        match self.request(RequestBody::SubmitWithMetadata { command, metadata }).await? {
            ResponseBody::Outcome(outcome) => Ok(outcome),
            other => Err(unexpected(other)),
        }
    }

    /// Submits 1..=8,190 commands committed in order in one engine batch; one outcome each.
    pub async fn submit_batch(&self, commands: Vec<Command>) -> Result<Vec<Outcome>, ClientError> {
        match self.request(RequestBody::Batch(commands)).await? {
            ResponseBody::Outcomes(outcomes) => Ok(outcomes),
            other => Err(unexpected(other)),
        }
    }

    /// Round trip to the server (not through the engine).
    pub async fn ping(&self) -> Result<(), ClientError> {
        match self.request(RequestBody::Ping).await? {
            ResponseBody::Pong => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Whether the connection is closed (every further request fails).
    pub fn is_closed(&self) -> bool {
        self.shared.pending().closed.is_some()
    }

    /// Sends one request and waits for its response body (an `Error` body becomes `Err`).
    async fn request(&self, body: RequestBody) -> Result<ResponseBody, ClientError> {
        let request_id = self.next_request_id.fetch_add(1, Ordering::Relaxed);
        let request = Request { request_id, body };
        let mut frame = Vec::with_capacity(64);
        encode_frame(&request, &mut frame).map_err(frame_error)?;
        drop(request);
        let (waiter, answer) = oneshot::channel();
        {
            let mut pending = self.shared.pending();
            if let Some(error) = &pending.closed {
                return Err(error.clone());
            }
            pending.waiters.insert(request_id, waiter);
        }
        let mut guard = WaiterGuard { shared: &self.shared, request_id, armed: true };
        if self.frames.send(frame).await.is_err() {
            return Err(self.shared.pending().closed.clone().unwrap_or(ClientError::Closed));
        }
        let answer = answer.await;
        guard.armed = false;
        match answer.unwrap_or(Err(ClientError::Closed))? {
            ResponseBody::Error { code, message } => Err(ClientError::Server { code, message }),
            body => Ok(body),
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // The writer ends by itself once `frames` is dropped (closing the sending side).
        self.reader.abort();
    }
}

/// The request id of the Hello that opens every connection.
const HELLO_REQUEST_ID: u64 = 1;

/// Sends Hello with `api_key` and waits for Welcome.
async fn handshake<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    reader: &mut R,
    writer: &mut W,
    body: &mut Vec<u8>,
    api_key: &str,
) -> Result<(), ClientError> {
    let hello = Request {
        request_id: HELLO_REQUEST_ID,
        body: RequestBody::Hello { protocol_version: PROTOCOL_VERSION, api_key: api_key.to_string() },
    };
    let mut frame = Vec::new();
    encode_frame(&hello, &mut frame).map_err(frame_error)?;
    writer.write_all(&frame).await?;
    writer.flush().await?;
    let response: Response = read_response(reader, body).await?;
    match response.body {
        ResponseBody::Welcome { protocol_version: PROTOCOL_VERSION, .. } => Ok(()),
        ResponseBody::Error { code, message } => Err(ClientError::Server { code, message }),
        other => Err(ClientError::Protocol(format!("expected Welcome, got {other:?}"))),
    }
}

/// Reads and decodes one response frame.
async fn read_response<R: AsyncRead + Unpin>(reader: &mut R, body: &mut Vec<u8>) -> Result<Response, ClientError> {
    match read_frame(reader, body).await {
        Ok(()) => decode_body(body).map_err(|error| ClientError::Protocol(error.to_string())),
        Err(ReadError::Io(error)) if error.kind() == io::ErrorKind::UnexpectedEof => Err(ClientError::Closed),
        Err(ReadError::Io(error)) => Err(error.into()),
        Err(ReadError::Frame(error)) => Err(ClientError::Protocol(error.to_string())),
    }
}

/// A connection for one request at a time: write the request, read its response. No tasks, no
/// locks, no request map: the cheapest client for a caller that never pipelines (a POS
/// terminal, a load generator's depth-1 connection). An error about the request (`Busy`,
/// `InvalidBatch`, ...) leaves it open; an I/O error, a connection-level error, a reply for
/// another request or a cancelled call leaves it closed (the stream may hold half a frame):
/// connect again.
pub struct SerialClient {
    stream: BufReader<TcpStream>,
    frame: Vec<u8>,
    body: Vec<u8>,
    next_request_id: u64,
    closed: bool,
}

impl SerialClient {
    /// Connects and performs the handshake with an API key (its principal sends every command).(within [`CONNECT_TIMEOUT`]).
    pub async fn connect(addr: SocketAddr, api_key: &str) -> Result<SerialClient, ClientError> {
        let connect = async {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let (mut read, mut write) = stream.into_split();
            let mut body = Vec::new();
            handshake(&mut read, &mut write, &mut body, api_key).await?;
            let stream = read.reunite(write).map_err(|error| ClientError::Protocol(error.to_string()))?;
            Ok(SerialClient {
                stream: BufReader::with_capacity(SERIAL_BUFFER_BYTES, stream),
                frame: Vec::with_capacity(256),
                body,
                next_request_id: HELLO_REQUEST_ID + 1,
                closed: false,
            })
        };
        tokio::time::timeout(CONNECT_TIMEOUT, connect).await.map_err(|_| ClientError::Timeout)?
    }

    /// Submits one command; resolves with its outcome once it is durable.
    pub async fn submit(&mut self, command: Command) -> Result<Outcome, ClientError> {
        match self.request(RequestBody::Submit(command)).await? {
            ResponseBody::Outcome(outcome) => Ok(outcome),
            other => Err(unexpected(other)),
        }
    }

    /// Submits one command with metadata for what it creates (a transfer, hold, POS
    /// settlement, bill or split); resolves with its outcome once it is durable.
    pub async fn submit_with_metadata(&mut self, command: Command, metadata: Metadata) -> Result<Outcome, ClientError> {
        match self.request(RequestBody::SubmitWithMetadata { command, metadata }).await? {
            ResponseBody::Outcome(outcome) => Ok(outcome),
            other => Err(unexpected(other)),
        }
    }

    /// Submits 1..=8,190 commands committed in order in one engine batch; one outcome each.
    pub async fn submit_batch(&mut self, commands: Vec<Command>) -> Result<Vec<Outcome>, ClientError> {
        match self.request(RequestBody::Batch(commands)).await? {
            ResponseBody::Outcomes(outcomes) => Ok(outcomes),
            other => Err(unexpected(other)),
        }
    }

    /// Whether an earlier error closed this client.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    async fn request(&mut self, body: RequestBody) -> Result<ResponseBody, ClientError> {
        if self.closed {
            return Err(ClientError::Closed);
        }
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        self.frame.clear();
        encode_frame(&Request { request_id, body }, &mut self.frame).map_err(frame_error)?;
        // From here a failure may leave half a frame on either side: the client closes.
        self.closed = true;
        self.stream.get_mut().write_all(&self.frame).await?;
        let response = read_response(&mut self.stream, &mut self.body).await?;
        if self.body.capacity() > SERIAL_BUFFER_BYTES {
            self.body = Vec::new();
        }
        match response {
            Response { request_id: answered, body: ResponseBody::Error { code, message } }
                if answered == request_id || answered == 0 =>
            {
                // Request-level errors keep the connection; connection-level ones (id 0) end it.
                self.closed = answered == 0;
                Err(ClientError::Server { code, message })
            }
            Response { request_id: answered, body } if answered == request_id => {
                self.closed = false;
                Ok(body)
            }
            Response { request_id: answered, .. } => {
                Err(ClientError::Protocol(format!("response to request {answered}, expected {request_id}")))
            }
        }
    }
}

/// Read buffer of a [`SerialClient`].
const SERIAL_BUFFER_BYTES: usize = 16 * 1024;

fn frame_error(error: FrameError) -> ClientError {
    match error {
        FrameError::TooLarge(bytes) => ClientError::FrameTooLarge(bytes),
        error => ClientError::Protocol(error.to_string()),
    }
}

fn unexpected(body: ResponseBody) -> ClientError {
    ClientError::Protocol(format!("unexpected response {body:?}"))
}

/// Writes queued frames, flushing once the queue is empty, until the client is dropped or the
/// connection is closed.
async fn write_loop(mut writer: BufWriter<OwnedWriteHalf>, mut queue: mpsc::Receiver<Vec<u8>>, shared: Arc<Shared>) {
    let result: io::Result<()> = async {
        loop {
            let frame = tokio::select! {
                biased;
                frame = queue.recv() => match frame {
                    Some(frame) => frame,
                    None => return Ok(()),
                },
                _ = shared.closing.notified() => return Ok(()),
            };
            writer.write_all(&frame).await?;
            while let Ok(frame) = queue.try_recv() {
                writer.write_all(&frame).await?;
            }
            writer.flush().await?;
        }
    }
    .await;
    match result {
        Ok(()) => {
            let _ = writer.shutdown().await;
        }
        Err(error) => shared.fail(error.into()),
    }
}

/// Routes each response to its waiter until the connection ends.
async fn read_loop(mut reader: BufReader<OwnedReadHalf>, mut body: Vec<u8>, shared: Arc<Shared>) {
    let error = loop {
        match read_frame(&mut reader, &mut body).await {
            Ok(()) => {}
            Err(ReadError::Io(error)) if error.kind() == io::ErrorKind::UnexpectedEof => break ClientError::Closed,
            Err(ReadError::Io(error)) => break error.into(),
            Err(ReadError::Frame(error)) => break ClientError::Protocol(error.to_string()),
        }
        let response: Response = match decode_body(&body) {
            Ok(response) => response,
            Err(error) => break ClientError::Protocol(error.to_string()),
        };
        if body.capacity() > BUFFER_BYTES {
            body = Vec::new();
        }
        let Response { request_id, body: response } = response;
        let waiter = shared.pending().waiters.remove(&request_id);
        match (waiter, response) {
            (Some(waiter), response) => {
                let _ = waiter.send(Ok(response));
            }
            // An error about the connection itself (the server closes it next).
            (None, ResponseBody::Error { code, message }) if request_id == 0 => {
                break ClientError::Server { code, message };
            }
            // The caller gave up waiting.
            (None, _) => {}
        }
    };
    shared.fail(error);
}
