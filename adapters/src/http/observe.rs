//! What an operator sees of each HTTP request: a request id (the client's `X-Request-Id` when it
//! is a sane one, else a new one), echoed in the reply and carried by every log line of the
//! request; one access log line at info; per-route counts and latency histograms.
//!
//! Written here rather than with `tracing-actix-web`: accepting the caller's id, echoing it and
//! labelling metrics by route pattern take about as many lines through its `RootSpanBuilder` as
//! without it, and the hot path stays one span and two metric updates.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

/// The header a request id travels in, both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longest request id accepted from a client.
const REQUEST_ID_BYTES_MAX: usize = 64;

/// A new request id: a per-process random prefix and a counter (unique, cheap, not secret).
fn new_request_id() -> String {
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let prefix = PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 4];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).expect("OS randomness");
        u32::from_le_bytes(bytes)
    });
    format!("{prefix:08x}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The client's request id if it is 1..=64 bytes of `[A-Za-z0-9._:-]` (anything else would
/// let a client forge log lines or blow up label sets), else a new one.
pub fn request_id(header: Option<&HeaderValue>) -> String {
    let sane = |text: &&str| {
        !text.is_empty()
            && text.len() <= REQUEST_ID_BYTES_MAX
            && text.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"._:-".contains(&byte))
    };
    header.and_then(|value| value.to_str().ok()).filter(sane).map_or_else(new_request_id, str::to_string)
}

/// The middleware: span, access log, metrics, echoed id.
pub async fn observe(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = request_id(request.headers().get(REQUEST_ID_HEADER));
    // The route pattern (`/v1/accounts/{id}`), never the raw path: bounded label values.
    let route = request.match_pattern().unwrap_or_else(|| "unmatched".into());
    // Methods are a client's to invent: only the standard ones become label values (a flood of
    // made-up methods must not grow the metrics registry).
    let method: &'static str = match request.method().as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let span = tracing::info_span!("http", request_id = %id, %method, %route);
    let started = Instant::now();
    let mut response = next.call(request).instrument(span.clone()).await?;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    span.in_scope(|| tracing::info!(status, elapsed_us = elapsed.as_micros() as u64, "http access"));
    metrics::counter!("kassa_http_requests_total", "method" => method, "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("kassa_http_request_duration_seconds", "method" => method, "route" => route)
        .record(elapsed.as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_client_id_is_kept_and_anything_else_replaced() {
        let kept = HeaderValue::from_static("order-42.retry:1");
        assert_eq!(request_id(Some(&kept)), "order-42.retry:1");
        for hostile in ["", "two words", "line\u{7f}break", &"x".repeat(65), "ä"] {
            let value = HeaderValue::from_bytes(hostile.as_bytes()).ok();
            let replaced = request_id(value.as_ref());
            assert_ne!(replaced, hostile);
            assert!(replaced.len() <= 64 && replaced.contains('-'), "{replaced}");
        }
        assert_ne!(request_id(None), request_id(None), "new ids are unique");
    }
}
