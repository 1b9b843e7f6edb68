//! Precompressed variants, Cache-Control, content types and listings on the wire.
use super::support::*;
use ferry::cache::CachePolicy;
use ferry::{FsStore, ServeDir};

async fn precompressed(fx: &Fixture) -> TestServer {
    TestServer::start(ServeDir::new(
        FsStore::new(fx.root()).unwrap().precompressed(true),
    ))
    .await
}

fn site() -> Fixture {
    Fixture::new()
        .file("app.css", "body { color: red } ".repeat(50))
        .file("app.css.br", "BROTLI-BYTES")
        .file("app.css.zst", "ZSTD-BYTES")
        .file("app.css.gz", "GZIP-BYTES")
        .file("only.js.gz", "orphan variant")
        .file("plain.txt", "plain")
}

#[tokio::test]
async fn variants_follow_accept_encoding() {
    let fx = site();
    let srv = precompressed(&fx).await;
    for (accept, coding, body) in [
        ("gzip, deflate, br, zstd", Some("br"), "BROTLI-BYTES"),
        ("gzip, zstd", Some("zstd"), "ZSTD-BYTES"),
        ("gzip", Some("gzip"), "GZIP-BYTES"),
        ("br;q=0.5, gzip;q=1.0", Some("gzip"), "GZIP-BYTES"),
        ("br;q=0, gzip;q=0", None, ""),
        ("*", Some("br"), "BROTLI-BYTES"),
        ("*;q=0.1, br;q=0", Some("zstd"), "ZSTD-BYTES"),
        ("identity", None, ""),
        ("deflate", None, ""),
    ] {
        let r = srv.get("/app.css", &[("accept-encoding", accept)]).await;
        assert_eq!(r.status, 200, "{accept}");
        assert_eq!(r.header("content-encoding"), coding, "{accept}");
        assert_eq!(r.h("vary"), "accept-encoding", "{accept}");
        assert_eq!(r.h("content-type"), "text/css; charset=utf-8", "{accept}");
        if coding.is_some() {
            assert_eq!(r.text(), body, "{accept}");
            assert_eq!(r.h("content-length"), body.len().to_string());
        } else {
            assert_eq!(r.body.len(), 1000, "{accept}");
        }
    }
}

#[tokio::test]
async fn each_variant_has_its_own_etag_and_304s_vary() {
    let fx = site();
    let srv = precompressed(&fx).await;
    let id = srv.get("/app.css", &[]).await;
    let br = srv.get("/app.css", &[("accept-encoding", "br")]).await;
    let gz = srv.get("/app.css", &[("accept-encoding", "gzip")]).await;
    assert_ne!(id.h("etag"), br.h("etag"));
    assert_ne!(br.h("etag"), gz.h("etag"));
    assert_eq!(
        id.h("vary"),
        "accept-encoding",
        "identity fallback varies too"
    );
    let r = srv
        .get(
            "/app.css",
            &[("accept-encoding", "br"), ("if-none-match", br.h("etag"))],
        )
        .await;
    assert_eq!((r.status, r.h("vary")), (304, "accept-encoding"));
    // The identity tag does not validate the br variant.
    let r = srv
        .get(
            "/app.css",
            &[("accept-encoding", "br"), ("if-none-match", id.h("etag"))],
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn ranges_apply_to_the_variant_bytes() {
    let fx = site();
    let srv = precompressed(&fx).await;
    let r = srv
        .get(
            "/app.css",
            &[("accept-encoding", "br"), ("range", "bytes=0-5")],
        )
        .await;
    assert_eq!((r.status, r.text().as_str()), (206, "BROTLI"));
    assert_eq!(r.h("content-range"), "bytes 0-5/12");
    assert_eq!(r.h("content-encoding"), "br");
}

#[tokio::test]
async fn no_variant_without_its_original_and_off_switch() {
    let fx = site();
    let srv = precompressed(&fx).await;
    assert_eq!(
        srv.get("/only.js", &[("accept-encoding", "gzip")])
            .await
            .status,
        404
    );
    let off = TestServer::fs(fx.root()).await;
    let r = off.get("/app.css", &[("accept-encoding", "br")]).await;
    assert!(r.header("content-encoding").is_none() && r.header("vary").is_none());
}

#[tokio::test]
async fn cache_control_by_name_and_rule_also_on_304() {
    let fx = Fixture::new()
        .file("assets/app.3f9c2b1a.js", "x")
        .file("index.html", "<p>")
        .file("dl/a.zip", "z");
    let policy = CachePolicy::default()
        .rule(
            "dl/**",
            http::HeaderValue::from_static("private, max-age=0"),
        )
        .unwrap();
    let srv =
        TestServer::start(ServeDir::new(FsStore::new(fx.root()).unwrap()).cache_policy(policy))
            .await;
    let r = srv.get("/assets/app.3f9c2b1a.js", &[]).await;
    assert_eq!(r.h("cache-control"), "public, max-age=31536000, immutable");
    let r304 = srv
        .get("/assets/app.3f9c2b1a.js", &[("if-none-match", r.h("etag"))])
        .await;
    assert_eq!(
        (r304.status, r304.h("cache-control")),
        (304, "public, max-age=31536000, immutable")
    );
    assert_eq!(srv.get("/", &[]).await.h("cache-control"), "no-cache");
    assert_eq!(
        srv.get("/dl/a.zip", &[]).await.h("cache-control"),
        "private, max-age=0"
    );
}

#[tokio::test]
async fn listing_is_off_by_default_and_safe_when_on() {
    let fx = Fixture::new()
        .file("files/<img src=x onerror=alert(1)>.txt", "x")
        .file("files/b.txt", "bb")
        .file("files/.secret", "s")
        .dir("files/sub");
    assert_eq!(
        TestServer::fs(fx.root())
            .await
            .get("/files/", &[])
            .await
            .status,
        404
    );
    let srv = TestServer::start(ServeDir::new(FsStore::new(fx.root()).unwrap()).browse(true)).await;
    let r = srv.get("/files/", &[]).await;
    assert_eq!(
        (r.status, r.h("content-type")),
        (200, "text/html; charset=utf-8")
    );
    let page = r.text();
    assert!(!page.contains("<img"), "{page}");
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;.txt"));
    assert!(page.contains("href=\"./sub/\"") && page.contains("href=\"../\""));
    assert!(!page.contains(".secret"));
    let j = srv.get("/files/", &[("accept", "application/json")]).await;
    assert_eq!(j.h("content-type"), "application/json");
    assert!(
        j.text()
            .starts_with("[{\"name\":\"sub\",\"type\":\"directory\""),
        "{}",
        j.text()
    );
    assert!(j
        .text()
        .contains("\"name\":\"b.txt\",\"type\":\"file\",\"size\":2"));
}

#[tokio::test]
async fn large_directories_list_quickly() {
    let fx = Fixture::new();
    let dir = fx.path("many");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..50_000 {
        std::fs::File::create(dir.join(format!("f{i:05}.txt"))).unwrap();
    }
    let srv = TestServer::start(ServeDir::new(FsStore::new(fx.root()).unwrap()).browse(true)).await;
    let start = std::time::Instant::now();
    let r = srv.get("/many/", &[("accept", "application/json")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text().matches("\"type\":\"file\"").count(), 50_000);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}
