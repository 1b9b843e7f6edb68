//! The object storage disk cache (`BucketStore::disk_cache`), against
//! `object_store`'s in-memory store behind a wrapper that counts the requests
//! that reach it (`support/store.rs`).
#![cfg(all(feature = "test-util", feature = "object-store"))]

#[path = "support/store.rs"]
mod store;

use ferry::store::bucket::{BucketStore, DiskCache};
use ferry::store::conformance::{check, send, FIXTURE};
use ferry::ServeDir;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore as _, PutPayload};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use store::Store;

async fn put(store: &Store, key: &str, data: impl Into<PutPayload>) {
    store
        .inner
        .put(&ObjectPath::from(key), data.into())
        .await
        .unwrap();
}

async fn filled() -> Arc<Store> {
    filled_as("").await
}

/// A filled store whose `Display` has `label`.
async fn filled_as(label: &'static str) -> Arc<Store> {
    let s = Arc::new(Store {
        label,
        ..Store::default()
    });
    for (key, data) in FIXTURE.iter().chain([&(".env", &b"SECRET=1"[..])]) {
        put(&s, &format!("site/{key}"), PutPayload::from_static(data)).await;
    }
    s
}

fn bucket(store: &Arc<Store>, cache: &DiskCache, ttl_ms: u64) -> BucketStore {
    BucketStore::new(store.clone(), "site")
        .precompressed(true)
        .metadata_ttl(Some(Duration::from_millis(ttl_ms)))
        .disk_cache(cache.clone())
}

fn serve(store: &Arc<Store>, cache: &DiskCache, ttl_ms: u64) -> ServeDir<BucketStore> {
    ServeDir::new(bucket(store, cache, ttl_ms))
}

/// The cache files in `dir` (not the lock), their total size.
fn on_disk(dir: &std::path::Path) -> (usize, u64) {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .fold((0, 0), |(n, b), e| (n + 1, b + e.metadata().unwrap().len()))
}

#[tokio::test]
async fn a_cached_bucket_conforms_cold_and_warm() {
    let d = tempfile::tempdir().unwrap();
    let cache = DiskCache::open(d.path(), 1 << 20).unwrap();
    for ttl in [0, 60_000] {
        let store = filled().await;
        // Twice: the first run fills the cache, the second answers from it.
        check(bucket(&store, &cache, ttl)).await;
        check(bucket(&store, &cache, ttl)).await;
    }
    assert!(cache.stats().hits > 0, "{:?}", cache.stats());
}

#[tokio::test]
async fn a_cold_miss_is_one_get_and_a_warm_hit_none() {
    let d = tempfile::tempdir().unwrap();
    let store = filled().await;
    let cache = DiskCache::open(d.path(), 1 << 20).unwrap();
    let svc = serve(&store, &cache, 60_000);
    let r = send(&svc, "GET", "/a.txt", &[]).await;
    assert_eq!((r.status, &r.body[..]), (200, &b"hello, conformance\n"[..]));
    assert_eq!((store.gets(), store.heads.load(Ordering::SeqCst)), (1, 0));
    let etag = r.headers["etag"].to_str().unwrap().to_owned();

    for (h, status) in [
        (None, 200),
        (Some(("if-none-match", etag.as_str())), 304),
        (Some(("if-match", "\"other\"")), 412),
        (Some(("range", "bytes=999-")), 416),
        (Some(("range", "bytes=0-4")), 206),
    ] {
        let r = send(&svc, "GET", "/a.txt", h.as_slice()).await;
        assert_eq!(r.status, status, "{h:?}");
        // The validators are the object's own.
        if matches!(status, 200 | 206 | 304) {
            assert_eq!(r.headers["etag"], etag.as_str(), "{h:?}");
        }
    }
    assert_eq!(store.gets() + store.heads.load(Ordering::SeqCst), 1);
    let s = cache.stats();
    assert_eq!((s.misses, s.hits, s.objects), (1, 5, 1), "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_misses_cost_one_get() {
    let d = tempfile::tempdir().unwrap();
    let store = filled().await;
    put(&store, "site/big.bin", vec![9u8; 300_000]).await;
    store.delay_ms.store(200, Ordering::SeqCst);
    let cache = DiskCache::open(d.path(), 1 << 20).unwrap();
    let svc = Arc::new(serve(&store, &cache, 60_000));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let svc = svc.clone();
            tokio::spawn(async move { send(&svc, "GET", "/big.bin", &[]).await })
        })
        .collect();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!((r.status, r.body.len()), (200, 300_000));
        assert!(r.body.iter().all(|b| *b == 9));
    }
    assert_eq!(store.gets(), 1, "100 concurrent misses, one store GET");
    assert_eq!(cache.stats().misses, 1);
}

#[tokio::test]
async fn eviction_keeps_the_cache_within_its_size() {
    let d = tempfile::tempdir().unwrap();
    let store = filled().await;
    for i in 0..20 {
        put(&store, &format!("site/o{i}"), vec![i as u8; 10_000]).await;
    }
    let budget = 50_000;
    let cache = DiskCache::open(d.path(), budget).unwrap();
    let svc = serve(&store, &cache, 60_000);
    for i in 0..20 {
        let r = send(&svc, "GET", &format!("/o{i}"), &[]).await;
        assert_eq!((r.status, r.body.len()), (200, 10_000));
        let s = cache.stats();
        assert!(s.bytes <= budget, "{s:?}");
        assert_eq!(on_disk(d.path()).1, s.bytes);
    }
    let s = cache.stats();
    assert!(s.evictions >= 15 && s.objects <= 4, "{s:?}");
    // The most recently used is still there; the first was evicted.
    let before = store.gets();
    send(&svc, "GET", "/o19", &[]).await;
    assert_eq!(store.gets(), before);
    let r = send(&svc, "GET", "/o0", &[]).await;
    assert_eq!((r.status, r.body[0]), (200, 0));
    assert_eq!(store.gets(), before + 1);
}

#[tokio::test]
async fn a_restart_keeps_the_cache() {
    let d = tempfile::tempdir().unwrap();
    let store = filled().await;
    {
        let cache = DiskCache::open(d.path(), 1 << 20).unwrap();
        let svc = serve(&store, &cache, 60_000);
        assert_eq!(send(&svc, "GET", "/a.txt", &[]).await.status, 200);
        // A second cache on the same directory is refused while one is open.
        assert!(DiskCache::open(d.path(), 1 << 20).is_err());
    }
    // A crash's half-written file is swept at start.
    std::fs::write(d.path().join("00000000000000ff.tmp"), b"half").unwrap();
    let cache = DiskCache::open(d.path(), 1 << 20).unwrap();
    assert_eq!(cache.stats().objects, 1);
    assert_eq!(on_disk(d.path()).0, 1);
    let svc = serve(&store, &cache, 60_000);
    let r = send(&svc, "GET", "/a.txt", &[]).await;
    assert_eq!((r.status, &r.body[..]), (200, &b"hello, conformance\n"[..]));
    assert_eq!(
        store.gets(),
        1,
        "served after the restart without the store"
    );
}

#[tokio::test]
async fn a_replaced_object_is_served_new_after_the_ttl_never_mixed() {
    let d = tempfile::tempdir().unwrap();
    let store = filled().await;
    let cache = DiskCache::open(d.path(), 1 << 20).unwrap();
    let svc = serve(&store, &cache, 300);
    let old = send(&svc, "GET", "/a.txt", &[]).await;
    put(&store, "site/a.txt", &b"version two, longer than one\n"[..]).await;
    // Within the TTL: the cached copy, whole, with its own ETag.
    let r = send(&svc, "GET", "/a.txt", &[]).await;
    assert_eq!(
        (&r.body, &r.headers["etag"]),
        (&old.body, &old.headers["etag"])
    );
    assert_eq!(store.gets(), 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let r = send(&svc, "GET", "/a.txt", &[]).await;
    assert_eq!(&r.body[..], b"version two, longer than one\n");
    assert_ne!(r.headers["etag"], old.headers["etag"]);
    assert_eq!(r.headers["content-length"], "29");
    assert_eq!(store.conditional.load(Ordering::SeqCst), 1);
    // The old file is gone: one copy per object.
    assert_eq!(on_disk(d.path()).0, 1);

    // Unchanged past the TTL: a 304 from the store refreshes the copy.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let again = send(&svc, "GET", "/a.txt", &[]).await;
    assert_eq!(
        (&again.body, &again.headers["etag"]),
        (&r.body, &r.headers["etag"])
    );
    assert_eq!((store.gets(), cache.stats().revalidations), (3, 2));
    let r = send(&svc, "GET", "/a.txt", &[]).await;
    assert_eq!((r.status, store.gets()), (200, 3), "fresh again");

    // Deleted from the bucket: 404 after the TTL.
    store
        .inner
        .delete(&ObjectPath::from("site/a.txt"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(send(&svc, "GET", "/a.txt", &[]).await.status, 404);
    assert_eq!(on_disk(d.path()).0, 0);
}

/// The one cache file in `dir`.
fn the_file(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .unwrap()
}

#[tokio::test]
async fn a_corrupted_or_truncated_file_is_refetched() {
    let d = tempfile::tempdir().unwrap();
    let store = filled().await;
    let want = b"hello, conformance\n";
    {
        let cache = DiskCache::open(d.path(), 1 << 20).unwrap();
        send(&serve(&store, &cache, 60_000), "GET", "/a.txt", &[]).await;
    }
    // Same length, one byte changed (bit rot, a crash before the data hit
    // the disk): the CRC check at first use catches it.
    let f = the_file(d.path());
    let mut bytes = std::fs::read(&f).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x20;
    std::fs::write(&f, &bytes).unwrap();
    let cache = DiskCache::open(d.path(), 1 << 20).unwrap();
    let svc = serve(&store, &cache, 60_000);
    let r = send(&svc, "GET", "/a.txt", &[]).await;
    assert_eq!((r.status, &r.body[..]), (200, &want[..]));
    assert_eq!(store.gets(), 2, "refetched");

    // Truncated while running: the length check at each use catches it (for
    // objects read from their file; small ones are served from memory once
    // checked, whatever happens to the file).
    put(&store, "site/big.dat", vec![5u8; 40_000]).await;
    assert_eq!(send(&svc, "GET", "/big.dat", &[]).await.status, 200);
    let f = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::metadata(p).unwrap().len() > 40_000)
        .unwrap();
    let len = std::fs::metadata(&f).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&f)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let r = send(&svc, "GET", "/big.dat", &[]).await;
    assert_eq!((r.status, r.body.len()), (200, 40_000));
    assert!(r.body.iter().all(|b| *b == 5));
    assert_eq!(store.gets(), 4, "refetched");
    let r = send(&svc, "GET", "/a.txt", &[]).await;
    assert_eq!((r.status, &r.body[..], store.gets()), (200, &want[..], 4));
    // Truncated before a restart: dropped when the index is rebuilt.
    drop(svc);
    drop(cache);
    // (big.dat's file out of the way: a.txt's is then the one.)
    for e in std::fs::read_dir(d.path()).unwrap() {
        let p = e.unwrap().path();
        if std::fs::metadata(&p).unwrap().len() > 40_000 {
            std::fs::remove_file(p).unwrap();
        }
    }
    let f = the_file(d.path());
    let len = std::fs::metadata(&f).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&f)
        .unwrap()
        .set_len(len - 1)
        .unwrap();
    let cache = DiskCache::open(d.path(), 1 << 20).unwrap();
    assert_eq!(cache.stats().objects, 0);
}

#[tokio::test]
async fn the_store_down_serves_the_cached_copy_within_the_grace_then_502() {
    let d = tempfile::tempdir().unwrap();
    let store = filled().await;
    let cache = DiskCache::open(d.path(), 1 << 20)
        .unwrap()
        .stale_if_error(Duration::from_millis(600));
    let svc = serve(&store, &cache, 200);
    assert_eq!(send(&svc, "GET", "/a.txt", &[]).await.status, 200);
    store.down.store(true, Ordering::SeqCst);
    // Uncached: 502 as without a cache.
    assert_eq!(send(&svc, "GET", "/docs/index.html", &[]).await.status, 502);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Stale, the store down, within the grace: the cached copy.
    let r = send(&svc, "GET", "/a.txt", &[]).await;
    assert_eq!((r.status, &r.body[..]), (200, &b"hello, conformance\n"[..]));
    tokio::time::sleep(Duration::from_millis(600)).await;
    // Past the grace: 502.
    assert_eq!(send(&svc, "GET", "/a.txt", &[]).await.status, 502);
    // Back up: revalidated (304 from the store) and served.
    store.down.store(false, Ordering::SeqCst);
    let r = send(&svc, "GET", "/a.txt", &[]).await;
    assert_eq!((r.status, &r.body[..]), (200, &b"hello, conformance\n"[..]));
}

#[tokio::test]
async fn objects_over_the_max_are_not_cached_and_ranges_stay_ranges() {
    let d = tempfile::tempdir().unwrap();
    let store = filled().await;
    let cache = DiskCache::open(d.path(), 1 << 20).unwrap().max_object(1000);
    let svc = serve(&store, &cache, 60_000);
    // nested/deep/file.bin is 3000 bytes: over the maximum.
    let r = send(
        &svc,
        "GET",
        "/nested/deep/file.bin",
        &[("range", "bytes=10-19")],
    )
    .await;
    assert_eq!((r.status, r.body.len()), (206, 10));
    assert_eq!(cache.stats().objects, 0);
    // Its metadata is remembered: the next range is one ranged GET.
    let before = (store.gets(), store.ranged.load(Ordering::SeqCst));
    let r = send(
        &svc,
        "GET",
        "/nested/deep/file.bin",
        &[("range", "bytes=0-1")],
    )
    .await;
    assert_eq!((r.status, r.body.len()), (206, 2));
    assert_eq!(
        (store.gets(), store.ranged.load(Ordering::SeqCst)),
        (before.0 + 1, before.1 + 1)
    );
    // Without a metadata TTL it is known as large: a HEAD, then a ranged GET
    // (never a whole-object GET cut short).
    let svc0 = serve(&store, &cache, 0);
    let before = (store.gets(), store.heads.load(Ordering::SeqCst));
    let r = send(
        &svc0,
        "GET",
        "/nested/deep/file.bin",
        &[("range", "bytes=5-9")],
    )
    .await;
    assert_eq!((r.status, r.body.len()), (206, 5));
    assert_eq!(
        (store.gets(), store.heads.load(Ordering::SeqCst)),
        (before.0 + 1, before.1 + 1)
    );
    // A small object's range fills the cache.
    let r = send(&svc, "GET", "/a.txt", &[("range", "bytes=0-4")]).await;
    assert_eq!((r.status, &r.body[..]), (206, &b"hello"[..]));
    assert_eq!(cache.stats().objects, 1);
}

#[tokio::test]
async fn a_cache_directory_that_fails_is_bypassed_not_a_502() {
    let d = tempfile::tempdir().unwrap();
    let store = filled().await;
    let dir = d.path().join("cache");
    let cache = DiskCache::open(&dir, 1 << 20).unwrap();
    // Gone from under the cache (a full or lost disk fails alike).
    std::fs::remove_dir_all(&dir).unwrap();
    let svc = serve(&store, &cache, 60_000);
    let r = send(&svc, "GET", "/a.txt", &[]).await;
    assert_eq!((r.status, &r.body[..]), (200, &b"hello, conformance\n"[..]));
    assert_eq!(cache.stats().objects, 0);
}

#[tokio::test]
async fn files_the_cache_did_not_write_survive_open() {
    let d = tempfile::tempdir().unwrap();
    // `--cache-dir .` or `/var/cache`: other programs' files are left alone,
    // a foreign `.tmp` too; only the cache's own names are swept.
    for name in ["notes.txt", "backup.tmp", "ABCDEF0123456789", "0123"] {
        std::fs::write(d.path().join(name), b"keep me").unwrap();
    }
    std::fs::write(d.path().join("00000000000000aa"), b"not a header").unwrap();
    std::fs::write(d.path().join("00000000000000ab.tmp"), b"half").unwrap();
    let cache = DiskCache::open(d.path(), 1 << 20).unwrap();
    assert_eq!(cache.stats().objects, 0);
    for name in ["notes.txt", "backup.tmp", "ABCDEF0123456789", "0123"] {
        assert_eq!(std::fs::read(d.path().join(name)).unwrap(), b"keep me");
    }
    assert!(!d.path().join("00000000000000aa").exists());
    assert!(!d.path().join("00000000000000ab.tmp").exists());
}

/// Where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).position(|w| w == needle).unwrap()
}

#[tokio::test]
async fn a_corrupted_header_is_never_trusted() {
    let d = tempfile::tempdir().unwrap();
    let store = filled().await;
    {
        let cache = DiskCache::open(d.path(), 1 << 20).unwrap();
        send(&serve(&store, &cache, 60_000), "GET", "/a.txt", &[]).await;
    }
    let f = the_file(d.path());
    let good = std::fs::read(&f).unwrap();
    // The path in the header damaged: `a.txt`'s body is not served for
    // `b.txt` (the header is under the CRC too).
    let mut bytes = good.clone();
    let at = find(&bytes, b"a.txt");
    bytes[at] = b'b';
    std::fs::write(&f, &bytes).unwrap();
    {
        let cache = DiskCache::open(d.path(), 1 << 20).unwrap();
        let svc = serve(&store, &cache, 60_000);
        assert_eq!(send(&svc, "GET", "/b.txt", &[]).await.status, 404);
        // Fetched again, whole.
        let r = send(&svc, "GET", "/a.txt", &[]).await;
        assert_eq!(&r.body[..], b"hello, conformance\n");
        assert_eq!(store.gets(), 3, "the first fill, b.txt, a.txt again");
    }
    // A fetch time past what a `SystemTime` holds: the file is dropped, the
    // cache opens (it used to panic, and ferry could not start).
    let f = the_file(d.path());
    let mut bytes = std::fs::read(&f).unwrap();
    bytes[24..32].copy_from_slice(&[0xFF; 8]);
    std::fs::write(&f, &bytes).unwrap();
    let cache = DiskCache::open(d.path(), 1 << 20).unwrap();
    assert_eq!(cache.stats().objects, 0);
}

#[tokio::test]
async fn an_object_grown_past_the_max_leaves_the_cache() {
    let d = tempfile::tempdir().unwrap();
    let store = filled().await;
    let cache = DiskCache::open(d.path(), 1 << 20).unwrap().max_object(1000);
    let svc = serve(&store, &cache, 200);
    assert_eq!(send(&svc, "GET", "/a.txt", &[]).await.status, 200);
    assert_eq!(cache.stats().objects, 1);
    put(&store, "site/a.txt", vec![1u8; 3000]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = send(&svc, "GET", "/a.txt", &[]).await;
    assert_eq!((r.status, r.body.len()), (200, 3000));
    // The old copy is gone: not revalidated again and again.
    assert_eq!(cache.stats().objects, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = send(&svc, "GET", "/a.txt", &[]).await;
    assert_eq!((r.status, r.body.len()), (200, 3000));
    assert_eq!(store.conditional.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn another_bucket_never_gets_this_buckets_copies() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (filled_as("a").await, filled_as("b").await);
    put(&b, "site/a.txt", &b"bucket b\n"[..]).await;
    let cache = DiskCache::open(d.path(), 1 << 20).unwrap();
    let r = send(&serve(&a, &cache, 60_000), "GET", "/a.txt", &[]).await;
    assert_eq!(&r.body[..], b"hello, conformance\n");
    // The same prefix in another store (a reload or restart with another
    // root, the same --cache-dir): its own object, not a's copy.
    let r = send(&serve(&b, &cache, 60_000), "GET", "/a.txt", &[]).await;
    assert_eq!(&r.body[..], b"bucket b\n");
    assert_eq!((a.gets(), b.gets()), (1, 1));
    // The same `Display` (an S3 bucket of the same name at another
    // endpoint), another id: its own object too.
    let c = filled_as("a").await;
    put(&c, "site/a.txt", &b"bucket c\n"[..]).await;
    let svc = ServeDir::new(bucket(&c, &cache, 60_000).store_id("s3://a/site endpoint=other"));
    assert_eq!(
        &send(&svc, "GET", "/a.txt", &[]).await.body[..],
        b"bucket c\n"
    );
    drop((svc, cache));
    let cache = DiskCache::open(d.path(), 1 << 20).unwrap();
    for (s, want) in [(&a, &b"hello, conformance\n"[..]), (&b, b"bucket b\n")] {
        let r = send(&serve(s, &cache, 60_000), "GET", "/a.txt", &[]).await;
        assert_eq!(&r.body[..], want);
        assert_eq!(s.gets(), 1, "served from the cache after a restart");
    }
}

/// A cached service over `store` whose requests are bounded by `timeout_ms`.
fn bounded(
    store: &Arc<Store>,
    cache: &DiskCache,
    ttl_ms: u64,
    timeout_ms: u64,
) -> ServeDir<BucketStore> {
    ServeDir::new(bucket(store, cache, ttl_ms).timeout(Some(Duration::from_millis(timeout_ms))))
}

#[tokio::test]
async fn a_hung_or_stalled_fill_fails_within_the_timeout_and_is_not_joined_later() {
    let d = tempfile::tempdir().unwrap();
    let store = filled().await;
    put(&store, "site/big.bin", vec![3u8; 40_000]).await;
    let cache = DiskCache::open(d.path(), 1 << 20).unwrap();
    let svc = bounded(&store, &cache, 60_000, 200);
    for (flag, path) in [(&store.hang, "/a.txt"), (&store.stall, "/big.bin")] {
        flag.store(true, Ordering::SeqCst);
        let start = std::time::Instant::now();
        assert_eq!(send(&svc, "GET", path, &[]).await.status, 502, "{path}");
        assert!(start.elapsed() < Duration::from_secs(2), "{path}");
        flag.store(false, Ordering::SeqCst);
        // A new fill, not the stuck one.
        let r = tokio::time::timeout(Duration::from_secs(2), send(&svc, "GET", path, &[]))
            .await
            .expect("answered");
        assert_eq!(r.status, 200, "{path}");
    }
}

#[tokio::test]
async fn a_cold_fill_that_keeps_flowing_may_outlast_the_timeout() {
    let d = tempfile::tempdir().unwrap();
    let store = filled().await;
    put(&store, "site/big.bin", vec![3u8; 40_000]).await;
    // Four pieces 100 ms apart: 400 ms in all, never 250 ms without one.
    store.gap_ms.store(100, Ordering::SeqCst);
    let cache = DiskCache::open(d.path(), 1 << 20).unwrap();
    let svc = bounded(&store, &cache, 60_000, 250);
    let r = send(&svc, "GET", "/big.bin", &[]).await;
    assert_eq!((r.status, r.body.len()), (200, 40_000));
    assert_eq!(cache.stats().objects, 1);
}

#[tokio::test]
async fn a_hung_store_serves_the_stale_copy_within_the_grace() {
    let d = tempfile::tempdir().unwrap();
    let store = filled().await;
    let cache = DiskCache::open(d.path(), 1 << 20)
        .unwrap()
        .stale_if_error(Duration::from_secs(30));
    let svc = bounded(&store, &cache, 100, 200);
    assert_eq!(send(&svc, "GET", "/a.txt", &[]).await.status, 200);
    tokio::time::sleep(Duration::from_millis(150)).await;
    store.hang.store(true, Ordering::SeqCst);
    let start = std::time::Instant::now();
    let r = send(&svc, "GET", "/a.txt", &[]).await;
    assert_eq!((r.status, &r.body[..]), (200, &b"hello, conformance\n"[..]));
    assert!(start.elapsed() < Duration::from_secs(2));

    // A new version that flows slowly: the stale copy after the timeout,
    // the new one once it is in.
    store.hang.store(false, Ordering::SeqCst);
    put(&store, "site/a.txt", vec![4u8; 40_000]).await;
    store.gap_ms.store(150, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let r = send(&svc, "GET", "/a.txt", &[]).await;
    assert_eq!((r.status, &r.body[..]), (200, &b"hello, conformance\n"[..]));
    tokio::time::sleep(Duration::from_millis(800)).await;
    let r = send(&svc, "GET", "/a.txt", &[]).await;
    assert_eq!((r.status, r.body.len()), (200, 40_000));
}
