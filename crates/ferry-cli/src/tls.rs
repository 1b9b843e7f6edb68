//! HTTPS for `ferry serve`: rustls (TLS 1.2 and 1.3, ALPN `h2` and
//! `http/1.1`), HTTP/2 and HTTP/1.1 through hyper, certificates reloaded on
//! SIGHUP without dropping connections, and an optional plain listener that
//! redirects to HTTPS. Without a certificate (`--h2c`), the same server speaks
//! plaintext HTTP/1.1 and HTTP/2 with prior knowledge.
//!
//! Every response is decided by the same [`ferry::ServeDir`] as on the plaintext fast
//! path, so 304s, ranges, variants, HEAD and 405 are identical over h2.
use crate::args::{ServerArgs, TlsArgs};
use crate::sites::{Live, Route, Sites};
use anyhow::Context as _;
use ferry::{Body, Store};
use http::{header, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// The certificate in use, swapped whole on reload.
#[derive(Debug)]
struct Reloadable {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Reloadable {
    fn load(cert: &Path, key: &Path) -> anyhow::Result<Arc<CertifiedKey>> {
        let chain = std::fs::read(cert)
            .with_context(|| format!("cannot read the certificate {}", cert.display()))?;
        let pem = std::fs::read(key)
            .with_context(|| format!("cannot read the private key {}", key.display()))?;
        certified_key(&chain, &pem)
            .with_context(|| format!("{} with {}", cert.display(), key.display()))
    }

    /// Re-reads the files; a bad new pair is refused and the old one stays.
    fn reload(&self) {
        match Self::load(&self.cert, &self.key) {
            Ok(ck) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = ck;
                eprintln!("ferry: certificate reloaded from {}", self.cert.display());
            }
            Err(e) => eprintln!("ferry: certificate not reloaded, keeping the old one: {e:#}"),
        }
    }
}

impl ResolvesServerCert for Reloadable {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

/// A PEM certificate chain and its PEM key as rustls serves them (ring).
pub(crate) fn certified_key(chain_pem: &[u8], key_pem: &[u8]) -> anyhow::Result<Arc<CertifiedKey>> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<_, _>>()
        .context("not a PEM certificate chain")?;
    if chain.is_empty() {
        anyhow::bail!("no certificate in it");
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).context("not a PEM private key")?;
    let signing = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(key)
        .context("unsupported private key")?;
    let ck = CertifiedKey::new(chain, signing);
    ck.keys_match()
        .context("the key does not match the certificate")?;
    Ok(Arc::new(ck))
}

/// Loads a certificate and key as `run` would, for `ferry check-config`.
pub(crate) fn check(cert: &Path, key: &Path) -> anyhow::Result<()> {
    Reloadable::load(cert, key).map(|_| ())
}

/// A site's own certificate chain and key (PEM files).
pub(crate) fn load(cert: &Path, key: &Path) -> anyhow::Result<Arc<CertifiedKey>> {
    Reloadable::load(cert, key)
}

/// Picks the certificate by SNI: a site's own, else the top-level one.
struct BySite<S: Store> {
    live: Arc<Live<S>>,
    /// --tls-cert's, or ACME's.
    fallback: Option<Arc<dyn ResolvesServerCert>>,
}

impl<S: Store> std::fmt::Debug for BySite<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BySite").finish_non_exhaustive()
    }
}

impl<S: Store> ResolvesServerCert for BySite<S> {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // RFC 8737 §3: a TLS-ALPN-01 validation (`acme-tls/1` alone) must get
        // ACME's challenge certificate, never a site's own.
        let challenge = hello.alpn().is_some_and(|mut p| {
            p.next() == Some(crate::acme::ACME_TLS_ALPN) && p.next().is_none()
        });
        if !challenge {
            if let Some(ck) = self.live.load().cert_for(hello.server_name()) {
                return Some(ck);
            }
        }
        self.fallback.as_ref()?.resolve(hello)
    }
}

/// HTTPS on a listener: the certificates (files reloaded on SIGHUP, ACME, or
/// what `wrap` adds, such as sites' own), ALPN, `--redirect-http`, `--hsts`.
pub(crate) struct Https {
    acceptor: tokio_rustls::TlsAcceptor,
    files: Option<Arc<Reloadable>>,
    acme: Option<Arc<crate::acme::Acme>>,
    redirect: Option<SocketAddr>,
    /// `--hsts`, for every HTTPS response.
    pub(crate) hsts: Option<HeaderValue>,
}

impl Https {
    /// HTTPS from `tls`'s flags; `wrap` gets the flags' certificate resolver
    /// (if any) and returns the one to use, or `None` for no TLS at all.
    pub(crate) fn new(
        tls: &TlsArgs,
        wrap: impl FnOnce(Option<Arc<dyn ResolvesServerCert>>) -> Option<Arc<dyn ResolvesServerCert>>,
    ) -> anyhow::Result<Option<Https>> {
        let acme = crate::acme::Acme::from_args(tls)?;
        let (files, certs): (_, Option<Arc<dyn ResolvesServerCert>>) =
            match (&tls.tls_cert, &tls.tls_key, &acme) {
                (Some(cert), Some(key), _) => {
                    let r = Arc::new(Reloadable {
                        current: RwLock::new(Reloadable::load(cert, key)?),
                        cert: cert.clone(),
                        key: key.clone(),
                    });
                    (Some(r.clone()), Some(r))
                }
                (None, None, Some(acme)) => (None, Some(acme.resolver())),
                (None, None, None) => (None, None),
                _ => anyhow::bail!("--tls-cert and --tls-key go together"),
            };
        let Some(resolver) = wrap(certs) else {
            check_https_flags(tls, false)?;
            return Ok(None);
        };
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS configuration")?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        if acme.is_some() {
            // Last: a client that offers h2 or http/1.1 never selects it.
            config
                .alpn_protocols
                .push(crate::acme::ACME_TLS_ALPN.to_vec());
        }
        let hsts = tls
            .hsts
            .as_deref()
            .map(|v| HeaderValue::from_str(v).context("--hsts is not a valid header value"))
            .transpose()?;
        Ok(Some(Https {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            files,
            acme,
            redirect: tls.redirect_http,
            hsts,
        }))
    }

    /// Inside the runtime, once the HTTPS listener is bound to `https_port`:
    /// the redirect listener, certificate reloads on SIGHUP, then ACME (which
    /// may take a while to reach its CA).
    pub(crate) async fn start(&self, https_port: u16, args: &ServerArgs) -> anyhow::Result<()> {
        if let Some(plain) = self.redirect {
            let l = TcpListener::bind(plain)
                .await
                .with_context(|| format!("cannot listen on {plain}"))?;
            eprintln!("ferry: redirecting http://{}/ to https", l.local_addr()?);
            tokio::spawn(redirect_loop(
                l,
                https_port,
                self.acme.clone(),
                crate::server::slots(args),
                Duration::from_secs(args.header_timeout),
                args.health_check.as_deref().map(Arc::from),
            ));
        }
        #[cfg(unix)]
        if let Some(r) = self.files.clone() {
            let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    r.reload();
                }
            });
        }
        if let Some(acme) = &self.acme {
            acme.start(self.redirect.is_some()).await?;
        }
        Ok(())
    }

    /// The handshake, within `timeout`: the stream and the protocol ALPN
    /// chose, or `None` (a failed or slow handshake, or an ACME challenge:
    /// nothing to answer).
    pub(crate) async fn accept(
        &self,
        stream: tokio::net::TcpStream,
        timeout: Duration,
    ) -> Option<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        Proto,
    )> {
        let Ok(Ok(tls)) = tokio::time::timeout(timeout, self.acceptor.accept(stream)).await else {
            tracing::debug!("TLS handshake failed or timed out");
            return None;
        };
        // RFC 9113 §3.2 / RFC 7301: the protocol ALPN chose binds the
        // connection; no guessing from its bytes. RFC 8737 §3: after a
        // TLS-ALPN-01 handshake the CA closes; no HTTP is served on it.
        let proto = match tls.get_ref().1.alpn_protocol() {
            Some(b"h2") => Proto::H2,
            Some(p) if p == crate::acme::ACME_TLS_ALPN => return None,
            // RFC 9113 §3.3: HTTP/2 over TLS is chosen by ALPN only; without
            // it (or with http/1.1) the connection is HTTP/1.1.
            _ => Proto::H1,
        };
        Some((tls, proto))
    }
}

/// `--hsts` and `--redirect-http` need HTTPS: a certificate from the flags,
/// ACME, or a site's own.
pub(crate) fn check_https_flags(tls: &TlsArgs, https: bool) -> anyhow::Result<()> {
    if https {
        return Ok(());
    }
    for (flag, set) in [
        ("--hsts", tls.hsts.is_some()),
        ("--redirect-http", tls.redirect_http.is_some()),
    ] {
        if set {
            anyhow::bail!(
                "{flag} needs HTTPS: --tls-cert and --tls-key, --acme-domain, or a [[site]] with tls-cert"
            );
        }
    }
    Ok(())
}

/// hyper's HTTP/1.1 and HTTP/2 server with ferry's limits, speaking `proto`.
pub(crate) fn builder(
    header_timeout: Duration,
    max_head: usize,
    proto: Proto,
) -> hyper_util::server::conn::auto::Builder<TokioExecutor> {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // hyper answers 431 when a head outgrows its read buffer (at least
    // 8 KiB); h2 refuses header lists above the limit.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(max_head.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(max_head).unwrap_or(u32::MAX));
    match proto {
        Proto::H1 => builder.http1_only(),
        Proto::H2 => builder.http2_only(),
        Proto::Any => builder,
    }
}

/// Serves `sites` over HTTPS (or h2c) until SIGINT or SIGTERM; SIGHUP
/// replaces them with what `reload` builds.
pub(crate) fn run<S: Store>(
    args: &ServerArgs,
    tls: &TlsArgs,
    sites: Sites<S>,
    reload: impl Fn() -> anyhow::Result<Sites<S>> + Send + Sync + 'static,
    what: &str,
) -> anyhow::Result<()> {
    let live = Arc::new(Live::new(sites));
    // TLS (files, ACME, or sites' own certificates), or plaintext HTTP/1.1 and
    // h2c with prior knowledge (--h2c).
    let https = Https::new(tls, |certs| -> Option<Arc<dyn ResolvesServerCert>> {
        if tls.h2c || (certs.is_none() && !live.load().has_certs()) {
            return None;
        }
        Some(Arc::new(BySite {
            live: live.clone(),
            fallback: certs,
        }))
    })?
    .map(Arc::new);
    let scheme = if https.is_some() { "https" } else { "http" };
    let log = crate::accesslog::from_args(args)?;
    let metrics = args.metrics.is_some();
    let header_timeout = Duration::from_secs(args.header_timeout.max(1));
    let max_head = args.max_header_bytes.max(1024);
    let idle = Duration::from_secs(args.idle_timeout);
    let write = Duration::from_secs(args.write_timeout);

    let std_listener = crate::server::listener(args)?;
    crate::server::runtime()?.block_on(async move {
        let listener = TcpListener::from_std(std_listener)?;
        let addr = listener.local_addr()?;
        crate::accesslog::reopen_on_hup(log.as_ref());
        crate::sites::reload_on_hup(live.clone(), reload);
        if let Some(h) = &https {
            h.start(addr.port(), args).await?;
        }
        // Announced once SIGHUP is handled: an early HUP must not terminate.
        eprintln!("ferry: {what} on {scheme}://{addr}/");
        let slots = crate::server::slots(args);
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(crate::server::shutdown_signal());
        while let Some((stream, peer, slot)) =
            crate::server::accept(&listener, &slots, shutdown.as_mut()).await
        {
            let (https, live, log) = (https.clone(), live.clone(), log.clone());
            let watcher = graceful.watcher();
            let span = tracing::debug_span!("conn", %peer);
            tokio::spawn(tracing::Instrument::instrument(
                async move {
                    let _slot = slot;
                    let conn = Conn {
                        live,
                        hsts: https.as_ref().and_then(|h| h.hsts.clone()),
                        log,
                        metrics,
                        peer,
                        header_timeout,
                        max_head,
                        idle,
                        write,
                    };
                    match https {
                        Some(h) => {
                            if let Some((tls, proto)) = h.accept(stream, header_timeout).await {
                                conn.serve(tls, proto, watcher).await;
                            }
                        }
                        // h2c: HTTP/2 with prior knowledge or HTTP/1.1, by preface.
                        None => conn.serve(stream, Proto::Any, watcher).await,
                    }
                },
                span,
            ));
        }
        drop(listener);
        eprintln!("ferry: shutting down, finishing in-flight requests");
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(Duration::from_secs(args.drain_timeout)) => {
                eprintln!("ferry: gave up waiting for connections after {}s", args.drain_timeout);
            }
        }
        Ok(())
    })
}

/// The HTTP version a connection speaks.
#[derive(Clone, Copy)]
pub(crate) enum Proto {
    /// ALPN chose http/1.1.
    H1,
    /// ALPN chose h2.
    H2,
    /// No ALPN (or plaintext): HTTP/2 if the client sends its preface.
    Any,
}

/// One client connection's settings.
struct Conn<S: Store> {
    live: Arc<Live<S>>,
    hsts: Option<HeaderValue>,
    log: Option<Arc<crate::accesslog::AccessLog>>,
    metrics: bool,
    peer: SocketAddr,
    header_timeout: Duration,
    /// `--max-header-bytes`, on every transport.
    max_head: usize,
    /// `--idle-timeout` and `--write-timeout`.
    idle: Duration,
    write: Duration,
}

impl<S: Store> Conn<S> {
    /// HTTP/1.1 or HTTP/2 (by ALPN, or by the h2 preface on plaintext) on `io`.
    async fn serve<I>(self, io: I, proto: Proto, watcher: hyper_util::server::graceful::Watcher)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Conn {
            live,
            hsts,
            log,
            metrics,
            peer,
            header_timeout,
            max_head,
            idle,
            write,
        } = self;
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let (live, hsts, log) = (live.clone(), hsts.clone(), log.clone());
            async move {
                let start = Instant::now();
                let sites = live.load();
                let span = tracing::debug_span!("request", method = %req.method(), target = %req.uri(), version = ?req.version());
                let route = if head_size(&req) > max_head {
                    // hyper enforces its buffer limit only on a head that
                    // arrives in pieces: the same limit, exactly, on every path.
                    Route::Answer(crate::sites::too_large())
                } else if let Some(res) =
                    crate::sites::bad_host(req.version(), req.uri(), req.headers())
                {
                    Route::Answer(res)
                } else {
                    sites.route(req.method(), req.uri(), req.headers())
                };
                let mut res = match route {
                    Route::Serve(svc) => {
                        tracing::Instrument::instrument(svc.serve(&req), span).await
                    }
                    Route::Answer(res) => res,
                };
                if let Some(v) = hsts {
                    res.headers_mut()
                        .insert(header::STRICT_TRANSPORT_SECURITY, v);
                }
                // HEAD sends no body; 304s have no Content-Length.
                let bytes = crate::server::content_length(res.headers())
                    .filter(|_| req.method() != http::Method::HEAD)
                    .unwrap_or(0);
                if let Some(log) = &log {
                    access_log(log, peer, &req, &res, bytes, start);
                }
                if metrics {
                    crate::metrics::response(
                        req.method(),
                        res.status().as_u16(),
                        bytes,
                        false,
                        start.elapsed(),
                    );
                }
                Ok::<_, Infallible>(res)
            }
        });
        let builder = builder(header_timeout, max_head, proto);
        let io = crate::server::Deadline::new(io, idle, write);
        let conn = builder.serve_connection(TokioIo::new(io), service);
        if metrics {
            crate::metrics::connection_opened();
        }
        let _ = watcher.watch(conn.into_owned()).await;
        if metrics {
            crate::metrics::connection_closed();
        }
    }
}

/// The size of a request head as HTTP/1.1 sends it: request line, fields,
/// and the blank line.
fn head_size<B>(req: &Request<B>) -> usize {
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

fn access_log(
    log: &crate::accesslog::AccessLog,
    peer: SocketAddr,
    req: &Request<Incoming>,
    res: &Response<Body>,
    bytes: u64,
    start: Instant,
) {
    let h = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let version = match req.version() {
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    log.log(&crate::accesslog::Entry {
        peer,
        method: req.method().as_str(),
        target: req.uri().path_and_query().map_or("/", |p| p.as_str()),
        version,
        status: res.status().as_u16(),
        bytes,
        duration: start.elapsed(),
        referer: h(header::REFERER),
        user_agent: h(header::USER_AGENT),
        host: req.uri().host().or_else(|| h(header::HOST)),
    });
}

/// The plain listener of `--redirect-http`: every request gets a 308 to the
/// same path on HTTPS, except ACME HTTP-01 challenges. Its connections count
/// against their own `--max-connections` and close after `--header-timeout`
/// without a request, as on every listener.
async fn redirect_loop(
    listener: TcpListener,
    https_port: u16,
    acme: Option<Arc<crate::acme::Acme>>,
    slots: Arc<tokio::sync::Semaphore>,
    header_timeout: Duration,
    health: Option<Arc<str>>,
) {
    let mut never = std::pin::pin!(std::future::pending::<()>());
    while let Some((stream, _, slot)) =
        crate::server::accept(&listener, &slots, never.as_mut()).await
    {
        let (acme, health) = (acme.clone(), health.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                // A load balancer checking over plain HTTP gets the health
                // answer, not a redirect.
                let answer = match &health {
                    Some(p) if req.uri().path() == &**p => Some(crate::sites::health(req.method())),
                    _ => None,
                };
                let challenge = answer.or_else(|| {
                    acme.as_ref()
                        .and_then(|a| a.http01_response(req.uri().path()))
                });
                async move {
                    Ok::<_, Infallible>(challenge.unwrap_or_else(|| redirect(&req, https_port)))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(slot);
        });
    }
}

fn redirect(req: &Request<Incoming>, https_port: u16) -> Response<Body> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(crate::sites::strip_port)
        .filter(|h| !h.is_empty() && !h.contains(['/', '@', ' ']));
    let Some(host) = host else {
        return crate::sites::text(StatusCode::BAD_REQUEST, "400 Bad Request\n", req.method());
    };
    let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let mut res = crate::sites::text(
        StatusCode::PERMANENT_REDIRECT,
        "308 Permanent Redirect\n",
        req.method(),
    );
    if let Ok(v) = HeaderValue::try_from(format!("https://{host}{port}{pq}")) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}
