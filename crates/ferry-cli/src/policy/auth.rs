//! HTTP basic authentication ([RFC 7617]) per path glob, against bcrypt or
//! argon2 password hashes (never plaintext), with verified credentials
//! remembered for a few minutes: hashing is slow on purpose, and a browser
//! sends the same credentials with every request.
//!
//! Parsing and the decision are pure; [`BasicAuth::verify`] runs the hash (call
//! it off the async workers).
//!
//! [RFC 7617]: https://www.rfc-editor.org/rfc/rfc7617
use anyhow::{bail, Context as _};
use base64::Engine as _;
use ferry::cache::Glob;
use http::header::{self, HeaderMap, HeaderValue};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq as _;

/// How long a verified (user, password) pair is remembered.
const REMEMBER: Duration = Duration::from_secs(300);
/// Most pairs remembered per glob; past it, expired ones are dropped, then all.
const REMEMBERED: usize = 1024;

/// A password hash, checked to be one at start.
#[derive(Debug, Clone)]
enum Hash {
    /// `$2a$`, `$2b$`, `$2x$`, `$2y$`.
    Bcrypt(String),
    /// A PHC string, `$argon2id$v=19$m=…,t=…,p=…$salt$hash`.
    Argon2(String),
}

impl Hash {
    fn parse(s: &str) -> anyhow::Result<Hash> {
        if s.starts_with("$2") {
            s.parse::<bcrypt::HashParts>()
                .map_err(|e| anyhow::anyhow!("not a valid bcrypt hash: {e}"))?;
            return Ok(Hash::Bcrypt(s.to_owned()));
        }
        if s.starts_with("$argon2") {
            let h = argon2::PasswordHash::new(s)
                .map_err(|e| anyhow::anyhow!("not a valid argon2 PHC string: {e}"))?;
            argon2::Algorithm::try_from(h.algorithm)
                .map_err(|e| anyhow::anyhow!("not an argon2 algorithm: {e}"))?;
            argon2::Params::try_from(&h)
                .map_err(|e| anyhow::anyhow!("bad argon2 parameters: {e}"))?;
            return Ok(Hash::Argon2(s.to_owned()));
        }
        bail!(
            "not a bcrypt ($2b$…) or argon2 ($argon2id$…) hash: plaintext passwords are \
             refused; make a hash with `ferry hash-password`"
        )
    }

    /// What the time to verify a password depends on: the algorithm and its
    /// cost parameters (`$2b$12`, `$argon2id$v=19$m=19456,t=2,p=1`), not the
    /// salt or digest.
    fn kind(&self) -> &str {
        match self {
            // `$2b$12$` then salt and digest, without a separator.
            Hash::Bcrypt(h) => h.get(..6).unwrap_or(h),
            // The PHC string less its last two fields, salt and digest.
            Hash::Argon2(h) => h.rsplitn(3, '$').nth(2).unwrap_or(h),
        }
    }

    /// Whether `password` hashes to this hash (the crates compare the
    /// digests in constant time).
    fn verify(&self, password: &[u8]) -> bool {
        match self {
            Hash::Bcrypt(h) => bcrypt::verify(password, h).unwrap_or(false),
            Hash::Argon2(h) => {
                use argon2::PasswordVerifier as _;
                argon2::PasswordHash::new(h).is_ok_and(|parsed| {
                    argon2::Argon2::default()
                        .verify_password(password, &parsed)
                        .is_ok()
                })
            }
        }
    }
}

/// The users of one glob.
#[derive(Debug)]
pub(crate) struct Users {
    glob: Glob,
    users: Vec<(String, Hash)>,
    /// One hash of each [`Hash::kind`] among `users`: a verification runs
    /// one hash of every kind, whatever the user, so its time does not tell
    /// whether the name is known (users may have bcrypt and argon2 hashes).
    kinds: Vec<Hash>,
    /// Keyed digests of verified (user, password) pairs, and when they were
    /// verified.
    remembered: Mutex<HashMap<[u8; 32], Instant>>,
}

/// Every `--basic-auth` rule of a site, grouped by glob in first-seen order.
#[derive(Debug, Default)]
pub(crate) struct BasicAuth {
    groups: Vec<Users>,
    /// The key of the remembered pairs' digests, random per start.
    key: Option<ring::hmac::Key>,
}

impl BasicAuth {
    /// Parses `GLOB=USER:HASH` rules.
    ///
    /// # Errors
    /// A rule without `=` or `:`, an empty user or one with `:`, or a value
    /// that is no bcrypt or argon2 hash (a plaintext password).
    pub(crate) fn new(specs: &[String]) -> anyhow::Result<BasicAuth> {
        let mut groups: Vec<Users> = Vec::new();
        for spec in specs {
            let (glob, rest) = spec
                .split_once('=')
                .with_context(|| "--basic-auth: expected GLOB=USER:HASH".to_owned())?;
            let (user, hash) = rest
                .split_once(':')
                .with_context(|| format!("--basic-auth {glob}=…: expected GLOB=USER:HASH"))?;
            let user = user.trim();
            let what = || format!("--basic-auth {glob}={user}:…");
            if user.is_empty() {
                bail!("{}: empty user name", what());
            }
            let hash = Hash::parse(hash.trim()).with_context(what)?;
            let glob = Glob::new(glob.trim()).with_context(what)?;
            let g = match groups.iter().position(|g| g.glob == glob) {
                Some(i) => &mut groups[i],
                None => {
                    groups.push(Users {
                        glob,
                        users: Vec::new(),
                        kinds: Vec::new(),
                        remembered: Mutex::new(HashMap::new()),
                    });
                    groups.last_mut().expect("just pushed")
                }
            };
            if !g.kinds.iter().any(|k| k.kind() == hash.kind()) {
                g.kinds.push(hash.clone());
            }
            g.users.push((user.to_owned(), hash));
        }
        let key = if groups.is_empty() {
            None
        } else {
            Some(
                ring::hmac::Key::generate(
                    ring::hmac::HMAC_SHA256,
                    &ring::rand::SystemRandom::new(),
                )
                .map_err(|_| anyhow::anyhow!("no randomness for --basic-auth"))?,
            )
        };
        Ok(BasicAuth { groups, key })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The index of the first glob matching any of `keys` (the request's
    /// key, and the key actually served after a rewrite).
    pub(crate) fn users_for(&self, keys: &[&str]) -> Option<usize> {
        self.groups
            .iter()
            .position(|g| keys.iter().any(|k| g.glob.matches(k)))
    }

    /// The keyed digest of `creds` under which a verified pair is kept.
    fn digest(&self, creds: &Credentials) -> Option<[u8; 32]> {
        let mut ctx = ring::hmac::Context::with_key(self.key.as_ref()?);
        ctx.update(creds.user.as_bytes());
        ctx.update(&[0]);
        ctx.update(&creds.password);
        let mut d = [0u8; 32];
        d.copy_from_slice(ctx.sign().as_ref());
        Some(d)
    }

    /// Whether `creds` were verified for glob `group` in the last minutes: a
    /// digest and a map look-up, no hashing (the digest is keyed, so the
    /// look-up's timing tells nothing about a password).
    pub(crate) fn remembered(&self, group: usize, creds: &Credentials) -> bool {
        let (Some(users), Some(d)) = (self.groups.get(group), self.digest(creds)) else {
            return false;
        };
        let map = users.remembered.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&d).is_some_and(|at| at.elapsed() < REMEMBER)
    }

    /// Whether `creds` are those of a user of glob `group`, verified by
    /// hashing now (slow: call it off the async workers, after
    /// [`BasicAuth::remembered`]); a verified pair is remembered.
    pub(crate) fn verify(&self, group: usize, creds: &Credentials) -> bool {
        let (Some(users), Some(digest)) = (self.groups.get(group), self.digest(creds)) else {
            return false;
        };
        // Every user's name is compared in constant time, and one hash of
        // each kind is run whether or not the name is known (the user's own
        // for its kind), so timing tells neither.
        let mut found: Option<&Hash> = None;
        for (u, h) in &users.users {
            if bool::from(u.as_bytes().ct_eq(creds.user.as_bytes())) && found.is_none() {
                found = Some(h);
            }
        }
        let mut ok = false;
        for decoy in &users.kinds {
            match found {
                Some(h) if h.kind() == decoy.kind() => ok = h.verify(&creds.password),
                _ => {
                    let _ = decoy.verify(&creds.password);
                }
            }
        }
        if ok {
            let now = Instant::now();
            let mut map = users.remembered.lock().unwrap_or_else(|e| e.into_inner());
            if map.len() >= REMEMBERED {
                map.retain(|_, at| now.duration_since(*at) < REMEMBER);
                if map.len() >= REMEMBERED {
                    map.clear();
                }
            }
            map.insert(digest, now);
        }
        ok
    }
}

/// The user and password of an `Authorization: Basic` field.
pub(crate) struct Credentials {
    pub(crate) user: String,
    password: Vec<u8>,
}

/// The credentials of `headers`, if it has one `Authorization: Basic`
/// field with a base64 `user:password` whose user is UTF-8 (RFC 7617 §2:
/// "the user-id and password MUST NOT contain any control characters"; the
/// user-id cannot contain a colon).
pub(crate) fn credentials(headers: &HeaderMap) -> Option<Credentials> {
    let mut all = headers.get_all(header::AUTHORIZATION).iter();
    let v = all.next()?;
    if all.next().is_some() {
        return None;
    }
    let v = v.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    // RFC 9110 §11.1: the scheme is case-insensitive.
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    let at = raw.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(raw[..at].to_vec()).ok()?;
    let password = raw[at + 1..].to_vec();
    if user.chars().any(char::is_control) || password.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return None;
    }
    Some(Credentials { user, password })
}

/// The `WWW-Authenticate` of a 401 (RFC 7617 §2, §2.1: the charset
/// parameter says the server expects UTF-8).
pub(crate) fn challenge() -> HeaderValue {
    HeaderValue::from_static(r#"Basic realm="ferry", charset="UTF-8""#)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn credentials_rfc_7617_2() {
        // RFC 7617 §2's example: "Aladdin" / "open sesame".
        let c = credentials(&header("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")).unwrap();
        assert_eq!(
            (c.user.as_str(), &c.password[..]),
            ("Aladdin", &b"open sesame"[..])
        );
        let c = credentials(&header("basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")).unwrap();
        assert_eq!(c.user, "Aladdin");
        // RFC 7617 §2.1's example: "test" / "123£" in UTF-8.
        let c = credentials(&header("Basic dGVzdDoxMjPCow==")).unwrap();
        assert_eq!(
            (c.user.as_str(), &c.password[..]),
            ("test", "123£".as_bytes())
        );
        for bad in ["Bearer QWxh", "Basic !!!", "Basic QWxhZGRpbg==", "Basic"] {
            assert!(credentials(&header(bad)).is_none(), "{bad}");
        }
        assert!(credentials(&HeaderMap::new()).is_none());
    }

    #[test]
    fn plaintext_and_malformed_hashes_are_refused() {
        for bad in [
            "a/**=ann:secret",
            "a/**=ann:$2b$04$short",
            "a/**=ann:$argon2id$v=19$bad",
            "a/**=:$2b$04$ZmVycnlmZXJyeWZlcnJ5Z.4T2Xz2iy5eG9nqq8lx1mqkDR0tPWNhq",
            "a/**",
            "=ann:x",
        ] {
            assert!(BasicAuth::new(&[bad.to_string()]).is_err(), "{bad}");
        }
        let e = BasicAuth::new(&["a/**=ann:secret".into()]).unwrap_err();
        assert!(format!("{e:#}").contains("plaintext"), "{e:#}");
    }

    #[test]
    fn users_by_glob_and_verified_pairs_are_remembered() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let auth = BasicAuth::new(&[
            format!("admin/**=ann:{hash}"),
            format!("admin/**=bob:{hash}"),
            format!("**=carl:{hash}"),
        ])
        .unwrap();
        let users = auth.users_for(&["admin/x"]).unwrap();
        assert_eq!(auth.groups[users].users.len(), 2);
        assert_eq!(
            auth.groups[auth.users_for(&["x"]).unwrap()].users[0].0,
            "carl"
        );
        let creds = |u: &str, p: &str| Credentials {
            user: u.into(),
            password: p.into(),
        };
        assert!(auth.verify(users, &creds("bob", "secret")));
        assert!(!auth.verify(users, &creds("bob", "Secret")));
        assert!(
            !auth.verify(users, &creds("carl", "secret")),
            "another glob's user"
        );
        assert!(!auth.verify(users, &creds("bo", "secret")));
        assert_eq!(auth.groups[users].remembered.lock().unwrap().len(), 1);
        assert!(auth.remembered(users, &creds("bob", "secret")));
        assert!(!auth.remembered(users, &creds("ann", "secret")));
    }

    /// An unknown name costs what a known one does: one hash of each kind
    /// (algorithm and cost) the glob's users have.
    #[test]
    fn every_kind_of_hash_is_run_for_any_name() {
        let b4 = bcrypt::hash("secret", 4).unwrap();
        let b5 = bcrypt::hash("other", 5).unwrap();
        let a2 =
            super::super::password::hash(b"third", crate::args::HashAlgorithm::Argon2).unwrap();
        let auth = BasicAuth::new(&[
            format!("**= ann :{b4}"),
            format!("**=bob:{b5}"),
            format!("**=cy:{a2}"),
            format!("**=dee:{}", bcrypt::hash("x", 4).unwrap()),
        ])
        .unwrap();
        let kinds: Vec<&str> = auth.groups[0].kinds.iter().map(Hash::kind).collect();
        assert_eq!(kinds.len(), 3, "{kinds:?}");
        assert_eq!(kinds[0], "$2b$04");
        assert!(kinds[2].starts_with("$argon2id$v=19$m="), "{kinds:?}");
        let creds = |u: &str, p: &str| Credentials {
            user: u.into(),
            password: p.into(),
        };
        assert!(auth.verify(0, &creds("ann", "secret")), "names are trimmed");
        assert!(auth.verify(0, &creds("bob", "other")));
        assert!(auth.verify(0, &creds("cy", "third")));
        assert!(!auth.verify(0, &creds("cy", "secret")));
        assert!(!auth.verify(0, &creds("zed", "secret")));
    }

    #[test]
    fn argon2_hashes_verify() {
        let hash =
            super::super::password::hash(b"secret", crate::args::HashAlgorithm::Argon2).unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        let auth = BasicAuth::new(&[format!("**=ann:{hash}")]).unwrap();
        let users = auth.users_for(&["x"]).unwrap();
        let creds = |p: &str| Credentials {
            user: "ann".into(),
            password: p.into(),
        };
        assert!(auth.verify(users, &creds("secret")));
        assert!(!auth.verify(users, &creds("secreT")));
    }
}
