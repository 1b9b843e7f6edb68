//! HTTPS/1.1 on the fast path's wire layer, at the socket: what the wire
//! layer owns over TLS (keep-alive, pipelining, the head limit, the header
//! and idle timeouts, large files, HEAD, a body nobody reads, and the
//! close_notify before every close, RFC 8446 §6.1). What requests mean is
//! the behaviour table's (`table`).
use super::{pki, Ca, Ferry, HTTP11};
use rustls::version::TLS13;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A site with `a.txt`, `b.txt` and a 3 MiB `big.bin`, served over HTTPS
/// with `extra` flags; the root that signed its certificate.
fn start(extra: &[&str]) -> (Ferry, Ca, tempfile::TempDir) {
    let root = Ca::root("ferry h1 root");
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    std::fs::create_dir(&site).unwrap();
    std::fs::write(site.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(site.join("b.txt"), "bravo bravo\n").unwrap();
    std::fs::write(site.join("big.bin"), big()).unwrap();
    let (cert, key) = pki::write_pair(dir.path(), "live", &root.leaf("ferry h1", 1), &[]);
    let mut args = vec!["--no-access-log"];
    args.extend_from_slice(extra);
    let f = Ferry::serve_tls(&site, &cert, &key, &args);
    (f, root, dir)
}

/// 3 MiB without a period: a chunk sent twice or skipped shows.
fn big() -> Vec<u8> {
    (0..3u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

/// A TLS 1.3 connection with ALPN http/1.1.
async fn connect(f: &Ferry, root: &Ca) -> TlsStream<TcpStream> {
    let config = super::client::config(&[root.der()], &[&TLS13], &[HTTP11]);
    let tls = super::client::connect(f.addr, "localhost", config)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(HTTP11));
    tls
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n")
}

/// Reads one response: its head (lowercased) and its body, framed by
/// Content-Length (none for a HEAD); `rest` keeps bytes read past it.
async fn response(
    tls: &mut TlsStream<TcpStream>,
    rest: &mut Vec<u8>,
    head_only: bool,
) -> (String, Vec<u8>) {
    let mut buf = vec![0u8; 64 * 1024];
    let end = loop {
        if let Some(i) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = within(tls.read(&mut buf)).await.unwrap();
        assert!(
            n > 0,
            "closed mid-head: {:?}",
            String::from_utf8_lossy(rest)
        );
        rest.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&rest[..end]).to_lowercase();
    rest.drain(..end);
    let len: usize = if head_only {
        0
    } else {
        head.split("\r\n")
            .find_map(|l| l.strip_prefix("content-length: "))
            .expect("a content-length")
            .parse()
            .unwrap()
    };
    while rest.len() < len {
        let n = within(tls.read(&mut buf)).await.unwrap();
        assert!(n > 0, "closed mid-body");
        rest.extend_from_slice(&buf[..n]);
    }
    let body = rest.drain(..len).collect();
    (head, body)
}

/// Bounds a client wait, so a hang fails the test instead of holding it.
async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("no answer within 10 s")
}

/// Waits for the server to close: a clean end of the TLS stream, which
/// rustls reports only after the server's close_notify (a bare FIN is
/// `UnexpectedEof`). Returns what came before it and how long it took.
async fn clean_close(tls: &mut TlsStream<TcpStream>) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    let mut out = Vec::new();
    let r = within(tls.read_to_end(&mut out)).await;
    assert!(
        r.is_ok(),
        "closed without close_notify: {r:?} after {:?}",
        String::from_utf8_lossy(&out)
    );
    (out, start.elapsed())
}

#[tokio::test]
async fn https_h1_keeps_the_connection_for_several_requests() {
    let (f, root, _dir) = start(&[]);
    let mut tls = connect(&f, &root).await;
    let mut rest = Vec::new();
    for (path, want) in [
        ("/a.txt", "alpha\n"),
        ("/b.txt", "bravo bravo\n"),
        ("/a.txt", "alpha\n"),
    ] {
        tls.write_all(get(path).as_bytes()).await.unwrap();
        let (head, body) = response(&mut tls, &mut rest, false).await;
        assert!(head.starts_with("http/1.1 200 "), "{head}");
        assert!(!head.contains("connection: close"), "{head}");
        assert_eq!(body, want.as_bytes(), "{path}");
    }
    assert!(rest.is_empty());
}

#[tokio::test]
async fn https_h1_answers_pipelined_requests_in_order() {
    let (f, root, _dir) = start(&[]);
    let mut tls = connect(&f, &root).await;
    // Three requests in one write (one TLS record): three answers, in order.
    let burst = [get("/b.txt"), get("/a.txt"), get("/missing")].concat();
    tls.write_all(burst.as_bytes()).await.unwrap();
    let mut rest = Vec::new();
    let (h1, b1) = response(&mut tls, &mut rest, false).await;
    let (h2, b2) = response(&mut tls, &mut rest, false).await;
    let (h3, _) = response(&mut tls, &mut rest, false).await;
    assert!(
        h1.starts_with("http/1.1 200 ") && b1 == b"bravo bravo\n",
        "{h1}"
    );
    assert!(h2.starts_with("http/1.1 200 ") && b2 == b"alpha\n", "{h2}");
    assert!(h3.starts_with("http/1.1 404 "), "{h3}");
}

#[tokio::test]
async fn https_h1_head_over_max_header_bytes_gets_431_then_close_notify() {
    let (f, root, _dir) = start(&["--max-header-bytes", "4096"]);
    let mut tls = connect(&f, &root).await;
    let big = "x".repeat(8 * 1024);
    let req = format!("GET /a.txt HTTP/1.1\r\nhost: localhost\r\nx-big: {big}\r\n\r\n");
    // The server may answer and close before it has read all of it.
    let _ = tls.write_all(req.as_bytes()).await;
    let (out, _) = clean_close(&mut tls).await;
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 431 "), "{out}");
}

#[tokio::test]
async fn https_h1_slow_head_is_closed_after_the_header_timeout() {
    let (f, root, _dir) = start(&["--header-timeout", "1", "--idle-timeout", "30"]);
    let mut tls = connect(&f, &root).await;
    tls.write_all(b"GET /a.txt HTTP/1.1\r\nhost: localhost\r\n")
        .await
        .unwrap();
    let (out, waited) = clean_close(&mut tls).await;
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
}

#[tokio::test]
async fn https_h1_idle_connection_is_closed_after_the_idle_timeout() {
    let (f, root, _dir) = start(&["--idle-timeout", "1", "--header-timeout", "30"]);
    let mut tls = connect(&f, &root).await;
    tls.write_all(get("/a.txt").as_bytes()).await.unwrap();
    let (head, _) = response(&mut tls, &mut Vec::new(), false).await;
    assert!(head.starts_with("http/1.1 200 "), "{head}");
    let (out, waited) = clean_close(&mut tls).await;
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[tokio::test]
async fn https_h1_large_file_arrives_byte_exact() {
    let (f, root, _dir) = start(&[]);
    let mut tls = connect(&f, &root).await;
    let want = big();
    let mut rest = Vec::new();
    // Whole, then a range that starts and ends inside file chunks, on the
    // same connection.
    tls.write_all(get("/big.bin").as_bytes()).await.unwrap();
    let (head, body) = response(&mut tls, &mut rest, false).await;
    assert!(head.starts_with("http/1.1 200 "), "{head}");
    assert!(body == want, "the body differs from the file");
    let range = "GET /big.bin HTTP/1.1\r\nhost: localhost\r\nrange: bytes=70000-2000000\r\n\r\n";
    tls.write_all(range.as_bytes()).await.unwrap();
    let (head, body) = response(&mut tls, &mut rest, false).await;
    assert!(head.starts_with("http/1.1 206 "), "{head}");
    assert!(
        body == want[70000..=2000000],
        "the range differs from the file"
    );
}

#[tokio::test]
async fn https_h1_head_has_no_body() {
    let (f, root, _dir) = start(&[]);
    let mut tls = connect(&f, &root).await;
    // A HEAD, then a GET: the GET's answer must follow the HEAD's head at
    // once, with no body bytes between them.
    let req = [
        "HEAD /b.txt HTTP/1.1\r\nhost: localhost\r\n\r\n".to_string(),
        get("/a.txt"),
    ]
    .concat();
    tls.write_all(req.as_bytes()).await.unwrap();
    let mut rest = Vec::new();
    let (head, _) = response(&mut tls, &mut rest, true).await;
    assert!(head.starts_with("http/1.1 200 "), "{head}");
    assert!(head.contains("content-length: 12\r\n"), "{head}");
    assert!(
        rest.is_empty() || rest.starts_with(b"HTTP/1.1 "),
        "{rest:?}"
    );
    let (head, body) = response(&mut tls, &mut rest, false).await;
    assert!(
        head.starts_with("http/1.1 200 ") && body == b"alpha\n",
        "{head}"
    );
}

#[tokio::test]
async fn https_h1_body_on_a_get_is_read_and_dropped() {
    let (f, root, _dir) = start(&["--header-timeout", "30"]);
    let mut tls = connect(&f, &root).await;
    // `ferry serve` reads no bodies: the answer comes before the body does.
    tls.write_all(b"GET /a.txt HTTP/1.1\r\nhost: localhost\r\ncontent-length: 10\r\n\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let (head, body) = response(&mut tls, &mut rest, false).await;
    assert!(
        head.starts_with("http/1.1 200 ") && body == b"alpha\n",
        "{head}"
    );
    assert!(!head.contains("connection: close"), "{head}");
    // The body, then the next request on the same connection.
    tls.write_all(format!("0123456789{}", get("/b.txt")).as_bytes())
        .await
        .unwrap();
    let (head, body) = response(&mut tls, &mut rest, false).await;
    assert!(head.starts_with("http/1.1 200 "), "{head}");
    assert_eq!(body, b"bravo bravo\n");
}

#[tokio::test]
async fn https_h1_sends_close_notify_before_closing() {
    let (f, root, _dir) = start(&[]);
    let mut tls = connect(&f, &root).await;
    let req = "GET /a.txt HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n";
    tls.write_all(req.as_bytes()).await.unwrap();
    let (out, _) = clean_close(&mut tls).await;
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 200 "), "{out}");
    assert!(out.contains("connection: close\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\nalpha\n"), "{out}");
}

/// An upstream for `ferry proxy` that answers every request with the body
/// it got (framed by Content-Length, as ferry spools request bodies).
fn body_echo_upstream() -> std::net::SocketAddr {
    super::upstream(|head, s| {
        use std::io::{Read as _, Write as _};
        let len: usize = head
            .split("\r\n")
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |v| v.parse().unwrap());
        let mut body = vec![0u8; len];
        if s.read_exact(&mut body).is_err() {
            return;
        }
        let res = format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n");
        let _ = s.write_all(&[res.as_bytes(), &body].concat());
    })
}

#[tokio::test]
async fn https_h1_proxy_reads_a_chunked_request_body_after_100_continue() {
    let root = Ca::root("ferry h1 proxy root");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = pki::write_pair(dir.path(), "live", &root.leaf("ferry h1 proxy", 2), &[]);
    let up = body_echo_upstream();
    let f = Ferry::proxy_tls(&format!("http://{up}"), &cert, &key, &["--no-access-log"]);
    let mut tls = connect(&f, &root).await;
    tls.write_all(
        b"POST /echo HTTP/1.1\r\nhost: localhost\r\ntransfer-encoding: chunked\r\nexpect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    // RFC 9110 §10.1.1: the client waits for 100 Continue before its body.
    let mut rest = Vec::new();
    let (head, _) = response(&mut tls, &mut rest, true).await;
    assert!(head.starts_with("http/1.1 100 "), "{head}");
    let body = big()[..200_000].to_vec();
    let mut wire = Vec::new();
    for c in body.chunks(7000) {
        wire.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        wire.extend_from_slice(c);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    tls.write_all(&wire).await.unwrap();
    let (head, got) = response(&mut tls, &mut rest, false).await;
    assert!(head.starts_with("http/1.1 200 "), "{head}");
    assert!(got == body, "the upstream got another body");
}
