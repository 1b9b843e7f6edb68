//! The store conformance suite against every store: the file system, memory,
//! and object storage (`object_store`'s in-memory backend here; a real
//! S3-compatible server when `FERRY_TEST_S3_BUCKET` is set, as
//! `tests/scripts/s3.sh` does; Azure Blob Storage's emulator, Azurite, when
//! `FERRY_TEST_AZURE_CONTAINER` is, as `tests/scripts/azure.sh` does).
#![cfg(all(feature = "test-util", feature = "object-store", feature = "fs"))]

#[path = "support/store.rs"]
mod store;

use bytes::Bytes;
use ferry::store::bucket::BucketStore;
use ferry::store::conformance::{check, send, FIXTURE};
use ferry::store::memory::MemoryStore;
use ferry::{FsStore, ServeDir};
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use store::Store;

fn mtime() -> SystemTime {
    UNIX_EPOCH + Duration::new(1_700_000_000, 250_000_000)
}

#[tokio::test]
async fn fs_store_conforms() {
    let d = tempfile::tempdir().unwrap();
    for (key, data) in FIXTURE {
        let p = d.path().join(key);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(mtime())
            .unwrap();
    }
    std::fs::write(d.path().join(".env"), "SECRET=1").unwrap();
    check(FsStore::new(d.path()).unwrap().precompressed(true)).await;
    check(
        FsStore::new(d.path())
            .unwrap()
            .precompressed(true)
            .inline_io(true)
            .cache_open_files(true),
    )
    .await;
}

#[tokio::test]
async fn memory_store_conforms() {
    let mut m = MemoryStore::new().precompressed(true);
    for (key, data) in FIXTURE {
        m = m.file(key, Bytes::from_static(data), mtime());
    }
    check(m.file(".env", "SECRET=1", mtime())).await;
}

async fn filled(prefix: &str) -> Arc<InMemory> {
    let mem = Arc::new(InMemory::new());
    for (key, data) in FIXTURE.iter().chain([&(".env", &b"SECRET=1"[..])]) {
        let path = if prefix.is_empty() {
            ObjectPath::from(*key)
        } else {
            ObjectPath::from(format!("{prefix}/{key}"))
        };
        mem.put(&path, PutPayload::from_static(data)).await.unwrap();
    }
    mem
}

#[tokio::test]
async fn object_storage_conforms() {
    check(BucketStore::new(filled("site/v2").await, "site/v2").precompressed(true)).await;
    check(BucketStore::new(filled("").await, "").precompressed(true)).await;
    // With a metadata cache, the answers are the same.
    check(
        BucketStore::new(filled("p").await, "/p/")
            .precompressed(true)
            .metadata_ttl(Some(Duration::from_secs(5))),
    )
    .await;
}

#[tokio::test]
async fn revalidation_and_ranges_never_fetch_the_whole_object() {
    let counting = Arc::new(Store::over(filled("").await));
    let svc = ServeDir::new(BucketStore::new(counting.clone(), ""));
    let r = send(&svc, "GET", "/a.txt", &[]).await;
    let etag = r.headers["etag"].to_str().unwrap().to_owned();
    let lm = r.headers["last-modified"].to_str().unwrap().to_owned();
    assert_eq!(counting.gets.swap(0, Ordering::SeqCst), 1);

    for (h, status) in [
        (("if-none-match", etag.as_str()), 304),
        (("if-modified-since", lm.as_str()), 304),
        (("if-match", "\"other\""), 412),
        (("range", "bytes=999999-"), 416),
    ] {
        let r = send(&svc, "GET", "/a.txt", &[h]).await;
        assert_eq!(r.status, status, "{h:?}");
        assert_eq!(counting.gets(), 0, "{h:?} fetched the body");
    }
    let r = send(&svc, "HEAD", "/a.txt", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(counting.gets(), 0, "HEAD fetched the body");

    // A 206 fetches its range only: the body request carries the range.
    let r = send(
        &svc,
        "GET",
        "/nested/deep/file.bin",
        &[("range", "bytes=10-19")],
    )
    .await;
    assert_eq!((r.status, r.body.len()), (206, 10));
    assert_eq!(counting.gets(), 1);
}

#[tokio::test]
async fn an_object_replaced_mid_response_is_never_mixed() {
    let mem = filled("").await;
    let svc = ServeDir::new(BucketStore::new(mem.clone(), ""));
    // Open (HEAD) happens in serve; replace the object before the body is read.
    let req = http::Request::get("/a.txt").body(()).unwrap();
    let res = svc.serve(&req).await;
    assert_eq!(res.status(), 200);
    mem.put(
        &ObjectPath::from("a.txt"),
        PutPayload::from_static(b"replaced!!!!!!!!!!!\n"),
    )
    .await
    .unwrap();
    use http_body_util::BodyExt;
    let body = res.into_body().collect().await;
    assert!(
        body.is_err(),
        "the old version's response must fail, not mix versions"
    );
}

#[tokio::test]
async fn an_unreachable_store_is_502_quickly() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s3 = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name("b")
        .with_region("us-east-1")
        .with_endpoint(format!("http://127.0.0.1:{port}"))
        .with_allow_http(true)
        .with_access_key_id("k")
        .with_secret_access_key("s")
        .with_retry(object_store::RetryConfig {
            max_retries: 0,
            retry_timeout: Duration::from_secs(1),
            ..Default::default()
        })
        .build()
        .unwrap();
    let svc = ServeDir::new(BucketStore::new(Arc::new(s3), ""));
    let start = std::time::Instant::now();
    let r = send(&svc, "GET", "/a.txt", &[]).await;
    assert_eq!(r.status, 502);
    assert_eq!(&r.body[..], b"502 Bad Gateway\n");
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// Against a real S3-compatible server holding [`FIXTURE`] under the prefix
/// `site` of `FERRY_TEST_S3_BUCKET`, which this test fills (`tests/scripts/s3.sh`
/// starts moto and creates the bucket).
#[tokio::test]
async fn s3_compatible_server_conforms() {
    let Ok(bucket) = std::env::var("FERRY_TEST_S3_BUCKET") else {
        eprintln!("FERRY_TEST_S3_BUCKET not set: run tests/scripts/s3.sh");
        return;
    };
    let s3 = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .build()
        .unwrap();
    conforms_remote(Arc::new(s3)).await;
}

/// Fills the prefix `site` of `store` with [`FIXTURE`] and runs the suite
/// against it, without and with a disk cache (cold, then warm).
async fn conforms_remote(store: Arc<dyn ObjectStore>) {
    for (key, data) in FIXTURE.iter().chain([&(".env", &b"SECRET=1"[..])]) {
        let path = ObjectPath::from(format!("site/{key}"));
        store
            .put(&path, PutPayload::from_static(data))
            .await
            .unwrap();
    }
    check(BucketStore::new(store.clone(), "site").precompressed(true)).await;
    // Through a disk cache, cold then warm, the answers are the same.
    let d = tempfile::tempdir().unwrap();
    let cache = ferry::store::bucket::DiskCache::open(d.path(), 1 << 20).unwrap();
    for _ in 0..2 {
        check(
            BucketStore::new(store.clone(), "site")
                .precompressed(true)
                .metadata_ttl(Some(Duration::from_secs(60)))
                .disk_cache(cache.clone()),
        )
        .await;
    }
    assert!(cache.stats().hits > 0);
}

/// Against Azure Blob Storage (Azurite in `tests/scripts/azure.sh`): fills
/// the prefix `site` of the container `FERRY_TEST_AZURE_CONTAINER` with
/// [`FIXTURE`], configured from the `AZURE_*` variables as `ferry serve
/// az://…` is.
#[tokio::test]
async fn azure_blob_storage_conforms() {
    let Ok(container) = std::env::var("FERRY_TEST_AZURE_CONTAINER") else {
        eprintln!("FERRY_TEST_AZURE_CONTAINER not set: run tests/scripts/azure.sh");
        return;
    };
    let az = object_store::azure::MicrosoftAzureBuilder::from_env()
        .with_container_name(container)
        .build()
        .unwrap();
    conforms_remote(Arc::new(az)).await;
}
