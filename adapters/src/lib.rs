//! kassa-adapters: the edges of kassa (HTTP/JSON, TCP binary, ISO 8583) and the `kassa` binary.
//!
//! Layout:
//! - [`demo`]: `kassa demo`, every payment flow end to end through the engine.

pub mod demo;
