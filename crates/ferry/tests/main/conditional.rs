//! 304 and 412 on the wire; validators that survive restarts and catch rewrites.
use super::support::*;
use ferry::proto::{ContentCoding, Meta};
use ferry::store::{Key, OpenFuture};
use ferry::{Body, Entity, ServeDir, Source, Store};
use std::time::{Duration, SystemTime};

#[tokio::test]
async fn not_modified_keeps_validators_and_has_no_content() {
    let fx = Fixture::new().file("a.txt", "hello");
    let srv = TestServer::start(
        ServeDir::new(ferry::FsStore::new(fx.root()).unwrap())
            .cache_control(Some(http::HeaderValue::from_static("max-age=60"))),
    )
    .await;
    let etag = srv.get("/a.txt", &[]).await.h("etag").to_owned();
    let wire = srv
        .raw(format!("GET /a.txt HTTP/1.1\r\nhost: t\r\nif-none-match: {etag}\r\nconnection: close\r\n\r\n").as_bytes())
        .await;
    let text = String::from_utf8(wire).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 304 ") && text.ends_with("\r\n\r\n"),
        "{text}"
    );
    assert!(text.contains(&format!("etag: {etag}\r\n")), "{text}");
    assert!(text.contains("cache-control: max-age=60\r\n"), "{text}");
    assert!(text.contains("date: "), "{text}");
    assert!(
        !text.contains("\r\ncontent-type:") && !text.contains("content-length: 5"),
        "{text}"
    );
    // RFC 9110 §15.4.5: other metadata SHOULD NOT be sent unless it guides
    // cache updates, "e.g., Last-Modified might be useful if the response does
    // not have an ETag field" — this one has one.
    assert!(!text.contains("last-modified:"), "{text}");
    assert!(!text.contains("x-content-type-options:"), "{text}");
}

#[tokio::test]
async fn if_modified_since_and_django_length() {
    let fx = Fixture::new().file("a.txt", "hello");
    let srv = TestServer::fs(fx.root()).await;
    let lm = srv.get("/a.txt", &[]).await.h("last-modified").to_owned();
    assert_eq!(
        srv.get("/a.txt", &[("if-modified-since", &lm)])
            .await
            .status,
        304
    );
    let same = format!("{lm}; length=5");
    assert_eq!(
        srv.get("/a.txt", &[("if-modified-since", &same)])
            .await
            .status,
        304
    );
    let other = format!("{lm}; length=6");
    assert_eq!(
        srv.get("/a.txt", &[("if-modified-since", &other)])
            .await
            .status,
        200
    );
    assert_eq!(
        srv.get("/a.txt", &[("if-modified-since", "yesterday")])
            .await
            .status,
        200
    );
    // §13.1.3: ignored when If-None-Match is present.
    let r = srv
        .get(
            "/a.txt",
            &[("if-modified-since", &lm), ("if-none-match", "\"other\"")],
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn if_match_and_if_unmodified_since_give_412() {
    let fx = Fixture::new().file("a.txt", "hello");
    let srv = TestServer::fs(fx.root()).await;
    let etag = srv.get("/a.txt", &[]).await.h("etag").to_owned();
    assert_eq!(srv.get("/a.txt", &[("if-match", &etag)]).await.status, 200);
    assert_eq!(srv.get("/a.txt", &[("if-match", "*")]).await.status, 200);
    let r = srv.get("/a.txt", &[("if-match", "\"nope\"")]).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (412, "412 Precondition Failed\n")
    );
    let old = "Sun, 06 Nov 1994 08:49:37 GMT";
    assert_eq!(
        srv.get("/a.txt", &[("if-unmodified-since", old)])
            .await
            .status,
        412
    );
    // §13.1.4: ignored when If-Match is present.
    assert_eq!(
        srv.get(
            "/a.txt",
            &[("if-match", &etag), ("if-unmodified-since", old)]
        )
        .await
        .status,
        200
    );
    let wire = srv
        .raw(format!("HEAD /a.txt HTTP/1.1\r\nhost: t\r\nif-none-match: {etag}\r\nconnection: close\r\n\r\n").as_bytes())
        .await;
    assert!(wire.starts_with(b"HTTP/1.1 304 ") && wire.ends_with(b"\r\n\r\n"));
}

#[tokio::test]
async fn same_second_rewrite_changes_the_etag() {
    let fx = Fixture::new().file("a.txt", "aaaa");
    let p = fx.path("a.txt");
    let t = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 100_000_000);
    set_mtime(&p, t);
    let srv = TestServer::fs(fx.root()).await;
    let first = srv.get("/a.txt", &[]).await;
    std::fs::write(&p, "bbbb").unwrap();
    set_mtime(&p, t + Duration::from_millis(300));
    let second = srv.get("/a.txt", &[]).await;
    assert_eq!(
        first.h("last-modified"),
        second.h("last-modified"),
        "same second"
    );
    assert_ne!(first.h("etag"), second.h("etag"));
    let r = srv
        .get("/a.txt", &[("if-none-match", first.h("etag"))])
        .await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"bbbb"[..]));
}

#[tokio::test]
async fn etags_are_stable_across_restarts_and_copies() {
    let a = Fixture::new().file("x/a.txt", "same bytes");
    let b = Fixture::new().file("a.txt", "same bytes");
    let t = SystemTime::UNIX_EPOCH + Duration::new(1_600_000_000, 123_456_789);
    set_mtime(&a.path("x/a.txt"), t);
    set_mtime(&b.path("a.txt"), t);
    let first = TestServer::fs(a.root()).await.get("/x/a.txt", &[]).await;
    let restarted = TestServer::fs(a.root()).await.get("/x/a.txt", &[]).await;
    let replica = TestServer::fs(b.root()).await.get("/a.txt", &[]).await;
    assert_eq!(first.h("etag"), restarted.h("etag"));
    assert_eq!(
        first.h("etag"),
        replica.h("etag"),
        "a copy with the same length and mtime, another inode"
    );
}

#[tokio::test]
async fn last_modified_is_never_later_than_date() {
    let fx = Fixture::new().file("future.txt", "x");
    set_mtime(
        &fx.path("future.txt"),
        SystemTime::now() + Duration::from_secs(86_400 * 365),
    );
    let r = TestServer::fs(fx.root())
        .await
        .get("/future.txt", &[])
        .await;
    let lm = httpdate::parse_http_date(r.h("last-modified")).unwrap();
    let date = httpdate::parse_http_date(r.h("date")).unwrap();
    assert!(lm <= date, "{} > {}", r.h("last-modified"), r.h("date"));
}

/// An entity whose body panics when read: the decision must not need it.
struct Panicking;

impl Source for Panicking {
    fn read(&self, _: std::ops::Range<u64>) -> Body {
        panic!("the body was read before the decision");
    }
}

struct PanickingStore;

impl Store for PanickingStore {
    fn open<'a>(&'a self, _: &'a Key, _: &'a ferry::proto::AcceptEncoding) -> OpenFuture<'a> {
        OpenFuture::new(async {
            Ok(Entity::new(1000, Panicking)
                .etag("\"v1\"".parse().unwrap())
                .last_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000))
                .coding(ContentCoding::Gzip))
        })
    }
}

#[tokio::test]
async fn decisions_never_read_the_body() {
    let svc = ServeDir::new(PanickingStore);
    let run = |method: &'static str, headers: Vec<(&'static str, &'static str)>| {
        let svc = svc.clone();
        async move {
            let mut b = http::Request::builder().method(method).uri("/x");
            for (k, v) in headers {
                b = b.header(k, v);
            }
            svc.serve(&b.body(()).unwrap()).await
        }
    };
    assert_eq!(
        run("GET", vec![("if-none-match", "\"v1\"")]).await.status(),
        304
    );
    assert_eq!(run("GET", vec![("if-match", "\"v2\"")]).await.status(), 412);
    assert_eq!(
        run("GET", vec![("range", "bytes=5000-")]).await.status(),
        416
    );
    assert_eq!(
        run(
            "GET",
            vec![("if-modified-since", "Sun, 09 Sep 2001 01:46:40 GMT")]
        )
        .await
        .status(),
        304
    );
    let head = run("HEAD", vec![]).await;
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "1000");
    assert_eq!(head.headers()["content-encoding"], "gzip");
    let _ = Meta {
        len: 0,
        etag: None,
        last_modified: None,
        coded: false,
    };
}

/// A store whose entities have a modification time but no entity tag.
struct DateOnlyStore;

impl Store for DateOnlyStore {
    fn open<'a>(&'a self, _: &'a Key, _: &'a ferry::proto::AcceptEncoding) -> OpenFuture<'a> {
        OpenFuture::new(async {
            Ok(Entity::new(1000, Panicking)
                .last_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000)))
        })
    }
}

#[tokio::test]
async fn not_modified_without_an_etag_keeps_last_modified() {
    // RFC 9110 §15.4.5: "Last-Modified might be useful if the response does
    // not have an ETag field".
    let req = http::Request::get("/x")
        .header("if-modified-since", "Sun, 09 Sep 2001 01:46:40 GMT")
        .body(())
        .unwrap();
    let res = ServeDir::new(DateOnlyStore).serve(&req).await;
    assert_eq!(res.status(), 304);
    assert_eq!(
        res.headers()["last-modified"],
        "Sun, 09 Sep 2001 01:46:40 GMT"
    );
    assert!(res.headers().get("etag").is_none());
}
