//! `ferry proxy`: a front server for an application, honouring its
//! `X-Accel-Redirect` / `X-Sendfile` hand-offs the way nginx does.
//!
//! Every request that is neither for a `--static` prefix nor for an internal
//! `--accel` prefix goes to the upstream with a pooled keep-alive client; bodies
//! stream both ways. When the upstream's response names a file, its body is
//! dropped and ferry serves the file itself, with the client's conditional and
//! Range headers.
use crate::args::ProxyArgs;
use anyhow::{bail, Context as _};
use ferry::sendfile::Honor;
use ferry::{Body, FsStore, ServeDir};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A request body on its way to the upstream: the client's, streamed, or
/// read whole (see [`frame_body`]).
type UpBody = http_body_util::combinators::BoxBody<bytes::Bytes, hyper::Error>;

/// Bodies without a declared length read whole before forwarding, at most.
const BUFFER_BODY: usize = 1 << 20;

struct Proxy {
    upstream: Uri,
    /// `X-Forwarded-Proto`: `https` when ferry terminates TLS.
    scheme: HeaderValue,
    client: Client<HttpConnector, UpBody>,
    timeout: Duration,
    honor: Honor,
    statics: Vec<(String, ServeDir<FsStore>)>,
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
    let store = FsStore::new(dir).with_context(|| format!("{flag} {v:?}: directory {dir}"))?;
    Ok((p, store))
}

pub(crate) fn run(a: ProxyArgs) -> anyhow::Result<()> {
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
        let store =
            FsStore::new(dir).with_context(|| format!("--sendfile-root {}", dir.display()))?;
        honor = honor.sendfile_root(store);
    }
    let mut statics = Vec::new();
    for v in &a.statics {
        let (p, store) = prefix_dir("--static", v)?;
        statics.push((p, ServeDir::new(store.precompressed(true))));
    }
    statics.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(a.upstream_timeout.clamp(1, 30))));
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector);
    if a.tls.h2c {
        bail!("--h2c is for `ferry serve`; `ferry proxy` speaks HTTP/1.1, or HTTP/2 over TLS");
    }
    let https = crate::tls::Https::new(&a.tls, |certs| certs)?.map(Arc::new);
    let proxy = Arc::new(Proxy {
        upstream,
        scheme: HeaderValue::from_static(if https.is_some() { "https" } else { "http" }),
        client,
        timeout: Duration::from_secs(a.upstream_timeout.max(1)),
        honor,
        statics,
    });
    let what = format!("proxying to {}", a.upstream);
    crate::server::runtime()?.block_on(crate::server::serve(
        &a.server,
        https,
        &what,
        move |req, peer| {
            let proxy = proxy.clone();
            async move { proxy.handle(req, peer).await }
        },
    ))
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

/// ferry's own short answers (404, 400, 502, 504): the same as every path's.
fn status(code: StatusCode, text: &'static str) -> Response<Body> {
    crate::sites::text(code, text, &http::Method::GET)
}

impl Proxy {
    async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        if let Some(res) = crate::sites::bad_host(req.version(), req.uri(), req.headers()) {
            return res;
        }
        let path = req.uri().path();
        // nginx's `internal`: only the application may send clients there.
        if self.honor.is_internal(path) {
            return status(StatusCode::NOT_FOUND, "404 Not Found\n");
        }
        if let Some((prefix, svc)) = self
            .statics
            .iter()
            .find(|(p, _)| path.starts_with(p.as_str()))
        {
            return serve_static(req, prefix, svc).await;
        }
        self.forward(req, peer).await
    }

    async fn forward(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let (mut parts, body) = req.into_parts();
        let client_method = parts.method.clone();
        let client_headers = parts.headers.clone();
        // HTTP/2 carries the host in `:authority` (RFC 9113 §8.3.1); the app
        // gets it as Host, as from an HTTP/1.1 client.
        let authority = parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok());
        let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut uri = self.upstream.clone().into_parts();
        uri.path_and_query = pq.parse().ok();
        let Ok(uri) = Uri::from_parts(uri) else {
            return status(StatusCode::BAD_REQUEST, "400 Bad Request\n");
        };
        parts.uri = uri;
        parts.version = http::Version::HTTP_11;
        let h = &mut parts.headers;
        strip_hop_by_hop(h);
        // The target's authority wins over Host (RFC 9112 §3.2.2, RFC 9113
        // §8.3.1), as in site routing.
        let host = authority.or_else(|| client_headers.get(header::HOST).cloned());
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
        let body = match frame_body(&mut parts, body).await {
            Ok(b) => b,
            Err(res) => return res,
        };
        let sent = tokio::time::timeout(
            self.timeout,
            self.client.request(Request::from_parts(parts, body)),
        );
        let res = match sent.await {
            Ok(Ok(res)) => res,
            Ok(Err(e)) => {
                tracing::debug!(error = ?e, "upstream request failed");
                eprintln!("ferry: upstream error: {}", error_chain(&e));
                crate::metrics::upstream_error("refused");
                return status(StatusCode::BAD_GATEWAY, "502 Bad Gateway\n");
            }
            Err(_) => {
                eprintln!("ferry: upstream timed out after {:?}", self.timeout);
                crate::metrics::upstream_error("timeout");
                return status(StatusCode::GATEWAY_TIMEOUT, "504 Gateway Timeout\n");
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
                .serve(&client_method, &client_headers, &head.headers)
                .await
            {
                Ok(res) => res,
                Err(why) => {
                    let target = ["x-accel-redirect", "x-sendfile", "x-lighttpd-send-file"]
                        .iter()
                        .find_map(|n| head.headers.get(*n))
                        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                    eprintln!("ferry: misconfiguration: {why}: {target:?}");
                    status(StatusCode::NOT_FOUND, "404 Not Found\n")
                }
            };
        }
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
        Response::from_parts(head, Body::new(body.map_err(std::io::Error::other)))
    }
}

/// Serves a `--static` prefix from its directory, without the upstream.
async fn serve_static(
    req: Request<Incoming>,
    prefix: &str,
    svc: &ServeDir<FsStore>,
) -> Response<Body> {
    let (parts, _body) = req.into_parts();
    let rest = &parts.uri.path_and_query().map_or("/", |p| p.as_str())[prefix.len() - 1..];
    let mut inner = Request::new(());
    *inner.method_mut() = parts.method.clone();
    *inner.headers_mut() = parts.headers;
    match rest.parse() {
        Ok(uri) => *inner.uri_mut() = uri,
        Err(_) => return status(StatusCode::BAD_REQUEST, "400 Bad Request\n"),
    }
    let mut res = svc.serve(&inner).await;
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

/// A request body without a declared length (HTTP/2 without content-length,
/// HTTP/1.1 chunked) is read whole, up to [`BUFFER_BODY`], and forwarded with
/// Content-Length, as nginx's `proxy_request_buffering` does: WSGI app servers
/// (Django's runserver among them) read only CONTENT_LENGTH bytes. A longer one
/// is streamed on, chunked. An empty POST, PUT or PATCH gets `Content-Length: 0`.
async fn frame_body(
    parts: &mut http::request::Parts,
    mut body: Incoming,
) -> Result<UpBody, Response<Body>> {
    use http_body::Body as _;
    if parts.headers.contains_key(header::CONTENT_LENGTH) {
        return Ok(body.boxed());
    }
    if body.is_end_stream() {
        if matches!(
            parts.method,
            http::Method::POST | http::Method::PUT | http::Method::PATCH
        ) {
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(0));
        }
        return Ok(body.boxed());
    }
    let mut buf = bytes::BytesMut::new();
    loop {
        match body.frame().await {
            None => {
                parts
                    .headers
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(buf.len()));
                let full = http_body_util::Full::new(buf.freeze());
                return Ok(full.map_err(|never| match never {}).boxed());
            }
            Some(Err(_)) => return Err(status(StatusCode::BAD_REQUEST, "400 Bad Request\n")),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                }
                if buf.len() > BUFFER_BODY {
                    // Too long to hold: what was read, then the rest, chunked.
                    use futures_util::StreamExt as _;
                    let head = futures_util::stream::once(std::future::ready(Ok(
                        http_body::Frame::data(buf.freeze()),
                    )));
                    let rest = http_body_util::BodyStream::new(body);
                    let stream = http_body_util::StreamBody::new(head.chain(rest));
                    return Ok(http_body_util::BodyExt::boxed(stream));
                }
            }
        }
    }
}
