//! `--hsts` and `--redirect-http`: the STS header over HTTPS only, and the
//! plain listener's 308 to HTTPS.
use super::{client, get, get_abs, pki, site, Ca, Ferry, H2, HTTP11};
use rustls::version::TLS13;
use std::path::Path;
use std::time::Duration;

/// One request on a plain socket, the whole answer as text.
fn raw(addr: std::net::SocketAddr, req: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn raw_header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    resp.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// `ferry serve --tls-cert … --hsts max-age=300 --redirect-http 127.0.0.1:0`,
/// and the plain listener's address from its stderr line.
fn serve_with_redirect(dir: &Path, root: &Ca) -> (Ferry, std::net::SocketAddr) {
    let site = site(dir);
    let (cert, key) = pki::write_pair(dir, "live", &root.leaf("ferry redirect", 1), &[]);
    let f = Ferry::start(&[
        "serve",
        site.to_str().unwrap(),
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--hsts",
        "max-age=300",
        "--redirect-http",
        "127.0.0.1:0",
    ]);
    let line = f
        .early
        .iter()
        .find(|l| l.contains("redirecting http://"))
        .unwrap_or_else(|| panic!("no redirect listener line in {:?}", f.early));
    let plain = line
        .split("redirecting http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (f, plain)
}

#[tokio::test]
async fn hsts_over_https_only_and_the_plain_listener_redirects_with_308() {
    let root = Ca::root("ferry redirect root");
    let dir = tempfile::tempdir().unwrap();
    let (f, plain) = serve_with_redirect(dir.path(), &root);
    let port = f.addr.port();

    // RFC 6797 §7.1: the STS header field on responses over secure
    // transport, whatever the status, on HTTP/2 and HTTP/1.1.
    for alpn in [H2, HTTP11] {
        for (path, want) in [("/a.txt", 200), ("/missing", 404)] {
            let config = client::config(&[root.der()], &[&TLS13], &[alpn]);
            let tls = client::connect(f.addr, "localhost", config).await.unwrap();
            let res = if alpn == H2 {
                client::h2(tls, get_abs(&f, path)).await
            } else {
                client::h1(tls, get(path)).await
            };
            assert_eq!(res.status.as_u16(), want, "{path}");
            assert_eq!(
                res.header("strict-transport-security"),
                Some("max-age=300"),
                "{path} over {}",
                String::from_utf8_lossy(alpn)
            );
        }
    }

    // RFC 9110 §15.4.9: 308 keeps the method; the target keeps path and
    // query, on the HTTPS port, under the name the client used.
    let r = raw(
        plain,
        "GET /a.txt?x=1 HTTP/1.1\r\nHost: localhost:1234\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 308 "), "{r}");
    let want = format!("https://localhost:{port}/a.txt?x=1");
    assert_eq!(raw_header(&r, "location"), Some(want.as_str()), "{r}");
    // RFC 6797 §7.2: "An HSTS Host MUST NOT include the STS header field in
    // HTTP responses conveyed over non-secure transport."
    assert_eq!(raw_header(&r, "strict-transport-security"), None, "{r}");

    // An IPv6 literal with a port keeps its brackets.
    let r = raw(
        plain,
        "GET /a.txt HTTP/1.1\r\nHost: [::1]:1234\r\nConnection: close\r\n\r\n",
    );
    let want = format!("https://[::1]:{port}/a.txt");
    assert_eq!(raw_header(&r, "location"), Some(want.as_str()), "{r}");

    // Without a usable Host there is nowhere to redirect to: 400.
    for host in [
        "",
        "Host: \r\n",
        "Host: evil.example/x\r\n",
        "Host: a@b\r\n",
    ] {
        let r = raw(plain, &format!("GET / HTTP/1.0\r\n{host}\r\n"));
        assert!(
            r.starts_with("HTTP/1.0 400 ") || r.starts_with("HTTP/1.1 400 "),
            "{host:?}: {r}"
        );
        assert_eq!(raw_header(&r, "location"), None, "{host:?}: {r}");
    }
}

#[tokio::test]
async fn redirect_keeps_an_ipv6_literal_host_without_a_port() {
    let root = Ca::root("ferry redirect root");
    let dir = tempfile::tempdir().unwrap();
    let (f, plain) = serve_with_redirect(dir.path(), &root);
    // RFC 3986 §3.2.2: an IPv6 literal is always in brackets; RFC 9110 §7.2:
    // Host is `uri-host [ ":" port ]`, so `[::1]` has no port to strip.
    let r = raw(
        plain,
        "GET /a.txt HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n",
    );
    let want = format!("https://[::1]:{}/a.txt", f.addr.port());
    assert_eq!(raw_header(&r, "location"), Some(want.as_str()), "{r}");
}
