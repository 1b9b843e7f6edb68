//! Fields on their way through: hop-by-hop ones stay on their hop, the
//! `X-Forwarded-*` ones are ferry's, and the client gets ferry's HTTP version.
use super::{response, Ferry, Upstream};

#[test]
fn hop_by_hop_fields_stay_on_their_hop_and_forwarded_fields_are_set() {
    let up = Upstream::start(|_| {
        response(
            "200 OK",
            &[
                ("connection", "x-up-hop"),
                ("x-up-hop", "1"),
                ("keep-alive", "timeout=5"),
                ("proxy-authenticate", "Basic realm=up"),
                ("trailer", "x-t"),
                ("content-type", "text/plain"),
                ("x-end-to-end", "kept"),
            ],
            b"echoed",
        )
    });
    let f = Ferry::proxy(&up.url(), &[]);
    let r = f.send(
        b"POST /echo?a=1 HTTP/1.1\r\n\
          host: app.example\r\n\
          connection: x-client-hop, host, close\r\n\
          x-client-hop: secret\r\n\
          keep-alive: timeout=5\r\n\
          te: trailers\r\n\
          proxy-authorization: Basic Zm9vOmJhcg==\r\n\
          proxy-connection: keep-alive\r\n\
          trailer: x-t\r\n\
          upgrade: foo/1\r\n\
          x-forwarded-for: 203.0.113.7\r\n\
          x-forwarded-proto: https\r\n\
          x-forwarded-host: evil.example\r\n\
          x-end-to-end: sent\r\n\
          transfer-encoding: chunked\r\n\r\n\
          3\r\nx=1\r\n0\r\n\r\n",
    );
    assert_eq!(
        (r.status(), r.text().as_str()),
        (200, "echoed"),
        "{}",
        r.all()
    );
    for name in ["x-up-hop", "keep-alive", "proxy-authenticate", "trailer"] {
        assert_eq!(
            r.header(name),
            None,
            "{name} reached the client: {}",
            r.head
        );
    }
    assert_eq!(r.header("x-end-to-end"), Some("kept"));

    let seen = up.seen();
    let s = &seen[0];
    assert_eq!(s.target(), "/echo?a=1");
    for name in [
        "x-client-hop",
        "keep-alive",
        "te",
        "proxy-authorization",
        "proxy-connection",
        "trailer",
        "upgrade",
    ] {
        assert_eq!(s.header(name), None, "{name} was forwarded: {}", s.head);
    }
    assert!(
        !s.header("connection")
            .unwrap_or("")
            .contains("x-client-hop"),
        "{}",
        s.head
    );
    // The chunked body was read whole and arrives intact with a length, as
    // nginx's proxy_request_buffering does (WSGI reads CONTENT_LENGTH bytes).
    assert_eq!(s.body, b"x=1");
    assert_eq!(s.header("content-length"), Some("3"), "{}", s.head);
    assert_eq!(s.header("transfer-encoding"), None, "{}", s.head);
    assert_eq!(s.header("x-end-to-end"), Some("sent"));
    assert_eq!(s.header("x-forwarded-for"), Some("203.0.113.7, 127.0.0.1"));
    assert_eq!(s.header("x-forwarded-proto"), Some("http"));
    assert_eq!(s.header("x-forwarded-host"), Some("app.example"));
    // Naming Host in Connection cannot take it away from the app.
    assert_eq!(s.header("host"), Some("app.example"), "{}", s.head);
}

/// Without a Host field the client's own `X-Forwarded-Host` must not reach the
/// application either: apps behind a proxy trust it to build absolute URLs
/// (Django's `USE_X_FORWARDED_HOST`), so a client could poison them.
#[test]
fn client_x_forwarded_host_is_never_forwarded() {
    let up = Upstream::start(|_| response("200 OK", &[], b"ok"));
    let f = Ferry::proxy(&up.url(), &[]);
    let r = f.send(b"GET /a HTTP/1.0\r\nx-forwarded-host: evil.example\r\n\r\n");
    assert_eq!(r.status(), 200, "{}", r.all());
    // RFC 9112 §3.2: an HTTP/1.1 request without Host, or with two, is 400
    // and never reaches the app.
    for req in [
        "GET /b HTTP/1.1\r\nx-forwarded-host: evil.example\r\nconnection: close\r\n\r\n",
        "GET /c HTTP/1.1\r\nhost: a\r\nhost: b\r\nconnection: close\r\n\r\n",
    ] {
        let r = f.send(req.as_bytes());
        assert_eq!(r.status(), 400, "{}", r.all());
    }
    assert_eq!(up.seen().len(), 1);
    for s in up.seen() {
        assert_ne!(
            s.header("x-forwarded-host"),
            Some("evil.example"),
            "{}",
            s.head
        );
    }
}

#[test]
fn an_http_1_0_upstream_still_gets_http_1_1_out() {
    // RFC 9110 §6.2: an intermediary sends its own version, not the upstream's.
    let up = Upstream::start(|_| b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec());
    let f = Ferry::proxy(&up.url(), &[]);
    let r = f.get("/page", "");
    assert!(r.all().starts_with("HTTP/1.1 200 OK\r\n"), "{}", r.all());
    assert_eq!(r.text(), "ok");
}
