//! Several sites on one listener, chosen by the request's host (RFC 9110
//! §7.2), swapped whole when SIGHUP reloads the configuration.
//!
//! A request for a host no site names goes to the default site, or is
//! answered `421 Misdirected Request` (RFC 9110 §15.5.20) when there is none.
//! With a single site (no `[[site]]` tables), every host reaches it, as before.
use crate::observe::Observer;
use crate::pipeline::{App, ReqBody};
use ferry::{Body, ServeDir, Store};
use http::{header, HeaderMap, Method, Request, Response, StatusCode, Uri};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// One site: what serves it, and its own certificate if it has one.
pub(crate) struct Site<S: Store> {
    pub(crate) svc: ServeDir<S>,
    /// Presented to clients whose SNI names one of this site's hosts.
    pub(crate) cert: Option<Arc<CertifiedKey>>,
    /// Fallback, error pages, rules, CORS, auth, maintenance; `None`: none.
    pub(crate) policy: Option<Arc<crate::policy::Policy>>,
}

/// Every site of the listener, routed by host name.
pub(crate) struct Sites<S: Store> {
    list: Vec<Site<S>>,
    /// Lowercase host names (no port, no trailing dot) → index in `list`.
    by_host: HashMap<Box<str>, usize>,
    default: Option<usize>,
}

/// Where a request goes.
pub(crate) enum Route<'a, S: Store> {
    Serve(&'a Site<S>),
    /// The 421 for an unknown host: a response that needs no store.
    Answer(Response<Body>),
}

impl<S: Store> Sites<S> {
    /// One site for every host.
    pub(crate) fn single(site: Site<S>) -> Self {
        Sites {
            list: vec![site],
            by_host: HashMap::new(),
            default: Some(0),
        }
    }

    /// No site yet; add them with [`Sites::add`].
    pub(crate) fn empty() -> Self {
        Sites {
            list: Vec::new(),
            by_host: HashMap::new(),
            default: None,
        }
    }

    /// Adds a site for `hosts`; `default` makes it answer unknown hosts.
    ///
    /// # Errors
    /// A host named by two sites, or two default sites.
    pub(crate) fn add(
        &mut self,
        site: Site<S>,
        hosts: &[String],
        default: bool,
    ) -> anyhow::Result<()> {
        let i = self.list.len();
        for h in hosts {
            let key = normalize(h).ok_or_else(|| {
                anyhow::anyhow!(
                    "{h:?} is not a host name (ASCII letters, digits, `-`, `_`, `.`; \
                     no port, no wildcard; IDNs in their xn-- form)"
                )
            })?;
            if self.by_host.insert(key.into(), i).is_some() {
                anyhow::bail!("the host {h} is named by two sites");
            }
        }
        if default {
            if self.default.is_some() {
                anyhow::bail!("two sites are the default site");
            }
            self.default = Some(i);
        }
        self.list.push(site);
        Ok(())
    }

    /// Whether some site has no certificate of its own.
    pub(crate) fn lacks_certs(&self) -> bool {
        self.list.iter().any(|s| s.cert.is_none())
    }

    /// Whether some site asks for basic auth (refused on plain HTTP unless
    /// `--auth-allow-insecure`).
    pub(crate) fn uses_auth(&self) -> bool {
        self.list
            .iter()
            .any(|s| s.policy.as_ref().is_some_and(|p| !p.auth.is_empty()))
    }

    /// Whether some site has its own certificate (which turns TLS on).
    pub(crate) fn has_certs(&self) -> bool {
        self.list.iter().any(|s| s.cert.is_some())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The site for a request's target and headers (the `Host` field, or the
    /// authority of an absolute-form target or of HTTP/2's `:authority`).
    pub(crate) fn route(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Route<'_, S> {
        if self.by_host.is_empty() {
            if let Some(d) = self.default {
                return Route::Serve(&self.list[d]);
            }
        }
        let host = uri.host().or_else(|| {
            headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(crate::host::strip_port)
        });
        match host.and_then(|h| self.lookup(h)).or(self.default) {
            Some(i) => Route::Serve(&self.list[i]),
            None => Route::Answer(crate::answer::text(StatusCode::MISDIRECTED_REQUEST, method)),
        }
    }

    /// The certificate for a TLS server name (SNI), if a site has its own.
    pub(crate) fn cert_for(&self, server_name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let i = server_name.and_then(|n| self.lookup(n)).or(self.default)?;
        self.list[i].cert.clone()
    }

    fn lookup(&self, host: &str) -> Option<usize> {
        // Host names are short; compare case-insensitively without allocating
        // for the usual lowercase name.
        let host = host.strip_suffix('.').unwrap_or(host);
        if host.bytes().any(|b| b.is_ascii_uppercase()) {
            return self
                .by_host
                .get(host.to_ascii_lowercase().as_str())
                .copied();
        }
        self.by_host.get(host).copied()
    }
}

/// A configured host name, lowercase without a trailing dot; `None` when it
/// cannot be one (empty, a port, a path).
fn normalize(h: &str) -> Option<String> {
    let h = h.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !h.is_empty()
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    ok.then_some(h)
}

/// The sites in use, replaced whole by a reload; readers keep the snapshot
/// they took until they see a newer generation.
pub(crate) struct Live<S: Store> {
    current: RwLock<Arc<Sites<S>>>,
    generation: AtomicU64,
}

impl<S: Store> Live<S> {
    pub(crate) fn new(sites: Sites<S>) -> Self {
        Live {
            current: RwLock::new(Arc::new(sites)),
            generation: AtomicU64::new(0),
        }
    }

    pub(crate) fn load(&self) -> Arc<Sites<S>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The number of reloads so far: a reader holding generation `g`'s
    /// snapshot needs a new one when this differs.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn replace(&self, sites: Sites<S>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(sites);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// A snapshot of [`Live`] sites held by one connection, refreshed when a
/// reload happened since it was taken.
pub(crate) struct Snapshot<S: Store> {
    /// `None` once released: taken again on the next request.
    sites: Option<Arc<Sites<S>>>,
    generation: u64,
}

impl<S: Store> Snapshot<S> {
    pub(crate) fn of(live: &Live<S>) -> Self {
        let generation = live.generation();
        Snapshot {
            sites: Some(live.load()),
            generation,
        }
    }

    /// The current sites: one atomic load per request when nothing changed.
    pub(crate) fn get(&mut self, live: &Live<S>) -> &Sites<S> {
        let g = live.generation();
        if g != self.generation {
            self.sites = None;
            self.generation = g;
        }
        self.sites.get_or_insert_with(|| live.load())
    }

    /// For an idle connection: lets go of sites a reload replaced, so their
    /// stores (open files, inotify instances) are freed now rather than at the
    /// connection's next request.
    pub(crate) fn release_if_stale(&mut self, live: &Live<S>) {
        if live.generation() != self.generation {
            self.sites = None;
        }
    }
}

/// On SIGHUP, builds the sites anew with `reload` (off the async workers: it
/// reads files) and swaps them in whole; a failure keeps the old ones serving.
pub(crate) fn reload_on_hup<S, F>(live: Arc<Live<S>>, reload: F)
where
    S: Store,
    F: Fn() -> anyhow::Result<Sites<S>> + Send + Sync + 'static,
{
    let reload = Arc::new(reload);
    #[cfg(unix)]
    if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let r = reload.clone();
                match tokio::task::spawn_blocking(move || r()).await {
                    Ok(Ok(sites)) => {
                        live.replace(sites);
                        eprintln!("ferry: configuration reloaded");
                    }
                    Ok(Err(e)) => {
                        // One line, for logs (a TOML error spans several).
                        let why = format!("{e:#}");
                        let why = why.split_whitespace().collect::<Vec<_>>().join(" ");
                        eprintln!("ferry: configuration not reloaded, keeping the old one: {why}");
                    }
                    Err(_) => eprintln!("ferry: configuration not reloaded: the reload failed"),
                }
            }
        });
    }
}

/// `ferry serve`'s application: the live sites, routed by host.
pub(crate) struct SitesApp<S: Store> {
    pub(crate) live: Arc<Live<S>>,
    pub(crate) observer: Observer,
}

impl<S: Store> App for SitesApp<S> {
    type Conn = Snapshot<S>;
    const READS_BODIES: bool = false;
    const CHANGES_REQUESTS: bool = false;

    fn conn(&self) -> Snapshot<S> {
        Snapshot::of(&self.live)
    }

    fn idle(&self, conn: &mut Snapshot<S>) {
        conn.release_if_stale(&self.live);
    }

    async fn call(
        &self,
        conn: &mut Snapshot<S>,
        req: &mut Request<ReqBody>,
        _peer: SocketAddr,
    ) -> Response<Body> {
        // Read only, as CHANGES_REQUESTS = false promises: the request may be
        // the connection's remembered one, answering the next repeat too.
        let req: &Request<ReqBody> = req;
        match conn
            .get(&self.live)
            .route(req.method(), req.uri(), req.headers())
        {
            Route::Serve(Site {
                svc,
                policy: Some(p),
                ..
            }) => crate::policy::apply::serve(p, svc, req, &self.observer).await,
            Route::Serve(site) => serve(&site.svc, req, &self.observer).await,
            Route::Answer(res) => res,
        }
    }
}

/// The library's answer from `svc`; a failure of the store (a 5xx) is
/// logged for the operator, the client gets the short status text.
pub(crate) async fn serve<S: Store, B>(
    svc: &ServeDir<S>,
    req: &Request<B>,
    observer: &Observer,
) -> Response<Body> {
    match svc.try_serve(req).await {
        Ok(res) => res,
        Err(e) => {
            if e.status().is_server_error() {
                observer.server_error(req.method(), req.uri().path(), &e);
            }
            e.to_response(req.method() == Method::HEAD)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry::store::memory::MemoryStore;
    use http::HeaderValue;
    use std::time::SystemTime;

    fn svc(body: &'static str) -> ServeDir<MemoryStore> {
        ServeDir::new(MemoryStore::new().file("x", body, SystemTime::UNIX_EPOCH))
    }

    fn site(svc: ServeDir<MemoryStore>) -> Site<MemoryStore> {
        Site {
            svc,
            cert: None,
            policy: None,
        }
    }

    fn req(host: Option<&str>, target: &str) -> (Method, Uri, HeaderMap) {
        let mut h = HeaderMap::new();
        if let Some(host) = host {
            h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        }
        (Method::GET, target.parse().unwrap(), h)
    }

    fn which<S: Store>(
        sites: &Sites<S>,
        host: Option<&str>,
        target: &str,
    ) -> Result<*const ServeDir<S>, StatusCode> {
        let (m, u, h) = req(host, target);
        match sites.route(&m, &u, &h) {
            Route::Serve(s) => Ok(&s.svc as *const _),
            Route::Answer(r) => Err(r.status()),
        }
    }

    #[test]
    fn hosts_route_to_their_site_and_unknown_hosts_get_421() {
        let mut s = Sites::empty();
        s.add(
            site(svc("a")),
            &["a.test".into(), "www.a.test".into()],
            false,
        )
        .unwrap();
        s.add(site(svc("b")), &["B.test".into()], false).unwrap();
        let a = &s.list[0].svc as *const _;
        let b = &s.list[1].svc as *const _;
        assert_eq!(which(&s, Some("a.test"), "/x"), Ok(a));
        assert_eq!(which(&s, Some("WWW.A.test:8080"), "/x"), Ok(a));
        assert_eq!(which(&s, Some("b.test."), "/x"), Ok(b));
        // An absolute-form target's authority wins over Host (RFC 9112 §3.2.2).
        assert_eq!(which(&s, Some("a.test"), "http://b.test/x"), Ok(b));
        // RFC 9110 §15.5.20: a request for a host this server is not configured for.
        assert_eq!(
            which(&s, Some("c.test"), "/x"),
            Err(StatusCode::MISDIRECTED_REQUEST)
        );
        assert_eq!(which(&s, None, "/x"), Err(StatusCode::MISDIRECTED_REQUEST));
        assert_eq!(
            which(&s, Some("[::1]:80"), "/x"),
            Err(StatusCode::MISDIRECTED_REQUEST)
        );
    }

    #[test]
    fn a_default_site_answers_unknown_hosts() {
        let mut s = Sites::empty();
        s.add(site(svc("a")), &["a.test".into()], false).unwrap();
        s.add(site(svc("d")), &[], true).unwrap();
        let d = &s.list[1].svc as *const _;
        assert_eq!(which(&s, Some("c.test"), "/x"), Ok(d));
        assert_eq!(which(&s, None, "/x"), Ok(d));
        assert!(s.add(site(svc("e")), &[], true).is_err());
        assert!(s.add(site(svc("f")), &["A.TEST".into()], false).is_err());
    }

    #[test]
    fn a_snapshot_sees_a_reload() {
        let live = Live::new(Sites::single(site(svc("a"))));
        let mut snap = Snapshot::of(&live);
        assert!(!snap.get(&live).is_empty());
        live.replace(Sites::empty());
        assert!(snap.get(&live).is_empty());
        // An idle connection lets go of replaced sites: the last reference to
        // them is the one `Live` held until the replace.
        let old = live.load();
        live.replace(Sites::single(site(svc("b"))));
        assert_eq!(Arc::strong_count(&old), 2);
        snap.release_if_stale(&live);
        assert_eq!(Arc::strong_count(&old), 1);
        assert!(!snap.get(&live).is_empty());
    }
}
