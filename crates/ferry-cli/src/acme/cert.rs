//! The certificate files of the ACME cache and the certificates rustls
//! serves: reading validity and names (x509-parser), the TLS-ALPN-01
//! challenge certificate (rcgen), and writing
//! files whole or not at all.
use super::DAY;
use anyhow::{bail, Context as _};
use rustls::sign::CertifiedKey;
use rustls_pki_types::PrivateKeyDer;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Creates `dir` and its missing parents with mode 0700.
pub(super) fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the ACME cache {}", dir.display()))
}

/// Writes `path` whole or not at all: a temporary file, fsync, rename.
pub(super) fn write_atomic(path: &Path, data: &[u8], mode: u32) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok::<_, std::io::Error>(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// The validity of a certificate, and whether it names exactly `domains`.
pub(super) struct Validity {
    pub(super) not_after: SystemTime,
    pub(super) renew_at: SystemTime,
    pub(super) not_after_text: String,
}

/// Reads notAfter and the DNS names of `der` (x509-parser).
pub(super) fn validity(der: &[u8], domains: &[String]) -> anyhow::Result<Validity> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| anyhow::anyhow!("not an X.509 certificate: {e}"))?;
    let mut names: Vec<String> = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    names.sort();
    names.dedup();
    if names != domains {
        bail!("it names {names:?}, not {domains:?}");
    }
    let at = |t: i64| SystemTime::UNIX_EPOCH + Duration::from_secs(t.max(0).unsigned_abs());
    let v = cert.validity();
    let (not_before, not_after) = (at(v.not_before.timestamp()), at(v.not_after.timestamp()));
    let lifetime = not_after.duration_since(not_before).unwrap_or_default();
    // Renew 30 days before expiry; a short-lived certificate at a third of its
    // lifetime before expiry.
    let window = (30 * DAY).min(lifetime / 3);
    Ok(Validity {
        not_after,
        renew_at: not_after - window,
        not_after_text: v.not_after.to_string(),
    })
}

/// The self-signed TLS-ALPN-01 certificate for `name` ([RFC 8737 §3]): the
/// name as its only SAN and the SHA-256 of the key authorization in a
/// critical acmeIdentifier extension.
///
/// [RFC 8737 §3]: https://www.rfc-editor.org/rfc/rfc8737#section-3
pub(super) fn challenge_certificate(
    name: &str,
    digest: &[u8],
) -> anyhow::Result<Arc<CertifiedKey>> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(vec![name.to_owned()])?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let cert = params.self_signed(&key)?;
    // Not `certified_key`: webpki refuses to parse a certificate with this
    // critical extension, so `keys_match` cannot check this one.
    let signing = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .context("the challenge key")?;
    Ok(Arc::new(CertifiedKey::new(
        vec![cert.der().clone()],
        signing,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn renewal_window_is_30_days_or_a_third_of_the_lifetime() {
        let key = rcgen::KeyPair::generate().unwrap();
        for (days, window) in [(90, 30), (6, 2), (365, 30)] {
            let mut p = rcgen::CertificateParams::new(vec!["a.test".to_owned()]).unwrap();
            p.not_before = rcgen::date_time_ymd(2030, 1, 1);
            p.not_after = p.not_before + time::Duration::days(days);
            let cert = p.self_signed(&key).unwrap();
            let v = validity(cert.der(), &["a.test".to_owned()]).unwrap();
            assert_eq!(
                v.not_after.duration_since(v.renew_at).unwrap(),
                window * DAY,
                "{days}"
            );
        }
    }

    #[test]
    fn a_certificate_for_other_names_is_not_used() {
        let key = rcgen::KeyPair::generate().unwrap();
        let p =
            rcgen::CertificateParams::new(vec!["a.test".to_owned(), "b.test".to_owned()]).unwrap();
        let cert = p.self_signed(&key).unwrap();
        assert!(validity(cert.der(), &["a.test".to_owned()]).is_err());
        assert!(validity(cert.der(), &["a.test".to_owned(), "b.test".to_owned()]).is_ok());
    }
}
