//! Carries out a site's [`Policy`] around its store: the one place its
//! decisions meet I/O (the store, the password hash off the workers).
use super::{auth, cors, Action, Policy};
use crate::observe::Observer;
use ferry::{Body, ErrorKind, ServeDir, Store};
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use std::sync::Arc;

/// Answers `req` from `svc` under `policy` (the steps of [`super`]).
pub(crate) async fn serve<S: Store, B>(
    policy: &Arc<Policy>,
    svc: &ServeDir<S>,
    req: &Request<B>,
    observer: &Observer,
) -> Response<Body> {
    let method = req.method();
    let d = policy.decide(method, req.uri(), req.headers(), policy.in_maintenance());
    if let Some(group) = d.auth {
        if !authorized(policy, group, req).await {
            return unauthorized(policy, svc, req, &d.key).await;
        }
    }
    let mut res = match d.action {
        Action::Maintenance => {
            let mut res = error(policy, svc, req, StatusCode::SERVICE_UNAVAILABLE).await;
            res.headers_mut()
                .insert(header::RETRY_AFTER, policy.retry_after().clone());
            res
        }
        Action::Preflight(p) => {
            let (mut res, fields) = match p {
                cors::Preflight::Allowed(fields) => {
                    let mut res = Response::new(Body::empty());
                    *res.status_mut() = StatusCode::NO_CONTENT;
                    crate::answer::date(res.headers_mut());
                    (res, fields)
                }
                cors::Preflight::Refused(fields) => {
                    (crate::answer::text(StatusCode::FORBIDDEN, method), fields)
                }
            };
            res.headers_mut().extend(fields);
            return res;
        }
        Action::Redirect(status, location) => {
            let mut res = crate::answer::text(status, method);
            res.headers_mut().insert(header::LOCATION, location);
            res
        }
        Action::Serve(to) => {
            let served = match &to {
                None => svc.try_serve(req).await,
                Some(path) => svc.try_serve(&with_path(req, path, true)).await,
            };
            let served = match served {
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    match policy.fallback_for(method, &d.key) {
                        Some(fb) => {
                            // The fallback file under a --basic-auth glob of
                            // its own is served with that glob's credentials
                            // only (as nginx's try_files, whose last step
                            // passes the new location's access checks).
                            let group = policy.auth.users_for(&[&super::match_key(fb)]);
                            if let Some(g) = group.filter(|g| Some(*g) != d.auth) {
                                if !authorized(policy, g, req).await {
                                    return unauthorized(policy, svc, req, &d.key).await;
                                }
                            }
                            svc.try_serve(&with_path(req, fb, true)).await
                        }
                        None => Err(e),
                    }
                }
                r => r,
            };
            match served {
                Ok(res) => res,
                Err(e) => {
                    if e.status().is_server_error() {
                        observer.server_error(method, req.uri().path(), &e);
                    }
                    match policy.error_page(e.status()) {
                        Some(_) => error(policy, svc, req, e.status()).await,
                        None => e.to_response(method == Method::HEAD),
                    }
                }
            }
        }
    };
    policy.finish(req.headers(), &d.key, res.headers_mut());
    res
}

/// 401 with the challenge (RFC 7617 §2), the 401 page if configured.
async fn unauthorized<S: Store, B>(
    policy: &Arc<Policy>,
    svc: &ServeDir<S>,
    req: &Request<B>,
    key: &str,
) -> Response<Body> {
    let mut res = error(policy, svc, req, StatusCode::UNAUTHORIZED).await;
    res.headers_mut()
        .insert(header::WWW_AUTHENTICATE, auth::challenge());
    policy.finish(req.headers(), key, res.headers_mut());
    res
}

/// Whether the request's credentials pass glob `group`: remembered ones at
/// once, others hashed on the blocking pool (tens of milliseconds), no more
/// at once than there are CPUs.
async fn authorized<B>(policy: &Arc<Policy>, group: usize, req: &Request<B>) -> bool {
    let Some(creds) = auth::credentials(req.headers()) else {
        return false;
    };
    if policy.auth.remembered(group, &creds) {
        return true;
    }
    // At most one hash per CPU at a time: a flood of wrong passwords waits
    // here instead of filling the blocking pool and every core.
    static HASHING: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    let permits = HASHING.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cpus)
    });
    let Ok(_permit) = permits.acquire().await else {
        return false;
    };
    let p = policy.clone();
    tokio::task::spawn_blocking(move || p.auth.verify(group, &creds))
        .await
        .unwrap_or(false)
}

/// The answer for an error `status`: its `--error-page` file's body with the
/// error status, or ferry's short text. The page is never cached as the
/// resource (`Cache-Control: no-store`), carries none of the page file's
/// validators, and HEAD gets its head only.
async fn error<S: Store, B>(
    policy: &Policy,
    svc: &ServeDir<S>,
    req: &Request<B>,
    status: StatusCode,
) -> Response<Body> {
    let method = req.method();
    if let Some(page) = policy.error_page(status) {
        // Only what picks the page's variant: no conditions, no range (a
        // page answers an error, never a 304 or a 206 of itself).
        let mut get = with_path(req, page, false);
        if method != Method::HEAD {
            *get.method_mut() = Method::GET;
        }
        if let Some(ae) = req.headers().get(header::ACCEPT_ENCODING) {
            get.headers_mut()
                .insert(header::ACCEPT_ENCODING, ae.clone());
        }
        if let Ok(mut res) = svc.try_serve(&get).await {
            if res.status() == StatusCode::OK {
                *res.status_mut() = status;
                let h = res.headers_mut();
                for name in [header::ETAG, header::LAST_MODIFIED, header::ACCEPT_RANGES] {
                    h.remove(name);
                }
                // Choice: `no-store`, not the page file's policy: RFC 9110
                // §15.5.5 lets a 404 be cached by default, and the page must
                // never be stored as the missing resource's representation.
                h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                return res;
            }
        }
    }
    crate::answer::text(status, method)
}

/// A request for `path` with `req`'s method and (with `fields`) its header
/// fields, so conditions and ranges apply to the file served instead.
fn with_path<B>(req: &Request<B>, path: &str, fields: bool) -> Request<()> {
    let mut r = Request::new(());
    *r.method_mut() = req.method().clone();
    *r.version_mut() = req.version();
    // A root path checked at start: always a valid origin-form target.
    *r.uri_mut() = path.parse().unwrap_or_default();
    if fields {
        *r.headers_mut() = req.headers().clone();
    }
    r
}
