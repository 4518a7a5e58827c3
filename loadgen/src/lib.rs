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
