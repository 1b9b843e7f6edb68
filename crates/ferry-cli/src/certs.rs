//! Certificates from PEM files: loaded, checked against their keys, and
//! reloaded on SIGHUP without dropping connections (a bad new pair is refused
//! and the old one stays).
use anyhow::Context as _;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// The certificate in use, swapped whole on reload.
#[derive(Debug)]
pub(crate) struct Reloadable {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Reloadable {
    pub(crate) fn load(cert: &Path, key: &Path) -> anyhow::Result<Arc<CertifiedKey>> {
        let chain = std::fs::read(cert)
            .with_context(|| format!("cannot read the certificate {}", cert.display()))?;
        let pem = std::fs::read(key)
            .with_context(|| format!("cannot read the private key {}", key.display()))?;
        certified_key(&chain, &pem)
            .with_context(|| format!("{} with {}", cert.display(), key.display()))
    }

    /// Re-reads the files; a bad new pair is refused and the old one stays.
    pub(crate) fn reload(&self) {
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

impl Reloadable {
    /// The pair at `cert` and `key`, loaded now.
    pub(crate) fn new(cert: &Path, key: &Path) -> anyhow::Result<Self> {
        Ok(Reloadable {
            current: RwLock::new(Self::load(cert, key)?),
            cert: cert.to_owned(),
            key: key.to_owned(),
        })
    }
}
