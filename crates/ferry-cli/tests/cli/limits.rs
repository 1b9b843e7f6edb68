//! Timeouts and limits a slow, idle or greedy client runs into: the header,
//! idle and write timeouts, the head size and `--max-connections`.
use super::{site, Ferry};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[test]
fn too_large_head_gets_431() {
    let d = site();
    let f = Ferry::serve(d.path(), &["--no-access-log"]);
    let big = "x".repeat(64 * 1024);
    let r = f.raw(format!("GET /a.txt HTTP/1.1\r\nhost: t\r\nx-big: {big}\r\n\r\n").as_bytes());
    assert!(r.starts_with("HTTP/1.1 431"), "{}", &r[..r.len().min(200)]);
}

#[test]
fn slow_head_is_closed_after_the_timeout() {
    let d = site();
    let f = Ferry::serve(d.path(), &["--no-access-log", "--header-timeout", "1"]);
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.write_all(b"GET /a.txt HTTP/1.1\r\nhost: t\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let start = Instant::now();
    let mut out = Vec::new();
    let res = s.read_to_end(&mut out);
    assert!(res.is_ok(), "connection was not closed: {res:?}");
    assert!(start.elapsed() < Duration::from_secs(4));
    assert!(!String::from_utf8_lossy(&out).contains("hello"));
}

#[test]
fn a_head_sent_byte_by_byte_is_closed_after_the_header_timeout() {
    // Each byte resets no timer: the head has --header-timeout in all.
    let d = site();
    let f = Ferry::serve(d.path(), &["--no-access-log", "--header-timeout", "1"]);
    let s = TcpStream::connect(f.addr).unwrap();
    let mut w = s.try_clone().unwrap();
    // A byte every 100 ms for 6 s, or until the server has closed.
    std::thread::spawn(move || {
        for &b in b"GET /a.txt HTTP/1.1\r\nx-slow: ".iter().cycle().take(60) {
            if w.write_all(&[b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let start = Instant::now();
    let mut r = s;
    r.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = Vec::new();
    let _ = r.read_to_end(&mut out);
    let waited = start.elapsed();
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

#[test]
fn a_head_begun_after_a_response_gets_the_header_timeout_not_the_idle_one() {
    let d = site();
    let f = Ferry::serve(
        d.path(),
        &[
            "--no-access-log",
            "--header-timeout",
            "1",
            "--idle-timeout",
            "30",
        ],
    );
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /a.txt HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(b"GET /a.txt HTTP/1.1\r\n").unwrap();
    closes_within(&mut s, Duration::from_millis(700), Duration::from_secs(4));
}

/// Waits for the server to close `s` without sending anything more, and checks
/// that it took between `lo` and `hi`.
fn closes_within(s: &mut TcpStream, lo: Duration, hi: Duration) {
    s.set_read_timeout(Some(hi * 2)).unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    assert_eq!(s.read(&mut buf).unwrap(), 0, "closed without a response");
    let waited = start.elapsed();
    assert!(waited >= lo && waited < hi, "{waited:?}");
}

#[test]
fn expect_continue_gets_the_final_status_at_once() {
    // RFC 9110 §10.1.1: the client waits for 100 Continue before its body;
    // ferry needs no body and answers at once.
    let d = site();
    let f = Ferry::serve(d.path(), &["--no-access-log"]);
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.write_all(
        b"POST /a.txt HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut buf = [0u8; 512];
    let start = Instant::now();
    let n = s.read(&mut buf).unwrap();
    assert!(start.elapsed() < Duration::from_secs(2));
    let r = String::from_utf8_lossy(&buf[..n]);
    assert!(r.starts_with("HTTP/1.1 405"), "{r}");
}

#[test]
fn max_connections_holds_new_connections_until_one_closes() {
    let d = site();
    let f = Ferry::serve(d.path(), &["--max-connections", "1"]);
    let req = b"GET /a.txt HTTP/1.1\r\nhost: t\r\n\r\n";
    let mut one = TcpStream::connect(f.addr).unwrap();
    one.write_all(req).unwrap();
    let mut buf = [0u8; 4096];
    assert!(one.read(&mut buf).unwrap() > 0);
    // The kernel completes the handshake; ferry does not take it yet.
    let mut two = TcpStream::connect(f.addr).unwrap();
    two.write_all(req).unwrap();
    two.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    assert!(
        two.read(&mut buf).is_err(),
        "served beyond --max-connections"
    );
    drop(one);
    two.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = two.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
}

#[test]
fn idle_keep_alive_connections_close_after_the_idle_timeout() {
    let d = site();
    let f = Ferry::serve(d.path(), &["--idle-timeout", "1"]);
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.write_all(b"GET /a.txt HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 4096];
    assert!(s.read(&mut buf).unwrap() > 0);
    closes_within(&mut s, Duration::from_millis(800), Duration::from_secs(5));
}

#[test]
fn the_idle_timeout_counts_from_the_last_response_not_the_first() {
    // Three requests 600 ms apart on one connection with a 1 s idle timeout:
    // the connection is never idle for 1 s until after the last one.
    let d = site();
    let f = Ferry::serve(d.path(), &["--idle-timeout", "1", "--no-access-log"]);
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 4096];
    for i in 0..3 {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(600));
        }
        s.write_all(b"GET /a.txt HTTP/1.1\r\nhost: t\r\n\r\n")
            .unwrap();
        let n = s.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "request {i}");
    }
    closes_within(&mut s, Duration::from_millis(800), Duration::from_secs(5));
}

#[test]
fn an_idle_http2_connection_closes_after_the_idle_timeout() {
    // hyper's HTTP/2 has no idle timeout of its own: a client that sends its
    // preface and then nothing must not hold a connection slot for ever.
    let d = site();
    let f = Ferry::serve(d.path(), &["--h2c", "--idle-timeout", "1"]);
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let t = Instant::now();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all); // The server's SETTINGS, then EOF.
    let idle = t.elapsed();
    assert!(
        idle >= Duration::from_millis(800) && idle < Duration::from_secs(5),
        "{idle:?}"
    );
}

#[test]
fn a_client_that_stops_reading_is_cut_off_after_the_write_timeout() {
    let d = site();
    std::fs::write(d.path().join("big.bin"), vec![1u8; 64 << 20]).unwrap();
    let f = Ferry::serve(d.path(), &["--write-timeout", "1"]);
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.write_all(b"GET /big.bin HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    // Never read: the socket buffers fill and ferry's sends stall. The
    // response is given up after a second and still logged, with the bytes
    // that went out.
    let t = Instant::now();
    let line = f.wait_log("\"GET /big.bin\" 200");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let sent: u64 = line.split(' ').nth(4).unwrap().parse().unwrap();
    assert!(sent > 0 && sent < 64 << 20, "{line}");
    drop(s);
}

#[test]
fn a_request_body_nobody_reads_does_not_hold_the_response() {
    // `ferry serve` never reads bodies: the answer goes out at once, and a
    // small body (declared or chunked) is read and dropped afterwards to keep
    // the connection; one that never comes ends it at the header timeout,
    // after the response.
    let d = site();
    let f = Ferry::serve(d.path(), &["--no-access-log", "--header-timeout", "30"]);
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /a.txt HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).expect("answered before the body arrived");
    let head = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
    // The body, then a second request on the same connection.
    s.write_all(b"0123456789GET /a.txt HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // A chunked body of 60 KB keeps the connection too.
    let mut req = b"POST /a.txt HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..60 {
        req.extend_from_slice(b"3e8\r\n");
        req.extend_from_slice(&[b'c'; 1000]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\nGET /a.txt HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n");
    s.write_all(&req).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 405"), "{out}");
    assert_eq!(out.matches("HTTP/1.1 ").count(), 2, "{out}");
}
