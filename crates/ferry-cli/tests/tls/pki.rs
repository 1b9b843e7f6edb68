//! Certificates made by the test with rcgen (ring): a root CA, an
//! intermediate, and server leaves for `localhost` and 127.0.0.1.
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use std::path::{Path, PathBuf};

/// A certificate authority: a root, or an intermediate signed by one.
pub(crate) struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate with its private key.
pub(crate) struct Leaf {
    pub(crate) der: CertificateDer<'static>,
    pub(crate) pem: String,
    pub(crate) key_pem: String,
}

fn ca_params(name: &str, constraints: BasicConstraints) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name.remove(DnType::CommonName);
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(constraints);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

impl Ca {
    pub(crate) fn root(name: &str) -> Ca {
        let params = ca_params(name, BasicConstraints::Unconstrained);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Ca { issuer }
    }

    /// An intermediate CA signed by this one (it may sign leaves only).
    pub(crate) fn intermediate(&self, name: &str) -> Ca {
        let params = ca_params(name, BasicConstraints::Constrained(0));
        let issuer =
            CertifiedIssuer::signed_by(params, KeyPair::generate().unwrap(), &self.issuer).unwrap();
        Ca { issuer }
    }

    pub(crate) fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    pub(crate) fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf for `localhost` and 127.0.0.1 with its own key, subject CN `cn`
    /// and serial number `serial`.
    pub(crate) fn leaf(&self, cn: &str, serial: u64) -> Leaf {
        self.leaf_for(&["localhost", "127.0.0.1"], cn, serial)
    }

    /// A leaf for `names`.
    pub(crate) fn leaf_for(&self, names: &[&str], cn: &str, serial: u64) -> Leaf {
        let mut p = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.distinguished_name.remove(DnType::CommonName);
        p.distinguished_name.push(DnType::CommonName, cn);
        p.serial_number = Some(SerialNumber::from(serial));
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            der: cert.der().clone(),
            pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// Writes `DIR/NAME.pem` (the leaf, then `chain`'s certificates) and
/// `DIR/NAME.key`; returns both paths.
pub(crate) fn write_pair(dir: &Path, name: &str, leaf: &Leaf, chain: &[&Ca]) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    let mut pem = leaf.pem.clone();
    for ca in chain {
        pem.push_str(&ca.pem());
    }
    std::fs::write(&cert, pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    (cert, key)
}
