//! Frames and messages of the TCP binary protocol (`docs/protocol.md` is the specification).
//!
//! A frame is a `u32` big-endian body length `N` (1..=[`FRAME_BYTES_MAX`]) followed by `N` body
//! bytes; a body is one [`Request`] or [`Response`] in the kassa codec (a format-version byte,
//! then bincode 2 standard: little endian, varint integers). The length is checked before any
//! allocation, nothing is allocated by the announced length (a body buffer grows as its bytes
//! arrive), the first frame of a connection (Hello) may hold at most [`HELLO_BYTES_MAX`] bytes,
//! and decoding is total: bad input is a [`FrameError`], never a panic.

use std::fmt;

#[cfg(feature = "server")]
use kassa_engine::SubmitError;
use kassa_engine::codec::{self, CodecError};
use kassa_engine::command::{Command, Outcome};
use kassa_engine::metadata::Metadata;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
#[cfg(feature = "server")]
use tokio::io::{AsyncRead, AsyncReadExt};

/// The protocol version a client names in [`RequestBody::Hello`] and the server in
/// [`ResponseBody::Welcome`].
pub const PROTOCOL_VERSION: u16 = 1;

/// Largest frame body, in bytes (1 MiB), in both directions. The 4-byte length prefix is not
/// counted.
pub const FRAME_BYTES_MAX: usize = 1024 * 1024;

/// Largest body of a frame received before the handshake succeeded (the Hello), in bytes
/// (4 KiB: a Hello with the longest API key is about a hundred bytes). A larger announcement is
/// refused with [`ErrorCode::FrameTooLarge`] and the connection closes: an unauthenticated peer
/// can make the server hold no more than this per connection.
pub const HELLO_BYTES_MAX: usize = 4 * 1024;

/// Bytes of the big-endian length prefix in front of every body.
pub const LENGTH_PREFIX_BYTES: usize = 4;

/// Most commands in one [`RequestBody::Batch`] (the engine's batch limit).
pub const BATCH_COMMANDS_MAX: usize = kassa_engine::constants::BATCH_COMMANDS_MAX;

/// A client-to-server message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Chosen by the client and echoed in the [`Response`]; 0 is best avoided (the server uses 0
    /// for errors about frames it could not decode).
    pub request_id: u64,
    /// What is asked.
    pub body: RequestBody,
}

/// What a [`Request`] asks. Variant indices on the wire: `Hello` 0, `Submit` 1, `Batch` 2,
/// `Ping` 3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestBody {
    /// The first request of every connection: protocol version and an API key of any role.
    Hello {
        /// Must be [`PROTOCOL_VERSION`].
        protocol_version: u16,
        /// A live API key (`kassa_<id>_<secret>` or the bootstrap key); its role scopes every
        /// command of the connection.
        api_key: String,
    },
    /// One engine command; answered with [`ResponseBody::Outcome`].
    Submit(Command),
    /// 1..=[`BATCH_COMMANDS_MAX`] commands committed in order in one engine batch; answered with
    /// [`ResponseBody::Outcomes`].
    Batch(Vec<Command>),
    /// Liveness check; answered with [`ResponseBody::Pong`].
    Ping,
    /// One engine command with metadata for what it creates (a transfer, hold, POS settlement,
    /// bill or split; any other command is refused `MetadataNotSupported`); answered like
    /// [`RequestBody::Submit`].
    SubmitWithMetadata {
        /// The command.
        command: Command,
        /// Its metadata (`kassa_engine::metadata`: validated when decoded).
        metadata: Metadata,
    },
}

/// A server-to-client message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The [`Request::request_id`] answered (0 for errors about undecodable frames).
    pub request_id: u64,
    /// The answer.
    pub body: ResponseBody,
}

/// What a [`Response`] carries. Variant indices on the wire: `Welcome` 0, `Outcome` 1,
/// `Outcomes` 2, `Pong` 3, `Error` 4.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseBody {
    /// The handshake succeeded.
    Welcome {
        /// The server's protocol version ([`PROTOCOL_VERSION`]).
        protocol_version: u16,
        /// The largest frame body the server accepts and sends ([`FRAME_BYTES_MAX`]).
        frame_bytes_max: u32,
    },
    /// The outcome of a [`RequestBody::Submit`].
    Outcome(Outcome),
    /// The outcomes of a [`RequestBody::Batch`], one per command, in order.
    Outcomes(Vec<Outcome>),
    /// The answer to [`RequestBody::Ping`].
    Pong,
    /// The request (or the connection) failed; see [`ErrorCode`].
    Error {
        /// What went wrong.
        code: ErrorCode,
        /// Human-readable detail (not for matching).
        message: String,
    },
}

/// Why a request or a connection failed. Variant indices on the wire follow the declaration
/// order (`UnsupportedVersion` 0 .. `StorageFailed` 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    /// Hello named a protocol version the server does not speak. The connection closes.
    UnsupportedVersion,
    /// The first request was not Hello, or its API key is missing or invalid. The connection
    /// closes.
    Unauthenticated,
    /// Not sent since every role may connect (kept so that the variant indices stay fixed).
    Forbidden,
    /// A frame announced 0 bytes, its body did not decode, it was not completed in time, or a
    /// second Hello came. The connection closes (the stream cannot be trusted).
    MalformedFrame,
    /// A request frame announced more than `FRAME_BYTES_MAX` bytes, or the first frame (before
    /// the handshake) more than `HELLO_BYTES_MAX` (the connection closes), or a reply would have
    /// exceeded `FRAME_BYTES_MAX` (the commands were applied; the connection stays open).
    FrameTooLarge,
    /// A batch held 0 or more than `BATCH_COMMANDS_MAX` commands; nothing was applied. The
    /// connection stays open.
    InvalidBatch,
    /// The engine's queue is full (nothing was applied: back off and retry), or the server is
    /// at its connection limit (sent with request id 0 instead of Welcome; the connection
    /// closes).
    Busy,
    /// The engine is stopping; nothing was applied. The connection stays open until the server
    /// closes it.
    ShuttingDown,
    /// The engine's storage failed and it stopped; the command may or may not be durable. The
    /// connection stays open.
    StorageFailed,
}

impl ErrorCode {
    /// The snake-case name (`"malformed_frame"`), as used in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::MalformedFrame => "malformed_frame",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::InvalidBatch => "invalid_batch",
            ErrorCode::Busy => "busy",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::StorageFailed => "storage_failed",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "server")]
impl From<SubmitError> for ErrorCode {
    fn from(error: SubmitError) -> ErrorCode {
        match error {
            SubmitError::Busy => ErrorCode::Busy,
            SubmitError::ShuttingDown => ErrorCode::ShuttingDown,
            SubmitError::StorageFailed => ErrorCode::StorageFailed,
            SubmitError::InvalidBatch => ErrorCode::InvalidBatch,
            // Nothing was applied; another node owns the partition (cluster mode forwards to
            // it before an engine refuses): retry, as after `busy`.
            SubmitError::NotOwner { .. } => ErrorCode::Busy,
        }
    }
}

impl Response {
    /// An error response.
    pub fn error(request_id: u64, code: ErrorCode, message: impl Into<String>) -> Response {
        Response { request_id, body: ResponseBody::Error { code, message: message.into() } }
    }
}

/// Why bytes are not a valid frame.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The length prefix announced an empty body.
    #[error("frame announces an empty body")]
    Empty,
    /// The length prefix (or an encoded message) is above [`FRAME_BYTES_MAX`].
    #[error("frame of {0} bytes exceeds the limit of {FRAME_BYTES_MAX} bytes")]
    TooLarge(usize),
    /// The length prefix of the first frame of a connection, which must be a Hello, is above
    /// [`HELLO_BYTES_MAX`].
    #[error("frame of {0} bytes before the handshake exceeds the limit of {HELLO_BYTES_MAX} bytes")]
    HelloTooLarge(usize),
    /// The body is not a valid message.
    #[error("malformed frame body: {0}")]
    Malformed(#[from] CodecError),
}

impl FrameError {
    /// The error code the server answers with.
    pub fn code(&self) -> ErrorCode {
        match self {
            FrameError::Empty | FrameError::Malformed(_) => ErrorCode::MalformedFrame,
            FrameError::TooLarge(_) | FrameError::HelloTooLarge(_) => ErrorCode::FrameTooLarge,
        }
    }
}

/// The body length announced by a length prefix, checked against 1..=[`FRAME_BYTES_MAX`].
pub fn body_length(prefix: [u8; LENGTH_PREFIX_BYTES]) -> Result<usize, FrameError> {
    let length = u32::from_be_bytes(prefix) as usize;
    match length {
        0 => Err(FrameError::Empty),
        length if length > FRAME_BYTES_MAX => Err(FrameError::TooLarge(length)),
        length => Ok(length),
    }
}

/// The body length announced by the first frame of a connection (the Hello), checked against
/// 1..=[`HELLO_BYTES_MAX`].
pub fn hello_body_length(prefix: [u8; LENGTH_PREFIX_BYTES]) -> Result<usize, FrameError> {
    match u32::from_be_bytes(prefix) as usize {
        length if length > HELLO_BYTES_MAX => Err(FrameError::HelloTooLarge(length)),
        _ => body_length(prefix),
    }
}

/// Appends `message` as one frame (length prefix and body) to `out`. A body above
/// [`FRAME_BYTES_MAX`] is refused with [`FrameError::TooLarge`] and `out` is left as it was.
pub fn encode_frame<T: Serialize>(message: &T, out: &mut Vec<u8>) -> Result<(), FrameError> {
    let start = out.len();
    out.extend_from_slice(&[0; LENGTH_PREFIX_BYTES]);
    codec::encode_into(message, out);
    let length = out.len() - start - LENGTH_PREFIX_BYTES;
    if length > FRAME_BYTES_MAX {
        out.truncate(start);
        return Err(FrameError::TooLarge(length));
    }
    let prefix = u32::try_from(length).expect("at most FRAME_BYTES_MAX").to_be_bytes();
    out[start..start + LENGTH_PREFIX_BYTES].copy_from_slice(&prefix);
    Ok(())
}

/// Decodes a frame body (without its length prefix) as a [`Request`] or [`Response`].
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    Ok(codec::decode_limited(body, FRAME_BYTES_MAX)?)
}

/// Splits the first frame off `bytes`: `Ok(Some((body, consumed)))` when a whole frame is there,
/// `Ok(None)` when more bytes are needed, an error when the length prefix is invalid.
pub fn split_frame(bytes: &[u8]) -> Result<Option<(&[u8], usize)>, FrameError> {
    let Some(prefix) = bytes.first_chunk::<LENGTH_PREFIX_BYTES>() else {
        return Ok(None);
    };
    let end = LENGTH_PREFIX_BYTES + body_length(*prefix)?;
    Ok(bytes.get(LENGTH_PREFIX_BYTES..end).map(|body| (body, end)))
}

/// Why a frame could not be read from a stream.
#[cfg(feature = "server")]
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The stream failed or ended (`UnexpectedEof`) before the frame was complete.
    Io(std::io::Error),
    /// The length prefix is invalid.
    Frame(FrameError),
}

#[cfg(feature = "server")]
impl From<std::io::Error> for ReadError {
    fn from(error: std::io::Error) -> ReadError {
        ReadError::Io(error)
    }
}

/// Reads one frame's body into `body` (replacing its contents), its length checked by
/// [`body_length`]. See [`read_body`] for how `body` grows.
#[cfg(feature = "server")]
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R, body: &mut Vec<u8>) -> Result<(), ReadError> {
    let mut prefix = [0u8; LENGTH_PREFIX_BYTES];
    reader.read_exact(&mut prefix).await?;
    let length = body_length(prefix).map_err(ReadError::Frame)?;
    read_body(reader, body, length).await
}

/// Reads the first frame of a connection (the Hello) into `body`, its length checked by
/// [`hello_body_length`]: an unauthenticated peer never makes the server hold more than
/// [`HELLO_BYTES_MAX`] bytes.
#[cfg(feature = "server")]
pub(crate) async fn read_hello_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    body: &mut Vec<u8>,
) -> Result<(), ReadError> {
    let mut prefix = [0u8; LENGTH_PREFIX_BYTES];
    reader.read_exact(&mut prefix).await?;
    let length = hello_body_length(prefix).map_err(ReadError::Frame)?;
    read_body(reader, body, length).await
}

/// Reads `length` body bytes into `body` (replacing its contents). Nothing is allocated by the
/// announced length: `body` keeps its capacity and grows only as bytes arrive, so a peer that
/// announces 1 MiB and sends 10 bytes costs about 10 bytes, not 1 MiB.
#[cfg(feature = "server")]
async fn read_body<R: AsyncRead + Unpin>(reader: &mut R, body: &mut Vec<u8>, length: usize) -> Result<(), ReadError> {
    body.clear();
    let limit = u64::try_from(length).expect("a frame length fits u64");
    let read = reader.take(limit).read_to_end(body).await?;
    if read < length {
        return Err(ReadError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(())
}
