//! kassa-adapters: the edges of kassa (HTTP/JSON, TCP binary, ISO 8583) and the `kassa` binary.
//!
//! Layout:
//! - [`auth`]: API keys, roles and object ownership.
//! - [`http`]: the HTTP/JSON API (actix-web).
//! - [`iso8583`]: ISO 8583:1987 ASCII message codec (pyiso8583 `default_ascii` compatible).
//! - [`tcp`]: the length-prefixed binary protocol over TCP, server and Rust client.
//! - [`serve`]: `kassa serve`: configuration, the engine, the listeners, graceful shutdown.
//! - [`demo`]: `kassa demo`, every payment flow end to end through the engine.

pub mod auth;
pub mod demo;
pub mod http;
pub mod iso8583;
pub mod serve;
pub mod tcp;
