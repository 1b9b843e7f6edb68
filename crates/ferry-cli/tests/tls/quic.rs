//! HTTP/3 beside HTTPS: the Alt-Svc advertisement and `--no-http3`, SIGHUP's
//! certificate reload, the
//! access-log line, `ferry proxy` forwarding a request body, a UDP port that
//! cannot be bound, and the limits
//! (concurrent streams, idle timeout, the drain on SIGTERM). The answers
//! themselves are the behaviour table's (`table.rs`, transport `H3`).
use super::http3::{self, read_at_least};
use super::{client, get_abs, pki, Ca, Ferry, H2};
use http::StatusCode;
use rustls::version::TLS13;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A site with `a.txt` and a `len`-byte `big.bin`, its certificate, and
/// the CA that signed it.
fn setup(dir: &Path, len: usize) -> (PathBuf, PathBuf, PathBuf, Ca) {
    let root = Ca::root("ferry h3 root");
    let leaf = root.leaf("ferry h3", 1);
    let site = super::site(dir);
    std::fs::write(site.join("big.bin"), pattern(len)).unwrap();
    let (cert, key) = pki::write_pair(dir, "live", &leaf, &[]);
    (site, cert, key, root)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// An HTTP/3 connection to `f`, trusting `root`.
async fn h3_connect(f: &Ferry, root: &Ca) -> http3::Sender {
    http3::connect(f.addr, "localhost", &[root.der()])
        .await
        .unwrap()
}

async fn h2_get(f: &Ferry, root: &Ca, path: &str) -> client::Resp {
    let config = client::config(&[root.der()], &[&TLS13], &[H2]);
    let tls = client::connect(f.addr, "localhost", config).await.unwrap();
    client::h2(tls, get_abs(f, path)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_advertises_h3_and_the_access_log_says_http3() {
    let dir = tempfile::tempdir().unwrap();
    let (site, cert, key, root) = setup(dir.path(), 10);
    let log = dir.path().join("access.log");
    let f = Ferry::serve_tls(
        &site,
        &cert,
        &key,
        &[
            "--access-log",
            log.to_str().unwrap(),
            "--access-log-format",
            "combined",
        ],
    );
    assert!(
        f.early.iter().any(|l| l.contains("HTTP/3")),
        "announced: {:?}",
        f.early
    );
    // RFC 7838 §3 / RFC 9114 §3.1.1: `h3` on the same port, for a day.
    let want = format!("h3=\":{}\"; ma=86400", f.addr.port());
    let r = h2_get(&f, &root, "/a.txt").await;
    assert_eq!(r.header("alt-svc"), Some(want.as_str()), "{r:?}");

    let h3 = h3_connect(&f, &root).await;
    let r = h3.send(get_abs(&f, "/a.txt")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], b"hello over tls\n");
    assert_eq!(r.header("alt-svc"), Some(want.as_str()));
    // The same access-log line as every other protocol, naming HTTP/3.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("\"GET /a.txt HTTP/3.0\" 200 15") {
            break;
        }
        assert!(Instant::now() < deadline, "no HTTP/3 line in {text:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_http3_means_no_alt_svc_and_no_quic() {
    let dir = tempfile::tempdir().unwrap();
    let (site, cert, key, root) = setup(dir.path(), 10);
    let f = Ferry::serve_tls(&site, &cert, &key, &["--no-http3"]);
    let r = h2_get(&f, &root, "/a.txt").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("alt-svc"), None, "{r:?}");
    let attempt = tokio::time::timeout(
        Duration::from_secs(2),
        http3::connect(f.addr, "localhost", &[root.der()]),
    )
    .await;
    assert!(
        !matches!(attempt, Ok(Ok(_))),
        "QUIC answered with --no-http3"
    );
    // --alt-svc-max-age sets `ma`; 0 advertises nothing.
    let f = Ferry::serve_tls(&site, &cert, &key, &["--alt-svc-max-age", "60"]);
    let r = h2_get(&f, &root, "/a.txt").await;
    let want = format!("h3=\":{}\"; ma=60", f.addr.port());
    assert_eq!(r.header("alt-svc"), Some(want.as_str()));
    let f = Ferry::serve_tls(&site, &cert, &key, &["--alt-svc-max-age", "0"]);
    assert_eq!(h2_get(&f, &root, "/a.txt").await.header("alt-svc"), None);
}

#[test]
fn a_udp_port_in_use_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (site, cert, key, _) = setup(dir.path(), 10);
    // The TCP port of the same number must be free, or the TCP error comes
    // first: another test may hold it a moment, so a few tries.
    for _ in 0..20 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = udp.local_addr().unwrap();
        if std::net::TcpListener::bind(addr).is_err() {
            continue;
        }
        let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .arg("serve")
            .arg(&site)
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .args(["--listen", &addr.to_string()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains(&format!("cannot listen on {addr}:")) {
            continue; // The TCP port was taken after all.
        }
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(&format!("UDP {addr}")), "{err}");
        return;
    }
    panic!("no port free on TCP and taken on UDP");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_beyond_http3_max_streams_wait_for_a_free_one() {
    // Larger than QUIC's flow-control windows: its stream stays open until
    // the client reads it.
    const LEN: usize = 16 << 20;
    let dir = tempfile::tempdir().unwrap();
    let (site, cert, key, root) = setup(dir.path(), LEN);
    // With Retry too: the client's second Initial carries the token.
    let f = Ferry::start_env(
        &[
            "serve",
            site.to_str().unwrap(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--http3-max-streams",
            "1",
            "--quic-retry",
        ],
        &[("FERRY_LOG", "ferry_cli::quic=debug")],
    );
    let h3 = h3_connect(&f, &root).await;
    f.wait_log_n("QUIC Retry sent", 1);
    let (res, mut big) = h3.open(get_abs(&f, "/big.bin")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut got = Vec::new();
    read_at_least(&mut big, &mut got, 64 << 10).await;
    // RFC 9000 §4.6: the second request cannot even open its stream.
    let second =
        tokio::time::timeout(Duration::from_secs(1), h3.try_send(get_abs(&f, "/a.txt"))).await;
    assert!(second.is_err(), "a second stream opened: {second:?}");
    read_at_least(&mut big, &mut got, LEN).await;
    assert!(got == pattern(LEN), "the body differs");
    drop(big);
    let r = tokio::time::timeout(Duration::from_secs(5), h3.send(get_abs(&f, "/a.txt")))
        .await
        .expect("the stream limit freed up");
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_request_bodies_are_held_to_one_window_a_connection() {
    // `ferry serve` never reads a request body: what a client sends waits
    // in QUIC's receive buffers, which hold at most 1 MiB a connection (as
    // HTTP/2's window) and 256 KiB a stream, not quinn's default 1.25 MB a
    // stream on each of 100 streams.
    const LEN: usize = 16 << 20;
    let dir = tempfile::tempdir().unwrap();
    let (site, cert, key, root) = setup(dir.path(), LEN);
    let f = Ferry::serve_tls(&site, &cert, &key, &[]);
    let h3 = h3_connect(&f, &root).await;
    let wait = Duration::from_millis(300);
    let mut streams = Vec::new();
    for _ in 0..8 {
        // Answered with a body the client does not read either, so each
        // request stays in flight with its body unread. Once the window is
        // full, not even a request head goes out.
        let Ok(mut s) = tokio::time::timeout(wait, h3.start(get_abs(&f, "/big.bin"))).await else {
            break;
        };
        let body = bytes::Bytes::from(vec![b'x'; 1 << 20]);
        let sent = tokio::time::timeout(wait, s.send_data(body)).await;
        assert!(sent.is_err(), "a whole MiB of unread body went out");
        streams.push(s);
    }
    let out = h3.quic.stats().udp_tx.bytes;
    assert!(
        out < 3 << 19,
        "{out} bytes sent on {} streams",
        streams.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_allows_no_control_stream_is_closed_after_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (site, cert, key, root) = setup(dir.path(), 10);
    let f = Ferry::serve_tls(&site, &cert, &key, &["--header-timeout", "1"]);
    // RFC 9114 §6.2: a client MUST let the server open its control stream;
    // this one allows no unidirectional stream at all, so HTTP/3's set-up
    // never ends (and the server's pings keep QUIC alive).
    let mut config = http3::client_config(&[root.der()]);
    let mut transport = quinn::TransportConfig::default();
    transport.max_concurrent_uni_streams(0u32.into());
    config.transport_config(std::sync::Arc::new(transport));
    let ep = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let quic = ep
        .connect_with(config, f.addr, "localhost")
        .unwrap()
        .await
        .unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(5), quic.closed())
        .await
        .expect("still open 5 s later");
    match closed {
        // H3_GENERAL_PROTOCOL_ERROR (RFC 9114 §8.1).
        quinn::ConnectionError::ApplicationClosed(c) => {
            assert_eq!(u64::from(c.error_code), 0x101, "{c:?}")
        }
        e => panic!("closed otherwise: {e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed_after_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (site, cert, key, root) = setup(dir.path(), 10);
    let f = Ferry::serve_tls(&site, &cert, &key, &["--idle-timeout", "1"]);
    let h3 = h3_connect(&f, &root).await;
    let start = Instant::now();
    assert_eq!(h3.send(get_abs(&f, "/a.txt")).await.status, StatusCode::OK);
    let closed = tokio::time::timeout(Duration::from_secs(5), h3.quic.closed())
        .await
        .expect("still open 5 s after its last answer");
    assert!(start.elapsed() >= Duration::from_millis(900), "{closed:?}");
    // Closed by ferry, without an error (H3_NO_ERROR, RFC 9114 §8.1).
    match closed {
        quinn::ConnectionError::ApplicationClosed(c) => {
            assert_eq!(u64::from(c.error_code), 0x100, "{c:?}")
        }
        e => panic!("closed otherwise: {e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_h3_downloads_finish_then_exits_0() {
    const LEN: usize = 16 << 20;
    let dir = tempfile::tempdir().unwrap();
    let (site, cert, key, root) = setup(dir.path(), LEN);
    let mut f = Ferry::serve_tls(&site, &cert, &key, &[]);
    let h3 = h3_connect(&f, &root).await;
    let (res, mut dl) = h3.open(get_abs(&f, "/big.bin")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut got = Vec::new();
    read_at_least(&mut dl, &mut got, 256 << 10).await;

    let ok = Command::new("kill")
        .args(["-TERM", &f.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    f.wait_log_n("shutting down", 1);
    // RFC 9114 §5.2: after GOAWAY the client sends no new request here.
    let deadline = Instant::now() + Duration::from_secs(5);
    while h3.try_send(get_abs(&f, "/a.txt")).await.is_ok() {
        assert!(Instant::now() < deadline, "requests still taken");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The download in flight finishes, then the process exits 0.
    read_at_least(&mut dl, &mut got, LEN).await;
    assert!(got == pattern(LEN), "the HTTP/3 body differs");
    drop(dl);
    // Done after a GOAWAY: the client closes (RFC 9114 §5.2).
    h3.quic.close(0x100u32.into(), b"");
    let status = f
        .exit_within(Duration::from_secs(10), "still running after its download")
        .await;
    assert!(status.success(), "{status:?}; {:?}", f.log.lock().unwrap());
}

/// An upstream for one request: answers with the body it got, the
/// `X-Forwarded-Proto` and method it saw (`x-seen`), and the request's
/// framing fields (`x-framing`: `none`, or `content-length: N` and
/// `transfer-encoding: …` lines joined with `; `).
fn echo_upstream() -> std::net::SocketAddr {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let (mut len, mut proto, mut line) = (0usize, String::new(), String::new());
        let mut framing = Vec::new();
        r.read_line(&mut line).unwrap();
        let method = line.split(' ').next().unwrap_or_default().to_owned();
        loop {
            let mut h = String::new();
            r.read_line(&mut h).unwrap();
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            match k.to_ascii_lowercase().as_str() {
                "content-length" => {
                    len = v.trim().parse().unwrap();
                    framing.push(format!("content-length: {len}"));
                }
                "transfer-encoding" => framing.push(format!("transfer-encoding: {}", v.trim())),
                "x-forwarded-proto" => proto = v.trim().to_owned(),
                _ => {}
            }
        }
        let framing = if framing.is_empty() {
            "none".to_owned()
        } else {
            framing.join("; ")
        };
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        let mut s = s;
        write!(
            s,
            "HTTP/1.1 200 OK\r\ncontent-length: {len}\r\nx-seen: {method} {proto}\r\nx-framing: {framing}\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        s.write_all(&body).unwrap();
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferry_proxy_forwards_an_http3_request_body() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key, root) = setup(dir.path(), 10);
    let upstream = format!("http://{}", echo_upstream());
    let f = Ferry::proxy_tls(&upstream, &cert, &key, &[]);
    let h3 = h3_connect(&f, &root).await;
    let body = pattern(100_000);
    let mut req = get_abs(&f, "/upload");
    *req.method_mut() = http::Method::POST;
    let r = h3.send_body(req, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.header("x-seen"), Some("POST https"));
    assert!(r.body == body[..], "the body came back different");
    let want = format!("h3=\":{}\"; ma=86400", f.addr.port());
    assert_eq!(r.header("alt-svc"), Some(want.as_str()));
    assert_eq!(r.header("x-framing"), Some("content-length: 100000"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferry_proxy_forwards_an_http3_get_without_a_body_and_checks_content_length() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key, root) = setup(dir.path(), 10);
    let upstream = format!("http://{}", echo_upstream());
    let f = Ferry::proxy_tls(&upstream, &cert, &key, &[]);
    let h3 = h3_connect(&f, &root).await;
    // A GET's stream ends with its head: the upstream gets no body, and no
    // `content-length: 0` either, as from HTTP/1.1 and HTTP/2 clients.
    let r = h3.send(get_abs(&f, "/x")).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.header("x-seen"), Some("GET https"));
    assert_eq!(r.header("x-framing"), Some("none"));
    // RFC 9114 §4.1.2: DATA that falls short of Content-Length makes the
    // request malformed; the upstream never sees it.
    let mut req = get_abs(&f, "/upload");
    *req.method_mut() = http::Method::POST;
    req.headers_mut()
        .insert("content-length", http::HeaderValue::from_static("10"));
    let r = h3.send_body(req, b"short").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_a_connection_specific_field_is_reset_rfc_9114_4_2() {
    let dir = tempfile::tempdir().unwrap();
    let (site, cert, key, root) = setup(dir.path(), 10);
    let f = Ferry::serve_tls(&site, &cert, &key, &[]);
    let h3 = h3_connect(&f, &root).await;
    // Malformed: the stream is reset with H3_MESSAGE_ERROR, as h2 resets
    // HTTP/2's (RFC 9113 §8.2.2); the connection goes on.
    for (name, value) in [("connection", "keep-alive"), ("te", "gzip")] {
        let mut req = get_abs(&f, "/a.txt");
        req.headers_mut()
            .insert(name, http::HeaderValue::from_static(value));
        let e = h3.try_send(req).await.expect_err(name);
        assert!(e.contains("H3_MESSAGE_ERROR"), "{name}: {e}");
    }
    let mut req = get_abs(&f, "/a.txt");
    req.headers_mut()
        .insert("te", http::HeaderValue::from_static("trailers"));
    assert_eq!(h3.send(req).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_quic_certificate_too() {
    let dir = tempfile::tempdir().unwrap();
    let (site, cert, key, root) = setup(dir.path(), 10);
    let f = Ferry::serve_tls(&site, &cert, &key, &[]);
    let before = h3_connect(&f, &root).await;
    let first = http3::presented(&before);
    let two = root.leaf("ferry h3 two", 2);
    pki::write_pair(dir.path(), "live", &two, &[]);
    f.signal_hup();
    f.wait_log_n("certificate reloaded", 1);
    let after = h3_connect(&f, &root).await;
    assert_eq!(http3::presented(&after), two.der, "the new pair over QUIC");
    assert_ne!(first, two.der);
    // The connection made before the reload goes on.
    let r = before.send(get_abs(&f, "/a.txt")).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_connections_beyond_max_connections_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (site, cert, key, root) = setup(dir.path(), 10);
    let f = Ferry::serve_tls(&site, &cert, &key, &["--max-connections", "1"]);
    let first = h3_connect(&f, &root).await;
    assert_eq!(
        first.send(get_abs(&f, "/a.txt")).await.status,
        StatusCode::OK
    );
    // No listen queue to wait in: refused (RFC 9000 §20.1 CONNECTION_REFUSED).
    let second = tokio::time::timeout(
        Duration::from_secs(5),
        http3::connect(f.addr, "localhost", &[root.der()]),
    )
    .await
    .expect("an answer, not silence");
    let e = second.err().expect("a second connection was taken");
    assert!(e.to_lowercase().contains("refused"), "{e}");
    // Once the first is closed, its slot is free again.
    first.quic.close(0x100u32.into(), b"");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match http3::connect(f.addr, "localhost", &[root.der()]).await {
            Ok(h3) => {
                assert_eq!(h3.send(get_abs(&f, "/a.txt")).await.status, StatusCode::OK);
                break;
            }
            Err(e) => assert!(Instant::now() < deadline, "slot never freed: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_head_the_client_takes_no_credit_for_is_cut_after_write_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (site, cert, key, root) = setup(dir.path(), 10);
    let log = dir.path().join("access.log");
    // A head of some 4 KiB (the --hsts field on every response)…
    let hsts = format!("max-age=60; x={}", "x".repeat(4096));
    let f = Ferry::serve_tls(
        &site,
        &cert,
        &key,
        &[
            "--write-timeout",
            "1",
            "--hsts",
            &hsts,
            "--access-log",
            log.to_str().unwrap(),
        ],
    );
    // …to a client that takes 1 KiB on the whole connection and reads
    // nothing: the head cannot go out, and must not wait for ever.
    let mut config = http3::client_config(&[root.der()]);
    let mut transport = quinn::TransportConfig::default();
    transport.receive_window(1024u32.into());
    config.transport_config(std::sync::Arc::new(transport));
    let h3 = http3::connect_with(f.addr, "localhost", config)
        .await
        .unwrap();
    let mut stream = h3.start(get_abs(&f, "/a.txt")).await;
    stream.finish().await.unwrap();
    // Cut after a second, so the exchange is over and logged, with no
    // body bytes.
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("\"GET /a.txt\" 200 0 ")) {
            let ms: f64 = line
                .rsplit(' ')
                .next()
                .unwrap()
                .trim_end_matches("ms")
                .parse()
                .unwrap();
            assert!(ms >= 900.0, "{line}");
            break;
        }
        assert!(Instant::now() < deadline, "still in flight: {text:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(stream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_after_write_timeout() {
    const LEN: usize = 16 << 20;
    let dir = tempfile::tempdir().unwrap();
    let (site, cert, key, root) = setup(dir.path(), LEN);
    let log = dir.path().join("access.log");
    let l = log.to_str().unwrap();
    let f = Ferry::serve_tls(
        &site,
        &cert,
        &key,
        &[
            "--write-timeout",
            "1",
            "--access-log",
            l,
            "--access-log-format",
            "combined",
        ],
    );
    let h3 = h3_connect(&f, &root).await;
    let (res, mut dl) = h3.open(get_abs(&f, "/big.bin")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut got = Vec::new();
    read_at_least(&mut dl, &mut got, 64 << 10).await;
    // Stalled past --write-timeout: QUIC's flow control holds ferry back,
    // and it resets the stream rather than wait for ever.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cut = loop {
        match dl.recv_data().await {
            Ok(Some(mut c)) => {
                let n = bytes::Buf::remaining(&c);
                got.extend_from_slice(&bytes::Buf::copy_to_bytes(&mut c, n));
            }
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    assert!(cut, "the whole body came after a stall of 3 s");
    assert!(got.len() < LEN);
    // The exchange is logged with the bytes that went out.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("GET /big.bin HTTP/3.0")) {
            let bytes: usize = line
                .split("\" 200 ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert!(bytes < LEN && bytes >= got.len(), "{line}");
            break;
        }
        assert!(Instant::now() < deadline, "no log line in {text:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_stream_left_open_gets_its_whole_answer_then_h3_no_error() {
    // RFC 9114 §4.1: a server that needs no more of the request "MAY abort
    // reading the request stream, send a complete response, and cleanly
    // close the sending part of the stream. The error code H3_NO_ERROR
    // SHOULD be used when requesting that the client stop sending".
    let dir = tempfile::tempdir().unwrap();
    let (site, cert, key, root) = setup(dir.path(), 10);
    let f = Ferry::serve_tls(&site, &cert, &key, &[]);
    let h3 = h3_connect(&f, &root).await;
    // The head goes out; the request stream is never finished.
    let mut s = h3.start(get_abs(&f, "/a.txt")).await;
    let res = s.recv_response().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let mut body = Vec::new();
    // To the response's end: a.txt is far shorter than this.
    read_at_least(&mut s, &mut body, 1 << 20).await;
    assert_eq!(body, std::fs::read(site.join("a.txt")).unwrap());
    // Then the server stops the request's stream, with H3_NO_ERROR.
    let deadline = Instant::now() + Duration::from_secs(5);
    let err = loop {
        match s.send_data(bytes::Bytes::from_static(b"more")).await {
            Err(e) => break e.to_string(),
            Ok(()) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Ok(()) => panic!("the request stream is still open 5 s after its answer"),
        }
    };
    assert!(err.contains("H3_NO_ERROR"), "{err}");
}
