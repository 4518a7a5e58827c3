//! kassa-adapters: the edges of kassa (HTTP/JSON, TCP binary, ISO 8583) and the `kassa` binary.
//!
//! Layout:
//! - [`auth`]: API keys and the principal each speaks for.
//! - [`http`]: the HTTP/JSON API (actix-web).
//! - [`iso8583`]: ISO 8583:1987 ASCII message codec (pyiso8583 `default_ascii` compatible).
//! - [`tcp`]: the length-prefixed binary protocol over TCP, server and Rust client.
//! - [`serve`]: `kassa serve`: configuration, the engine, the listeners, graceful shutdown.
//! - [`demo`]: `kassa demo`, every payment flow end to end through the engine.
//!
//! The default feature `server` brings the listeners, the engine's storage and the binary. With
//! `--no-default-features` only the decoders remain (what the fuzz targets in `fuzz/` drive):
//! [`tcp::frame`], the [`iso8583`] codec, [`http::requests`] and [`demo`]; no C++ to build.

#[cfg(feature = "server")]
pub mod auth;
#[cfg(feature = "server")]
pub mod cluster_node;
pub mod demo;
#[cfg(feature = "server")]
pub mod forward;
pub mod http;
pub mod iso8583;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod serve;
pub mod tcp;
#[cfg(feature = "server")]
pub mod tls;
