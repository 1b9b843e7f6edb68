//! The HTTPS client that instant-acme talks to the CA with.
use anyhow::{bail, Context as _};
use bytes::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::CertificateDer;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The HTTPS client that talks to the CA: hyper-rustls with ring, trusting
/// the system's roots and `--acme-ca-root`.
#[derive(Clone)]
pub(super) struct Http(
    hyper_util::client::legacy::Client<
        hyper_rustls::HttpsConnector<HttpConnector>,
        BodyWrapper<Bytes>,
    >,
);

impl Http {
    pub(super) fn new(ca_root: Option<&Path>) -> anyhow::Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        if let Some(pem) = ca_root {
            let mut n = 0;
            for c in CertificateDer::pem_file_iter(pem)
                .with_context(|| format!("cannot read --acme-ca-root {}", pem.display()))?
            {
                let c = c.with_context(|| {
                    format!("--acme-ca-root {}: not a PEM certificate", pem.display())
                })?;
                roots.add(c).with_context(|| {
                    format!("--acme-ca-root {}: not a usable root", pem.display())
                })?;
                n += 1;
            }
            if n == 0 {
                bail!("--acme-ca-root {}: no certificate in it", pem.display());
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .context("TLS configuration")?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut connector = HttpConnector::new();
        connector.enforce_http(false);
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_only()
            .enable_http1()
            .enable_http2()
            .wrap_connector(connector);
        Ok(Http(
            hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(https),
        ))
    }
}

impl HttpClient for Http {
    fn request(
        &self,
        req: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let fut = self.0.request(req);
        Box::pin(async move {
            fut.await
                .map(BytesResponse::from)
                .map_err(|e| instant_acme::Error::Other(Box::new(e)))
        })
    }
}
