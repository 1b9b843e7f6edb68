//! `ferry proxy`: a front server for an application, honouring its
//! `X-Accel-Redirect` / `X-Sendfile` hand-offs the way nginx does, on the
//! same connection layer and pipeline as `ferry serve`.
//!
//! Every request that is neither for a `--static` prefix nor for an internal
//! `--accel` prefix goes to the upstream over a per-worker pool of
//! keep-alive connections. As behind nginx with its defaults, the request
//! body is read whole before the upstream sees it, and the response is read
//! off the upstream as fast as it comes ([`spool`]), so slow clients never
//! hold an application worker. When the upstream's response names a file,
//! its body is dropped and ferry serves the file itself (the same open-file
//! cache and `sendfile(2)` as `ferry serve`), with the client's conditional
//! and Range headers.
mod spool;
pub(crate) mod upstream;

use crate::args::ProxyArgs;
use crate::observe::Observer;
use crate::pipeline::{App, ReqBody, CONNECTION_SPECIFIC};
use anyhow::{bail, Context as _};
use ferry::sendfile::Honor;
use ferry::{Body, FsStore, ServeDir};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use upstream::{Failure, Outgoing, Upstream};

/// `ferry proxy`'s application.
pub(crate) struct Proxy {
    upstream: Upstream,
    /// `X-Forwarded-Proto`: `https` when ferry terminates TLS.
    scheme: HeaderValue,
    honor: Honor,
    statics: Vec<(String, ServeDir<FsStore>)>,
    /// `--max-body-size`; `None` for no limit.
    max_body: Option<u64>,
    buffer_requests: bool,
    buffer_responses: bool,
    observer: Observer,
}

/// A directory the proxy serves itself: the same store settings as `ferry
/// serve`'s (blocking-free small reads, the open-file cache).
fn store(dir: &str) -> std::io::Result<FsStore> {
    Ok(FsStore::new(dir)?.inline_io(true).cache_open_files(true))
}

/// Parses `PREFIX=DIR`, normalising the prefix to `/x/`.
fn prefix_dir(flag: &str, v: &str) -> anyhow::Result<(String, FsStore)> {
    let (prefix, dir) = v
        .split_once('=')
        .with_context(|| format!("{flag} {v:?}: expected PREFIX=DIR"))?;
    let mut p = prefix.trim().to_owned();
    if !p.starts_with('/') {
        p.insert(0, '/');
    }
    if !p.ends_with('/') {
        p.push('/');
    }
    let store = store(dir).with_context(|| format!("{flag} {v:?}: directory {dir}"))?;
    Ok((p, store))
}

impl Proxy {
    /// The proxy `a` asks for; `https` when ferry terminates TLS.
    pub(crate) fn new(a: &ProxyArgs, https: bool, observer: Observer) -> anyhow::Result<Self> {
        let upstream: Uri = a
            .upstream
            .parse()
            .with_context(|| format!("--upstream {:?} is not a URL", a.upstream))?;
        let authority = match upstream.authority() {
            Some(auth) if upstream.scheme_str() == Some("http") => auth,
            _ => bail!("--upstream {:?}: expected http://HOST:PORT", a.upstream),
        };
        // Resolved once, at start, as nginx resolves proxy_pass.
        let hostport = format!(
            "{}:{}",
            authority.host(),
            authority.port_u16().unwrap_or(80)
        );
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&hostport)
            .with_context(|| format!("--upstream {:?}: cannot resolve {hostport}", a.upstream))?
            .next()
            .with_context(|| format!("--upstream {:?}: {hostport} has no address", a.upstream))?;
        // On-the-fly compression with `ferry serve`'s defaults.
        let compress = (!a.no_compress).then(ferry::compress::Compress::new);
        let mut honor = Honor::new().compress(compress.clone());
        for v in &a.accel {
            let (p, store) = prefix_dir("--accel", v)?;
            honor = honor.accel(&p, store);
        }
        for dir in &a.sendfile_root {
            let store = FsStore::new(dir)
                .map(|s| s.inline_io(true).cache_open_files(true))
                .with_context(|| format!("--sendfile-root {}", dir.display()))?;
            honor = honor.sendfile_root(store);
        }
        let mut statics = Vec::new();
        for v in &a.statics {
            let (p, store) = prefix_dir("--static", v)?;
            statics.push((
                p,
                ServeDir::new(store.precompressed(true)).compress(compress.clone()),
            ));
        }
        statics.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        Ok(Proxy {
            upstream: Upstream::new(addr, Duration::from_secs(a.upstream_timeout)),
            scheme: HeaderValue::from_static(if https { "https" } else { "http" }),
            honor,
            statics,
            max_body: (a.max_body_size > 0).then_some(a.max_body_size),
            buffer_requests: !a.no_request_buffering,
            buffer_responses: !a.no_response_buffering,
            observer,
        })
    }
}

/// `ferry proxy`: serves until SIGINT or SIGTERM.
pub(crate) fn run(a: ProxyArgs) -> anyhow::Result<()> {
    if a.tls.h2c {
        bail!("--h2c is for `ferry serve`; `ferry proxy` speaks HTTP/1.1, or HTTP/2 over TLS");
    }
    let settings = crate::settings::Settings::from_args(&a.server)?;
    let https = crate::tls::Https::new(&a.tls, |certs| certs)?.map(Arc::new);
    let proxy = Proxy::new(&a, https.is_some(), crate::listeners::observer(&settings))?;
    let what = format!("proxying to {}", a.upstream);
    crate::listeners::run(&settings, proxy, https, false, &what, || async { Ok(()) })
}

impl App for Proxy {
    type Conn = ();

    fn conn(&self) {}

    async fn call(
        &self,
        _: &mut (),
        req: &mut Request<ReqBody>,
        peer: SocketAddr,
    ) -> Response<Body> {
        let path = req.uri().path();
        // nginx's `internal`: only the application may send clients there.
        if self.honor.is_internal(path) {
            return status(StatusCode::NOT_FOUND);
        }
        if let Some((prefix, svc)) = self
            .statics
            .iter()
            .find(|(p, _)| path.starts_with(p.as_str()))
        {
            return serve_static(req, prefix, svc, &self.observer).await;
        }
        self.forward(req, peer).await
    }
}

/// Hop-by-hop fields (RFC 9110 §7.6.1), never forwarded: these and the
/// connection-specific ones ([`CONNECTION_SPECIFIC`]), which HTTP/3 also
/// forbids (these four it allows).
const HOP_BY_HOP: [HeaderName; 4] = [
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
];

fn strip_hop_by_hop(h: &mut HeaderMap) {
    let listed: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in listed.iter().chain(&CONNECTION_SPECIFIC).chain(&HOP_BY_HOP) {
        // End-to-end fields the message cannot do without are never taken
        // off because a Connection header names them: a client listing
        // `host` would otherwise make the app see the upstream's own address.
        if [header::HOST, header::CONTENT_LENGTH, header::CONTENT_TYPE].contains(name) {
            continue;
        }
        h.remove(name);
    }
}

/// ferry's own short answers (404, 400, 413, 502, 504): the same as every
/// listener's.
fn status(code: StatusCode) -> Response<Body> {
    crate::answer::text(code, &http::Method::GET)
}

impl Proxy {
    async fn forward(&self, req: &mut Request<ReqBody>, peer: SocketAddr) -> Response<Body> {
        let client_method = req.method().clone();
        let mut headers = req.headers().clone();
        // HTTP/2 carries the host in `:authority` (RFC 9113 §8.3.1); the app
        // gets it as Host, as from an HTTP/1.1 client.
        let authority = req
            .uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok());
        let target = req
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        let h = &mut headers;
        strip_hop_by_hop(h);
        // The target's authority wins over Host (RFC 9112 §3.2.2, RFC 9113
        // §8.3.1), as in site routing.
        let host = authority.or_else(|| req.headers().get(header::HOST).cloned());
        if let Some(host) = &host {
            h.insert(header::HOST, host.clone());
        }
        // Like nginx's $proxy_add_x_forwarded_for: every earlier hop the client
        // listed (all field lines), then the peer.
        let mut xff: String = h
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
        if !xff.is_empty() {
            xff.push_str(", ");
        }
        xff.push_str(&peer.ip().to_string());
        if let Ok(v) = HeaderValue::try_from(xff) {
            h.insert("x-forwarded-for", v);
        }
        h.insert("x-forwarded-proto", self.scheme.clone());
        // Only ferry says which host the client asked for: a client's own
        // X-Forwarded-Host never reaches the app.
        h.remove("x-forwarded-host");
        if let Some(host) = host {
            h.insert("x-forwarded-host", host);
        }
        if self.buffer_requests {
            // The body is read before the upstream is asked: there is nothing
            // for it to continue (ferry answered the client's 100 itself).
            headers.remove(header::EXPECT);
        }
        let body = match self.upstream_body(&client_method, &mut headers, req).await {
            Ok(b) => b,
            Err(code) => return crate::answer::closing(code),
        };
        let sent = self
            .upstream
            .send(&client_method, &target, &headers, body)
            .await;
        let upstream::Answer {
            status: code,
            headers: mut up_headers,
            body,
        } = match sent {
            Ok(a) => a,
            Err(Failure::Timeout) => {
                eprintln!("ferry: upstream timed out");
                crate::metrics::upstream_error("timeout");
                return status(StatusCode::GATEWAY_TIMEOUT);
            }
            Err(Failure::ClientBody) => return crate::answer::closing(StatusCode::BAD_REQUEST),
            Err(Failure::TooLarge) => return crate::answer::closing(StatusCode::PAYLOAD_TOO_LARGE),
            Err(e) => {
                tracing::debug!(error = %e, "upstream request failed");
                eprintln!("ferry: upstream error: {e}");
                crate::metrics::upstream_error(e.kind());
                return status(StatusCode::BAD_GATEWAY);
            }
        };
        if Honor::wants_handoff(&up_headers) {
            body.discard();
            return match self
                .honor
                .serve(&client_method, req.headers(), &up_headers)
                .await
            {
                Ok(res) => res,
                Err(why) => {
                    let target = ["x-accel-redirect", "x-sendfile", "x-lighttpd-send-file"]
                        .iter()
                        .find_map(|n| up_headers.get(*n))
                        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                    eprintln!("ferry: misconfiguration: {why}: {target:?}");
                    status(StatusCode::NOT_FOUND)
                }
            };
        }
        // nginx's per-response switch: `X-Accel-Buffering: no` streams
        // (server-sent events, long polls).
        let buffer = self.buffer_responses
            && !up_headers
                .get("x-accel-buffering")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"no"));
        strip_hop_by_hop(&mut up_headers);
        let internal: Vec<HeaderName> = up_headers
            .keys()
            .filter(|k| k.as_str().starts_with("x-accel-"))
            .cloned()
            .collect();
        for k in internal {
            up_headers.remove(k);
        }
        let body = if !buffer {
            body.into_body()
        } else if body
            .len()
            .is_some_and(|n| n <= spool::RESPONSE_MEMORY as u64)
        {
            // Small and of known length: read whole now (each read within
            // the upstream timeout).
            match body.collect().await {
                Ok(b) => Body::from(b),
                Err(e) => {
                    eprintln!("ferry: upstream response body cut short: {e}");
                    return status(StatusCode::BAD_GATEWAY);
                }
            }
        } else {
            spool::response(body)
        };
        // RFC 9110 §6.2: an intermediary sends its own HTTP version, whatever
        // the upstream spoke (an HTTP/1.0 app server still gets HTTP/1.1 out).
        let mut res = Response::new(body);
        *res.status_mut() = code;
        *res.headers_mut() = up_headers;
        res
    }

    /// The request body for the upstream: held whole (sent with
    /// Content-Length: WSGI servers, Django's runserver among them, read only
    /// CONTENT_LENGTH bytes), or streamed on with `--no-request-buffering`.
    /// `Err` is the status to answer instead.
    async fn upstream_body(
        &self,
        method: &http::Method,
        headers: &mut HeaderMap,
        req: &mut Request<ReqBody>,
    ) -> Result<Outgoing, StatusCode> {
        use http_body::Body as _;
        let mut body = std::mem::take(req.body_mut());
        if body.is_end_stream() {
            // An empty POST, PUT or PATCH still says so.
            if matches!(
                *method,
                http::Method::POST | http::Method::PUT | http::Method::PATCH
            ) {
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
            } else {
                headers.remove(header::CONTENT_LENGTH);
            }
            return Ok(Outgoing::Empty);
        }
        if !self.buffer_requests {
            if let (Some(max), Some(n)) = (self.max_body, body.size_hint().exact()) {
                if n > max {
                    return Err(StatusCode::PAYLOAD_TOO_LARGE);
                }
            }
            return Ok(Outgoing::Stream(body, self.max_body));
        }
        let held = spool::read_request(&mut body, self.max_body).await?;
        Ok(Outgoing::Held(held))
    }
}

/// Serves a `--static` prefix from its directory, without the upstream.
async fn serve_static(
    req: &mut Request<ReqBody>,
    prefix: &str,
    svc: &ServeDir<FsStore>,
    observer: &Observer,
) -> Response<Body> {
    let rest = &req.uri().path_and_query().map_or("/", |p| p.as_str())[prefix.len() - 1..];
    match Uri::try_from(rest) {
        Ok(uri) => *req.uri_mut() = uri,
        Err(_) => return status(StatusCode::BAD_REQUEST),
    }
    let mut res = crate::sites::serve(svc, req, observer).await;
    // A redirect to the directory must keep the prefix.
    if let Some(loc) = res
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Ok(v) = HeaderValue::try_from(format!("{}{}", prefix.trim_end_matches('/'), loc)) {
            res.headers_mut().insert(header::LOCATION, v);
        }
    }
    res
}
