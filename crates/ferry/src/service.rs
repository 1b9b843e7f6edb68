//! Serving requests: a directory as a tower `Service`, and one file for an app.
use crate::browse;
use crate::cache::CachePolicy;
use crate::respond::{self, Extra};
use crate::store::{Hidden, Key, Store};
use crate::{Body, Error, ErrorKind};
use ferry_proto::{plan, AcceptEncoding};
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

/// Serves the files of a [`Store`] by URL path: the behaviour of `ferry serve`.
///
/// GET and HEAD only (405 with `Allow` otherwise); `index.html` for directories;
/// a directory named without its trailing slash is redirected (308) to it, keeping
/// the query; conditional requests and ranges per RFC 9110.
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use ferry::{FsStore, ServeDir};
/// let serve = ServeDir::new(FsStore::new("./site")?.precompressed(true));
/// let req = http::Request::get("/index.html").body(()).unwrap();
/// let res = serve.serve(&req).await;
/// assert_eq!(res.status(), 200);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ServeDir<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for ServeDir<S> {
    fn clone(&self) -> Self {
        ServeDir {
            inner: self.inner.clone(),
        }
    }
}

#[derive(Debug)]
struct Inner<S> {
    /// Shared by every configuration derived from one `ServeDir`, so a
    /// configured clone needs no `S: Clone`.
    store: Arc<S>,
    index: Option<String>,
    hidden: Hidden,
    cache: CachePolicy,
    nosniff: bool,
    browse: bool,
    #[cfg(feature = "compress")]
    compress: Option<Arc<crate::compress::Compressor>>,
}

impl<S> Clone for Inner<S> {
    fn clone(&self) -> Self {
        Inner {
            store: self.store.clone(),
            index: self.index.clone(),
            hidden: self.hidden,
            cache: self.cache.clone(),
            nosniff: self.nosniff,
            browse: self.browse,
            #[cfg(feature = "compress")]
            compress: self.compress.clone(),
        }
    }
}

impl<S: Store> ServeDir<S> {
    /// Serves `store` with the defaults: `index.html`, hidden files refused,
    /// `X-Content-Type-Options: nosniff`, [`CachePolicy::default`], no listings.
    pub fn new(store: S) -> Self {
        ServeDir {
            inner: Arc::new(Inner {
                store: Arc::new(store),
                index: Some("index.html".into()),
                hidden: Hidden::Deny,
                cache: CachePolicy::default(),
                nosniff: true,
                browse: false,
                #[cfg(feature = "compress")]
                compress: None,
            }),
        }
    }

    /// The configuration to change: this value's own, copied first if a clone
    /// shares it (clone-on-write), so configuring a clone never changes the
    /// original. The store itself stays shared.
    fn inner_mut(&mut self) -> &mut Inner<S> {
        Arc::make_mut(&mut self.inner)
    }

    /// The file served for a directory path ending in `/`; `None` for no index.
    #[must_use]
    pub fn index_file(mut self, name: Option<&str>) -> Self {
        self.inner_mut().index = name.map(str::to_owned);
        self
    }

    /// Whether names starting with `.` are served (default: refused, except
    /// `/.well-known/`).
    #[must_use]
    pub fn hidden(mut self, hidden: Hidden) -> Self {
        self.inner_mut().hidden = hidden;
        self
    }

    /// One Cache-Control value for every file (200, 206 and 304), replacing the
    /// default policy; `None` sends no Cache-Control.
    #[must_use]
    pub fn cache_control(self, value: Option<HeaderValue>) -> Self {
        self.cache_policy(CachePolicy::none().default_value(value))
    }

    /// How Cache-Control is chosen per file (default: [`CachePolicy::default`],
    /// immutable for fingerprinted names and `no-cache` for the rest).
    #[must_use]
    pub fn cache_policy(mut self, policy: CachePolicy) -> Self {
        self.inner_mut().cache = policy;
        self
    }

    /// Whether a directory without an index file is listed (HTML, or JSON when
    /// the request prefers `application/json`). Off by default.
    #[must_use]
    pub fn browse(mut self, on: bool) -> Self {
        self.inner_mut().browse = on;
        self
    }

    /// Whether every response carries `X-Content-Type-Options: nosniff` (default on).
    #[must_use]
    pub fn nosniff(mut self, on: bool) -> Self {
        self.inner_mut().nosniff = on;
        self
    }

    /// Compresses compressible files that have no precompressed variant the
    /// request accepts, on the fly, keeping the coded variants in a bounded
    /// cache (`None`, the default: never). Needs the `compress` feature.
    ///
    /// zstd, brotli or gzip, by the request's weights and then in that order;
    /// each coding has its own ETag (`"…-zstd"`, strong when the file's is),
    /// every response of a compressible type carries `Vary: accept-encoding`,
    /// and a request with `Range` gets the identity bytes
    /// ([`ferry_proto::plan::on_the_fly`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferry::{compress::Compress, FsStore, ServeDir};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
    /// # let dir = std::env::temp_dir().join(format!("ferry-doc-compress-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// std::fs::write(dir.join("a.css"), "body { color: red }\n".repeat(100))?;
    /// let svc = ServeDir::new(FsStore::new(&dir)?).compress(Some(Compress::new()));
    /// let req = http::Request::get("/a.css")
    ///     .header("accept-encoding", "gzip, br, zstd")
    ///     .body(())
    ///     .unwrap();
    /// let res = svc.serve(&req).await;
    /// assert_eq!(res.headers()["content-encoding"], "zstd");
    /// assert_eq!(res.headers()["vary"], "accept-encoding");
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "compress")]
    #[must_use]
    pub fn compress(mut self, config: Option<crate::compress::Compress>) -> Self {
        self.inner_mut().compress = config.map(|c| Arc::new(crate::compress::Compressor::new(c)));
        self
    }

    /// The compressor, for tests.
    #[cfg(all(test, feature = "compress"))]
    pub(crate) fn compressor(&self) -> Option<&crate::compress::Compressor> {
        self.inner.compress.as_deref()
    }

    /// The store being served.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// Serves `req`; failures become short plain-text responses (404, 400, 500).
    pub fn serve<'a, B>(
        &'a self,
        req: &'a Request<B>,
    ) -> impl Future<Output = Response<Body>> + Send + 'a {
        let head = Head::of(req);
        async move {
            let now = SystemTime::now();
            match self.try_serve_at(head, now).await {
                Ok(res) => res,
                Err(e) => error_response(&e, now, head.method == Method::HEAD, self.inner.nosniff),
            }
        }
    }

    /// Serves `req`, handing failures to the caller instead of answering them.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidPath`] for a path that can never name a file (400),
    /// [`ErrorKind::NotFound`] for a missing, hidden or outside file (404),
    /// [`ErrorKind::Store`] when the store failed (500).
    pub fn try_serve<'a, B>(
        &'a self,
        req: &'a Request<B>,
    ) -> impl Future<Output = Result<Response<Body>, Error>> + Send + 'a {
        self.try_serve_at(Head::of(req), SystemTime::now())
    }

    async fn try_serve_at(&self, req: Head<'_>, now: SystemTime) -> Result<Response<Body>, Error> {
        let inner = &*self.inner;
        let method = req.method;
        let head = method == Method::HEAD;
        // Decided before any I/O: no file is opened for a method we never serve.
        if let Some(res) = respond::refuse_method(method, now, inner.nosniff) {
            return Ok(res);
        }
        let key = Key::from_uri_path(req.uri.path(), inner.hidden)?;
        let accept = AcceptEncoding::from_headers(req.headers);
        let (file_key, opened) = if key.is_dir() {
            let index = inner.index.as_deref().map(|name| key.join(name));
            let opened = match &index {
                Some(k) => inner.store.open(k, &accept).await,
                None => Err(Error::new(ErrorKind::NotFound)),
            };
            match opened {
                Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::IsDirectory) => {
                    if inner.browse {
                        return self.listing(req, &key, now).await;
                    }
                    return Err(Error::new(ErrorKind::NotFound));
                }
                r => (index.unwrap_or_else(|| key.clone()), r?),
            }
        } else {
            match inner.store.open(&key, &accept).await {
                Err(e) if e.kind() == ErrorKind::IsDirectory => {
                    return Ok(redirect_to_dir(req, now, inner.nosniff));
                }
                r => (key, r?),
            }
        };
        let entity = opened;
        #[cfg(feature = "compress")]
        let entity = match &inner.compress {
            // A synchronous test first: a type that is never compressed
            // (most files by count) costs no async call.
            Some(c) if crate::compress::Compressor::applies(&entity) => {
                c.select(method, req.headers, &accept, file_key.as_str(), entity)
                    .await
            }
            _ => entity,
        };
        let plan = plan(method, req.headers, entity.meta(), now);
        tracing::debug!(
            key = file_key.as_str(),
            len = entity.meta().len,
            ?plan,
            "decided"
        );
        let extra = Extra {
            cache_control: inner.cache.for_key(file_key.as_str()),
            disposition: None,
            nosniff: inner.nosniff,
        };
        Ok(respond::build(plan, &entity, head, now, &extra))
    }
}

impl<S: Store> ServeDir<S> {
    /// The directory listing for `key` (HTML, or JSON when preferred).
    async fn listing(
        &self,
        req: Head<'_>,
        key: &Key,
        now: SystemTime,
    ) -> Result<Response<Body>, Error> {
        let inner = &*self.inner;
        let mut entries = inner.store.list(key).await?;
        if inner.hidden == Hidden::Deny {
            entries.retain(|e| !e.name.starts_with('.'));
        }
        browse::sort(&mut entries);
        let (body, ctype) = if browse::wants_json(req.headers) {
            (browse::json(&entries), "application/json")
        } else {
            (
                browse::html(req.uri.path(), &entries),
                "text/html; charset=utf-8",
            )
        };
        let mut res = respond::bare(now, inner.nosniff);
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert(header::VARY, HeaderValue::from_static("accept"));
        if req.method != Method::HEAD {
            *res.body_mut() = Body::from(body);
        }
        Ok(res)
    }
}

/// The parts of a request head that serving reads: borrowed, so the request's
/// body type never has to be `Sync`.
#[derive(Clone, Copy)]
pub(crate) struct Head<'a> {
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a http::Uri,
    pub(crate) headers: &'a http::HeaderMap,
}

impl<'a> Head<'a> {
    pub(crate) fn of<B>(req: &'a Request<B>) -> Self {
        Head {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
        }
    }
}

/// 308 to the same path with a trailing slash, keeping the query.
fn redirect_to_dir(req: Head<'_>, now: SystemTime, nosniff: bool) -> Response<Body> {
    let uri = req.uri;
    // One leading slash only: `//host/dir` as a Location would be a
    // network-path reference (RFC 3986 §4.2) to another host.
    let mut location = format!("/{}/", uri.path().trim_start_matches('/'));
    if let Some(q) = uri.query() {
        location.push('?');
        location.push_str(q);
    }
    let mut res = respond::bare(now, nosniff);
    // The path came from a valid request-target, so it is a valid header value.
    if let Ok(v) = HeaderValue::try_from(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    respond::text(
        res,
        StatusCode::PERMANENT_REDIRECT,
        "308 Permanent Redirect\n",
        req.method == Method::HEAD,
    )
}

/// The short plain-text response for a failure; never includes its details.
pub(crate) fn error_response(
    e: &Error,
    now: SystemTime,
    head: bool,
    nosniff: bool,
) -> Response<Body> {
    let status = e.status();
    let body = match status {
        StatusCode::NOT_FOUND => "404 Not Found\n",
        StatusCode::BAD_REQUEST => "400 Bad Request\n",
        StatusCode::BAD_GATEWAY => "502 Bad Gateway\n",
        _ => "500 Internal Server Error\n",
    };
    respond::text(respond::bare(now, nosniff), status, body, head)
}

impl<S: Store, B: Send + 'static> tower_service::Service<Request<B>> for ServeDir<S> {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> ResponseFuture {
        let this = self.clone();
        let (parts, _body) = req.into_parts();
        ResponseFuture(Box::pin(async move {
            let req = Request::from_parts(parts, ());
            Ok(this.serve(&req).await)
        }))
    }
}

/// The future of the `Service::call` of [`ServeDir`] and `ServeFile`.
pub struct ResponseFuture(Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>);

impl ResponseFuture {
    /// Boxes `fut`: the one future type of ferry's services.
    pub(crate) fn new(
        fut: impl Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
    ) -> Self {
        ResponseFuture(Box::pin(fut))
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<Body>, Infallible>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl std::fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseFuture")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use crate::store::OpenFuture;
    use std::time::UNIX_EPOCH;

    async fn get(svc: &ServeDir<impl Store>, path: &str) -> Response<Body> {
        svc.serve(&Request::get(path).body(()).unwrap()).await
    }

    #[tokio::test]
    async fn configuring_a_clone_leaves_the_original_alone() {
        let store = MemoryStore::new().file("d/index.html", "<p>hi</p>", UNIX_EPOCH);
        let original = ServeDir::new(store);
        let shared = original.clone();
        // Used to panic: builder methods on a clone (Arc::get_mut).
        let configured = shared.clone().index_file(None).nosniff(false);
        let res = get(&original, "/d/").await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        assert_eq!(get(&shared, "/d/").await.status(), 200);
        let res = get(&configured, "/d/").await;
        assert_eq!(res.status(), 404);
        assert!(!res.headers().contains_key("x-content-type-options"));
        // The store is shared, not copied.
        assert!(std::ptr::eq(original.store(), configured.store()));
    }

    /// A store that is not `Clone`: configuring a clone must not need it.
    struct Unclonable(MemoryStore);

    impl Store for Unclonable {
        fn open<'a>(&'a self, key: &'a Key, accept: &'a AcceptEncoding) -> OpenFuture<'a> {
            self.0.open(key, accept)
        }
    }

    #[tokio::test]
    async fn a_store_need_not_be_clone() {
        let store = Unclonable(MemoryStore::new().file("a.txt", "a", UNIX_EPOCH));
        let svc = ServeDir::new(store);
        let other = svc.clone().cache_control(None).browse(true);
        assert_eq!(get(&svc, "/a.txt").await.status(), 200);
        let res = get(&other, "/a.txt").await;
        assert_eq!(res.status(), 200);
        assert!(!res.headers().contains_key(header::CACHE_CONTROL));
        assert!(get(&svc, "/a.txt")
            .await
            .headers()
            .contains_key(header::CACHE_CONTROL));
    }
}
