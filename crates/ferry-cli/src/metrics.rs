//! Prometheus metrics on a separate listener (`--metrics ADDR`), through the
//! `metrics` facade and its Prometheus exporter.
//!
//! - `ferry_requests_total{method, status}`: responses sent
//! - `ferry_response_bytes_total{path="sendfile"|"copied"}`: body bytes, by how
//!   they left (zero-copy `sendfile(2)`, or through a buffer)
//! - `ferry_request_duration_seconds`: a histogram, head read to body sent
//! - `ferry_open_connections`: client connections open now
//! - `ferry_upstream_errors_total{kind="refused"|"reset"|"timeout"|"protocol"}`:
//!   `ferry proxy` only
//!
//! The 304 ratio is `ferry_requests_total{status="304"}` over the sum.
use anyhow::Context as _;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use std::net::SocketAddr;
use std::time::Duration;

/// Starts the exporter on `addr`; the recorder is global from then on.
pub(crate) fn install(addr: SocketAddr) -> anyhow::Result<()> {
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(
            Matcher::Full("ferry_request_duration_seconds".into()),
            &[
                0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05,
                0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ],
        )
        .context("metrics buckets")?
        .install()
        .with_context(|| format!("cannot serve metrics on {addr}"))?;
    metrics::describe_counter!(
        "ferry_requests_total",
        "Responses sent, by method and status."
    );
    metrics::describe_counter!(
        "ferry_response_bytes_total",
        "Body bytes sent, by path: sendfile (zero-copy) or copied."
    );
    metrics::describe_histogram!(
        "ferry_request_duration_seconds",
        "From the request head to the last body byte."
    );
    metrics::describe_gauge!("ferry_open_connections", "Client connections open now.");
    metrics::describe_gauge!(
        "ferry_not_modified_ratio",
        "Share of GET and HEAD responses that were 304 Not Modified, since start."
    );
    metrics::describe_counter!(
        "ferry_upstream_errors_total",
        "ferry proxy: upstream failures, by kind."
    );
    eprintln!("ferry: Prometheus metrics at http://{addr}/metrics");
    Ok(())
}

/// One response, recorded.
pub(crate) fn response(
    method: Option<&http::Method>,
    status: u16,
    bytes: u64,
    sendfile: bool,
    took: Duration,
) {
    metrics::counter!(
        "ferry_requests_total",
        "method" => method.map_or("none", method_label),
        "status" => status_label(status),
        "class" => class_label(status)
    )
    .increment(1);
    if method.is_some_and(|m| m == http::Method::GET || m == http::Method::HEAD) {
        use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
        static READS: AtomicU64 = AtomicU64::new(0);
        static NOT_MODIFIED: AtomicU64 = AtomicU64::new(0);
        let reads = READS.fetch_add(1, Relaxed) + 1;
        let nm = if status == 304 {
            NOT_MODIFIED.fetch_add(1, Relaxed) + 1
        } else {
            NOT_MODIFIED.load(Relaxed)
        };
        metrics::gauge!("ferry_not_modified_ratio").set(nm as f64 / reads as f64);
    }
    if bytes > 0 {
        let path = if sendfile { "sendfile" } else { "copied" };
        metrics::counter!("ferry_response_bytes_total", "path" => path).increment(bytes);
    }
    metrics::histogram!("ferry_request_duration_seconds").record(took.as_secs_f64());
}

pub(crate) fn connection_opened() {
    metrics::gauge!("ferry_open_connections").increment(1.0);
}

pub(crate) fn connection_closed() {
    metrics::gauge!("ferry_open_connections").decrement(1.0);
}

pub(crate) fn upstream_error(kind: &'static str) {
    metrics::counter!("ferry_upstream_errors_total", "kind" => kind).increment(1);
}

/// Static labels: no allocation per request, bounded cardinality.
fn method_label(m: &http::Method) -> &'static str {
    match *m {
        http::Method::GET => "GET",
        http::Method::HEAD => "HEAD",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// `2xx`, `3xx`…: dashboards sum by it without a regex over `status`.
fn class_label(s: u16) -> &'static str {
    match s / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

fn status_label(s: u16) -> &'static str {
    const EXACT: [(u16, &str); 18] = [
        (200, "200"),
        (206, "206"),
        (301, "301"),
        (302, "302"),
        (304, "304"),
        (308, "308"),
        (400, "400"),
        (403, "403"),
        (404, "404"),
        (405, "405"),
        (412, "412"),
        (416, "416"),
        (421, "421"),
        (431, "431"),
        (500, "500"),
        (502, "502"),
        (503, "503"),
        (504, "504"),
    ];
    if let Some((_, l)) = EXACT.iter().find(|(c, _)| *c == s) {
        return l;
    }
    class_label(s)
}
