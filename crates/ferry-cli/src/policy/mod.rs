//! A site's policy around the file store: maintenance (503), CORS
//! preflights, basic auth, redirects and rewrites before the store is asked;
//! the SPA fallback and error pages after it answers; header rules and CORS
//! fields on every answer.
//!
//! [`Policy::decide`] and the other methods here are pure decisions over the
//! method, the path and the header fields; [`apply::serve`] carries them out
//! for `ferry serve`'s sites, on every transport (it is called from the one
//! pipeline's app, [`crate::sites::SitesApp`]). The order, each step's
//! reason:
//!
//! 1. maintenance: nothing else is answered while it is on;
//! 2. a CORS preflight: browsers send it without credentials (Fetch §3.2.2),
//!    so it is answered before basic auth, and only from the CORS settings;
//! 3. basic auth, on the request's path and on the path a rewrite serves;
//! 4. a redirect, or a rewrite, then the store;
//! 5. a missing path: the fallback file (GET/HEAD, not a dotfile or
//!    `/.well-known/` path, by `--fallback-on`);
//! 6. an error (400, 401, 403, 404, 5xx; never 304, 412 or 416, which are
//!    answers to the request's own conditions): its page, if configured.
use crate::args::{FallbackOn, SiteArgs};
use anyhow::{bail, Context as _};
use ferry::store::{Hidden, Key};
use http::header::{HeaderMap, HeaderValue};
use http::{Method, StatusCode, Uri};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

pub(crate) mod apply;
pub(crate) mod auth;
pub(crate) mod cors;
pub(crate) mod password;
pub(crate) mod rules;

/// One site's policy, validated from its flags.
#[derive(Debug)]
pub(crate) struct Policy {
    fallback: Option<(String, FallbackOn)>,
    /// (first code, last code, page path).
    error_pages: Vec<(u16, u16, String)>,
    header_rules: Vec<rules::HeaderRule>,
    redirects: Vec<rules::Redirect>,
    rewrites: Vec<rules::Rewrite>,
    cors: Option<cors::Cors>,
    pub(crate) auth: auth::BasicAuth,
    maintenance: Maintenance,
}

/// What to do with a request before the store is asked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// 503 with Retry-After.
    Maintenance,
    /// A CORS preflight's answer.
    Preflight(cors::Preflight),
    Redirect(StatusCode, HeaderValue),
    /// Serve the request's path, or (a rewrite) this one.
    Serve(Option<String>),
}

/// [`Policy::decide`]'s answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    /// Credentials to check first: the index of the `--basic-auth` glob.
    pub(crate) auth: Option<usize>,
    pub(crate) action: Action,
    /// The request's key, as rules match it (`admin/` for a directory).
    pub(crate) key: String,
}

/// `--maintenance`, `--maintenance-file`, `--maintenance-retry-after`.
#[derive(Debug)]
struct Maintenance {
    on: bool,
    file: Option<PathBuf>,
    retry_after: HeaderValue,
    start: Instant,
    /// Milliseconds after `start` of the file's last check, plus one.
    checked: AtomicU64,
    present: AtomicBool,
}

impl Maintenance {
    /// Whether maintenance is on: the flag, or the file's presence, looked
    /// at no more than once a second (a `stat`, so cheap even then).
    fn is_on(&self) -> bool {
        if self.on {
            return true;
        }
        let Some(file) = &self.file else {
            return false;
        };
        let now = self.start.elapsed().as_millis() as u64 + 1;
        let last = self.checked.load(Ordering::Relaxed);
        if last == 0 || now.saturating_sub(last) >= 1000 {
            self.checked.store(now, Ordering::Relaxed);
            self.present.store(file.exists(), Ordering::Relaxed);
        }
        self.present.load(Ordering::Relaxed)
    }
}

/// A file of the root named by a flag (`/index.html`): its path, checked to
/// be one a request could name.
pub(crate) fn root_path(p: &str) -> anyhow::Result<String> {
    if !p.starts_with('/') {
        bail!("{p:?} must be a path from the root, starting with /");
    }
    let target = p.parse::<http::uri::PathAndQuery>().ok();
    if target.as_ref().map(|t| t.path()) != Some(p) {
        bail!("{p:?} is not a URL path (percent-encode spaces and the like; no query)");
    }
    match Key::from_uri_path(p, Hidden::Allow) {
        Ok(k) if !k.is_dir() && !k.as_str().is_empty() => Ok(p.to_owned()),
        _ => bail!("{p:?} is not the path of a file"),
    }
}

/// The key rules match: the store's key (percent-decoded, dot segments
/// resolved), with a trailing `/` for a directory, so `admin/**` covers
/// `/admin/`; for a path that can never name a file (the store answers 400
/// or 404 anyway), the path without its leading `/`.
pub(crate) fn match_key(path: &str) -> String {
    match Key::from_uri_path(path, Hidden::Allow) {
        Ok(k) if k.is_dir() && !k.as_str().is_empty() => format!("{}/", k.as_str()),
        Ok(k) => k.as_str().to_owned(),
        Err(_) => path.trim_start_matches('/').to_owned(),
    }
}

impl Policy {
    /// The policy of `a`; `None` when it sets nothing (the site is served as
    /// before, without a step more).
    ///
    /// # Errors
    /// Any rule that does not parse, names a forbidden field, a bad status
    /// or code, or a plaintext password.
    pub(crate) fn new(a: &SiteArgs) -> anyhow::Result<Option<Policy>> {
        let fallback = match &a.fallback {
            Some(p) => Some((root_path(p.trim()).context("--fallback")?, a.fallback_on)),
            None => None,
        };
        let mut error_pages = Vec::new();
        for spec in &a.error_pages {
            let (code, path) = spec
                .split_once('=')
                .with_context(|| format!("--error-page {spec:?}: expected CODE=PATH"))?;
            let (lo, hi) = match code.trim() {
                "5xx" | "5XX" => (500, 599),
                c => {
                    let n: u16 = c.parse().ok().with_context(|| {
                        format!("--error-page {spec:?}: {c:?} is not a status code")
                    })?;
                    (n, n)
                }
            };
            let ok = |n: u16| matches!(n, 400 | 401 | 403 | 404 | 500..=599);
            if !ok(lo) || !ok(hi) {
                bail!(
                    "--error-page {spec:?}: pages are for 400, 401, 403, 404 and 5xx \
                     (never for 304, 412 or 416: they answer the request's own conditions)"
                );
            }
            let path = root_path(path.trim()).with_context(|| format!("--error-page {spec:?}"))?;
            error_pages.push((lo, hi, path));
        }
        let policy = Policy {
            fallback,
            error_pages,
            header_rules: a
                .header_rules
                .iter()
                .map(|s| rules::parse_header_rule(s))
                .collect::<anyhow::Result<_>>()?,
            redirects: a
                .redirects
                .iter()
                .map(|s| rules::parse_redirect(s))
                .collect::<anyhow::Result<_>>()?,
            rewrites: a
                .rewrites
                .iter()
                .map(|s| rules::parse_rewrite(s))
                .collect::<anyhow::Result<_>>()?,
            cors: cors::Cors::new(
                &a.cors_allow_origin,
                &a.cors_allow_methods,
                &a.cors_allow_headers,
                a.cors_max_age,
            )?,
            auth: auth::BasicAuth::new(&a.basic_auth)?,
            maintenance: Maintenance {
                on: a.maintenance,
                file: a.maintenance_file.clone(),
                retry_after: HeaderValue::from(a.maintenance_retry_after),
                start: Instant::now(),
                checked: AtomicU64::new(0),
                present: AtomicBool::new(false),
            },
        };
        let empty = policy.fallback.is_none()
            && policy.error_pages.is_empty()
            && policy.header_rules.is_empty()
            && policy.redirects.is_empty()
            && policy.rewrites.is_empty()
            && policy.cors.is_none()
            && policy.auth.is_empty()
            && !policy.maintenance.on
            && policy.maintenance.file.is_none();
        Ok((!empty).then_some(policy))
    }

    /// Checks that the files the policy names (fallback, error pages,
    /// rewrite targets) are files the store will serve from `root`, so a
    /// typo fails at start rather than on the first 404.
    ///
    /// # Errors
    /// A named file that is not a regular file under `root`, or a hidden
    /// name the site does not serve.
    pub(crate) fn check_files(&self, root: &Path, hidden: Hidden) -> anyhow::Result<()> {
        let named = self
            .fallback
            .iter()
            .map(|(p, _)| ("--fallback", p))
            .chain(self.error_pages.iter().map(|(_, _, p)| ("--error-page", p)))
            .chain(self.rewrites.iter().map(|r| ("--rewrite", &r.to)));
        for (flag, p) in named {
            // The store's key: percent-decoded, as a request for it is.
            let Ok(key) = Key::from_uri_path(p, hidden) else {
                bail!("{flag} {p}: a hidden name, not served without --show-hidden");
            };
            let file = root.join(key.as_str());
            if !file.is_file() {
                bail!("{flag} {p}: {} is not a file", file.display());
            }
        }
        Ok(())
    }

    /// Whether maintenance is on now.
    pub(crate) fn in_maintenance(&self) -> bool {
        self.maintenance.is_on()
    }

    /// The `Retry-After` of the maintenance 503 (RFC 9110 §10.2.3).
    pub(crate) fn retry_after(&self) -> &HeaderValue {
        &self.maintenance.retry_after
    }

    /// What to do with a request before the store is asked (steps 1–4 of
    /// the module's order).
    pub(crate) fn decide(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        maintenance: bool,
    ) -> Decision {
        let key = match_key(uri.path());
        let answer = |action| Decision {
            auth: None,
            action,
            key: key.clone(),
        };
        if maintenance {
            return answer(Action::Maintenance);
        }
        if let Some(c) = &self.cors {
            if cors::Cors::is_preflight(method, headers) {
                return answer(Action::Preflight(c.preflight(headers)));
            }
        }
        // Choice: credentials are asked before a redirect is given, so a
        // protected area's redirect targets are not shown to strangers (as
        // Caddy's basic_auth, which runs before redir).
        let action = match rules::redirect(&self.redirects, &key, uri.path(), uri.query()) {
            Some((status, location)) => Action::Redirect(status, location),
            None => Action::Serve(rules::rewrite(&self.rewrites, &key).map(str::to_owned)),
        };
        let auth = match &action {
            Action::Serve(Some(to)) => self.auth.users_for(&[&key, &match_key(to)]),
            _ => self.auth.users_for(&[&key]),
        };
        Decision { auth, action, key }
    }

    /// The file to serve instead of a missing `key`, if any (step 5).
    pub(crate) fn fallback_for(&self, method: &Method, key: &str) -> Option<&str> {
        let (path, on) = self.fallback.as_ref()?;
        if method != Method::GET && method != Method::HEAD {
            return None;
        }
        // Dotfile rules unchanged: a hidden name, or /.well-known/ (RFC 8615,
        // whose clients want its real answers), stays 404.
        if key.split('/').any(|s| s.starts_with('.')) {
            return None;
        }
        let last = key.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        match on {
            FallbackOn::Any => Some(path),
            FallbackOn::NoExtension if !last.contains('.') => Some(path),
            FallbackOn::NoExtension => None,
        }
    }

    /// The page for an error status, if one is configured (step 6).
    pub(crate) fn error_page(&self, status: StatusCode) -> Option<&str> {
        let n = status.as_u16();
        self.error_pages
            .iter()
            .find(|(lo, hi, _)| (*lo..=*hi).contains(&n))
            .map(|(_, _, p)| p.as_str())
    }

    /// The header rules for `key` and the CORS fields, on every answer but a
    /// preflight's.
    pub(crate) fn finish(&self, req: &HeaderMap, key: &str, res: &mut HeaderMap) {
        rules::apply_headers(&self.header_rules, key, res);
        if let Some(c) = &self.cors {
            c.respond(req, res);
        }
    }
}

#[cfg(test)]
mod tests;
