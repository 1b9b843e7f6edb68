//! `ferry serve` over HTTPS and HTTP/2, with certificates made in the test:
//! the handshake (TLS 1.3 and 1.2, ALPN, the chain sent whole, untrusted
//! clients refused), certificate reload on SIGHUP, and one behaviour table run
//! over the plaintext fast path, HTTPS (h2 and HTTP/1.1) and h2c.
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
#[path = "tls/pki.rs"]
mod pki;
#[path = "tls/table.rs"]
mod table;

use common::Ferry;
use pki::Ca;

const H2: &[u8] = b"h2";
const HTTP11: &[u8] = b"http/1.1";

impl Ferry {
    fn serve_tls(site: &Path, cert: &Path, key: &Path) -> Ferry {
        let f = Ferry::start(&[
            "serve",
            site.to_str().unwrap(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ]);
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
    let f = Ferry::serve_tls(&site, &cert, &key);

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

/// The leaf certificate a new TLS 1.3 handshake presents.
async fn presented(f: &Ferry, root: &Ca) -> rustls_pki_types::CertificateDer<'static> {
    let config = client::config(&[root.der()], &[&TLS13], &[H2, HTTP11]);
    let tls = client::connect(f.addr, "localhost", config).await.unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate_without_dropping_a_download() {
    const BIG: usize = 64 << 20;
    let root = Ca::root("ferry reload root");
    let (one, two, three) = (
        root.leaf("ferry-one", 1),
        root.leaf("ferry-two", 2),
        root.leaf("ferry-three", 3),
    );
    let dir = tempfile::tempdir().unwrap();
    let site = site(dir.path());
    // Not all one byte: a misplaced or repeated chunk must show.
    let big: Vec<u8> = (0..BIG as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(site.join("big.bin"), &big).unwrap();
    let (cert, key) = pki::write_pair(dir.path(), "live", &one, &[]);
    let f = Ferry::serve_tls(&site, &cert, &key);
    assert_eq!(presented(&f, &root).await, one.der);

    // A download over HTTPS/1.1, read slowly: only the first MiB before the
    // reload, so the server is blocked on a full socket buffer mid-body.
    let config = client::config(&[root.der()], &[&TLS13], &[HTTP11]);
    let mut dl = client::connect(f.addr, "localhost", config).await.unwrap();
    dl.write_all(b"GET /big.bin HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::with_capacity(BIG + 4096);
    let mut buf = vec![0u8; 64 * 1024];
    while got.len() < 1 << 20 {
        let n = dl.read(&mut buf).await.unwrap();
        assert!(n > 0, "the download ended early");
        got.extend_from_slice(&buf[..n]);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // A new pair (another key, serial and subject), then SIGHUP.
    pki::write_pair(dir.path(), "live", &two, &[]);
    f.signal_hup();
    f.wait_log_n("certificate reloaded", 1);
    assert_eq!(
        presented(&f, &root).await,
        two.der,
        "a new handshake after SIGHUP presents the new certificate"
    );

    // The download in progress finishes, byte-exact.
    dl.read_to_end(&mut got).await.unwrap();
    let head_end = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    let head = String::from_utf8_lossy(&got[..head_end]).to_lowercase();
    assert!(head.starts_with("http/1.1 200 "), "{head}");
    assert!(
        head.contains(&format!("content-length: {BIG}\r\n")),
        "{head}"
    );
    assert_eq!(got.len() - head_end, BIG, "body length");
    assert!(got[head_end..] == big[..], "the body differs from the file");

    // A broken key: refused, said so on stderr, the second pair stays.
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    f.signal_hup();
    let line = f.wait_log_n("certificate not reloaded", 1);
    assert!(
        line.contains(key.to_str().unwrap()),
        "names the key: {line}"
    );
    assert_eq!(presented(&f, &root).await, two.der);

    // A certificate whose key is not the one beside it: refused as well.
    std::fs::write(&cert, &three.pem).unwrap();
    std::fs::write(&key, &two.key_pem).unwrap();
    f.signal_hup();
    let line = f.wait_log_n("certificate not reloaded", 2);
    assert!(line.contains("does not match"), "{line}");
    assert_eq!(presented(&f, &root).await, two.der);

    // Requests are still served after the refusals.
    let config = client::config(&[root.der()], &[&TLS13], &[H2]);
    let tls = client::connect(f.addr, "localhost", config).await.unwrap();
    let res = client::h2(tls, get_abs(&f, "/a.txt")).await;
    assert_eq!(
        (res.status, &res.body[..]),
        (StatusCode::OK, &b"hello over tls\n"[..])
    );
}
