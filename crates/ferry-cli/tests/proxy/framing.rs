//! Upstream response framing (RFC 9112 §6.3) as the client sees it: chunked
//! with extensions and trailers, read until close, chunked beside a length,
//! HEAD, 204 and 304, and a body cut off by a reset.
use super::{chunked_complete, digest, find, header_in, Act, Conn, Ferry, Upstream};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// `body` as chunks of `size` bytes, each with a chunk extension, then a
/// trailer section.
fn chunked(body: &[u8], size: usize) -> Vec<u8> {
    let mut out = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\
                    transfer-encoding: chunked\r\n\r\n"
        .to_vec();
    for (i, c) in body.chunks(size).enumerate() {
        out.extend_from_slice(format!("{:x};n={i};q=\"a b\"\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0;last\r\nx-trailer: t\r\nx-other: 2\r\n\r\n");
    out
}

/// 300 KiB, none repeated within 251 bytes: above what ferry reads into
/// memory (256 KiB), so it goes through the spool.
fn large() -> Vec<u8> {
    (0..300 * 1024u32).map(|i| (i % 251) as u8).collect()
}

#[test]
fn a_chunked_response_with_extensions_and_trailers_arrives_whole() {
    let up = Upstream::keep_alive(|s| match s.target() {
        "/big" => chunked(&large(), 7001),
        _ => chunked(b"hello world", 5),
    });
    let f = Ferry::proxy(&up.url(), &[]);
    let mut c = Conn::open(&f);
    for _ in 0..2 {
        let r = c.request("GET", "/small");
        assert_eq!((r.status(), r.text().as_str()), (200, "hello world"));
        assert_eq!(r.header("content-type"), Some("text/plain"));
    }
    let r = c.request("GET", "/big");
    assert_eq!(r.status(), 200, "{}", r.head);
    assert_eq!(digest(&r.body), digest(&large()));
    // The trailer section was read to its end: the connection served all three.
    assert_eq!(up.accepted(), 1);
}

#[test]
fn a_response_without_length_is_read_until_the_upstream_closes() {
    let up = Upstream::acting(|s| {
        let body = if s.target() == "/big" {
            large()
        } else {
            b"no length, no chunks".to_vec()
        };
        let mut out = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n".to_vec();
        out.extend_from_slice(&body);
        Act::Close(out)
    });
    let f = Ferry::proxy(&up.url(), &[]);
    let mut c = Conn::open(&f);
    let r = c.request("GET", "/small");
    assert_eq!(
        (r.status(), r.text().as_str()),
        (200, "no length, no chunks")
    );
    let r = c.request("GET", "/big");
    assert_eq!(r.status(), 200, "{}", r.head);
    assert_eq!(digest(&r.body), digest(&large()));
}

#[test]
fn chunked_beside_a_content_length_is_read_as_chunked() {
    // RFC 9112 §6.3 item 3: Transfer-Encoding overrides Content-Length, and an
    // intermediary removes the length before forwarding.
    let up = Upstream::keep_alive(|_| {
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n\
          5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
            .to_vec()
    });
    let f = Ferry::proxy(&up.url(), &[]);
    let mut c = Conn::open(&f);
    for _ in 0..2 {
        let r = c.request("GET", "/x");
        assert_eq!((r.status(), r.text().as_str()), (200, "hello world"));
        assert_ne!(r.header("content-length"), Some("3"), "{}", r.head);
    }
    // Such a message is a smuggling attempt's shape: its connection is not reused.
    assert_eq!(up.accepted(), 2);
}

#[test]
fn head_gets_the_upstreams_fields_and_no_body_and_keeps_the_connection() {
    let up = Upstream::keep_alive(|s| {
        let mut out = b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\ncontent-type: text/plain\r\n\
                        x-app: yes\r\n\r\n"
            .to_vec();
        if s.head.starts_with("GET ") {
            out.extend_from_slice(b"hello world");
        }
        out
    });
    let f = Ferry::proxy(&up.url(), &[]);
    let mut c = Conn::open(&f);
    let r = c.request("HEAD", "/x");
    assert_eq!(r.status(), 200, "{}", r.head);
    assert_eq!(r.header("content-length"), Some("11"), "{}", r.head);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("x-app"), Some("yes"));
    // Had ferry sent a body after the HEAD answer, this would read it as a head.
    let r = c.request("GET", "/x");
    assert_eq!((r.status(), r.text().as_str()), (200, "hello world"));
    let seen = up.seen();
    assert!(seen[0].head.starts_with("HEAD /x "), "{}", seen[0].head);
    assert_eq!(up.accepted(), 1, "the HEAD's connection was not reused");
}

#[test]
fn no_content_and_not_modified_have_no_body_and_keep_the_connection() {
    let up = Upstream::keep_alive(|s| match s.target() {
        "/204" => b"HTTP/1.1 204 No Content\r\nx-app: 204\r\n\r\n".to_vec(),
        // §8.6: a 304 may carry the length a 200 would have.
        "/304" => {
            b"HTTP/1.1 304 Not Modified\r\netag: \"v1\"\r\ncontent-length: 11\r\n\r\n".to_vec()
        }
        _ => b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\nhello world".to_vec(),
    });
    let f = Ferry::proxy(&up.url(), &[]);
    let mut c = Conn::open(&f);
    let r = c.request("GET", "/204");
    assert_eq!(
        (r.status(), r.header("x-app")),
        (204, Some("204")),
        "{}",
        r.head
    );
    // RFC 9110 §8.6: "A server MUST NOT send a Content-Length header field in
    // any response with a status code of 1xx (Informational) or 204 (No Content)."
    assert_eq!(r.header("content-length"), None, "{}", r.head);
    assert_eq!(r.header("transfer-encoding"), None, "{}", r.head);
    let r = c.request("GET", "/304");
    assert_eq!(
        (r.status(), r.header("etag")),
        (304, Some("\"v1\"")),
        "{}",
        r.head
    );
    assert_eq!(r.header("transfer-encoding"), None, "{}", r.head);
    let r = c.request("GET", "/200");
    assert_eq!((r.status(), r.text().as_str()), (200, "hello world"));
    assert_eq!(up.accepted(), 1);
}

#[test]
fn an_upstream_reset_mid_body_never_looks_complete_to_the_client() {
    // 100 KiB is read whole before ferry answers; 1 MiB goes through the spool.
    for (len, sent) in [(100 * 1024, 40 * 1024), (1 << 20, 300 * 1024)] {
        let up = Upstream::acting(move |_| {
            let mut out = format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\n\r\n").into_bytes();
            out.resize(out.len() + sent, b'x');
            Act::Reset(out)
        });
        let f = Ferry::proxy(&up.url(), &[]);
        let mut s = TcpStream::connect(f.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /big HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
            .unwrap();
        let mut raw = Vec::new();
        // ferry ends the connection, with a FIN or a reset; it never hangs.
        if let Err(e) = s.read_to_end(&mut raw) {
            assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{len}: {e}");
        }
        let Some(at) = find(&raw, b"\r\n\r\n") else {
            continue; // Cut off before a head: nothing looks complete.
        };
        let head = String::from_utf8_lossy(&raw[..at]).into_owned();
        let body = &raw[at + 4..];
        if head.starts_with("HTTP/1.1 502 ") {
            continue;
        }
        assert!(head.starts_with("HTTP/1.1 200 "), "{len}: {head}");
        if header_in(&head, "transfer-encoding") == Some("chunked") {
            assert!(
                !chunked_complete(body),
                "{len}: a complete chunked body\n{head}"
            );
        } else {
            let want: usize = header_in(&head, "content-length")
                .unwrap_or_else(|| panic!("{len}: no framing, so no way to tell: {head}"))
                .parse()
                .unwrap();
            assert!(body.len() < want, "{len}: {} of {want} bytes", body.len());
        }
    }
}
