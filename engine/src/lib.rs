//! kassa-engine: the payment transaction engine that processors embed.
//!
//! Layout:
//! - [`types`]: identifiers, ISO 4217 currencies, time.
//! - [`constants`]: every limit (`*_MAX`), in one place.
//! - [`command`]: commands in (and, re-exported from [`outcome`], outcomes and events out): the
//!   engine's whole vocabulary.
//! - [`state_machine`]: the pure, deterministic core (`commit(now, &batch)`); no IO, no clock.
//! - [`codec`]: the one place that turns values into bytes and back (bincode 2.0.1, versioned).
//! - [`history`]: account history built from the events.
//! - [`metadata`]: the bounded string maps callers attach to what a command creates.
//! - [`partition`]: which partition applies a command, and the messages between partitions.
//! - `wal`: the write-ahead log in RocksDB (the only module that touches storage).
//! - `runtime`: the embedding API: `Engine` with its executor, writer and ticker threads.
//!
//! `wal` and `runtime` need the default feature `storage` (RocksDB, compiled from C++ source).
//! With `--no-default-features` the crate is the pure, IO-free core: everything above them.

pub mod authority;
pub mod codec;
pub mod command;
pub mod constants;
pub mod history;
pub mod metadata;
pub mod outcome;
pub mod partition;
#[cfg(feature = "storage")]
pub mod runtime;
pub mod state_machine;
pub mod types;
#[cfg(feature = "storage")]
pub mod wal;

pub use command::{Command, Event, Outcome, Principal, Rejection, Reply, Submission};
#[cfg(feature = "storage")]
pub use runtime::{Durability, Engine, EngineConfig, OpenError, SubmitError};
pub use state_machine::{CommitOutput, Config, SecretKey, StateMachine};
pub use types::{Currency, Id, TimestampMs};
