//! The TCP binary protocol: length-prefixed frames of kassa-codec messages carrying raw engine
//! commands, for trusted backends and load generators (admin API keys only).
//!
//! `docs/protocol.md` is the specification (framing, handshake, pipelining, errors, and the exact
//! bincode layout of every message, with hex examples).
//!
//! - [`frame`]: the messages ([`Request`], [`Response`], [`ErrorCode`]) and the framing.
//! - [`server`]: [`serve`] / [`serve_with_config`], one task per connection, pipelined requests.
//! - [`client`]: [`Client`], one pipelined connection shareable by many tasks, and
//!   [`SerialClient`], one request at a time with no tasks of its own.
//! - [`retry`]: [`RetryingClient`], a [`Client`] that backs off on `Busy`, reconnects and
//!   resends, with a timeout per call.

//!
//! Without the feature `server` only [`frame`] is there (the decoders, for fuzzing).

#[cfg(feature = "server")]
pub mod client;
pub mod frame;
#[cfg(feature = "server")]
pub mod retry;
#[cfg(feature = "server")]
pub mod server;

#[cfg(test)]
mod tests;

#[cfg(feature = "server")]
pub use client::{Client, ClientError, SerialClient};
pub use frame::{
    BATCH_COMMANDS_MAX, ErrorCode, FRAME_BYTES_MAX, FrameError, PROTOCOL_VERSION, Request, RequestBody, Response,
    ResponseBody,
};
#[cfg(feature = "server")]
pub use retry::{RetryPolicy, RetryingClient};
#[cfg(feature = "server")]
pub use server::{FRAME_TIMEOUT, IN_FLIGHT_MAX, ServerConfig, WRITE_TIMEOUT, serve, serve_with_config};
