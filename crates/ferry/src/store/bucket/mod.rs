//! Object storage (S3 and compatibles, or any `object_store` backend) as a
//! [`Store`], with the same HTTP semantics as the file system store.
//!
//! Validators are the object's own: its ETag (as the store reports it) and its
//! Last-Modified. Opening an object costs one metadata request (a `HEAD`); the
//! decision ([`ferry_proto::plan()`]) is made over that metadata exactly as for a
//! file, so a 304, 412 or 416 never transfers the body. The bytes that are sent
//! are fetched with the range pushed down to the store and the object's ETag as
//! `If-Match`, so a 206 transfers only its parts and an object replaced between
//! the `HEAD` and the `GET` fails the response instead of mixing two versions.
//!
//! With a [`DiskCache`] ([`BucketStore::disk_cache`]), object bodies are kept
//! on local disk and served from there: a miss costs one `GET` (its response
//! carries the metadata, so no `HEAD`), a fresh copy costs no request, and a
//! stale one a conditional `GET` (see [`DiskCache`]).
mod cache;
mod disk;
mod flight;
mod source;

use source::{DiskSource, ObjectSource};

pub use cache::{CacheStats, DiskCache};

use crate::mime::MimeTable;
use crate::store::{DirEntry, Key, ListFuture, OpenFuture, Store};
use crate::{Entity, Error, ErrorKind};
use ferry_proto::{AcceptEncoding, ContentCoding, EntityTag};
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, GetOptions, GetResult, ObjectMeta, ObjectStore};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Objects under a prefix of an object store, served like a directory.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// let s3 = object_store::aws::AmazonS3Builder::from_env()
///     .with_bucket_name("assets")
///     .build()?;
/// let store = ferry::store::bucket::BucketStore::new(Arc::new(s3), "site/v2")
///     .precompressed(true);
/// let service = ferry::ServeDir::new(store);
/// # let _ = service; Ok(()) }
/// ```
#[derive(Clone)]
pub struct BucketStore {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    precompressed: bool,
    types: MimeTable,
    ttl: Option<Duration>,
    timeout: Option<Duration>,
    meta: Mutex<HashMap<String, (Instant, Option<Head>)>>,
    cache: Option<DiskCache>,
    /// The store's name in the disk cache's keys (default: its `Display`).
    id: String,
}

/// For clone-on-write configuration: a configured clone starts with a copy of
/// the metadata remembered so far.
impl Clone for Inner {
    fn clone(&self) -> Self {
        Inner {
            store: self.store.clone(),
            prefix: self.prefix.clone(),
            precompressed: self.precompressed,
            types: self.types.clone(),
            ttl: self.ttl,
            timeout: self.timeout,
            meta: Mutex::new(self.meta.lock().unwrap_or_else(|e| e.into_inner()).clone()),
            cache: self.cache.clone(),
            id: self.id.clone(),
        }
    }
}

impl std::fmt::Debug for BucketStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BucketStore")
            .field("store", &self.inner.store.to_string())
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

/// What a metadata request told us about one object.
#[derive(Debug, Clone)]
struct Head {
    meta: ObjectMeta,
    content_type: Option<String>,
}

impl Head {
    /// The metadata of the store's answer `r` (to a `HEAD` or a `GET`).
    fn of(r: &GetResult) -> Self {
        Head {
            content_type: r
                .attributes
                .get(&Attribute::ContentType)
                .map(|v| v.to_string()),
            meta: r.meta.clone(),
        }
    }
}

impl BucketStore {
    /// The objects of `store` whose names start with `prefix/` (an empty prefix
    /// serves the whole bucket).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        let prefix = prefix.trim_matches('/').to_owned();
        BucketStore {
            inner: Arc::new(Inner {
                id: store.to_string(),
                store,
                prefix,
                precompressed: false,
                types: MimeTable::default(),
                ttl: None,
                timeout: None,
                meta: Mutex::default(),
                cache: None,
            }),
        }
    }

    /// This store's own configuration, copied first if a clone shares it
    /// (clone-on-write): configuring a clone never changes the original.
    fn inner_mut(&mut self) -> &mut Inner {
        Arc::make_mut(&mut self.inner)
    }

    /// Serves `key.br`, `key.zst`, `key.gz` objects when the request accepts
    /// them and the original exists (off by default).
    #[must_use]
    pub fn precompressed(mut self, on: bool) -> Self {
        self.inner_mut().precompressed = on;
        self
    }

    /// Content types by extension, for objects stored without one.
    #[must_use]
    pub fn content_types(mut self, table: MimeTable) -> Self {
        self.inner_mut().types = table;
        self
    }

    /// Remembers object metadata for `ttl` (off by default), so a revalidation
    /// can be answered without a round trip to the store. The price: a changed
    /// object may be answered from the old metadata for up to `ttl` (a 304 for
    /// a copy that is no longer current, or a failed GET that ends the
    /// connection, never a mix of two versions).
    #[must_use]
    pub fn metadata_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.inner_mut().ttl = ttl.filter(|t| !t.is_zero());
        self
    }

    /// Bounds every request to the store by `timeout` (none by default): its
    /// answer — the metadata, a listing, the head of a body request — must come
    /// within it, and then a body must never stall longer than it between two
    /// pieces. A body that keeps flowing takes as long as the client reading it
    /// needs: an overall request timeout (such as `object_store`'s
    /// `ClientOptions::with_timeout`) would cut a big object sent to a slow
    /// client mid-body. An expired bound is a 502 before the head is sent, an
    /// aborted response after. A [`DiskCache`] fill is bounded the same way;
    /// while it has not answered within `timeout`, a stale copy within
    /// [`DiskCache::stale_if_error`] is served.
    #[must_use]
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.inner_mut().timeout = timeout.filter(|t| !t.is_zero());
        self
    }

    /// Keeps object bodies in `cache` and serves them from local disk; with
    /// a cache, [`BucketStore::metadata_ttl`] is how long a cached copy is
    /// served without asking the store (none: every request revalidates).
    #[must_use]
    pub fn disk_cache(mut self, cache: DiskCache) -> Self {
        self.inner_mut().cache = Some(cache);
        self
    }

    /// Names the store in the keys of its [`disk_cache`](Self::disk_cache):
    /// a cached copy is only ever served by a store with the same id and
    /// prefix, so a cache directory kept across a change of bucket, endpoint
    /// or account never answers with another store's objects. The default is
    /// the store's `Display` (`AmazonS3(bucket)`, `MicrosoftAzure { account:
    /// …, container: … }`), which does not name an S3 endpoint: give one that
    /// does when it can change.
    #[must_use]
    pub fn store_id(mut self, id: impl Into<String>) -> Self {
        self.inner_mut().id = id.into();
        self
    }

    /// Checks that the bucket can be listed with the configured credentials.
    ///
    /// # Errors
    ///
    /// The store's error, for a missing bucket, wrong credentials or an
    /// unreachable endpoint, or no answer within the [`timeout`](Self::timeout).
    pub async fn check(&self) -> Result<(), object_store::Error> {
        let prefix = self.object_path("");
        let list = self.inner.store.list_with_delimiter(Some(&prefix));
        bounded(self.inner.timeout, list).await.map(|_| ())
    }

    fn object_path(&self, key: &str) -> ObjectPath {
        let key = key.trim_end_matches('/');
        match (self.inner.prefix.is_empty(), key.is_empty()) {
            (true, _) => ObjectPath::from(key),
            (false, true) => ObjectPath::from(self.inner.prefix.as_str()),
            (false, false) => ObjectPath::from(format!("{}/{key}", self.inner.prefix)),
        }
    }

    /// The key of `path` in the disk cache: the store's id, a newline, the
    /// path (with the prefix).
    fn cache_key(&self, path: &ObjectPath) -> String {
        format!("{}\n{path}", self.inner.id)
    }

    /// The remembered metadata of `path`, while fresh.
    fn memo(&self, path: &ObjectPath) -> Option<Option<Head>> {
        let ttl = self.inner.ttl?;
        self.inner
            .meta
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path.as_ref())
            .filter(|(at, _)| at.elapsed() < ttl)
            .map(|(_, h)| h.clone())
    }

    fn remember(&self, path: &ObjectPath, head: Option<Head>) {
        if self.inner.ttl.is_some() {
            let mut m = self.inner.meta.lock().unwrap_or_else(|e| e.into_inner());
            if m.len() >= 10_000 {
                m.clear();
            }
            m.insert(path.to_string(), (Instant::now(), head));
        }
    }

    /// The object's metadata, `None` when there is no such object.
    async fn head(&self, path: &ObjectPath) -> Result<Option<Head>, Error> {
        let inner = &self.inner;
        if let Some(h) = self.memo(path) {
            return Ok(h);
        }
        let opts = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        let head = match bounded(inner.timeout, inner.store.get_opts(path, opts)).await {
            Ok(r) => Some(Head::of(&r)),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => return Err(store_error(e)),
        };
        self.remember(path, head.clone());
        Ok(head)
    }

    /// The object at `path`: from the disk cache when there is one, else
    /// its metadata. `None` when there is no such object.
    async fn find(&self, path: &ObjectPath) -> Result<Option<Found>, Error> {
        let Some(cache) = &self.inner.cache else {
            return Ok(self.head(path).await?.map(Found::Remote));
        };
        let shared = &cache.shared;
        let ttl = self.inner.ttl.unwrap_or_default();
        let key = self.cache_key(path);
        let stale = match shared.lookup(&key, ttl) {
            cache::Lookup::Missing => return Ok(None),
            cache::Lookup::Unknown => {
                // Too large for the cache last time: metadata first, as without one
                // (a GET of the whole object would be cut short).
                if shared.is_big(&key) {
                    match self.head(path).await? {
                        Some(h) if h.meta.size > cache.max_object => {
                            return Ok(Some(Found::Remote(h)))
                        }
                        None => return Ok(None),
                        Some(_) => shared.set_big(&key, false),
                    }
                }
                None
            }
            cache::Lookup::Fresh(mut hit) => {
                if shared.check(&mut hit).await {
                    shared.count(cache::Counter::Hit);
                    return Ok(Some(Found::Cached(hit)));
                }
                None
            }
            cache::Lookup::Stale(mut hit, past) => {
                shared.check(&mut hit).await.then_some((hit, past))
            }
        };
        // An object without an ETag cannot be revalidated: fetched again.
        let known = stale
            .as_ref()
            .and_then(|(hit, _)| hit.object.stored.record.e_tag.clone());
        let fetch = flight::Fetch {
            store: self.inner.store.clone(),
            path: path.clone(),
            key: key.clone(),
            known,
            timeout: self.inner.timeout,
            max_object: cache.max_object,
        };
        let within_grace = stale
            .as_ref()
            .is_some_and(|(_, past)| *past <= cache.stale_if_error);
        let outcome = match self.inner.timeout {
            // A stale copy may answer: it does once the store has taken the
            // timeout (the fill goes on, for the next request).
            Some(t) if within_grace => tokio::time::timeout(t, flight::join(cache, fetch))
                .await
                .unwrap_or_else(|_| flight::Outcome::Failed(Arc::new(timed_out(t)))),
            // The fill's own bounds (the store's answer, each stall of the
            // body) end it.
            _ => flight::join(cache, fetch).await,
        };
        match outcome {
            flight::Outcome::Cached(hit) => Ok(Some(Found::Cached(hit))),
            flight::Outcome::Missing => Ok(None),
            flight::Outcome::Uncached(head) => Ok(Some(Found::Remote(head))),
            flight::Outcome::TooBig(head) => {
                shared.set_big(&key, true);
                self.remember(path, Some(head.clone()));
                Ok(Some(Found::Remote(head)))
            }
            flight::Outcome::Failed(e) => match stale {
                // RFC 5861 §4: "the stale response MAY be used to satisfy
                // the request" while the error lasts, up to the grace.
                Some((hit, past)) if past <= cache.stale_if_error => {
                    tracing::warn!(%path, error = %e, stale_for = ?past, "store failed: serving the cached copy (stale-if-error)");
                    Ok(Some(Found::Cached(hit)))
                }
                _ => Err(Error::with_source(ErrorKind::Unavailable, SharedError(e))),
            },
        }
    }

    async fn is_prefix(&self, path: &ObjectPath) -> Result<bool, Error> {
        let list = self.inner.store.list_with_delimiter(Some(path));
        let r = bounded(self.inner.timeout, list)
            .await
            .map_err(store_error)?;
        Ok(!r.objects.is_empty() || !r.common_prefixes.is_empty())
    }

    async fn open_key(&self, key: &Key, accept: &AcceptEncoding) -> Result<Entity, Error> {
        if key.is_dir() {
            return Err(Error::new(ErrorKind::IsDirectory));
        }
        let path = self.object_path(key.as_str());
        let Some(identity) = self.find(&path).await? else {
            // A "directory": the key is a prefix of other objects.
            if self.is_prefix(&path).await? {
                return Err(Error::new(ErrorKind::IsDirectory));
            }
            return Err(Error::new(ErrorKind::NotFound));
        };
        let inner = &self.inner;
        // Choice: the stores' own defaults for an object uploaded without a
        // type (S3's binary/octet-stream, Azure's application/octet-stream)
        // mean "none given": the key's extension decides, as for a file.
        let content_type = identity
            .content_type()
            .filter(|t| !matches!(*t, "" | "binary/octet-stream" | "application/octet-stream"))
            .and_then(|t| http::HeaderValue::from_str(t).ok())
            .unwrap_or_else(|| inner.types.for_path(std::path::Path::new(key.as_str())));
        if inner.precompressed {
            for coding in accept.preferred() {
                let vpath = ObjectPath::from(format!("{path}{}", coding.extension()));
                if let Some(v) = self.find(&vpath).await? {
                    return Ok(self
                        .entity(vpath, v, Some(coding))
                        .content_type(content_type)
                        .coding(coding)
                        .vary_encoding(true));
                }
            }
        }
        Ok(self
            .entity(path, identity, None)
            .content_type(content_type)
            .vary_encoding(inner.precompressed))
    }

    fn entity(&self, path: ObjectPath, found: Found, coding: Option<ContentCoding>) -> Entity {
        let meta = match found {
            Found::Cached(hit) => return cached_entity(hit, coding),
            Found::Remote(head) => head.meta,
        };
        let modified = SystemTime::from(meta.last_modified);
        let len = meta.size;
        let tag = tag_for(meta.e_tag.as_deref(), len, modified);
        // §8.8.3: a variant's tag differs from its original's.
        let tag = match coding {
            Some(c) => tag.for_coding(c),
            None => tag,
        };
        Entity::new(
            len,
            ObjectSource {
                store: self.inner.store.clone(),
                path,
                e_tag: meta.e_tag.clone(),
                timeout: self.inner.timeout,
            },
        )
        .etag(tag)
        .last_modified(modified)
    }
}

/// An object found by [`BucketStore::find`].
enum Found {
    /// On local disk.
    Cached(cache::Hit),
    /// In the store: its metadata.
    Remote(Head),
}

impl Found {
    fn content_type(&self) -> Option<&str> {
        match self {
            Found::Cached(hit) => hit.object.stored.record.content_type.as_deref(),
            Found::Remote(h) => h.content_type.as_deref(),
        }
    }
}

/// A cached object's entity: its bytes from the cache file.
fn cached_entity(hit: cache::Hit, coding: Option<ContentCoding>) -> Entity {
    let o = &hit.object;
    let r = &o.stored.record;
    let e = match hit.data {
        cache::Data::File(file) => Entity::new(
            r.len,
            DiskSource {
                file,
                offset: o.stored.header_len,
            },
        ),
        cache::Data::Memory(bytes) => Entity::new(r.len, crate::store::fs::InMemory(bytes)),
    }
    .last_modified(r.last_modified);
    match coding {
        None => e.etag(o.tag.clone()).etag_value(o.etag_value.clone()),
        Some(c) => e.etag(o.tag.for_coding(c)),
    }
}

/// The entity tag for an object's ETag as the store reports it, or one made
/// from its length and modification time when it has none.
fn tag_for(e_tag: Option<&str>, len: u64, modified: SystemTime) -> EntityTag {
    e_tag
        .and_then(|t| ferry_proto::etag::parse(t.as_bytes()))
        .or_else(|| {
            // Stores that report bare (unquoted) tags.
            e_tag.and_then(|t| EntityTag::strong(t).ok())
        })
        .unwrap_or_else(|| EntityTag::from_len_mtime(len, modified))
}

fn store_error(e: object_store::Error) -> Error {
    Error::with_source(ErrorKind::Unavailable, e)
}

/// The store's answer `f` within `timeout` (when there is one), else an
/// error.
async fn bounded<T>(
    timeout: Option<Duration>,
    f: impl std::future::Future<Output = object_store::Result<T>>,
) -> object_store::Result<T> {
    match timeout {
        None => f.await,
        Some(t) => tokio::time::timeout(t, f)
            .await
            .unwrap_or_else(|_| Err(timed_out(t))),
    }
}

/// The error of a store that did not answer within `t`.
fn timed_out(t: Duration) -> object_store::Error {
    object_store::Error::Generic {
        store: "bucket",
        source: Box::new(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("the store did not answer within {} s", t.as_secs_f32()),
        )),
    }
}

/// A store error shared by every request that waited for one fill.
#[derive(Debug)]
struct SharedError(Arc<object_store::Error>);

impl std::fmt::Display for SharedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SharedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

impl Store for BucketStore {
    fn open<'a>(&'a self, key: &'a Key, accept: &'a AcceptEncoding) -> OpenFuture<'a> {
        // Each request to the store is bounded (and a fill's body stalls),
        // not the whole open: a cold object whose body keeps flowing may take
        // longer to fill than the timeout.
        OpenFuture::new(self.open_key(key, accept))
    }

    fn list<'a>(&'a self, key: &'a Key) -> ListFuture<'a> {
        ListFuture::new(async move {
            let path = self.object_path(key.as_str());
            let list = self.inner.store.list_with_delimiter(Some(&path));
            let r = bounded(self.inner.timeout, list)
                .await
                .map_err(store_error)?;
            if r.objects.is_empty() && r.common_prefixes.is_empty() && !key.as_str().is_empty() {
                return Err(Error::new(ErrorKind::NotFound));
            }
            let mut out = Vec::new();
            for p in r.common_prefixes {
                if let Some(name) = p.filename() {
                    out.push(DirEntry::new(name.to_owned(), true, 0, None));
                }
            }
            for o in r.objects {
                if let Some(name) = o.location.filename() {
                    out.push(DirEntry::new(
                        name.to_owned(),
                        false,
                        o.size,
                        Some(SystemTime::from(o.last_modified)),
                    ));
                }
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::PutPayload;

    #[tokio::test]
    async fn configuring_a_clone_leaves_the_original_alone() {
        let mem = Arc::new(InMemory::new());
        for (name, body) in [("site/a.css", "plain"), ("site/a.css.gz", "GZ")] {
            mem.put(
                &ObjectPath::from(name),
                PutPayload::from_static(body.as_bytes()),
            )
            .await
            .unwrap();
        }
        let original = BucketStore::new(mem, "site");
        let shared = original.clone();
        // Used to panic: builder methods on a clone (Arc::get_mut).
        let configured = shared
            .clone()
            .precompressed(true)
            .metadata_ttl(Some(Duration::from_secs(60)));
        let key = Key::from_uri_path("/a.css", crate::store::Hidden::Deny).unwrap();
        let accept = {
            let mut h = http::HeaderMap::new();
            h.insert(http::header::ACCEPT_ENCODING, "gzip".parse().unwrap());
            AcceptEncoding::from_headers(&h)
        };
        for plain in [&original, &shared] {
            let e = plain.open(&key, &accept).await.unwrap();
            assert_eq!((e.meta().len, e.get_coding()), (5, None));
            assert!(plain.inner.ttl.is_none());
        }
        let e = configured.open(&key, &accept).await.unwrap();
        assert_eq!(
            (e.meta().len, e.get_coding()),
            (2, Some(ContentCoding::Gzip))
        );
        assert!(e.meta().coded);
        assert!(Arc::ptr_eq(&original.inner.store, &configured.inner.store));
    }
}
