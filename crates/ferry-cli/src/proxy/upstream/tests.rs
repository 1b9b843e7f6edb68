//! The response head parser against RFC 9112 §6.3, and any bytes.
use super::*;

fn head(raw: &str, method: &Method) -> Result<(u16, Framing, bool), String> {
    match parse_head(raw.as_bytes(), method) {
        Ok(Parsed::Done(s, _, f, k, used)) => {
            assert_eq!(used, raw.len());
            Ok((s.as_u16(), f, k))
        }
        Ok(Parsed::Interim(_)) => Err("interim".into()),
        Ok(Parsed::Partial) => Err("partial".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn response_framing_rfc_9112_6_3() {
    let get = &Method::GET;
    let ok = |raw: &str| head(raw, get).unwrap();
    assert_eq!(
        ok("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"),
        (200, Framing::Length(5), true)
    );
    assert_eq!(
        ok("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        (200, Framing::None, true)
    );
    assert_eq!(
        ok("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"),
        (200, Framing::Chunked, true)
    );
    // Chunked wins over a length, and the connection is not reused.
    assert_eq!(
        ok("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n"),
        (200, Framing::Chunked, false)
    );
    // No length at all: until close. A coding ferry cannot decode: 502.
    assert!(head("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n", get).is_err());
    assert!(head(
        "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n",
        get
    )
    .is_err());
    assert_eq!(
        ok("HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n"),
        (200, Framing::Chunked, false)
    );
    assert_eq!(ok("HTTP/1.1 200 OK\r\n\r\n"), (200, Framing::Close, false));
    // No body for HEAD, 204 and 304, whatever the fields say.
    assert_eq!(
        head(
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n",
            &Method::HEAD
        )
        .unwrap(),
        (200, Framing::None, true)
    );
    assert_eq!(
        ok("HTTP/1.1 304 Not Modified\r\ncontent-length: 5\r\n\r\n"),
        (304, Framing::None, true)
    );
    // HTTP/1.0 closes unless it says keep-alive; `close` closes.
    assert!(!ok("HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n").2);
    assert!(ok("HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 1\r\n\r\n").2);
    assert!(!ok("HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\n").2);
    // 1xx are skipped; errors are named.
    assert_eq!(
        head("HTTP/1.1 100 Continue\r\n\r\n", get),
        Err("interim".into())
    );
    assert_eq!(
        head("HTTP/1.1 200 OK\r\ncontent-le", get),
        Err("partial".into())
    );
    for bad in [
        "HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\n\r\n",
        "HTTX/1.1 200 OK\r\n\r\n",
    ] {
        assert!(head(bad, get).is_err(), "{bad:?}");
    }
}

proptest::proptest! {
    /// Any bytes: a head, a wait or a refusal, never a panic.
    #[test]
    fn parse_head_never_panics(buf in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
        let _ = parse_head(&buf, &Method::GET);
    }
}
