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
use crate::mime::MimeTable;
use crate::store::{DirEntry, Key, ListFuture, OpenFuture, Store};
use crate::{Body, Entity, Error, ErrorKind, Source};
use bytes::Bytes;
use ferry_proto::{AcceptEncoding, ContentCoding, EntityTag};
use futures_util::stream::{BoxStream, StreamExt as _};
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, GetOptions, GetRange, ObjectMeta, ObjectStore};
use std::collections::HashMap;
use std::future::Future as _;
use std::ops::Range;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
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

impl BucketStore {
    /// The objects of `store` whose names start with `prefix/` (an empty prefix
    /// serves the whole bucket).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        let prefix = prefix.trim_matches('/').to_owned();
        BucketStore {
            inner: Arc::new(Inner {
                store,
                prefix,
                precompressed: false,
                types: MimeTable::default(),
                ttl: None,
                timeout: None,
                meta: Mutex::default(),
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
    /// aborted response after.
    #[must_use]
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.inner_mut().timeout = timeout.filter(|t| !t.is_zero());
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
        match self.inner.timeout {
            None => list.await.map(|_| ()),
            Some(t) => match tokio::time::timeout(t, list).await {
                Ok(r) => r.map(|_| ()),
                Err(_) => Err(object_store::Error::Generic {
                    store: "bucket",
                    source: format!("no answer within {} s", t.as_secs_f32()).into(),
                }),
            },
        }
    }

    fn object_path(&self, key: &str) -> ObjectPath {
        let key = key.trim_end_matches('/');
        match (self.inner.prefix.is_empty(), key.is_empty()) {
            (true, _) => ObjectPath::from(key),
            (false, true) => ObjectPath::from(self.inner.prefix.as_str()),
            (false, false) => ObjectPath::from(format!("{}/{key}", self.inner.prefix)),
        }
    }

    /// The object's metadata, `None` when there is no such object.
    async fn head(&self, path: &ObjectPath) -> Result<Option<Head>, Error> {
        let inner = &self.inner;
        if let Some(ttl) = inner.ttl {
            let cached = inner
                .meta
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(path.as_ref())
                .filter(|(at, _)| at.elapsed() < ttl)
                .map(|(_, h)| h.clone());
            if let Some(h) = cached {
                return Ok(h);
            }
        }
        let opts = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        let head = match inner.store.get_opts(path, opts).await {
            Ok(r) => Some(Head {
                content_type: r
                    .attributes
                    .get(&Attribute::ContentType)
                    .map(|v| v.to_string()),
                meta: r.meta,
            }),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => return Err(store_error(e)),
        };
        if inner.ttl.is_some() {
            let mut m = inner.meta.lock().unwrap_or_else(|e| e.into_inner());
            if m.len() >= 10_000 {
                m.clear();
            }
            m.insert(path.to_string(), (Instant::now(), head.clone()));
        }
        Ok(head)
    }

    async fn is_prefix(&self, path: &ObjectPath) -> Result<bool, Error> {
        let r = self
            .inner
            .store
            .list_with_delimiter(Some(path))
            .await
            .map_err(store_error)?;
        Ok(!r.objects.is_empty() || !r.common_prefixes.is_empty())
    }

    async fn open_key(&self, key: &Key, accept: &AcceptEncoding) -> Result<Entity, Error> {
        if key.is_dir() {
            return Err(Error::new(ErrorKind::IsDirectory));
        }
        let path = self.object_path(key.as_str());
        let Some(identity) = self.head(&path).await? else {
            // A "directory": the key is a prefix of other objects.
            if self.is_prefix(&path).await? {
                return Err(Error::new(ErrorKind::IsDirectory));
            }
            return Err(Error::new(ErrorKind::NotFound));
        };
        let inner = &self.inner;
        let content_type = identity
            .content_type
            .as_deref()
            .filter(|t| !t.is_empty() && *t != "binary/octet-stream")
            .and_then(|t| http::HeaderValue::from_str(t).ok())
            .unwrap_or_else(|| inner.types.for_path(std::path::Path::new(key.as_str())));
        if inner.precompressed {
            for coding in accept.preferred() {
                let vpath = ObjectPath::from(format!("{path}{}", coding.extension()));
                if let Some(v) = self.head(&vpath).await? {
                    return Ok(self
                        .entity(vpath, &v.meta, Some(coding))
                        .content_type(content_type)
                        .coding(coding)
                        .vary_encoding(true));
                }
            }
        }
        Ok(self
            .entity(path, &identity.meta, None)
            .content_type(content_type)
            .vary_encoding(inner.precompressed))
    }

    fn entity(&self, path: ObjectPath, meta: &ObjectMeta, coding: Option<ContentCoding>) -> Entity {
        let modified = SystemTime::from(meta.last_modified);
        let len = meta.size;
        let tag = meta
            .e_tag
            .as_deref()
            .and_then(|t| ferry_proto::etag::parse(t.as_bytes()))
            .or_else(|| {
                // Stores that report bare (unquoted) tags.
                meta.e_tag
                    .as_deref()
                    .and_then(|t| EntityTag::strong(t).ok())
            })
            .unwrap_or_else(|| EntityTag::from_len_mtime(len, modified));
        // §8.8.3: a variant's tag differs from its original's.
        let tag = match coding {
            Some(c) if tag.is_weak() => {
                EntityTag::weak(&format!("{}-{}", tag.opaque(), c.as_str())).unwrap_or(tag)
            }
            Some(c) => {
                EntityTag::strong(&format!("{}-{}", tag.opaque(), c.as_str())).unwrap_or(tag)
            }
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

fn store_error(e: object_store::Error) -> Error {
    Error::with_source(ErrorKind::Unavailable, e)
}

/// `f` within `timeout` (when there is one), else an `Unavailable` error.
async fn bounded<T>(
    timeout: Option<Duration>,
    f: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match timeout {
        None => f.await,
        Some(t) => tokio::time::timeout(t, f).await.unwrap_or_else(|_| {
            Err(Error::with_source(
                ErrorKind::Unavailable,
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the store did not answer in time",
                ),
            ))
        }),
    }
}

impl Store for BucketStore {
    fn open<'a>(&'a self, key: &'a Key, accept: &'a AcceptEncoding) -> OpenFuture<'a> {
        OpenFuture::new(bounded(self.inner.timeout, self.open_key(key, accept)))
    }

    fn list<'a>(&'a self, key: &'a Key) -> ListFuture<'a> {
        ListFuture::new(async move {
            let path = self.object_path(key.as_str());
            let r = bounded(self.inner.timeout, async {
                self.inner
                    .store
                    .list_with_delimiter(Some(&path))
                    .await
                    .map_err(store_error)
            })
            .await?;
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

/// Streams ranges of one object version.
struct ObjectSource {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    e_tag: Option<String>,
    timeout: Option<Duration>,
}

impl Source for ObjectSource {
    fn read(&self, range: Range<u64>) -> Body {
        let (store, path) = (self.store.clone(), self.path.clone());
        let opts = GetOptions {
            range: Some(GetRange::Bounded(range.clone())),
            // The version the decision was made for, or nothing.
            if_match: self.e_tag.clone(),
            ..GetOptions::default()
        };
        let stream = futures_util::stream::once(async move {
            store
                .get_opts(&path, opts)
                .await
                .map(|r| r.into_stream())
                .map_err(std::io::Error::other)
        })
        .flat_map(|r| match r {
            Ok(s) => s.map(|c| c.map_err(std::io::Error::other)).boxed(),
            Err(e) => futures_util::stream::once(async move { Err(e) }).boxed(),
        })
        .boxed();
        Body::new(ExactBody::new(
            stream,
            range.end - range.start,
            self.timeout,
        ))
    }
}

/// A byte stream that must yield exactly `left` bytes: a short or long object
/// is an error (the head is already sent; the connection is aborted), never a
/// corrupted body.
/// With a timeout, no more than that may pass waiting for the next piece
/// (the first one included: the store's answer to the body request).
struct ExactBody {
    stream: BoxStream<'static, std::io::Result<Bytes>>,
    left: u64,
    stall: Option<(Duration, Pin<Box<tokio::time::Sleep>>)>,
}

impl ExactBody {
    fn new(
        stream: BoxStream<'static, std::io::Result<Bytes>>,
        left: u64,
        timeout: Option<Duration>,
    ) -> Self {
        let stall = timeout.map(|t| (t, Box::pin(tokio::time::sleep(t))));
        ExactBody {
            stream,
            left,
            stall,
        }
    }
}

impl http_body::Body for ExactBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        let next = match self.stream.poll_next_unpin(cx) {
            Poll::Ready(next) => next,
            Poll::Pending => {
                let waiting = self.left > 0;
                let expired = match &mut self.stall {
                    Some((t, sleep)) if waiting => sleep.as_mut().poll(cx).is_ready().then_some(*t),
                    _ => None,
                };
                if let Some(t) = expired {
                    self.left = 0;
                    self.stall = None;
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("the store sent nothing for {} s", t.as_secs_f32()),
                    ))));
                }
                return Poll::Pending;
            }
        };
        if let Some((t, sleep)) = &mut self.stall {
            let deadline = tokio::time::Instant::now() + *t;
            sleep.as_mut().reset(deadline);
        }
        match next {
            Some(Ok(chunk)) => {
                let n = chunk.len() as u64;
                if n > self.left {
                    self.left = 0;
                    return Poll::Ready(Some(Err(std::io::Error::other(
                        "object longer than its metadata said",
                    ))));
                }
                self.left -= n;
                Poll::Ready(Some(Ok(http_body::Frame::data(chunk))))
            }
            Some(Err(e)) => {
                self.left = 0;
                Poll::Ready(Some(Err(e)))
            }
            None if self.left > 0 => {
                self.left = 0;
                Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "object shorter than its metadata said",
                ))))
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.left)
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

    /// Pieces `gap` apart, then (with `stall`) a wait for ever.
    fn trickle(
        pieces: usize,
        gap: Duration,
        stall: bool,
    ) -> BoxStream<'static, std::io::Result<Bytes>> {
        let flowing = futures_util::stream::iter(0..pieces).then(move |_| async move {
            tokio::time::sleep(gap).await;
            Ok(Bytes::from_static(b"0123456789"))
        });
        if stall {
            flowing.chain(futures_util::stream::pending()).boxed()
        } else {
            flowing.boxed()
        }
    }

    async fn drain(mut body: ExactBody) -> (usize, Option<std::io::Error>) {
        use http_body_util::BodyExt as _;
        let mut got = 0;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => got += f.into_data().map_or(0, |d| d.len()),
                Err(e) => return (got, Some(e)),
            }
        }
        (got, None)
    }

    #[tokio::test]
    async fn a_flowing_body_may_outlast_the_timeout_but_a_stall_may_not() {
        let t = Duration::from_millis(150);
        // 8 pieces 50 ms apart: 400 ms in all, past the 150 ms bound, never
        // 150 ms without a piece. Used to be cut by the store client's
        // overall request timeout.
        let (got, err) = drain(ExactBody::new(
            trickle(8, Duration::from_millis(50), false),
            80,
            Some(t),
        ))
        .await;
        assert_eq!((got, err.map(|e| e.to_string())), (80, None));
        // 3 pieces, then nothing: an error after the bound, not a hang.
        let stalled = ExactBody::new(trickle(3, Duration::from_millis(10), true), 80, Some(t));
        let (got, err) = tokio::time::timeout(Duration::from_secs(2), drain(stalled))
            .await
            .expect("a stalled body ends within the bound, it does not hang");
        assert_eq!(got, 30);
        let err = err.expect("a stall is an error");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    }
}
