//! The one request pipeline every wire layer calls (the HTTP/1.1 fast path,
//! hyper's HTTP/1.1 and HTTP/2 over TLS or h2c, and HTTP/3 over QUIC), for `ferry serve` and
//! `ferry proxy` alike: the wire checks (head size, Host), the health check,
//! the application (sites by Host, or the proxy), `--hsts`, and the observer.
//!
//! A wire layer only turns bytes into a `Request<ReqBody>` and the
//! `Response<Body>` it gets back into bytes; it records what it sent with
//! [`Pipeline::observer`].
use crate::observe::{Observer, Pending};
pub(crate) use crate::reqbody::ReqBody;
use ferry::Body;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use std::future::Future;
use std::net::SocketAddr;

/// The connection-specific fields (RFC 9110 §7.6.1): they belong to one
/// hop. HTTP/2 and HTTP/3 forbid them (RFC 9113 §8.2.2, RFC 9114 §4.2: a
/// message with one is malformed), and `ferry proxy` never forwards them.
/// `TE` is one too, but `TE: trailers` may cross.
pub(crate) const CONNECTION_SPECIFIC: [HeaderName; 5] = [
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
];

/// Whether `name` is one of [`CONNECTION_SPECIFIC`], by its length first:
/// most names are told apart without comparing a byte (once per field of
/// every HTTP/2 request and response).
pub(crate) fn connection_specific(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "transfer-encoding" | "upgrade" | "keep-alive" | "proxy-connection"
    )
}

/// What answers the requests that passed the wire checks: `ferry serve`'s
/// sites, `ferry proxy`'s upstream, the redirect listener.
pub(crate) trait App: Send + Sync + 'static {
    /// What the app keeps per connection between requests (`ferry serve`:
    /// its snapshot of the sites).
    type Conn: Send;

    /// Whether the app reads request bodies (`ferry proxy` streams them
    /// upstream). One that does not is served over HTTP/2 by ferry's own
    /// wire layer ([`crate::h2`]), which reads and drops them.
    const READS_BODIES: bool = true;

    /// Whether [`call`](App::call) may change the request it is given. One
    /// that never does (`ferry serve`'s sites only read it) can be handed the
    /// HTTP/1.1 connection's remembered parse of a repeated head itself,
    /// rather than a copy ([`crate::h1::parse::parse_with`]).
    const CHANGES_REQUESTS: bool = true;

    /// The state of a new connection.
    fn conn(&self) -> Self::Conn;

    /// The connection went idle: let go of what a reload replaced.
    fn idle(&self, _conn: &mut Self::Conn) {}

    /// Answers `req` from `peer`. The request stays the caller's (the
    /// observer reads it afterwards); an app that forwards the body takes it
    /// with `std::mem::take`.
    fn call<'a>(
        &'a self,
        conn: &'a mut Self::Conn,
        req: &'a mut Request<ReqBody>,
        peer: SocketAddr,
    ) -> impl Future<Output = Response<Body>> + Send + 'a;
}

/// A pipeline: the checks, `app`, and where exchanges are recorded.
pub(crate) struct Pipeline<A> {
    pub(crate) app: A,
    /// `--max-header-bytes`, as HTTP/1.1 would send the head.
    pub(crate) max_head: usize,
    pub(crate) health: Option<std::sync::Arc<str>>,
    /// `--hsts`, on every response of an HTTPS listener.
    pub(crate) hsts: Option<HeaderValue>,
    /// `Alt-Svc: h3=":PORT"; ma=…`, on every response of an HTTPS listener
    /// that also serves HTTP/3 ([RFC 9114 §3.1.1]).
    ///
    /// [RFC 9114 §3.1.1]: https://www.rfc-editor.org/rfc/rfc9114#section-3.1.1
    pub(crate) alt_svc: Option<HeaderValue>,
    pub(crate) observer: Observer,
}

impl<A: App> Pipeline<A> {
    /// Begins recording `req` (see [`Observer::begin`]) and answers it.
    /// `size` is [`head_size`] of `req` when the wire layer has it already
    /// (HTTP/1.1 reckons it when it parses, not for a head answered from its
    /// memo); `None` has it reckoned here.
    pub(crate) async fn respond(
        &self,
        conn: &mut A::Conn,
        req: &mut Request<ReqBody>,
        peer: SocketAddr,
        size: Option<usize>,
    ) -> (Response<Body>, Option<Pending>) {
        let mut pending = self.observer.begin(req);
        let span = tracing::debug_span!("request", method = %req.method(), target = %req.uri(), version = ?req.version());
        let mut res = match self.check(req, size) {
            Some(res) => res,
            None => tracing::Instrument::instrument(self.app.call(conn, req, peer), span).await,
        };
        if let Some(p) = pending.as_mut() {
            p.response(res.headers());
        }
        if let Some(v) = &self.hsts {
            res.headers_mut()
                .insert(header::STRICT_TRANSPORT_SECURITY, v.clone());
        }
        if let Some(v) = &self.alt_svc {
            res.headers_mut().insert(header::ALT_SVC, v.clone());
        }
        (res, pending)
    }

    /// The answers given before the application sees a request: 431 for a
    /// head over `--max-header-bytes`, 400 for a bad Host, the health check.
    fn check(&self, req: &Request<ReqBody>, size: Option<usize>) -> Option<Response<Body>> {
        debug_assert!(size.is_none_or(|n| n == head_size(req)));
        if size.unwrap_or_else(|| head_size(req)) > self.max_head {
            return Some(crate::answer::closing(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ));
        }
        if bad_host(req.version(), req.uri(), req.headers()) {
            return Some(crate::answer::closing(StatusCode::BAD_REQUEST));
        }
        match &self.health {
            Some(p) if req.uri().path() == &**p => Some(crate::answer::health(req.method())),
            _ => None,
        }
    }
}

/// The size of a request head as HTTP/1.1 sends it: request line, fields,
/// and the blank line (`--max-header-bytes` counts this on every protocol).
pub(crate) fn head_size<B>(req: &Request<B>) -> usize {
    let uri = req.uri();
    let target = uri.path_and_query().map_or(1, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len() + 3)
        + uri.scheme_str().map_or(0, str::len);
    let line = req.method().as_str().len() + target + 11;
    let fields: usize = req
        .headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    line + fields + 2
}

/// RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status
/// code to any HTTP/1.1 request message that lacks a Host header field and to
/// any request message that contains more than one Host header field line or
/// a Host header field with an invalid field value."
pub(crate) fn bad_host(version: Version, uri: &Uri, headers: &HeaderMap) -> bool {
    let mut hosts = headers.get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (_, Some(_)) => true,
        (Some(h), None) => !crate::host::valid(h.as_bytes()),
        // HTTP/2 and HTTP/3 carry it in `:authority` (RFC 9113 §8.3.1).
        (None, None) => version == Version::HTTP_11 && uri.authority().is_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_specific_is_the_list() {
        for name in &CONNECTION_SPECIFIC {
            assert!(connection_specific(name), "{name}");
        }
        for name in [header::CONTENT_TYPE, header::TE, header::DATE, header::ETAG] {
            assert!(!connection_specific(&name), "{name}");
        }
    }

    #[test]
    fn host_rules_rfc_9112_3_2() {
        let uri: Uri = "/x".parse().unwrap();
        let with = |hosts: &[&str]| {
            let mut h = HeaderMap::new();
            for v in hosts {
                h.append(header::HOST, HeaderValue::from_str(v).unwrap());
            }
            h
        };
        // Missing on HTTP/1.1, repeated, or invalid: 400.
        assert!(bad_host(Version::HTTP_11, &uri, &with(&[])));
        assert!(bad_host(Version::HTTP_11, &uri, &with(&["a", "b"])));
        assert!(bad_host(Version::HTTP_2, &uri, &with(&["a", "a"])));
        for bad in ["a b", "a\tb", "a/b", "a@b", "a\\b"] {
            assert!(bad_host(Version::HTTP_11, &uri, &with(&[bad])), "{bad:?}");
            assert!(bad_host(Version::HTTP_2, &uri, &with(&[bad])), "{bad:?}");
        }
        for good in [
            "",
            "example.com",
            "example.com:8080",
            "[::1]:80",
            "127.0.0.1",
        ] {
            assert!(
                !bad_host(Version::HTTP_11, &uri, &with(&[good])),
                "{good:?}"
            );
        }
        // HTTP/1.0 may omit it; HTTP/2 has :authority; an absolute-form
        // target carries it.
        assert!(!bad_host(Version::HTTP_10, &uri, &with(&[])));
        assert!(!bad_host(Version::HTTP_2, &uri, &with(&[])));
        let abs: Uri = "http://t/x".parse().unwrap();
        assert!(!bad_host(Version::HTTP_11, &abs, &with(&[])));
    }
}
