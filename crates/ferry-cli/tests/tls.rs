//! `ferry serve` over HTTPS and HTTP/2, with certificates made in the test
//! (rcgen, ring): the handshake here (TLS 1.3 and 1.2, ALPN, the chain sent
//! whole, untrusted clients refused); SIGHUP reload and SIGTERM with downloads
//! in flight (`lifecycle`); `--hsts` and `--redirect-http` (`redirect`); what
//! the HTTP/1.1 wire layer owns over TLS, at the socket (`h1`); and
//! one behaviour table over the plaintext fast path, HTTPS (h2 and HTTP/1.1)
//! and h2c (`table`, `transports`); the site policy's table (`site`); HTTP/3
//! over QUIC on the same port, in the table and on its own (`quic`, with the
//! client in `http3`).
use bytes::Bytes;
use http::{Request, StatusCode, Version};
use http_body_util::Empty;
use rustls::version::{TLS12, TLS13};
use rustls::{CertificateError, ProtocolVersion};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

#[path = "tls/client.rs"]
mod client;
mod common;
#[path = "tls/compress.rs"]
mod compress;
#[path = "tls/fixture.rs"]
mod fixture;
#[path = "tls/h1.rs"]
mod h1;
#[path = "tls/http3.rs"]
mod http3;
#[path = "tls/lifecycle.rs"]
mod lifecycle;
#[path = "tls/listeners.rs"]
mod listeners;
#[path = "tls/pki.rs"]
mod pki;
#[path = "tls/quic.rs"]
mod quic;
#[path = "tls/redirect.rs"]
mod redirect;
#[path = "tls/site.rs"]
mod site;
#[path = "tls/table.rs"]
mod table;
#[path = "tls/transports.rs"]
mod transports;

use common::Ferry;
use pki::Ca;

const H2: &[u8] = b"h2";
const HTTP11: &[u8] = b"http/1.1";

impl Ferry {
    /// `ferry serve SITE --tls-cert CERT --tls-key KEY EXTRA…`.
    fn serve_tls(site: &Path, cert: &Path, key: &Path, extra: &[&str]) -> Ferry {
        Ferry::with_tls(&["serve", site.to_str().unwrap()], cert, key, extra)
    }

    /// `ferry proxy --upstream UPSTREAM --tls-cert CERT --tls-key KEY EXTRA…`.
    fn proxy_tls(upstream: &str, cert: &Path, key: &Path, extra: &[&str]) -> Ferry {
        Ferry::with_tls(&["proxy", "--upstream", upstream], cert, key, extra)
    }

    fn with_tls(command: &[&str], cert: &Path, key: &Path, extra: &[&str]) -> Ferry {
        let tls = [
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ];
        let f = Ferry::start(&[command, &tls, extra].concat());
        assert_eq!(f.scheme, "https");
        f
    }

    /// Waits until `n` stderr lines contain `needle`; returns the last of them.
    fn wait_log_n(&self, needle: &str, n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            {
                let log = self.log.lock().unwrap();
                let hits: Vec<_> = log.iter().filter(|l| l.contains(needle)).collect();
                if hits.len() >= n {
                    return hits[n - 1].clone();
                }
                assert!(
                    Instant::now() < deadline,
                    "fewer than {n} log lines with {needle:?}: {log:?}"
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal_hup(&self) {
        let ok = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -HUP failed");
    }
}

/// A GET for `path` with `Host: localhost`, for HTTP/1.1.
fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path)
        .header("host", "localhost")
        .body(Empty::new())
        .unwrap()
}

/// A GET for `https://localhost:PORT/path`, for HTTP/2.
fn get_abs(f: &Ferry, path: &str) -> Request<Empty<Bytes>> {
    Request::get(format!("https://localhost:{}{path}", f.addr.port()))
        .body(Empty::new())
        .unwrap()
}

fn site(root: &Path) -> std::path::PathBuf {
    let site = root.join("site");
    std::fs::create_dir(&site).unwrap();
    std::fs::write(site.join("a.txt"), "hello over tls\n").unwrap();
    site
}

#[tokio::test]
async fn handshake_versions_alpn_and_the_whole_chain() {
    let root = Ca::root("ferry test root");
    let inter = root.intermediate("ferry test intermediate");
    let leaf = inter.leaf("ferry leaf", 1);
    let dir = tempfile::tempdir().unwrap();
    let site = site(dir.path());
    let (cert, key) = pki::write_pair(dir.path(), "live", &leaf, &[&inter]);
    let f = Ferry::serve_tls(&site, &cert, &key, &[]);

    for (version, want_version) in [
        (&TLS13, ProtocolVersion::TLSv1_3),
        (&TLS12, ProtocolVersion::TLSv1_2),
    ] {
        // RFC 7301 §3.2: the server picks from the client's list; ferry
        // prefers h2. Without ALPN the connection is HTTP/1.1 (RFC 9113 §3.2:
        // h2 over TLS is negotiated by ALPN only).
        for (alpn, want_alpn) in [
            (&[H2, HTTP11][..], Some(H2)),
            (&[HTTP11][..], Some(HTTP11)),
            (&[][..], None),
        ] {
            let what = format!("{want_version:?} offering {alpn:?}");
            let config = client::config(&[root.der()], &[version], alpn);
            let tls = client::connect(f.addr, "localhost", config)
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let (_, conn) = tls.get_ref();
            assert_eq!(conn.protocol_version(), Some(want_version), "{what}");
            assert_eq!(conn.alpn_protocol(), want_alpn, "{what}");
            // The client trusts only the root: the intermediate must come
            // from the server, in order after the leaf (RFC 8446 §4.4.2).
            assert_eq!(
                conn.peer_certificates().unwrap(),
                [leaf.der.clone(), inter.der()],
                "{what}"
            );
            let res = if want_alpn == Some(H2) {
                client::h2(tls, get_abs(&f, "/a.txt")).await
            } else {
                client::h1(tls, get("/a.txt")).await
            };
            let want_http = if want_alpn == Some(H2) {
                Version::HTTP_2
            } else {
                Version::HTTP_11
            };
            assert_eq!(
                (res.status, res.version, &res.body[..]),
                (StatusCode::OK, want_http, &b"hello over tls\n"[..]),
                "{what}"
            );
        }
    }

    // RFC 7301 §3.2: "In the event that the server supports no protocols
    // that the client advertises, then the server SHALL respond with a fatal
    // 'no_application_protocol' alert."
    let config = client::config(&[root.der()], &[&TLS13], &[b"spdy/3"]);
    let e = client::connect(f.addr, "localhost", config)
        .await
        .expect_err("no protocol in common must fail the handshake");
    assert_eq!(
        client::tls_error(&e),
        Some(&rustls::Error::AlertReceived(
            rustls::AlertDescription::NoApplicationProtocol
        )),
        "{e}"
    );

    // The IP address SAN verifies too.
    let config = client::config(&[root.der()], &[&TLS13], &[HTTP11]);
    client::connect(f.addr, "127.0.0.1", config.clone())
        .await
        .expect("127.0.0.1 is in the leaf's SANs");

    // A client trusting another CA refuses the server.
    let other = Ca::root("some other root");
    for version in [&TLS13, &TLS12] {
        let config = client::config(&[other.der()], &[version], &[H2, HTTP11]);
        let e = client::connect(f.addr, "localhost", config)
            .await
            .expect_err("an untrusted server must fail the handshake");
        assert_eq!(
            client::tls_error(&e),
            Some(&rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            )),
            "{e}"
        );
    }
    // A name the certificate does not cover is refused.
    let e = client::connect(f.addr, "example.com", config.clone())
        .await
        .expect_err("wrong name must fail the handshake");
    assert!(
        matches!(
            client::tls_error(&e),
            Some(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{e}"
    );
    // And the server still serves after the failed handshakes.
    let tls = client::connect(f.addr, "localhost", config).await.unwrap();
    assert_eq!(client::h1(tls, get("/a.txt")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_protocol_alpn_chose_binds_the_connection() {
    let root = Ca::root("ferry alpn root");
    let dir = tempfile::tempdir().unwrap();
    let site = site(dir.path());
    let (cert, key) = pki::write_pair(dir.path(), "live", &root.leaf("ferry alpn", 1), &[]);
    let f = Ferry::serve_tls(&site, &cert, &key, &[]);

    // ALPN h2, then HTTP/1.1 bytes. RFC 9113 §3.4: "That is, the connection
    // preface ... MUST be sent ... Clients and servers MUST treat an invalid
    // connection preface as a connection error of type PROTOCOL_ERROR."
    let config = client::config(&[root.der()], &[&TLS13], &[H2]);
    let mut tls = client::connect(f.addr, "localhost", config).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(H2));
    tls.write_all(b"GET /a.txt HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut out)).await;
    assert!(
        !out.starts_with(b"HTTP/1.1"),
        "answered HTTP/1.1 on an h2 connection: {:?}",
        String::from_utf8_lossy(&out)
    );

    // ALPN http/1.1, then the HTTP/2 preface: not HTTP/2 (RFC 7301 §3.2: the
    // server's selection is the protocol of the connection).
    let config = client::config(&[root.der()], &[&TLS13], &[HTTP11]);
    let tls = client::connect(f.addr, "localhost", config).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(HTTP11));
    let spoke_h2 = async {
        let (mut send, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(tls),
        )
        .await
        .ok()?;
        tokio::spawn(conn);
        send.send_request(get_abs(&f, "/a.txt")).await.ok()
    };
    let res = tokio::time::timeout(Duration::from_secs(5), spoke_h2)
        .await
        .ok()
        .flatten();
    assert!(
        res.is_none(),
        "answered HTTP/2 on an http/1.1 connection: {:?}",
        res.map(|r| r.status())
    );
}

/// Sites by Host, each with its own root and certificate: the certificate is
/// chosen by SNI, the site by Host; an unknown name gets the top-level
/// certificate and the default site.
#[tokio::test]
async fn each_site_has_its_own_certificate_by_sni() {
    let root = Ca::root("ferry sites root");
    let dir = tempfile::tempdir().unwrap();
    let main = site(dir.path());
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for (d, text) in [(&a, "site a\n"), (&b, "site b\n")] {
        std::fs::create_dir(d).unwrap();
        std::fs::write(d.join("a.txt"), text).unwrap();
    }
    let leaf_main = root.leaf("main", 10);
    let leaf_a = root.leaf_for(&["a.test"], "a", 11);
    let leaf_b = root.leaf_for(&["b.test", "www.b.test"], "b", 12);
    let (cert, key) = pki::write_pair(dir.path(), "main", &leaf_main, &[]);
    let (cert_a, key_a) = pki::write_pair(dir.path(), "a", &leaf_a, &[]);
    let (cert_b, key_b) = pki::write_pair(dir.path(), "b", &leaf_b, &[]);
    let cfg = dir.path().join("ferry.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[site]]\nhost = \"a.test\"\nroot = {a:?}\ntls-cert = {cert_a:?}\ntls-key = {key_a:?}\n\
             [[site]]\nhost = [\"b.test\", \"www.b.test\"]\nroot = {b:?}\ntls-cert = {cert_b:?}\ntls-key = {key_b:?}\n"
        ),
    )
    .unwrap();
    let f = Ferry::start(&[
        "serve",
        main.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--hsts",
        "max-age=9",
    ]);
    assert_eq!(f.scheme, "https");
    for (name, leaf, body) in [
        ("a.test", &leaf_a, "site a\n"),
        ("www.b.test", &leaf_b, "site b\n"),
        ("localhost", &leaf_main, "hello over tls\n"),
    ] {
        let config = client::config(&[root.der()], &[&TLS13], &[H2]);
        let tls = client::connect(f.addr, name, config)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            tls.get_ref().1.peer_certificates().unwrap()[0],
            leaf.der,
            "{name}"
        );
        let req = Request::get(format!("https://{name}:{}/a.txt", f.addr.port()))
            .body(Empty::new())
            .unwrap();
        let res = client::h2(tls, req).await;
        assert_eq!(
            (res.status, &res.body[..]),
            (StatusCode::OK, body.as_bytes()),
            "{name}"
        );
        assert_eq!(res.header("strict-transport-security"), Some("max-age=9"));
        // HTTP/3 on the same port: the same certificate by SNI, the same site.
        let h3 = http3::connect(f.addr, name, &[root.der()])
            .await
            .unwrap_or_else(|e| panic!("{name} over h3: {e}"));
        assert_eq!(http3::presented(&h3), leaf.der, "{name} over h3");
        let req = Request::get(format!("https://{name}:{}/a.txt", f.addr.port()))
            .body(Empty::new())
            .unwrap();
        let res = h3.send(req).await;
        assert_eq!(
            (res.status, &res.body[..]),
            (StatusCode::OK, body.as_bytes()),
            "{name} over h3"
        );
        assert_eq!(res.header("strict-transport-security"), Some("max-age=9"));
    }
    drop(f);

    // Certificates only per site: HTTPS, and --hsts with it.
    let f = Ferry::start(&[
        "serve",
        "--config",
        cfg.to_str().unwrap(),
        "--hsts",
        "max-age=9",
    ]);
    assert_eq!(f.scheme, "https");
    let config = client::config(&[root.der()], &[&TLS13], &[H2]);
    let tls = client::connect(f.addr, "a.test", config).await.unwrap();
    let req = Request::get(format!("https://a.test:{}/a.txt", f.addr.port()))
        .body(Empty::new())
        .unwrap();
    let res = client::h2(tls, req).await;
    assert_eq!(
        (res.status, &res.body[..]),
        (StatusCode::OK, &b"site a\n"[..])
    );
    assert_eq!(res.header("strict-transport-security"), Some("max-age=9"));
}

/// An upstream for `ferry proxy` on a loopback port: each connection's
/// request head is read (lowercased) and `answer` writes the response,
/// reading a body first if it wants one.
fn upstream(answer: fn(&str, &mut std::net::TcpStream)) -> std::net::SocketAddr {
    use std::io::Read as _;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && s.read(&mut b).unwrap_or(0) == 1 {
                    head.push(b[0]);
                }
                answer(&String::from_utf8_lossy(&head).to_lowercase(), &mut s);
            });
        }
    });
    addr
}

/// A tiny upstream for `ferry proxy`: `/download` hands off to
/// `/protected/a.txt` (X-Accel-Redirect); anything else echoes the request
/// head it received as its body.
fn echo_upstream() -> std::net::SocketAddr {
    upstream(|head, s| {
        use std::io::Write as _;
        let res = if head.starts_with("get /download") {
            "HTTP/1.1 200 OK\r\nx-accel-redirect: /protected/a.txt\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
        } else {
            format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{head}",
                head.len()
            )
        };
        let _ = s.write_all(res.as_bytes());
    })
}

/// `ferry proxy` over HTTPS: HTTP/2 and HTTP/1.1 by ALPN, the host from
/// `:authority` passed on as Host, `X-Forwarded-Proto: https`, HSTS, and
/// hand-offs served over h2 like any file.
#[tokio::test]
async fn proxy_terminates_tls_with_h2_and_hands_off_files() {
    let root = Ca::root("ferry proxy root");
    let dir = tempfile::tempdir().unwrap();
    let files = site(dir.path());
    let (cert, key) = pki::write_pair(dir.path(), "live", &root.leaf("proxy", 20), &[]);
    let up = echo_upstream();
    let accel = format!("/protected/={}", files.display());
    let f = Ferry::proxy_tls(
        &format!("http://{up}"),
        &cert,
        &key,
        &["--accel", &accel, "--hsts", "max-age=60"],
    );
    for alpn in [H2, HTTP11] {
        let config = client::config(&[root.der()], &[&TLS13], &[alpn]);
        let tls = client::connect(f.addr, "localhost", config.clone())
            .await
            .unwrap();
        let res = if alpn == H2 {
            client::h2(tls, get_abs(&f, "/page")).await
        } else {
            client::h1(tls, get("/page")).await
        };
        let echoed = String::from_utf8_lossy(&res.body).into_owned();
        let what = String::from_utf8_lossy(alpn);
        assert_eq!(res.status, StatusCode::OK, "{what}");
        assert!(
            echoed.contains("x-forwarded-proto: https\r\n"),
            "{what}: {echoed}"
        );
        assert!(echoed.contains("host: localhost"), "{what}: {echoed}");
        assert_eq!(
            res.header("strict-transport-security"),
            Some("max-age=60"),
            "{what}"
        );
        let tls = client::connect(f.addr, "localhost", config).await.unwrap();
        let res = if alpn == H2 {
            client::h2(tls, get_abs(&f, "/download")).await
        } else {
            client::h1(tls, get("/download")).await
        };
        assert_eq!(
            (res.status, &res.body[..]),
            (StatusCode::OK, &b"hello over tls\n"[..]),
            "{what}"
        );
        assert!(res.header("x-accel-redirect").is_none(), "{what}");
    }
}
