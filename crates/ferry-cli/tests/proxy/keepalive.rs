//! `ferry proxy`'s upstream connections: kept alive per worker and reused,
//! never reused when the upstream says it will close, and a kept connection
//! the upstream dropped replaced without the client noticing, its request
//! sent once.
use super::{digest, Act, Conn, Ferry, Upstream};

/// `200 OK` with `body`, a Content-Length and nothing that closes.
fn ok(body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[test]
fn sequential_requests_reuse_kept_upstream_connections() {
    let up = Upstream::keep_alive(|s| ok(s.target().as_bytes()));
    let f = Ferry::proxy(&up.url(), &[]);
    // Twenty clients one after the other: each of ferry's workers (one per
    // core) opens one connection and reuses it.
    for i in 0..20 {
        let r = f.get(&format!("/r{i}"), "");
        assert_eq!(
            (r.status(), r.text()),
            (200, format!("/r{i}")),
            "{}",
            r.all()
        );
    }
    assert_eq!(up.seen().len(), 20);
    let first = up.accepted();
    assert!(
        first <= cores(),
        "{first} upstream connections for 20 requests on {} cores",
        cores()
    );
    // Ten more on one client connection, so on one worker: at most one
    // connection more, whatever the number of cores.
    let mut c = Conn::open(&f);
    for i in 0..10 {
        let r = c.request("GET", &format!("/c{i}"));
        assert_eq!(
            (r.status(), r.text()),
            (200, format!("/c{i}")),
            "{}",
            r.all()
        );
    }
    assert!(
        up.accepted() <= first + 1,
        "{} > {first} + 1",
        up.accepted()
    );
}

#[test]
fn an_upstream_that_will_close_gets_a_new_connection_for_every_request() {
    // Each upstream keeps reading after its answer, so a connection ferry
    // wrongly reused would still be answered: only the count tells.
    for (what, version, fields, new_each_time) in [
        (
            "HTTP/1.1 with Connection: close",
            "1.1",
            "connection: close\r\n",
            true,
        ),
        ("HTTP/1.0 without keep-alive", "1.0", "", true),
        (
            "HTTP/1.0 with Connection: keep-alive",
            "1.0",
            "connection: keep-alive\r\n",
            false,
        ),
    ] {
        let up = Upstream::keep_alive(move |s| {
            let body = s.target();
            format!(
                "HTTP/{version} 200 OK\r\n{fields}content-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        });
        let f = Ferry::proxy(&up.url(), &[]);
        let mut c = Conn::open(&f);
        for i in 0..5 {
            let r = c.request("GET", &format!("/{i}"));
            assert_eq!((r.status(), r.text()), (200, format!("/{i}")), "{what}");
        }
        let want = if new_each_time { 5 } else { 1 };
        assert_eq!(up.accepted(), want, "{what}: upstream connections");
    }
}

#[test]
fn a_kept_connection_dropped_as_the_request_arrives_retries_idempotent_requests_only() {
    // Every connection answers one request, then drops the next unread: each
    // request after the first finds its kept connection dead. An idempotent
    // one (GET, a PUT whose body ferry holds) is sent again on a new
    // connection; a POST is not (RFC 9110 §9.2.2: from outside, a dropped
    // connection looks the same as an app that read the POST and died), so
    // it gets 502 and is never delivered twice, as behind nginx.
    let up = Upstream::acting(|s| Act::KeepThenDrop(ok(digest(&s.body).as_bytes())));
    let f = Ferry::proxy(&up.url(), &[]);
    let mut c = Conn::open(&f);
    // 100 KiB: spooled to a file by ferry, and written after the head.
    let big: Vec<u8> = (0..100 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let small = b"x=1&y=2".to_vec();
    let send = |c: &mut Conn, method: &str, path: &str, body: &[u8]| {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        c.send(&req)
    };

    let r = c.request("GET", "/first");
    assert_eq!((r.status(), r.text()), (200, digest(b"")), "{}", r.all());
    let r = c.request("GET", "/get");
    assert_eq!((r.status(), r.text()), (200, digest(b"")), "{}", r.all());
    let r = send(&mut c, "PUT", "/big", &big);
    assert_eq!((r.status(), r.text()), (200, digest(&big)), "{}", r.all());
    let r = send(&mut c, "POST", "/small", &small);
    assert_eq!(r.status(), 502, "{}", r.all());

    // Each request reached the application at most once, whole.
    let seen = up.seen();
    let targets: Vec<&str> = seen.iter().map(|s| s.target()).collect();
    assert_eq!(targets, ["/first", "/get", "/big"]);
    assert!(seen[2].body == big, "the 100 KiB body arrived changed");
    assert_eq!(seen[2].header("content-length"), Some("102400"));
    assert_eq!(
        up.accepted(),
        3,
        "one new connection per retry, none for the POST"
    );
}

#[test]
fn a_kept_connection_the_upstream_closed_while_idle_is_not_used() {
    // A keep-alive answer, then the upstream closes the connection while it
    // sits idle in ferry's pool: the next request goes out on a new one.
    let up = Upstream::acting(|s| Act::Close(ok(s.target().as_bytes())));
    let f = Ferry::proxy(&up.url(), &[]);
    let mut c = Conn::open(&f);
    for i in 0..5 {
        let r = c.request("GET", &format!("/{i}"));
        assert_eq!(
            (r.status(), r.text()),
            (200, format!("/{i}")),
            "{}",
            r.all()
        );
    }
    assert_eq!(up.seen().len(), 5);
    assert_eq!(up.accepted(), 5);
}

#[test]
fn a_hand_off_with_an_empty_body_keeps_its_upstream_connection() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let file: Vec<u8> = (0..1024u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(root.join("f.bin"), &file).unwrap();
    let up = Upstream::keep_alive(|s| {
        if s.target() == "/download" {
            b"HTTP/1.1 200 OK\r\nx-accel-redirect: /protected/f.bin\r\n\
              content-length: 0\r\n\r\n"
                .to_vec()
        } else {
            ok(b"page")
        }
    });
    let accel = format!("/protected/={}", root.to_str().unwrap());
    let f = Ferry::proxy(&up.url(), &["--accel", &accel]);
    let mut c = Conn::open(&f);
    for _ in 0..2 {
        let r = c.request("GET", "/download");
        assert_eq!(r.status(), 200, "{}", r.head);
        assert!(r.body == file, "the 1 KiB file, whole: {}", r.head);
    }
    let r = c.request("GET", "/page");
    assert_eq!((r.status(), r.text().as_str()), (200, "page"));
    assert_eq!(up.seen().len(), 3);
    assert_eq!(up.accepted(), 1, "the hand-offs' connection was not reused");
}

#[test]
fn a_streamed_body_on_a_dropped_connection_is_502_never_sent_twice() {
    // With --no-request-buffering the body is gone once written: ferry cannot
    // send it again, so the client gets 502 and the application nothing. This
    // is also what shows the upstream above really drops the kept connection.
    let up = Upstream::acting(|s| Act::KeepThenDrop(ok(digest(&s.body).as_bytes())));
    let f = Ferry::proxy(&up.url(), &["--no-request-buffering"]);
    let mut c = Conn::open(&f);
    let r = c.request("GET", "/first");
    assert_eq!(r.status(), 200, "{}", r.all());
    let body = vec![b'y'; 100 * 1024];
    let mut req = format!(
        "POST /stream HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let r = c.send(&req);
    assert_eq!(r.status(), 502, "{}", r.all());
    let targets: Vec<String> = up.seen().iter().map(|s| s.target().to_owned()).collect();
    assert_eq!(targets, ["/first"]);
    assert_eq!(up.accepted(), 1);
}

#[test]
fn an_http_1_0_client_asking_keep_alive_is_closed_after_a_body_of_unknown_length() {
    // RFC 9112 §6.3: without a length (and HTTP/1.0 has no chunked coding)
    // the body ends with the connection. The upstream streams it chunked;
    // the HTTP/1.0 client asked to keep the connection: ferry must close it
    // after the body, or the client waits for an end that never comes.
    use std::io::{Read as _, Write as _};
    let up = Upstream::keep_alive(|_| {
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".to_vec()
    });
    let f = Ferry::proxy(&up.url(), &[]);
    let mut s = std::net::TcpStream::connect(f.addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    s.write_all(b"GET /s HTTP/1.0\r\nhost: t\r\nconnection: keep-alive\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    let read = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(
        read.is_ok(),
        "not closed after the body: {read:?}, {text:?}"
    );
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n"),
        "{text}"
    );
    assert!(
        !text.to_ascii_lowercase().contains("transfer-encoding"),
        "{text}"
    );
    assert!(text.ends_with("\r\n\r\nhello"), "{text}");
}
