//! kassa-loadgen: drives kassa with a closed-loop load and reports throughput, outcomes by code
//! and the latency ladder (p50 ... p99.99, max) from HDR histograms.
//!
//! Layout:
//! - [`skew`]: which accounts a command touches: uniform or Zipf-skewed (hot accounts).
//! - [`report`]: latency histogram, outcome counts, the printed and JSON report.
//! - [`embedded`]: the in-process target (an `Engine` on a data directory).
//! - [`http`]: `POST /v1/transfers` over keep-alive HTTP/1.1 connections.
//! - [`iso8583`]: the POS scenario: an HTTP authorization, then an ISO 8583 0200 settlement.
//! - [`tcp`]: `kassa serve`'s binary protocol, through the adapters' pipelining client.

pub mod embedded;
pub mod http;
pub mod iso8583;
pub mod report;
pub mod skew;
pub mod tcp;

/// What every network target (`http`, `tcp`, `iso8583`) shares.
#[derive(Debug, Clone)]
pub struct NetworkLoad {
    /// The listener driven.
    pub addr: std::net::SocketAddr,
    /// An admin API key.
    pub api_key: String,
    /// Accounts created and funded first.
    pub accounts: usize,
    /// Connections.
    pub connections: usize,
    /// Measured time.
    pub duration: std::time::Duration,
    /// Unmeasured time first.
    pub warmup: std::time::Duration,
    /// Account skew.
    pub skew: skew::Skew,
    /// A number that makes this run's ids unique on a shared server (`lg<run>-...`).
    pub run: u32,
}
