//! HTTPS for both commands: rustls (TLS 1.2 and 1.3, ALPN `h2` and
//! `http/1.1`), certificates from files (reloaded on SIGHUP), ACME or sites'
//! own by SNI, `--hsts`, and the `--redirect-http` listener's application.
//! The connections themselves are served by [`crate::hyper_wire`], which
//! hands HTTP/1.1 to [`crate::h1`] and HTTP/2 to [`crate::h2`] or hyper.
use crate::args::TlsArgs;
use crate::certs::Reloadable;
use crate::pipeline::{App, ReqBody};
use crate::sites::Live;
use anyhow::Context as _;
use ferry::{Body, Store};
use http::{header, HeaderValue, Request, Response, StatusCode};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The certificate resolver for `live` sites: a site's own by SNI, else
/// `fallback` (--tls-cert's, or ACME's).
pub(crate) fn by_site<S: Store>(
    live: Arc<Live<S>>,
    fallback: Option<Arc<dyn ResolvesServerCert>>,
) -> Arc<dyn ResolvesServerCert> {
    Arc::new(BySite { live, fallback })
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

/// A TLS server configuration (ring) with `resolver`'s certificates,
/// `versions`, and `alpn` in order of preference.
fn server_config(
    resolver: &Arc<dyn ResolvesServerCert>,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> anyhow::Result<rustls::ServerConfig> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .context("TLS configuration")?
    .with_no_client_auth()
    .with_cert_resolver(resolver.clone());
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// HTTPS on a listener: the certificates (files reloaded on SIGHUP, ACME, or
/// what `wrap` adds, such as sites' own), ALPN, `--redirect-http`, `--hsts`.
pub(crate) struct Https {
    acceptor: tokio_rustls::TlsAcceptor,
    /// The certificates of every handshake, over TCP and QUIC alike (so SNI
    /// sites, ACME and SIGHUP reloads apply to both).
    #[cfg_attr(not(feature = "http3"), allow(dead_code))]
    resolver: Arc<dyn ResolvesServerCert>,
    files: Option<Arc<Reloadable>>,
    acme: Option<Arc<crate::acme::Acme>>,
    redirect: Option<SocketAddr>,
    /// `--hsts`, for every HTTPS response.
    pub(crate) hsts: Option<HeaderValue>,
    /// HTTP/3 beside it (none with `--no-http3`).
    #[cfg(feature = "http3")]
    pub(crate) http3: Option<crate::quic::Http3>,
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
                    let r = Arc::new(Reloadable::new(cert, key)?);
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
        let mut config = server_config(
            &resolver,
            &[&rustls::version::TLS13, &rustls::version::TLS12],
            &[b"h2", b"http/1.1"],
        )?;
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
            resolver,
            files,
            acme,
            redirect: tls.redirect_http,
            hsts,
            #[cfg(feature = "http3")]
            http3: crate::quic::Http3::from_args(tls),
        }))
    }

    /// The TLS configuration of HTTP/3: the same certificates as over TCP,
    /// TLS 1.3 only (RFC 9001 §4.2: QUIC needs it), ALPN `h3` ([RFC 9114
    /// §3.1]), and no early data: 0-RTT requests could be replayed ([RFC 9001
    /// §9.2]), so none is accepted (rustls's `max_early_data_size` stays 0).
    ///
    /// [RFC 9114 §3.1]: https://www.rfc-editor.org/rfc/rfc9114#section-3.1
    /// [RFC 9001 §9.2]: https://www.rfc-editor.org/rfc/rfc9001#section-9.2
    #[cfg(feature = "http3")]
    pub(crate) fn quic_tls(&self) -> anyhow::Result<rustls::ServerConfig> {
        let mut config = server_config(&self.resolver, &[&rustls::version::TLS13], &[b"h3"])
            .context("for QUIC")?;
        config.max_early_data_size = 0;
        Ok(config)
    }

    /// The plain listener `--redirect-http` asks for, if any.
    pub(crate) fn redirect_addr(&self) -> Option<SocketAddr> {
        self.redirect
    }

    /// The application of the `--redirect-http` listener, which redirects to
    /// the HTTPS listener's `https_port`.
    pub(crate) fn redirect_app(&self, https_port: u16) -> Redirect {
        Redirect {
            https_port,
            acme: self.acme.clone(),
        }
    }

    /// Inside the main runtime, before serving: certificate reloads on
    /// SIGHUP, then ACME (which may take a while to reach its CA).
    pub(crate) async fn start(&self) -> anyhow::Result<()> {
        if let Some(r) = self.files.clone() {
            crate::net::on_hup(move || r.reload());
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
        stream: crate::linger::Linger,
        timeout: Duration,
    ) -> Option<(
        tokio_rustls::server::TlsStream<crate::linger::Linger>,
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

/// The HTTP version a connection speaks, as ALPN chose it.
#[derive(Clone, Copy)]
pub(crate) enum Proto {
    /// ALPN chose http/1.1 (or nothing).
    H1,
    /// ALPN chose h2.
    H2,
    /// No TLS (`--h2c`): HTTP/2 if the client sends its preface, else HTTP/1.1.
    Any,
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

/// The `--redirect-http` listener's answers: a 308 to the same path on
/// HTTPS for every request, except ACME HTTP-01 challenges (the health check
/// is the pipeline's, as on every listener).
pub(crate) struct Redirect {
    https_port: u16,
    acme: Option<Arc<crate::acme::Acme>>,
}

impl App for Redirect {
    type Conn = ();
    const READS_BODIES: bool = false;

    fn conn(&self) {}

    async fn call(&self, _: &mut (), req: &mut Request<ReqBody>, _: SocketAddr) -> Response<Body> {
        if let Some(res) = self
            .acme
            .as_ref()
            .and_then(|a| a.http01_response(req.uri().path()))
        {
            return res;
        }
        redirect(req, self.https_port)
    }
}

fn redirect(req: &Request<ReqBody>, https_port: u16) -> Response<Body> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(crate::host::strip_port)
        .filter(|h| !h.is_empty() && !h.contains(['/', '@', ' ']));
    let Some(host) = host else {
        return crate::answer::text(StatusCode::BAD_REQUEST, req.method());
    };
    let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let mut res = crate::answer::text(StatusCode::PERMANENT_REDIRECT, req.method());
    if let Ok(v) = HeaderValue::try_from(format!("https://{host}{port}{pq}")) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}
