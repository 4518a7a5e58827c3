//! The Prometheus exporter behind `GET /metrics`: every metric described (HELP), latencies and
//! sizes as histograms with explicit buckets (aggregatable across nodes, unlike summaries).

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Buckets of every `*_seconds` histogram: 50 µs to 10 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets of the size histograms (commands per batch, records per fsync): 1 to 8,190.
const SIZE_BUCKETS: &[f64] =
    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1_024.0, 2_048.0, 4_096.0, 8_190.0];

/// Installs the recorder and describes every metric kassa records.
pub fn install() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
        .and_then(|builder| builder.set_buckets_for_metric(Matcher::Full("kassa_batch_size".into()), SIZE_BUCKETS))
        .and_then(|builder| {
            builder.set_buckets_for_metric(Matcher::Full("kassa_records_per_fsync".into()), SIZE_BUCKETS)
        })
        .map_err(|error| format!("metrics buckets: {error}"))?
        .install_recorder()
        .map_err(|error| format!("metrics recorder: {error}"))?;
    describe();
    Ok(handle)
}

/// HELP text for every metric.
fn describe() {
    describe_counter!("kassa_commands_total", "Commands committed, by kind.");
    describe_counter!("kassa_outcomes_total", "Outcomes of committed commands: applied, or the rejection code.");
    describe_counter!("kassa_busy_total", "Requests refused Busy because a partition's mailbox was full.");
    describe_gauge!("kassa_mailbox_depth", "Requests waiting in the mailbox a request was last queued on.");
    describe_histogram!("kassa_commit_seconds", Unit::Seconds, "Time the executor took to commit one batch.");
    describe_histogram!("kassa_batch_size", Unit::Count, "Commands per committed batch.");
    describe_histogram!("kassa_fsync_seconds", Unit::Seconds, "Time of one synced write of the log (group commit).");
    describe_histogram!("kassa_records_per_fsync", Unit::Count, "Batches made durable by one synced write.");
    describe_counter!("kassa_snapshots_total", "Snapshots written.");
    describe_counter!(
        "kassa_objects_archived_total",
        "Resolved settlements and authorizations moved from memory to storage."
    );
    describe_counter!(
        "kassa_objects_restored_total",
        "Archived objects brought back into memory by a command naming them."
    );
    describe_histogram!("kassa_snapshot_encode_seconds", Unit::Seconds, "Time to encode one partition's snapshot.");
    describe_histogram!("kassa_snapshot_write_seconds", Unit::Seconds, "Time to encode and write one snapshot.");
    describe_counter!("kassa_http_requests_total", "HTTP requests answered, by method, route pattern and status.");
    describe_histogram!(
        "kassa_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency from arrival to the answer, by method and route pattern."
    );
    describe_counter!("kassa_http_unauthorized_total", "HTTP requests refused for a missing or bad API key.");
    describe_counter!("kassa_tcp_connections_total", "TCP binary protocol connections accepted.");
    describe_counter!("kassa_tcp_refused_total", "TCP binary protocol connections refused (over the limit).");
    describe_counter!("kassa_iso8583_malformed_total", "ISO 8583 messages that did not decode.");
    describe_counter!("kassa_iso8583_responses_total", "ISO 8583 responses, by message type and response code.");
    describe_counter!("kassa_iso8583_bad_mac_total", "ISO 8583 messages refused for a bad MAC.");
}
