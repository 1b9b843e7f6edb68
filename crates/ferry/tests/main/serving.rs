//! 200, HEAD, 405, index files, directory redirects, pipelining.
use super::support::*;

#[tokio::test]
async fn get_sends_the_file_with_validators_and_type() {
    let fx = Fixture::new().file("a.txt", "hello");
    let srv = TestServer::fs(fx.root()).await;
    let r = srv.get("/a.txt", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello");
    assert_eq!(r.h("content-length"), "5");
    assert_eq!(r.h("content-type"), "text/plain; charset=utf-8");
    assert_eq!(r.h("x-content-type-options"), "nosniff");
    assert_eq!(r.h("accept-ranges"), "bytes");
    assert!(r.h("etag").starts_with('"'), "strong etag");
    assert!(r.h("last-modified").ends_with(" GMT"));
    assert!(r.h("date").ends_with(" GMT"));
}

#[tokio::test]
async fn head_has_the_get_headers_and_no_body() {
    let fx = Fixture::new().file("a.css", "body{}");
    let srv = TestServer::fs(fx.root()).await;
    let get = srv.get("/a.css", &[]).await;
    let wire = srv
        .raw(b"HEAD /a.css HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .await;
    let head = Resp::parse(&wire);
    assert_eq!(head.status, 200);
    assert!(
        wire.ends_with(b"\r\n\r\n") && head.body.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&wire)
    );
    for h in [
        "content-length",
        "content-type",
        "etag",
        "last-modified",
        "accept-ranges",
    ] {
        assert_eq!(head.header(h), get.header(h), "{h}");
    }
}

#[tokio::test]
async fn other_methods_get_405_with_allow() {
    let fx = Fixture::new().file("a.txt", "hello");
    let srv = TestServer::fs(fx.root()).await;
    for m in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"] {
        let r = srv.request(m, "/a.txt", &[("content-length", "0")]).await;
        assert_eq!(r.status, 405, "{m}");
        assert_eq!(r.h("allow"), "GET, HEAD");
        assert!(r.header("date").is_some());
    }
}

#[tokio::test]
async fn directories_serve_index_html_and_redirect_without_slash() {
    let fx = Fixture::new()
        .file("docs/index.html", "<h1>docs</h1>")
        .dir("empty");
    let srv = TestServer::fs(fx.root()).await;
    let r = srv.get("/docs/", &[]).await;
    assert_eq!((r.status, r.text().as_str()), (200, "<h1>docs</h1>"));
    assert_eq!(r.h("content-type"), "text/html; charset=utf-8");
    let r = srv.get("/docs?x=1&y=%20", &[]).await;
    assert_eq!(r.status, 308);
    assert_eq!(r.h("location"), "/docs/?x=1&y=%20");
    // Never a network-path reference (`//docs/` would send the browser to a
    // host named `docs`): an open redirect.
    for path in ["//docs", "///docs?x"] {
        let r = srv.get(path, &[]).await;
        assert_eq!(r.status, 308, "{path}");
        assert!(
            r.h("location").starts_with("/docs/"),
            "{path}: {}",
            r.h("location")
        );
    }
    let r = srv.get("/empty/", &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "404 Not Found\n");
}

#[tokio::test]
async fn missing_files_are_short_plain_404s() {
    let fx = Fixture::new();
    let srv = TestServer::fs(fx.root()).await;
    let r = srv.get("/nope.txt", &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.h("content-type"), "text/plain; charset=utf-8");
    assert!(!r.text().contains(fx.root().to_str().unwrap()));
}

#[tokio::test]
async fn pipelined_requests_come_back_in_order() {
    let fx = Fixture::new()
        .file("1.txt", "one")
        .file("2.txt", "two")
        .file("3.txt", "three");
    let srv = TestServer::fs(fx.root()).await;
    let wire = srv
        .raw(b"GET /1.txt HTTP/1.1\r\nhost: t\r\n\r\nHEAD /2.txt HTTP/1.1\r\nhost: t\r\n\r\nGET /3.txt HTTP/1.1\r\nhost: t\r\n\r\nGET /2.txt HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .await;
    let text = String::from_utf8(wire).unwrap();
    let bodies: Vec<usize> = ["\r\n\r\none", "\r\n\r\nthree", "\r\n\r\ntwo"]
        .iter()
        .map(|b| {
            text.find(b)
                .unwrap_or_else(|| panic!("{b:?} missing in {text}"))
        })
        .collect();
    assert!(bodies.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 4, "{text}");
}

#[tokio::test]
async fn zero_length_file_is_200_with_no_body() {
    let fx = Fixture::new().file("empty.txt", "");
    let srv = TestServer::fs(fx.root()).await;
    let r = srv.get("/empty.txt", &[]).await;
    assert_eq!(
        (r.status, r.h("content-length"), r.body.len()),
        (200, "0", 0)
    );
}

#[tokio::test]
async fn large_file_streams_exactly() {
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let fx = Fixture::new().file("big.bin", &data);
    let srv = TestServer::fs(fx.root()).await;
    let r = srv.get("/big.bin", &[]).await;
    assert_eq!(r.h("content-type"), "application/octet-stream");
    assert!(r.body == data, "body differs");
}

#[tokio::test]
async fn serve_file_answers_like_sendfile() {
    let fx = Fixture::new().file("private/report.pdf", "%PDF-1.7");
    let path = fx.path("private/report.pdf");
    let req = http::Request::get("/download").body(()).unwrap();
    let res = ferry::serve_file(&req, &path).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    let lm = res.headers()["last-modified"].clone();
    let req = http::Request::get("/download")
        .header("if-modified-since", lm)
        .body(())
        .unwrap();
    assert_eq!(ferry::serve_file(&req, &path).await.status(), 304);
    let req = http::Request::get("/download").body(()).unwrap();
    assert_eq!(
        ferry::serve_file(&req, fx.path("missing")).await.status(),
        404
    );
    assert_eq!(
        ferry::try_serve_file(&req, fx.path("missing"))
            .await
            .unwrap_err()
            .kind(),
        ferry::ErrorKind::NotFound
    );
}
