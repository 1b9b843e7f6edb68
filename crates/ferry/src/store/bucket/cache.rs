//! The disk cache's index: which objects are on disk, how fresh they are,
//! which was used least recently, and the size budget.
//!
//! The index lives in memory and is rebuilt from the directory's files at
//! start ([`DiskCache::open`]), so a restart keeps the cache. Files found at
//! start are checked against their length at once and against their CRC when
//! first used; a damaged one is removed and the object fetched again.
use super::disk::{self, Stored};
use super::flight::Flights;
use bytes::Bytes;
use ferry_proto::EntityTag;
use http::HeaderValue;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Cached files kept open between requests, at most (others are opened per
/// request): the hottest objects are sent without an `open(2)`.
const OPEN_FILES: usize = 1024;
/// Objects remembered as missing, at most (the map is cleared when full).
const MISSING: usize = 10_000;
/// Objects up to this size are also kept in memory once checked, so a hit
/// costs no system call (as the file store's open-file cache does).
pub(super) const SMALL: u64 = 16 * 1024;
/// The most bytes of small objects kept in memory.
const IN_MEMORY: u64 = 64 << 20;

/// A bounded cache of object bodies on local disk, for
/// [`BucketStore::disk_cache`](super::BucketStore::disk_cache).
///
/// Objects are kept whole, one file each, up to a total size; the least
/// recently used are removed to make room. A cached object is served from its
/// file (with `sendfile(2)` where the server can; objects up to 16 KiB from
/// memory once their file is checked) without asking the store
/// while it is fresh (the store's
/// [`metadata_ttl`](super::BucketStore::metadata_ttl)); after that one
/// conditional request (`If-None-Match` with the object's ETag) revalidates
/// it: a 304 from the store refreshes it, a 200 replaces it. Concurrent misses
/// for one object share one request to the store; the others wait until the
/// object is complete on disk, then read it from there.
///
/// Use one `DiskCache` per directory: [`DiskCache::open`] locks the directory
/// against other processes.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use ferry::store::bucket::{BucketStore, DiskCache};
/// let s3 = object_store::aws::AmazonS3Builder::from_env()
///     .with_bucket_name("assets")
///     .build()?;
/// let cache = DiskCache::open("/var/cache/ferry", 1 << 30)?
///     .max_object(64 << 20)
///     .stale_if_error(Duration::from_secs(300));
/// let store = BucketStore::new(Arc::new(s3), "site")
///     .metadata_ttl(Some(Duration::from_secs(60)))
///     .disk_cache(cache);
/// # let _ = store; Ok(()) }
/// ```
#[derive(Clone)]
pub struct DiskCache {
    pub(super) shared: Arc<Shared>,
    /// Objects larger than this are not cached.
    pub(super) max_object: u64,
    /// How long past its freshness a copy may answer while the store fails.
    pub(super) stale_if_error: Duration,
}

impl std::fmt::Debug for DiskCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskCache")
            .field("dir", &self.shared.dir)
            .field("budget", &self.shared.budget)
            .finish_non_exhaustive()
    }
}

/// Counters of a [`DiskCache`] since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Requests answered from a fresh cached copy, without the store.
    pub hits: u64,
    /// Objects fetched because no copy was cached.
    pub misses: u64,
    /// Conditional requests sent to the store for stale copies.
    pub revalidations: u64,
    /// Objects removed to keep the cache within its size.
    pub evictions: u64,
    /// Bytes of cache files on disk now.
    pub bytes: u64,
    /// Objects cached now.
    pub objects: u64,
}

pub(super) struct Shared {
    pub(super) dir: PathBuf,
    budget: u64,
    index: Mutex<Index>,
    pub(super) flights: Flights,
    next_name: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    revalidations: AtomicU64,
    evictions: AtomicU64,
    /// Held for the cache's lifetime: the directory's lock.
    _lock: File,
}

#[derive(Default)]
/// Keyed by cache key (`BucketStore::cache_key`: the store's id and the
/// object's path), so one directory never answers for another store.
struct Index {
    map: HashMap<Arc<str>, Entry>,
    /// Use order: tick → path; the first is the least recently used.
    lru: BTreeMap<u64, Arc<str>>,
    tick: u64,
    bytes: u64,
    open_files: usize,
    /// Bytes of small objects held in memory.
    in_memory: u64,
    missing: HashMap<String, Instant>,
    /// Objects found larger than the cache takes, last time they were asked
    /// for: metadata first for them (HEAD, then a GET of what is sent).
    big: std::collections::HashSet<String>,
}

struct Entry {
    /// The object's path, shared with the use order.
    key: Arc<str>,
    object: Arc<Object>,
    fetched: Instant,
    tick: u64,
    /// Its CRC was checked by this process (or it was written by it).
    verified: bool,
    file: Option<Arc<File>>,
    /// A small object's body, checked.
    bytes: Option<Bytes>,
}

/// One cached object: what its file holds, with the header values made once.
#[derive(Debug)]
pub(super) struct Object {
    pub(super) stored: Stored,
    pub(super) tag: EntityTag,
    pub(super) etag_value: HeaderValue,
}

impl Object {
    fn new(stored: Stored) -> Self {
        let r = &stored.record;
        let tag = super::tag_for(r.e_tag.as_deref(), r.len, r.last_modified);
        Object {
            etag_value: tag.to_header_value(),
            tag,
            stored,
        }
    }

    fn size(&self) -> u64 {
        self.stored.header_len + self.stored.record.len
    }
}

/// A cached object, open.
#[derive(Debug, Clone)]
pub(super) struct Hit {
    pub(super) object: Arc<Object>,
    pub(super) data: Data,
    verified: bool,
}

/// Where a hit's body is read from.
#[derive(Debug, Clone)]
pub(super) enum Data {
    /// The cache file (the body starts after its header).
    File(Arc<File>),
    /// A small object's body, in memory.
    Memory(Bytes),
}

/// What the index knows about one path.
pub(super) enum Lookup {
    /// Cached and fresh.
    Fresh(Hit),
    /// Cached, past its freshness by this much.
    Stale(Hit, Duration),
    /// Known not to exist, recently.
    Missing,
    /// Not cached.
    Unknown,
}

impl DiskCache {
    /// Opens (creating it if needed) the cache directory `dir`, keeping at
    /// most `budget` bytes of files in it. The index is rebuilt from the
    /// files already there: incomplete or damaged ones (from a crash) are
    /// removed, and the least recently fetched are removed if they exceed the
    /// budget. Files with other names than the cache gives its own are left
    /// alone.
    ///
    /// # Errors
    ///
    /// The directory cannot be created or read, or another process holds it.
    pub fn open(dir: impl AsRef<Path>, budget: u64) -> io::Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(".lock"))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
            |_| {
                io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!("{}: in use by another process", dir.display()),
                )
            },
        )?;
        let mut found: HashMap<String, Stored> = HashMap::new();
        let mut last_name = 0u64;
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let Some(name) = e.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            // Only names the cache gives its files are touched: the
            // directory may hold other programs' files (`--cache-dir .`).
            let Some((n, tmp)) = own_name(&name) else {
                continue;
            };
            last_name = last_name.max(n);
            // A crash's leftovers (a fill under way), or a damaged file.
            let read = if tmp { None } else { disk::read(&dir, &name) };
            let Some((stored, _)) = read else {
                let _ = std::fs::remove_file(e.path());
                continue;
            };
            let path = stored.record.key.clone();
            match found.get(&path) {
                Some(other) if other.record.fetched >= stored.record.fetched => {
                    let _ = std::fs::remove_file(e.path());
                }
                _ => {
                    if let Some(old) = found.insert(path, stored) {
                        let _ = std::fs::remove_file(dir.join(old.name));
                    }
                }
            }
        }
        let now_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        let shared = Shared {
            dir,
            budget,
            index: Mutex::default(),
            flights: Flights::default(),
            next_name: AtomicU64::new(now_ns.max(last_name.saturating_add(1))),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            revalidations: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            _lock: lock,
        };
        let mut stored: Vec<Stored> = found.into_values().collect();
        stored.sort_by_key(|s| s.record.fetched);
        let now = (Instant::now(), SystemTime::now());
        let mut unlink = Unlink::default();
        {
            let mut index = shared.lock();
            for s in stored {
                let age = now.1.duration_since(s.record.fetched).unwrap_or_default();
                let fetched = now.0.checked_sub(age).unwrap_or(now.0);
                let over = shared.put(&mut index, Object::new(s), None, fetched, false);
                unlink.0.extend(over.0);
            }
        }
        unlink.now();
        Ok(DiskCache {
            shared: Arc::new(shared),
            max_object: budget,
            stale_if_error: Duration::ZERO,
        })
    }

    /// Objects larger than `bytes` are not cached (default: the budget);
    /// they are streamed from the store, ranges fetched as ranges.
    #[must_use]
    pub fn max_object(mut self, bytes: u64) -> Self {
        self.max_object = bytes.min(self.shared.budget);
        self
    }

    /// How long past its freshness a cached copy may still be served while
    /// the store fails or cannot be reached (the `stale-if-error` of
    /// [RFC 5861 §4]; default 0: a failed revalidation is a 502). Each such
    /// answer is logged as a warning.
    ///
    /// [RFC 5861 §4]: https://www.rfc-editor.org/rfc/rfc5861#section-4
    #[must_use]
    pub fn stale_if_error(mut self, grace: Duration) -> Self {
        self.stale_if_error = grace;
        self
    }

    /// The counters since [`DiskCache::open`], and what is on disk now.
    pub fn stats(&self) -> CacheStats {
        let s = &self.shared;
        let index = s.lock();
        CacheStats {
            hits: s.hits.load(Ordering::Relaxed),
            misses: s.misses.load(Ordering::Relaxed),
            revalidations: s.revalidations.load(Ordering::Relaxed),
            evictions: s.evictions.load(Ordering::Relaxed),
            bytes: index.bytes,
            objects: index.map.len() as u64,
        }
    }
}

/// The number in a name the cache gives its files (`Shared::next_name`:
/// 16 lowercase hex digits), and whether it is a temporary one (`.tmp`,
/// [`disk::Writer`]); `None` for any other name.
fn own_name(name: &str) -> Option<(u64, bool)> {
    let (stem, tmp) = match name.strip_suffix(".tmp") {
        Some(stem) => (stem, true),
        None => (name, false),
    };
    let own = stem.len() == 16 && stem.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    own.then(|| u64::from_str_radix(stem, 16).ok())
        .flatten()
        .map(|n| (n, tmp))
}

pub(super) enum Counter {
    Hit,
    Miss,
    Revalidation,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn count(&self, c: Counter) {
        let n = match c {
            Counter::Hit => &self.hits,
            Counter::Miss => &self.misses,
            Counter::Revalidation => &self.revalidations,
        };
        n.fetch_add(1, Ordering::Relaxed);
    }

    /// A new file name, never used before in this directory.
    pub(super) fn next_name(&self) -> String {
        format!("{:016x}", self.next_name.fetch_add(1, Ordering::Relaxed))
    }

    /// What the index knows about `path`, with `ttl` as its freshness.
    /// A cached file that cannot be opened is dropped from the index.
    pub(super) fn lookup(&self, path: &str, ttl: Duration) -> Lookup {
        let mut guard = self.lock();
        let index = &mut *guard;
        let Some(e) = index.map.get_mut(path) else {
            let missing = index.missing.get(path).is_some_and(|at| at.elapsed() < ttl);
            return if missing {
                Lookup::Missing
            } else {
                Lookup::Unknown
            };
        };
        index.tick += 1;
        index.lru.remove(&e.tick);
        e.tick = index.tick;
        index.lru.insert(e.tick, e.key.clone());
        let data = match (&e.bytes, &e.file) {
            (Some(b), _) => Data::Memory(b.clone()),
            (None, Some(f)) => Data::File(f.clone()),
            (None, None) => {
                let Ok(f) = File::open(self.dir.join(&e.object.stored.name)) else {
                    if let Some(old) = index.map.remove(path) {
                        self.forget(index, &old).later();
                    }
                    return Lookup::Unknown;
                };
                let f = Arc::new(f);
                if index.open_files < OPEN_FILES {
                    index.open_files += 1;
                    e.file = Some(f.clone());
                }
                Data::File(f)
            }
        };
        let hit = Hit {
            object: e.object.clone(),
            data,
            verified: e.verified,
        };
        let age = e.fetched.elapsed();
        match age.checked_sub(ttl) {
            Some(past) => Lookup::Stale(hit, past),
            None => Lookup::Fresh(hit),
        }
    }

    /// Whether `hit`'s file is whole: its length always, its CRC once per
    /// process (a small object is then kept in memory, and `hit` reads it
    /// from there). A damaged file is removed from the cache.
    pub(super) async fn check(&self, hit: &mut Hit) -> bool {
        let file = match &hit.data {
            Data::Memory(_) => return true,
            Data::File(f) => f.clone(),
        };
        let want = hit.object.size();
        if !file.metadata().is_ok_and(|m| m.len() == want) {
            self.remove(&hit.object).run().await;
            return false;
        }
        if hit.verified {
            return true;
        }
        let object = hit.object.clone();
        let checked = tokio::task::spawn_blocking(move || disk::verify(&file, &object.stored))
            .await
            .unwrap_or(None);
        let ok = checked.is_some();
        if let Some(body) = checked {
            let mut index = self.lock();
            let index = &mut *index;
            if let Some(e) = index.map.get_mut(hit.object.stored.record.key.as_str()) {
                if Arc::ptr_eq(&e.object, &hit.object) {
                    e.verified = true;
                    if let Some(b) = body.filter(|b| index.in_memory + b.len() as u64 <= IN_MEMORY)
                    {
                        index.in_memory += b.len() as u64;
                        e.bytes = Some(b.clone());
                        // Read from memory from now on: its file need not
                        // stay open.
                        index.open_files -= usize::from(e.file.take().is_some());
                        hit.data = Data::Memory(b);
                    }
                }
            }
        } else {
            tracing::warn!(
                path = %hit.object.stored.record.key,
                file = %hit.object.stored.name,
                "damaged cache file removed; fetching the object again"
            );
            self.remove(&hit.object).run().await;
        }
        ok
    }

    /// Adds a complete file just written (with the body of a small
    /// object), replacing any older copy, and evicts the least recently used
    /// objects beyond the budget (their files are unlinked here, after the
    /// index is released: call it on the blocking pool).
    pub(super) fn insert(&self, stored: Stored, file: File, small: Option<Bytes>) -> Hit {
        let object = Arc::new(Object::new(stored));
        let file = Arc::new(file);
        let mut index = self.lock();
        index.missing.remove(&object.stored.record.key);
        let small = small.filter(|b| index.in_memory + b.len() as u64 <= IN_MEMORY);
        // A small object is read from memory: its file is not kept open.
        let keep = small.is_none().then(|| file.clone());
        let unlink = self.put(&mut index, object.clone(), keep, Instant::now(), true);
        let data = match small {
            Some(b) => {
                index.in_memory += b.len() as u64;
                if let Some(e) = index.map.get_mut(object.stored.record.key.as_str()) {
                    e.bytes = Some(b.clone());
                }
                Data::Memory(b)
            }
            None => Data::File(file),
        };
        drop(index);
        unlink.now();
        Hit {
            object,
            data,
            verified: true,
        }
    }

    fn put(
        &self,
        index: &mut Index,
        object: impl Into<Arc<Object>>,
        file: Option<Arc<File>>,
        fetched: Instant,
        verified: bool,
    ) -> Unlink {
        let mut unlink = Unlink::default();
        let object = object.into();
        let path: Arc<str> = object.stored.record.key.as_str().into();
        index.tick += 1;
        let tick = index.tick;
        index.bytes += object.size();
        let file = file.filter(|_| index.open_files < OPEN_FILES);
        index.open_files += usize::from(file.is_some());
        let entry = Entry {
            key: path.clone(),
            object,
            fetched,
            tick,
            verified,
            file,
            bytes: None,
        };
        if let Some(old) = index.map.insert(path.clone(), entry) {
            unlink.0.extend(self.forget(index, &old).0);
        }
        index.lru.insert(tick, path);
        while index.bytes > self.budget && index.map.len() > 1 {
            let Some((_, victim)) = index.lru.pop_first() else {
                break;
            };
            if let Some(old) = index.map.remove(&victim) {
                index.lru.insert(old.tick, victim); // forget() removes it again
                unlink.0.extend(self.forget(index, &old).0);
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
        unlink
    }

    /// Drops an entry already taken out of the map: its accounting, and its
    /// file once the caller has released the index.
    fn forget(&self, index: &mut Index, old: &Entry) -> Unlink {
        index.lru.remove(&old.tick);
        index.bytes -= old.object.size();
        index.open_files -= usize::from(old.file.is_some());
        index.in_memory -= old.bytes.as_ref().map_or(0, |b| b.len() as u64);
        // Responses still reading it keep their open file; the name goes.
        Unlink(vec![self.dir.join(&old.object.stored.name)])
    }

    /// Removes `object` if it is still the cached copy of its path.
    pub(super) fn remove(&self, object: &Arc<Object>) -> Unlink {
        let mut index = self.lock();
        let path = object.stored.record.key.as_str();
        if index
            .map
            .get(path)
            .is_some_and(|e| Arc::ptr_eq(&e.object, object))
        {
            if let Some(old) = index.map.remove(path) {
                return self.forget(&mut index, &old);
            }
        }
        Unlink::default()
    }

    /// Removes whatever is cached for `path`: the store sent another
    /// version, which the cache does not take.
    pub(super) fn discard(&self, path: &str) -> Unlink {
        let mut index = self.lock();
        match index.map.remove(path) {
            Some(old) => self.forget(&mut index, &old),
            None => Unlink::default(),
        }
    }

    /// Removes whatever is cached for `path` and remembers that it is gone.
    pub(super) fn missing(&self, path: &str) -> Unlink {
        let mut index = self.lock();
        let unlink = match index.map.remove(path) {
            Some(old) => self.forget(&mut index, &old),
            None => Unlink::default(),
        };
        if index.missing.len() >= MISSING {
            index.missing.clear();
        }
        index.missing.insert(path.to_owned(), Instant::now());
        unlink
    }

    /// Notes whether `path` was found too large to cache.
    pub(super) fn set_big(&self, path: &str, big: bool) {
        let mut index = self.lock();
        if !big {
            index.big.remove(path);
            return;
        }
        if index.big.len() >= MISSING {
            index.big.clear();
        }
        index.big.insert(path.to_owned());
    }

    /// Whether `path` was too large to cache last time.
    pub(super) fn is_big(&self, path: &str) -> bool {
        self.lock().big.contains(path)
    }

    /// The store answered 304 to a request with the ETag `known`: the copy
    /// of `path` is fresh again from now if it is still the one with that
    /// ETag (`None` if not). Its file records the time, for a restart (on
    /// the blocking pool, after the index is released).
    pub(super) async fn refresh(&self, path: &str, known: &str) -> Option<Hit> {
        let (object, file, bytes, verified) = {
            let mut index = self.lock();
            let e = index
                .map
                .get_mut(path)
                .filter(|e| e.object.stored.record.e_tag.as_deref() == Some(known))?;
            e.fetched = Instant::now();
            (
                e.object.clone(),
                e.file.clone(),
                e.bytes.clone(),
                e.verified,
            )
        };
        let name = self.dir.join(&object.stored.name);
        let file = tokio::task::spawn_blocking(move || {
            let file = match file {
                Some(f) => f,
                None => Arc::new(File::open(name).ok()?),
            };
            disk::touch(&file, SystemTime::now());
            Some(file)
        })
        .await
        .ok()??;
        let data = match bytes {
            Some(b) => Data::Memory(b),
            None => Data::File(file),
        };
        Some(Hit {
            object,
            data,
            verified,
        })
    }
}

/// Cache files taken out of the index, to unlink once its lock is released
/// (never a system call under the lock).
#[derive(Default)]
#[must_use]
pub(super) struct Unlink(Vec<PathBuf>);

impl Unlink {
    /// Unlinks them on this thread.
    pub(super) fn now(self) {
        for p in self.0 {
            let _ = std::fs::remove_file(p);
        }
    }

    /// Unlinks them on the blocking pool, and waits.
    pub(super) async fn run(self) {
        if !self.0.is_empty() {
            let _ = tokio::task::spawn_blocking(move || self.now()).await;
        }
    }

    /// Unlinks them on the blocking pool, without waiting.
    fn later(self) {
        match tokio::runtime::Handle::try_current() {
            Ok(rt) if !self.0.is_empty() => drop(rt.spawn_blocking(move || self.now())),
            _ => self.now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A complete cache file for `key` in `dir`.
    fn written(shared: &Shared, key: &str, body: &[u8]) -> (Stored, File) {
        let record = disk::Record {
            key: key.into(),
            e_tag: Some("\"v1\"".into()),
            last_modified: UNIX_EPOCH,
            content_type: None,
            len: body.len() as u64,
            fetched: SystemTime::now(),
        };
        let name = shared.next_name();
        let mut w = disk::Writer::create(&shared.dir, &name, record).unwrap();
        w.write(body).unwrap();
        w.finish(&name).unwrap()
    }

    #[tokio::test]
    async fn small_objects_in_memory_keep_no_file_open() {
        let d = tempfile::tempdir().unwrap();
        {
            let cache = DiskCache::open(d.path(), 1 << 20).unwrap();
            let s = &cache.shared;
            let (stored, f) = written(s, "s\na", b"hello");
            s.insert(stored, f, Some(Bytes::from_static(b"hello")));
            assert_eq!(s.lock().open_files, 0);
            let (stored, f) = written(s, "s\nb", &[1; 20_000]);
            s.insert(stored, f, None);
            assert_eq!(s.lock().open_files, 1);
        }
        // Found at start, then checked: in memory, its file closed.
        let cache = DiskCache::open(d.path(), 1 << 20).unwrap();
        let s = &cache.shared;
        let Lookup::Fresh(mut hit) = s.lookup("s\na", Duration::from_secs(60)) else {
            panic!("cached");
        };
        assert_eq!(s.lock().open_files, 1);
        assert!(s.check(&mut hit).await);
        assert!(matches!(hit.data, Data::Memory(_)));
        assert_eq!(s.lock().open_files, 0);
    }

    #[tokio::test]
    async fn a_304_refreshes_only_the_copy_it_was_asked_about() {
        let d = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(d.path(), 1 << 20).unwrap();
        let s = &cache.shared;
        let (stored, f) = written(s, "s\na", b"hello");
        s.insert(stored, f, None);
        // Asked about another version (replaced meanwhile): not this one.
        assert!(s.refresh("s\na", "\"v0\"").await.is_none());
        assert!(s.refresh("s\na", "\"v1\"").await.is_some());
    }
}
