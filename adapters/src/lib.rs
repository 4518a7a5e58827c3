//! kassa-adapters: the edges of kassa (HTTP/JSON, TCP binary, ISO 8583) and the `kassa` binary.
//!
//! Layout:
//! - [`demo`]: `kassa demo`, every payment flow end to end through the engine.
//! - [`iso8583`]: ISO 8583:1987 ASCII message codec (pyiso8583 `default_ascii` compatible).

pub mod demo;
pub mod iso8583;
