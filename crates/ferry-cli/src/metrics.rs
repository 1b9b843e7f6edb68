//! Prometheus metrics on a separate listener (`--metrics ADDR`), through the
//! `metrics` facade and its Prometheus recorder; the listener is one of
//! ferry's own (the same connection layer, slots and timeouts as every other),
//! answering every GET with the exposition text.
//!
//! - `ferry_requests_total{method, status, class}`: responses sent; `method`
//!   is `other` for methods without a label of their own and `none` for heads
//!   refused before a request was read (400, 431, 505)
//! - `ferry_response_bytes_total{path="sendfile"|"copied"}`: body bytes, by how
//!   they left (zero-copy `sendfile(2)`, or through a buffer)
//! - `ferry_request_duration_seconds`: a histogram, head read to body sent
//! - `ferry_open_connections`: client connections open now
//! - `ferry_upstream_errors_total{kind="refused"|"reset"|"timeout"|"protocol"}`:
//!   `ferry proxy` only
//!
//! - `ferry_cache_hits_total`, `ferry_cache_misses_total`,
//!   `ferry_cache_revalidations_total`, `ferry_cache_evictions_total`,
//!   `ferry_cache_bytes`, `ferry_cache_objects`: object storage with
//!   `--cache-dir` only (read from the cache's counters at each scrape)
//!
//! - `ferry_not_modified_ratio`: the share of GET and HEAD answered 304 since
//!   start (approximate under concurrency; exactly, it is
//!   `ferry_requests_total{status="304"}` over the sum)
use anyhow::Context as _;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// The installed recorder's handle, for the exposition.
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The object storage disk cache, whose counters each scrape reports.
static DISK_CACHE: OnceLock<ferry::store::bucket::DiskCache> = OnceLock::new();

/// Reports `cache`'s counters from now on (the first cache given stays).
pub(crate) fn watch_cache(cache: &ferry::store::bucket::DiskCache) {
    let _ = DISK_CACHE.set(cache.clone());
}

/// Copies the disk cache's counters into the recorder.
fn cache_upkeep() {
    let Some(cache) = DISK_CACHE.get() else {
        return;
    };
    let s = cache.stats();
    metrics::counter!("ferry_cache_hits_total").absolute(s.hits);
    metrics::counter!("ferry_cache_misses_total").absolute(s.misses);
    metrics::counter!("ferry_cache_revalidations_total").absolute(s.revalidations);
    metrics::counter!("ferry_cache_evictions_total").absolute(s.evictions);
    metrics::gauge!("ferry_cache_bytes").set(s.bytes as f64);
    metrics::gauge!("ferry_cache_objects").set(s.objects as f64);
}

/// Installs the recorder; global from then on. The listener is started with
/// the others ([`Exposition`]).
pub(crate) fn install() -> anyhow::Result<()> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("ferry_request_duration_seconds".into()),
            &[
                0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05,
                0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ],
        )
        .context("metrics buckets")?
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    let _ = HANDLE.set(handle);
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
    for (name, what) in [
        (
            "ferry_cache_hits_total",
            "Disk cache: answers from a fresh cached copy.",
        ),
        (
            "ferry_cache_misses_total",
            "Disk cache: objects fetched because none was cached.",
        ),
        (
            "ferry_cache_revalidations_total",
            "Disk cache: conditional requests to the store for stale copies.",
        ),
        (
            "ferry_cache_evictions_total",
            "Disk cache: objects removed to stay within --cache-size.",
        ),
    ] {
        metrics::describe_counter!(name, what);
    }
    metrics::describe_gauge!(
        "ferry_cache_bytes",
        "Disk cache: bytes of cache files on disk."
    );
    metrics::describe_gauge!("ferry_cache_objects", "Disk cache: objects cached.");
    Ok(())
}

/// The `--metrics` listener's application: the Prometheus text exposition
/// for GET and HEAD of any path, 405 otherwise.
pub(crate) struct Exposition;

impl crate::pipeline::App for Exposition {
    type Conn = ();
    const READS_BODIES: bool = false;

    fn conn(&self) {}

    async fn call(
        &self,
        _: &mut (),
        req: &mut http::Request<crate::reqbody::ReqBody>,
        _: std::net::SocketAddr,
    ) -> http::Response<ferry::Body> {
        use http::header::{self, HeaderValue};
        let (Some(handle), true) = (HANDLE.get(), ferry::proto::plan::allows(req.method())) else {
            return crate::answer::health(req.method());
        };
        cache_upkeep();
        handle.run_upkeep();
        let text = handle.render();
        let mut res = crate::answer::text(http::StatusCode::OK, req.method());
        let h = res.headers_mut();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(text.len()));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        if req.method() != http::Method::HEAD {
            *res.body_mut() = ferry::Body::from(text);
        }
        res
    }
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
