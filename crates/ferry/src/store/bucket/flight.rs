//! Filling the disk cache: one request to the store per object at a time.
//!
//! Concurrent misses (or revalidations) of one object are coalesced: the
//! first starts a fill, a task of its own (so a client that goes away does not
//! cancel it), and every request for that object, the first included, waits
//! for its outcome. A fill that brings a body writes it whole to disk before
//! anyone is answered; the waiters then read it from the file. The choice
//! costs the first bytes' latency of a cold object (it waits for the last
//! byte) and buys one code path: every cached answer comes from a complete,
//! checked file.
//!
//! A fill is bounded by the store's timeout as a response is: the store's
//! answer must come within it, and the body may never stall longer than it
//! (a body that keeps flowing is not cut). A fill that fails leaves the map,
//! so a stuck request to the store is never joined by later ones.
use super::cache::{Counter, DiskCache, Hit, Shared};
use super::disk::{Record, Writer};
use super::source::ExactBody;
use super::Head;
use bytes::Bytes;
use futures_util::StreamExt as _;
use http_body::Body as _;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, ObjectStore};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// Bytes gathered from the store before they are written out, at most.
const WRITE_BATCH: usize = 1 << 20;

/// How a fill ended.
#[derive(Debug, Clone)]
pub(super) enum Outcome {
    /// The object is on disk (fetched, or revalidated by a 304).
    Cached(Hit),
    /// The object is larger than the cache takes: its metadata only.
    TooBig(Head),
    /// The cache directory failed (full disk, say): the object's metadata,
    /// for an answer straight from the store.
    Uncached(Head),
    /// The store has no such object.
    Missing,
    /// The store failed or could not be reached.
    Failed(Arc<object_store::Error>),
}

/// The fills under way, by object path.
#[derive(Default)]
pub(super) struct Flights {
    map: Mutex<HashMap<String, watch::Receiver<Option<Outcome>>>>,
}

/// Takes a finished fill out of the map, even if its task panicked.
struct Landing {
    shared: Arc<Shared>,
    path: String,
}

impl Drop for Landing {
    fn drop(&mut self) {
        self.shared
            .flights
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.path);
    }
}

/// What a fill asks the store for.
#[derive(Clone)]
pub(super) struct Fetch {
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) path: ObjectPath,
    /// The object's key in the cache: the store's id and `path`
    /// ([`BucketStore::cache_key`](super::BucketStore)).
    pub(super) key: String,
    /// The cached copy's ETag: the request is conditional.
    pub(super) known: Option<String>,
    /// The longest wait for the store's answer, then for each piece of the
    /// body ([`BucketStore::timeout`](super::BucketStore::timeout)).
    pub(super) timeout: Option<Duration>,
    /// Larger objects are not cached ([`DiskCache::max_object`]).
    pub(super) max_object: u64,
}

/// Fetches `f.path` into `cache`, or waits for the fill of its key already
/// under way.
pub(super) async fn join(cache: &DiskCache, f: Fetch) -> Outcome {
    let shared = &cache.shared;
    let mut rx = {
        let mut map = shared.flights.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&f.key) {
            Some(rx) => rx.clone(),
            None => {
                let (tx, rx) = watch::channel(None);
                map.insert(f.key.clone(), rx.clone());
                shared.count(if f.known.is_some() {
                    Counter::Revalidation
                } else {
                    Counter::Miss
                });
                let landing = Landing {
                    shared: shared.clone(),
                    path: f.key.clone(),
                };
                tokio::spawn(async move {
                    let out = fill(&landing.shared, f).await;
                    drop(landing);
                    tx.send_replace(Some(out));
                });
                rx
            }
        }
    };
    let out = match rx.wait_for(Option::is_some).await {
        Ok(v) => v.clone(),
        Err(_) => None,
    };
    out.unwrap_or_else(|| {
        Outcome::Failed(Arc::new(object_store::Error::Generic {
            store: "cache",
            source: "the fill ended without an outcome".into(),
        }))
    })
}

/// One request to the store, and the body to disk.
async fn fill(shared: &Arc<Shared>, f: Fetch) -> Outcome {
    let (store, path, key) = (&*f.store, &f.path, f.key.as_str());
    let conditional = f.known.is_some();
    let opts = GetOptions {
        if_none_match: f.known.clone(),
        ..GetOptions::default()
    };
    let r = match super::bounded(f.timeout, store.get_opts(path, opts)).await {
        Ok(r) => r,
        Err(object_store::Error::NotModified { .. }) if conditional => {
            let known = f.known.as_deref().unwrap_or_default();
            return match shared.refresh(key, known).await {
                Some(hit) => Outcome::Cached(hit),
                // Evicted or replaced meanwhile: fetch it whole.
                None => {
                    let whole = Fetch {
                        known: None,
                        ..f.clone()
                    };
                    Box::pin(fill(shared, whole)).await
                }
            };
        }
        Err(object_store::Error::NotFound { .. }) => {
            shared.missing(key).run().await;
            return Outcome::Missing;
        }
        Err(e) => return Outcome::Failed(Arc::new(e)),
    };
    let head = Head::of(&r);
    // From here on the store has sent a version (a 200): a cached copy is
    // outdated, and stays only if this one replaces it. Kept, it would be
    // revalidated (and the object fetched twice) on every request.
    if r.meta.size > f.max_object {
        shared.discard(key).run().await;
        return Outcome::TooBig(head);
    }
    let uncached = head.clone();
    let record = Record {
        key: key.to_owned(),
        e_tag: r.meta.e_tag.clone(),
        last_modified: SystemTime::from(r.meta.last_modified),
        content_type: head.content_type.clone(),
        len: r.meta.size,
        fetched: SystemTime::now(),
    };
    let failed = |e: std::io::Error| {
        tracing::warn!(%path, dir = %shared.dir.display(), error = %e, "cannot write to the cache: serving from the store");
        let (unlink, out) = (shared.discard(key), Outcome::Uncached(uncached.clone()));
        async move {
            unlink.run().await;
            out
        }
    };
    let (dir, name) = (shared.dir.clone(), shared.next_name());
    let n = name.clone();
    let mut writer = match blocking(move || Writer::create(&dir, &n, record)).await {
        Ok(w) => w,
        Err(e) => return failed(e).await,
    };
    let size = r.meta.size;
    let small_len = size <= super::cache::SMALL;
    let mut small = None;
    // A body that stalls longer than the timeout fails the fill (and frees
    // its key for the next request); one that keeps flowing is not cut.
    let stream = r.into_stream().map(|c| c.map_err(std::io::Error::other));
    let mut body = ExactBody::new(stream.boxed(), size, f.timeout);
    let mut batch: Vec<Bytes> = Vec::new();
    let mut batched = 0;
    loop {
        let next = if body.is_end_stream() {
            // All the bytes the metadata announced: not waiting for the
            // stream's end, which the stall bound no longer covers.
            None
        } else {
            std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        };
        let end = next.is_none();
        match next {
            Some(Ok(frame)) => {
                if let Ok(chunk) = frame.into_data() {
                    batched += chunk.len();
                    batch.push(chunk);
                }
            }
            Some(Err(e)) => {
                return Outcome::Failed(Arc::new(object_store::Error::Generic {
                    store: "bucket",
                    source: Box::new(e),
                }))
            }
            None => {}
        }
        if end && small_len {
            // The whole body is in this batch: kept for memory too.
            let mut all = bytes::BytesMut::with_capacity(batched);
            for c in &batch {
                all.extend_from_slice(c);
            }
            small = Some(all.freeze());
        }
        if batched >= WRITE_BATCH || end {
            let b = std::mem::take(&mut batch);
            batched = 0;
            writer = match blocking(move || {
                for c in &b {
                    writer.write(c)?;
                }
                Ok(writer)
            })
            .await
            {
                Ok(w) => w,
                Err(e) => return failed(e).await,
            };
        }
        if end {
            break;
        }
    }
    let sh = shared.clone();
    let done = blocking(move || {
        let (stored, file) = writer.finish(&name)?;
        Ok(sh.insert(stored, file, small))
    });
    match done.await {
        Ok(hit) => Outcome::Cached(hit),
        Err(e) => failed(e).await,
    }
}

/// Runs file I/O on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}
