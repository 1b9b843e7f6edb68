//! The store conformance suite: what every [`Store`] must give through
//! [`ServeDir`], whatever holds the bytes.
//!
//! Fill the store with [`FIXTURE`] (keys, contents), turn precompressed
//! variants on, and call [`check`]. The same assertions run against the file
//! system store, the in-memory store and object storage (in memory, and a real
//! S3-compatible server in `tests/scripts/s3.sh`), so the three answer alike.
use crate::store::Store;
use crate::{Body, ServeDir};
use bytes::Bytes;
use http::{header, HeaderMap, Request, Response};

/// The objects every store under test holds: `(key, contents)`.
pub const FIXTURE: &[(&str, &[u8])] = &[
    ("a.txt", b"hello, conformance\n"),
    ("docs/index.html", b"<h1>docs</h1>\n"),
    ("app.css", b"body { color: red }\nbody { color: red }\n"),
    ("app.css.gz", b"pretend these are gzip bytes"),
    ("nested/deep/file.bin", &[7u8; 3000]),
];

/// A response as a client sees it.
#[derive(Debug)]
pub struct Seen {
    /// The status code.
    pub status: u16,
    /// The header fields.
    pub headers: HeaderMap,
    /// The body, whole.
    pub body: Bytes,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends one request through `svc`.
pub async fn send<S: Store>(
    svc: &ServeDir<S>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Seen {
    let mut b = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(()).expect("valid test request");
    collect(svc.serve(&req).await).await
}

async fn collect(res: Response<Body>) -> Seen {
    let (parts, mut body) = res.into_parts();
    let mut out = Vec::new();
    while let Some(frame) = futures_util::future::poll_fn(|cx| {
        http_body::Body::poll_frame(std::pin::Pin::new(&mut body), cx)
    })
    .await
    {
        if let Ok(d) = frame.expect("body streams without error").into_data() {
            out.extend_from_slice(&d);
        }
    }
    Seen {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: out.into(),
    }
}

/// Runs every check against `store`, which must hold [`FIXTURE`] and serve
/// precompressed variants. Panics with the failed expectation.
pub async fn check<S: Store>(store: S) {
    let svc = ServeDir::new(store);
    let file = |k: &str| FIXTURE.iter().find(|(n, _)| *n == k).unwrap().1;

    // 200, with the representation's metadata.
    let r = send(&svc, "GET", "/a.txt", &[]).await;
    assert_eq!(r.status, 200, "GET /a.txt");
    assert_eq!(&r.body[..], file("a.txt"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(
        r.header("content-length"),
        Some(file("a.txt").len().to_string().as_str())
    );
    let etag = r.header("etag").expect("an ETag").to_owned();
    let lm = r
        .header("last-modified")
        .expect("a Last-Modified")
        .to_owned();
    assert!(r.headers.contains_key(header::DATE));

    // HEAD: the same fields, no content.
    let h = send(&svc, "HEAD", "/a.txt", &[]).await;
    assert_eq!(h.status, 200);
    assert!(h.body.is_empty(), "HEAD has no body");
    for name in ["etag", "last-modified", "content-type", "content-length"] {
        assert_eq!(h.header(name), r.header(name), "HEAD {name}");
    }

    // §13.2.2: preconditions.
    let r = send(&svc, "GET", "/a.txt", &[("if-none-match", &etag)]).await;
    assert_eq!((r.status, r.body.len()), (304, 0), "If-None-Match");
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let r = send(&svc, "GET", "/a.txt", &[("if-modified-since", &lm)]).await;
    assert_eq!(r.status, 304, "If-Modified-Since");
    let r = send(&svc, "GET", "/a.txt", &[("if-match", "\"nope\"")]).await;
    assert_eq!(r.status, 412, "If-Match");
    let r = send(
        &svc,
        "GET",
        "/a.txt",
        &[("if-unmodified-since", "Thu, 01 Jan 1970 00:00:00 GMT")],
    )
    .await;
    assert_eq!(r.status, 412, "If-Unmodified-Since");
    let r = send(&svc, "GET", "/a.txt", &[("if-match", &etag)]).await;
    assert_eq!(r.status, 200, "If-Match with the current tag");

    // §14: ranges.
    let r = send(&svc, "GET", "/a.txt", &[("range", "bytes=0-4")]).await;
    assert_eq!(
        (r.status, &r.body[..]),
        (206, &b"hello"[..]),
        "single range"
    );
    let len = file("a.txt").len();
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 0-4/{len}").as_str())
    );
    let r = send(&svc, "GET", "/a.txt", &[("range", "bytes=0-0,2-2")]).await;
    assert_eq!(r.status, 206);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("multipart/byteranges; boundary="));
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
    let r = send(&svc, "GET", "/a.txt", &[("range", "bytes=9999-")]).await;
    assert_eq!(r.status, 416);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes */{len}").as_str())
    );
    let r = send(
        &svc,
        "GET",
        "/a.txt",
        &[("range", "bytes=0-4"), ("if-range", "\"old\"")],
    )
    .await;
    assert_eq!(r.status, 200, "a failed If-Range sends everything");
    let r = send(
        &svc,
        "GET",
        "/nested/deep/file.bin",
        &[("range", "bytes=-10")],
    )
    .await;
    assert_eq!((r.status, &r.body[..]), (206, &[7u8; 10][..]));

    // Precompressed variants.
    let r = send(&svc, "GET", "/app.css", &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(&r.body[..], file("app.css.gz"));
    assert_eq!(r.header("vary"), Some("accept-encoding"));
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    let gz_tag = r.header("etag").unwrap().to_owned();
    let r = send(&svc, "GET", "/app.css", &[]).await;
    assert_eq!(&r.body[..], file("app.css"));
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(
        r.header("vary"),
        Some("accept-encoding"),
        "Vary on fallback"
    );
    assert_ne!(
        r.header("etag"),
        Some(gz_tag.as_str()),
        "variants have their own tag"
    );
    let r = send(
        &svc,
        "GET",
        "/app.css",
        &[("accept-encoding", "gzip"), ("if-none-match", &gz_tag)],
    )
    .await;
    assert_eq!(r.status, 304);
    assert_eq!(r.header("vary"), Some("accept-encoding"), "Vary on 304");
    let r = send(&svc, "GET", "/app.css", &[("accept-encoding", "gzip;q=0")]).await;
    assert_eq!(r.header("content-encoding"), None, "q=0 refuses");

    // Names: missing, directories, hostile.
    assert_eq!(send(&svc, "GET", "/missing.txt", &[]).await.status, 404);
    let r = send(&svc, "GET", "/docs?x=1", &[]).await;
    assert_eq!(r.status, 308, "a directory without its slash");
    assert_eq!(r.header("location"), Some("/docs/?x=1"));
    let r = send(&svc, "GET", "/docs/", &[]).await;
    assert_eq!((r.status, &r.body[..]), (200, file("docs/index.html")));
    for hostile in [
        "/../a.txt",
        "/%2e%2e/a.txt",
        "/docs/..%2fa.txt",
        "/a.txt%00",
    ] {
        let r = send(&svc, "GET", hostile, &[]).await;
        assert!(
            r.status == 400 || r.status == 404,
            "{hostile}: {}",
            r.status
        );
    }
    assert_eq!(send(&svc, "GET", "/.env", &[]).await.status, 404);
    assert_eq!(send(&svc, "POST", "/a.txt", &[]).await.status, 405);
}
