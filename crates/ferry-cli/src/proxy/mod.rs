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

use crate::args::ProxyArgs;
use crate::observe::Observer;
use crate::pipeline::{App, ReqBody};
use anyhow::{bail, Context as _};
use ferry::sendfile::Honor;
use ferry::{Body, FsStore, ServeDir};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A request body on its way to the upstream: held whole, or the client's
/// streamed on (`--no-request-buffering`).
type UpBody = http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error>;

/// `ferry proxy`'s application.
pub(crate) struct Proxy {
    upstream: Uri,
    /// `X-Forwarded-Proto`: `https` when ferry terminates TLS.
    scheme: HeaderValue,
    timeout: Duration,
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
        if upstream.scheme_str() != Some("http") || upstream.authority().is_none() {
            bail!("--upstream {:?}: expected http://HOST:PORT", a.upstream);
        }
        let mut honor = Honor::new();
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
            statics.push((p, ServeDir::new(store.precompressed(true))));
        }
        statics.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        Ok(Proxy {
            upstream,
            scheme: HeaderValue::from_static(if https { "https" } else { "http" }),
            timeout: Duration::from_secs(a.upstream_timeout.max(1)),
            honor,
            statics,
            max_body: (a.max_body_size > 0).then_some(a.max_body_size),
            buffer_requests: !a.no_request_buffering,
            buffer_responses: !a.no_response_buffering,
            observer,
        })
    }

    /// This worker's pool of upstream connections (each runtime has its
    /// own: a connection's task runs where it was made).
    fn client(&self) -> Client<HttpConnector, UpBody> {
        thread_local! {
            static CLIENT: std::cell::OnceCell<Client<HttpConnector, UpBody>> =
                const { std::cell::OnceCell::new() };
        }
        CLIENT.with(|c| {
            c.get_or_init(|| {
                let mut connector = HttpConnector::new();
                connector.set_nodelay(true);
                connector.set_connect_timeout(Some(self.timeout.min(Duration::from_secs(30))));
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(Duration::from_secs(30))
                    .build(connector)
            })
            .clone()
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

/// Hop-by-hop fields (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

fn strip_hop_by_hop(h: &mut HeaderMap) {
    let listed: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in listed.iter().chain(HOP_BY_HOP.iter()) {
        // End-to-end fields the message cannot do without are never taken
        // off because a Connection header names them: a client listing
        // `host` would otherwise make the app see the upstream's own address.
        if [header::HOST, header::CONTENT_LENGTH, header::CONTENT_TYPE].contains(name) {
            continue;
        }
        h.remove(name);
    }
    h.remove(header::TRANSFER_ENCODING);
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
        let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let mut uri = self.upstream.clone().into_parts();
        uri.path_and_query = pq.parse().ok();
        let Ok(uri) = Uri::from_parts(uri) else {
            return status(StatusCode::BAD_REQUEST);
        };
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
        let body = match self.upstream_body(&client_method, &mut headers, req).await {
            Ok(b) => b,
            Err(code) => return crate::answer::closing(code),
        };
        let mut up = Request::new(body);
        *up.method_mut() = client_method.clone();
        *up.uri_mut() = uri;
        *up.headers_mut() = headers;
        let sent = tokio::time::timeout(self.timeout, self.client().request(up));
        let res = match sent.await {
            Ok(Ok(res)) => res,
            Ok(Err(e)) => {
                tracing::debug!(error = ?e, "upstream request failed");
                eprintln!("ferry: upstream error: {}", error_chain(&e));
                crate::metrics::upstream_error("refused");
                return status(StatusCode::BAD_GATEWAY);
            }
            Err(_) => {
                eprintln!("ferry: upstream timed out after {:?}", self.timeout);
                crate::metrics::upstream_error("timeout");
                return status(StatusCode::GATEWAY_TIMEOUT);
            }
        };
        let (mut head, body) = res.into_parts();
        // RFC 9110 §6.2: an intermediary sends its own HTTP version, whatever
        // the upstream spoke (an HTTP/1.0 app server still gets HTTP/1.1 out).
        head.version = http::Version::HTTP_11;
        if Honor::wants_handoff(&head.headers) {
            drop(body);
            return match self
                .honor
                .serve(&client_method, req.headers(), &head.headers)
                .await
            {
                Ok(res) => res,
                Err(why) => {
                    let target = ["x-accel-redirect", "x-sendfile", "x-lighttpd-send-file"]
                        .iter()
                        .find_map(|n| head.headers.get(*n))
                        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                    eprintln!("ferry: misconfiguration: {why}: {target:?}");
                    status(StatusCode::NOT_FOUND)
                }
            };
        }
        // nginx's per-response switch: `X-Accel-Buffering: no` streams
        // (server-sent events, long polls).
        let buffer = self.buffer_responses
            && !head
                .headers
                .get("x-accel-buffering")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"no"));
        strip_hop_by_hop(&mut head.headers);
        let internal: Vec<HeaderName> = head
            .headers
            .keys()
            .filter(|k| k.as_str().starts_with("x-accel-"))
            .cloned()
            .collect();
        for k in internal {
            head.headers.remove(k);
        }
        let body = if !buffer {
            Body::new(body.map_err(std::io::Error::other))
        } else if http_body::Body::size_hint(&body)
            .upper()
            .is_some_and(|n| n <= spool::RESPONSE_MEMORY as u64)
        {
            // Small and of known length: read whole now.
            match tokio::time::timeout(self.timeout, body.collect()).await {
                Ok(Ok(b)) => Body::from(b.to_bytes()),
                _ => {
                    eprintln!("ferry: upstream response body cut short");
                    return status(StatusCode::BAD_GATEWAY);
                }
            }
        } else {
            spool::response(body)
        };
        Response::from_parts(head, body)
    }

    /// The request body for the upstream, fixing `headers`' framing: held
    /// whole and sent with Content-Length (WSGI servers, Django's runserver
    /// among them, read only CONTENT_LENGTH bytes), or streamed on with
    /// `--no-request-buffering`. `Err` is the status to answer instead.
    async fn upstream_body(
        &self,
        method: &http::Method,
        headers: &mut HeaderMap,
        req: &mut Request<ReqBody>,
    ) -> Result<UpBody, StatusCode> {
        use http_body::Body as _;
        let body = std::mem::take(req.body_mut());
        if body.is_end_stream() {
            // An empty POST, PUT or PATCH still says so.
            if matches!(
                *method,
                http::Method::POST | http::Method::PUT | http::Method::PATCH
            ) {
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
            }
            return Ok(http_body_util::Empty::new()
                .map_err(|never| match never {})
                .boxed());
        }
        if !self.buffer_requests {
            if let (Some(max), Some(n)) = (self.max_body, body.size_hint().exact()) {
                if n > max {
                    return Err(StatusCode::PAYLOAD_TOO_LARGE);
                }
            }
            return Ok(body.boxed());
        }
        let mut body = body;
        let held = spool::read_request(&mut body, self.max_body).await?;
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(held.len()));
        Ok(held.into_body())
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

/// "client error (Connect): tcp connect error: Connection refused (os error
/// 111)": an error and its sources, as an operator reads them.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}
