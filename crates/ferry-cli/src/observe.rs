//! The one observer of every exchange, whatever carried it: the access-log
//! line, the metrics and the store errors, for `ferry serve` and `ferry proxy`
//! on every listener and protocol.
use crate::accesslog::{AccessLog, Entry};
use http::header::{self, HeaderValue};
use http::{Method, Request, Uri, Version};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// Where exchanges are recorded.
#[derive(Clone, Default)]
pub(crate) struct Observer {
    log: Option<Arc<AccessLog>>,
    metrics: bool,
}

/// What is kept of a request until its response is sent: enough for the log
/// line, taken only when something records it (boxed: the fast path moves
/// `Option<Pending>` through its exchange, a pointer when nothing records).
pub(crate) type Pending = Box<Record>;

/// See [`Pending`].
pub(crate) struct Record {
    start: Instant,
    method: Method,
    target: Uri,
    version: Version,
    referer: Option<HeaderValue>,
    user_agent: Option<HeaderValue>,
    host: Option<HeaderValue>,
    /// The response's Content-Encoding (on-the-fly or precompressed).
    content_encoding: Option<HeaderValue>,
}

impl Record {
    /// Notes what of the response the log line shows besides its status and
    /// length: the content coding chosen.
    pub(crate) fn response(&mut self, headers: &http::HeaderMap) {
        self.content_encoding = headers.get(header::CONTENT_ENCODING).cloned();
    }
}

/// How a response left.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sent {
    /// Body bytes handed to the connection (a response cut short counts
    /// what was sent).
    pub(crate) bytes: u64,
    /// Whether `sendfile(2)` sent them.
    pub(crate) zero_copy: bool,
}

impl Observer {
    pub(crate) fn new(log: Option<Arc<AccessLog>>, metrics: bool) -> Self {
        Observer { log, metrics }
    }

    /// Whether anything is recorded (otherwise no clock is read).
    pub(crate) fn is_on(&self) -> bool {
        self.log.is_some() || self.metrics
    }

    /// Starts recording `req`; `None` when nothing is recorded.
    pub(crate) fn begin<B>(&self, req: &Request<B>) -> Option<Pending> {
        if !self.is_on() {
            return None;
        }
        let h = |n| req.headers().get(n).cloned();
        Some(Box::new(Record {
            start: Instant::now(),
            method: req.method().clone(),
            target: req.uri().clone(),
            version: req.version(),
            referer: self.log.as_ref().and_then(|_| h(header::REFERER)),
            user_agent: self.log.as_ref().and_then(|_| h(header::USER_AGENT)),
            host: self.log.as_ref().and_then(|_| h(header::HOST)),
            content_encoding: None,
        }))
    }

    /// Records a response to a request [`Observer::begin`] saw.
    pub(crate) fn finish(&self, p: Pending, peer: SocketAddr, status: u16, sent: Sent) {
        let took = p.start.elapsed();
        if self.metrics {
            crate::metrics::response(Some(&p.method), status, sent.bytes, sent.zero_copy, took);
        }
        if let Some(log) = &self.log {
            fn text(v: &Option<HeaderValue>) -> Option<&str> {
                v.as_ref().and_then(|v| v.to_str().ok())
            }
            log.log(&Entry {
                peer,
                method: p.method.as_str(),
                target: p.target.path_and_query().map_or("/", |p| p.as_str()),
                version: version(p.version),
                status,
                bytes: sent.bytes,
                duration: took,
                referer: text(&p.referer),
                user_agent: text(&p.user_agent),
                // Which site: the name asked for, without a port, however
                // the protocol carried it (`:authority` or Host).
                host: p
                    .target
                    .host()
                    .or_else(|| text(&p.host).map(crate::host::strip_port)),
                content_encoding: text(&p.content_encoding),
            });
        }
    }

    /// Records an answer the wire layer gave before any request existed (a
    /// head that could not be parsed, or too large); its duration is 0, as
    /// no request was read.
    pub(crate) fn reject(&self, peer: SocketAddr, status: u16, sent: u64) {
        let took = std::time::Duration::ZERO;
        if self.metrics {
            // No request was read: its method is `none`.
            crate::metrics::response(None, status, sent, false, took);
        }
        if let Some(log) = &self.log {
            log.log(&Entry {
                peer,
                method: "-",
                target: "-",
                version: "-",
                status,
                bytes: sent,
                duration: took,
                referer: None,
                user_agent: None,
                host: None,
                content_encoding: None,
            });
        }
    }

    /// A failure behind a 5xx (a store's I/O error, a timeout): the client
    /// sees a short status text, the operator why.
    pub(crate) fn server_error(&self, method: &Method, path: &str, why: &dyn std::fmt::Display) {
        eprintln!("ferry: {method} {}: {why}", path.escape_debug());
    }
}

/// As the access log names it.
fn version(v: Version) -> &'static str {
    match v {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}
