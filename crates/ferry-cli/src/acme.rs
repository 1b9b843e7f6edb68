//! Automatic certificates for `ferry serve` (`--acme-domain`): ACME
//! ([RFC 8555]) with the TLS-ALPN-01 ([RFC 8737]) or HTTP-01 challenge.
//!
//! One certificate covers every `--acme-domain`. It is kept in the cache
//! directory with the account, and a cached certificate for exactly these names
//! is used at start without contacting the CA until it is due for renewal
//! (30 days before expiry, or a third of its lifetime for short-lived ones).
//! Otherwise ferry checks the CA's directory (exit 2 when it cannot be
//! reached), starts listening, and obtains the certificate in the background;
//! until then handshakes fail for want of a certificate, as in Caddy.
//!
//! Choice: HTTP-01 when a `--redirect-http` listener exists (the CA connects to
//! port 80), else TLS-ALPN-01 on the HTTPS listener itself (port 443). The
//! challenge certificate is only ever chosen for a ClientHello whose ALPN list
//! is exactly `acme-tls/1`, and such a connection never reaches HTTP.
//!
//! [RFC 8555]: https://www.rfc-editor.org/rfc/rfc8555
//! [RFC 8737]: https://www.rfc-editor.org/rfc/rfc8737
mod cert;
mod client;

use crate::args::TlsArgs;
use anyhow::{bail, Context as _};
use cert::{challenge_certificate, create_private_dir, validity, write_atomic, Validity};
use client::Http;
use ferry::Body;
use http::{header, HeaderValue, Response};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

/// The ALPN protocol of TLS-ALPN-01 ([RFC 8737 §6.2]).
///
/// [RFC 8737 §6.2]: https://www.rfc-editor.org/rfc/rfc8737#section-6.2
pub(crate) const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// The least time between two issuances that succeeded.
const MIN_AFTER_ISSUE: Duration = Duration::from_secs(3600);

const DAY: Duration = Duration::from_secs(24 * 3600);
/// How often a valid certificate is looked at again.
const WAKE: Duration = Duration::from_secs(12 * 3600);
/// The whole of one issuance, from the order to the downloaded chain.
const ISSUE_TIMEOUT: Duration = Duration::from_secs(600);
/// Reaching the directory and the account at start.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The certificate manager of one `ferry serve`.
pub(crate) struct Acme {
    domains: Vec<String>,
    directory: String,
    email: Option<String>,
    /// `DIR/<ca>/`: the account, and the certificate under `<names>/`.
    ca_dir: PathBuf,
    cert_dir: PathBuf,
    http: Http,
    resolver: Arc<Resolver>,
    /// HTTP-01: token -> key authorization.
    http01: Mutex<HashMap<String, String>>,
    /// When the current certificate is due for renewal.
    renew_at: Mutex<Option<SystemTime>>,
}

/// The certificate in use, and TLS-ALPN-01 challenge certificates by name.
#[derive(Debug, Default)]
pub(crate) struct Resolver {
    current: RwLock<Option<Arc<CertifiedKey>>>,
    challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // RFC 8737 §3: the challenge certificate answers a ClientHello that
        // offers `acme-tls/1` alone; anything else gets the real certificate.
        let challenge = hello
            .alpn()
            .map(|mut p| p.next() == Some(ACME_TLS_ALPN) && p.next().is_none())
            .unwrap_or(false);
        if challenge {
            let name = hello.server_name()?.to_ascii_lowercase();
            return read(&self.challenges).get(&name).cloned();
        }
        read(&self.current).clone()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `--acme-cache`, or `$STATE_DIRECTORY/acme` (systemd's `StateDirectory=`),
/// or `./ferry-acme`.
fn cache_dir(tls: &TlsArgs) -> PathBuf {
    if let Some(d) = &tls.acme_cache {
        return d.clone();
    }
    match std::env::var_os("STATE_DIRECTORY") {
        // systemd separates several state directories with `:`.
        Some(s) if !s.is_empty() => {
            let s = s.to_string_lossy();
            Path::new(s.split(':').next().unwrap_or(&s)).join("acme")
        }
        _ => PathBuf::from("ferry-acme"),
    }
}

/// Lower-cased, sorted, deduplicated DNS names; IP addresses and wildcards
/// are refused (they need challenges ferry does not answer).
fn domains(tls: &TlsArgs) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for d in &tls.acme_domain {
        let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
        if d.starts_with("*.") {
            bail!("--acme-domain {d}: wildcard names need the DNS-01 challenge, which ferry does not answer");
        }
        if d.parse::<std::net::IpAddr>().is_ok() {
            bail!("--acme-domain {d}: ferry obtains certificates for DNS names, not IP addresses");
        }
        rustls_pki_types::DnsName::try_from(d.as_str())
            .map_err(|_| anyhow::anyhow!("--acme-domain {d:?} is not a DNS name"))?;
        out.push(d);
    }
    out.sort();
    out.dedup();
    if out.is_empty() {
        bail!("--acme-domain is empty");
    }
    Ok(out)
}

/// `--acme-directory`, checked: instant-acme panics on a URL that does not parse.
fn directory_url(tls: &TlsArgs) -> anyhow::Result<String> {
    let url = tls.acme_directory.trim();
    let uri: http::Uri = url
        .parse()
        .with_context(|| format!("--acme-directory {url:?} is not a URL"))?;
    if uri.scheme_str() != Some("https") || uri.host().is_none() {
        bail!("--acme-directory {url:?}: expected an https:// URL (RFC 8555 §6.1)");
    }
    Ok(url.to_owned())
}

/// A file or directory name for a directory URL: `127.0.0.1_14000_dir`.
fn slug(s: &str) -> String {
    let s = s
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_matches(['_', '.'])
        .to_owned()
}

/// What `ferry check-config` checks: the names, the cache directory can be
/// created and written, and `--acme-ca-root` parses.
pub(crate) fn check(tls: &TlsArgs) -> anyhow::Result<()> {
    domains(tls)?;
    directory_url(tls)?;
    let dir = cache_dir(tls);
    create_private_dir(&dir)?;
    let probe = dir.join(format!(".check{}", std::process::id()));
    write_atomic(&probe, b"", 0o600)
        .with_context(|| format!("the ACME cache {} is not writable", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Http::new(tls.acme_ca_root.as_deref())?;
    Ok(())
}

impl Acme {
    /// The manager for `tls`, or `None` without `--acme-domain`. Creates the
    /// cache directory and installs a cached certificate that has not expired.
    pub(crate) fn from_args(tls: &TlsArgs) -> anyhow::Result<Option<Arc<Acme>>> {
        if tls.acme_domain.is_empty() {
            return Ok(None);
        }
        let domains = domains(tls)?;
        let directory = directory_url(tls)?;
        let ca_dir = cache_dir(tls).join(slug(&directory));
        let cert_dir = ca_dir.join(domains.join("+"));
        create_private_dir(&cert_dir)?;
        let acme = Arc::new(Acme {
            domains,
            email: tls.acme_email.clone(),
            http: Http::new(tls.acme_ca_root.as_deref())?,
            directory,
            ca_dir,
            cert_dir,
            resolver: Arc::default(),
            http01: Mutex::default(),
            renew_at: Mutex::default(),
        });
        acme.load_cached();
        Ok(Some(acme))
    }

    /// The resolver for the TLS listener.
    pub(crate) fn resolver(&self) -> Arc<Resolver> {
        self.resolver.clone()
    }

    fn names(&self) -> String {
        self.domains.join(", ")
    }

    fn load_cached(&self) {
        let (cert, key) = (
            self.cert_dir.join("cert.pem"),
            self.cert_dir.join("key.pem"),
        );
        if !cert.exists() {
            return;
        }
        let loaded = (|| {
            let chain = std::fs::read(&cert)?;
            let ck = crate::certs::certified_key(&chain, &std::fs::read(&key)?)?;
            let v = validity(ck.end_entity_cert()?, &self.domains)?;
            Ok::<_, anyhow::Error>((ck, v))
        })();
        match loaded {
            Ok((_, v)) if v.not_after <= SystemTime::now() => {
                eprintln!(
                    "ferry: ACME: the cached certificate {} expired on {}",
                    cert.display(),
                    v.not_after_text
                );
            }
            Ok((ck, v)) => {
                eprintln!(
                    "ferry: ACME: using the cached certificate {} (valid until {})",
                    cert.display(),
                    v.not_after_text
                );
                *write(&self.resolver.current) = Some(ck);
                *lock(&self.renew_at) = Some(v.renew_at);
            }
            Err(e) => eprintln!(
                "ferry: ACME: ignoring the cached certificate {}: {e:#}",
                cert.display()
            ),
        }
    }

    /// Starts the renewal task. Without a usable certificate, first reaches
    /// the CA's directory and the account, so a wrong `--acme-directory` fails
    /// at start. `http01`: a plain listener exists for HTTP-01.
    pub(crate) async fn start(self: &Arc<Self>, http01: bool) -> anyhow::Result<()> {
        let account = if read(&self.resolver.current).is_none() {
            let account = tokio::time::timeout(START_TIMEOUT, self.account())
                .await
                .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer in {START_TIMEOUT:?}")))
                .with_context(|| format!("cannot use the ACME directory {}", self.directory))?;
            Some(account)
        } else {
            None
        };
        tokio::spawn(self.clone().maintain(account, http01));
        Ok(())
    }

    /// The account of the cache directory, or a new one saved there.
    async fn account(&self) -> anyhow::Result<Account> {
        let file = self.ca_dir.join("account.json");
        if let Ok(text) = tokio::fs::read(&file).await {
            match serde_json::from_slice::<AccountCredentials>(&text) {
                Ok(creds) => {
                    return Ok(Account::builder_with_http(Box::new(self.http.clone()))
                        .from_credentials(creds)
                        .await?)
                }
                Err(e) => eprintln!(
                    "ferry: ACME: {} is not an account ({e}); creating a new one",
                    file.display()
                ),
            }
        }
        let contact = self.email.as_ref().map(|e| format!("mailto:{e}"));
        let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
        let (account, creds) = Account::builder_with_http(Box::new(self.http.clone()))
            .create(
                &NewAccount {
                    contact: &contact,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                self.directory.clone(),
                None,
            )
            .await?;
        let json = serde_json::to_vec_pretty(&creds)?;
        tokio::task::spawn_blocking(move || write_atomic(&file, &json, 0o600)).await??;
        Ok(account)
    }

    /// Obtains and renews the certificate for as long as ferry runs.
    async fn maintain(self: Arc<Self>, mut account: Option<Account>, http01: bool) {
        let mut failures = 0u32;
        loop {
            let due = lock(&self.renew_at).is_none_or(|t| SystemTime::now() >= t);
            let mut obtained = false;
            if due {
                // Each attempt in its own task: a panic in the ACME client on a
                // strange CA answer is a failed attempt, not the end of renewals.
                let (me, mut acct) = (self.clone(), account.take());
                let attempt = tokio::spawn(async move {
                    let r = tokio::time::timeout(ISSUE_TIMEOUT, me.obtain(&mut acct, http01))
                        .await
                        .unwrap_or_else(|_| {
                            Err(anyhow::anyhow!("no certificate in {ISSUE_TIMEOUT:?}"))
                        });
                    (r, acct)
                })
                .await;
                let attempt = match attempt {
                    Ok((r, acct)) => {
                        account = acct;
                        r
                    }
                    Err(e) => Err(anyhow::anyhow!("the ACME client failed: {e}")),
                };
                match attempt {
                    Ok(v) => {
                        failures = 0;
                        obtained = true;
                        eprintln!(
                            "ferry: ACME: certificate for {} obtained from {} (valid until {})",
                            self.names(),
                            self.directory,
                            v.not_after_text
                        );
                    }
                    Err(e) => {
                        failures += 1;
                        account = None; // Re-read it: the CA may have changed.
                        if problem_type(&e)
                            == Some("urn:ietf:params:acme:error:accountDoesNotExist")
                        {
                            // The CA forgot the account (a test CA restarted):
                            // the next try registers a new one.
                            let _ = std::fs::remove_file(self.ca_dir.join("account.json"));
                        }
                        // 5, 10, 20… minutes: within Let's Encrypt's limit of
                        // 5 failed validations per hour.
                        let wait = Duration::from_secs(300 << (failures - 1).min(7)).min(WAKE);
                        eprintln!(
                            "ferry: ACME: cannot obtain a certificate for {} from {}: {}",
                            self.names(),
                            self.directory,
                            describe(&e)
                        );
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                }
            }
            let until = lock(&self.renew_at)
                .and_then(|t| t.duration_since(SystemTime::now()).ok())
                .unwrap_or_default();
            // A certificate due for renewal as soon as it arrives (a skewed
            // clock, a very short-lived certificate) must not loop issuance.
            let until = if obtained {
                until.max(MIN_AFTER_ISSUE)
            } else {
                until
            };
            tokio::time::sleep(until.min(WAKE)).await;
        }
    }

    /// One issuance: order, challenges, finalize, download, save, install.
    async fn obtain(
        &self,
        account: &mut Option<Account>,
        http01: bool,
    ) -> anyhow::Result<Validity> {
        let account = match account {
            Some(a) => a,
            None => account.insert(self.account().await?),
        };
        // Left over if a timed-out attempt was dropped.
        lock(&self.http01).clear();
        write(&self.resolver.challenges).clear();
        let ids: Vec<Identifier> = self.domains.iter().cloned().map(Identifier::Dns).collect();
        let mut order = account.new_order(&NewOrder::new(&ids)).await?;
        let result = self.authorize_and_finalize(&mut order, http01).await;
        // Challenges are answered only while their order is in progress.
        lock(&self.http01).clear();
        write(&self.resolver.challenges).clear();
        let (chain, key) = result?;
        let ck = crate::certs::certified_key(chain.as_bytes(), key.as_bytes())
            .context("the CA's certificate cannot be used")?;
        let v = validity(ck.end_entity_cert()?, &self.domains)
            .context("the CA's certificate cannot be used")?;
        let dir = self.cert_dir.clone();
        tokio::task::spawn_blocking(move || {
            write_atomic(&dir.join("key.pem"), key.as_bytes(), 0o600)?;
            write_atomic(&dir.join("cert.pem"), chain.as_bytes(), 0o644)
        })
        .await??;
        *write(&self.resolver.current) = Some(ck);
        *lock(&self.renew_at) = Some(v.renew_at);
        Ok(v)
    }

    /// Answers the order's challenges and returns the PEM chain and key.
    async fn authorize_and_finalize(
        &self,
        order: &mut instant_acme::Order,
        http01: bool,
    ) -> anyhow::Result<(String, String)> {
        let mut authzs = order.authorizations();
        while let Some(authz) = authzs.next().await {
            let mut authz = authz?;
            if authz.status == AuthorizationStatus::Valid {
                continue;
            }
            let name = authz.identifier().to_string();
            let offered = |t: &ChallengeType| authz.challenges.iter().any(|c| c.r#type == *t);
            let kind = if http01 && offered(&ChallengeType::Http01) {
                ChallengeType::Http01
            } else if offered(&ChallengeType::TlsAlpn01) {
                ChallengeType::TlsAlpn01
            } else {
                bail!(
                    "the CA offers {name} neither tls-alpn-01 nor http-01 (with --redirect-http)"
                );
            };
            let mut challenge = authz
                .challenge(kind.clone())
                .expect("the challenge type was just found");
            let key_auth = challenge.key_authorization();
            eprintln!(
                "ferry: ACME: answering the {} challenge for {name}",
                kind_name(&kind)
            );
            match kind {
                ChallengeType::Http01 => {
                    lock(&self.http01)
                        .insert(challenge.token.clone(), key_auth.as_str().to_owned());
                }
                _ => {
                    let cert = challenge_certificate(&name, key_auth.digest().as_ref())?;
                    write(&self.resolver.challenges).insert(name.to_ascii_lowercase(), cert);
                }
            }
            challenge.set_ready().await?;
        }
        let status = order
            .poll_ready(&RetryPolicy::new().timeout(Duration::from_secs(120)))
            .await?;
        if status != OrderStatus::Ready {
            bail!(
                "the order is {status:?}: {}",
                failed_challenges(order).await
            );
        }
        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(self.domains.clone())?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        let csr = params.serialize_request(&key)?;
        order.finalize_csr(csr.der()).await?;
        let chain = order
            .poll_certificate(&RetryPolicy::new().timeout(Duration::from_secs(120)))
            .await?;
        Ok((chain, key.serialize_pem()))
    }

    /// HTTP-01 ([RFC 8555 §8.3]): the key authorization at
    /// `/.well-known/acme-challenge/TOKEN` on the plain listener.
    ///
    /// [RFC 8555 §8.3]: https://www.rfc-editor.org/rfc/rfc8555#section-8.3
    pub(crate) fn http01_response(&self, path: &str) -> Option<Response<Body>> {
        let token = path.strip_prefix("/.well-known/acme-challenge/")?;
        let key_auth = lock(&self.http01).get(token)?.clone();
        let mut res = Response::new(Body::from(key_auth));
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        Some(res)
    }
}

fn kind_name(kind: &ChallengeType) -> &'static str {
    match kind {
        ChallengeType::Http01 => "http-01",
        ChallengeType::TlsAlpn01 => "tls-alpn-01",
        _ => "other",
    }
}

/// The problem details of an invalid order's failed challenges.
async fn failed_challenges(order: &mut instant_acme::Order) -> String {
    let mut out = Vec::new();
    let mut authzs = order.authorizations();
    while let Some(Ok(mut authz)) = authzs.next().await {
        if authz.refresh().await.is_err() {
            continue;
        }
        for c in &authz.challenges {
            if let Some(p) = &c.error {
                out.push(problem(p));
            }
        }
    }
    if out.is_empty() {
        "no reason given".to_owned()
    } else {
        out.join("; ")
    }
}

/// An error chain as `{:#}` shows it, with the CA's problem documents as
/// "detail (type)" rather than "API error: detail (type)".
fn describe(e: &anyhow::Error) -> String {
    e.chain()
        .map(|c| match c.downcast_ref::<instant_acme::Error>() {
            Some(instant_acme::Error::Api(p)) => problem(p),
            _ => c.to_string(),
        })
        .collect::<Vec<_>>()
        .join(": ")
}

/// The type of the CA's problem document in `e`, if it has one.
fn problem_type(e: &anyhow::Error) -> Option<&str> {
    e.chain()
        .find_map(|c| match c.downcast_ref::<instant_acme::Error>() {
            Some(instant_acme::Error::Api(p)) => p.r#type.as_deref(),
            _ => None,
        })
}

fn problem(p: &instant_acme::Problem) -> String {
    match (&p.detail, &p.r#type) {
        (Some(d), Some(t)) => format!("{d} ({t})"),
        (Some(d), None) => d.clone(),
        _ => p.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_urls_become_file_names() {
        assert_eq!(
            slug("https://acme-v02.api.letsencrypt.org/directory"),
            "acme-v02.api.letsencrypt.org_directory"
        );
        assert_eq!(slug("https://127.0.0.1:14000/dir"), "127.0.0.1_14000_dir");
    }
}
