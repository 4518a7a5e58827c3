//! kassa-loadgen: drives kassa with a closed-loop load and reports throughput, outcomes by code
//! and the latency ladder (p50 ... p99.99, max) from HDR histograms.
//!
//! Layout:
//! - [`skew`]: which accounts a command touches: uniform or Zipf-skewed (hot accounts).
//! - [`report`]: latency histogram, outcome counts, the printed and JSON report.
//! - [`embedded`]: the in-process target (an `Engine` on a data directory).

pub mod embedded;
pub mod report;
pub mod skew;
