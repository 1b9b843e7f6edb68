//! Certificate reload on SIGHUP and shutdown on SIGTERM, each with
//! downloads in flight over HTTPS/1.1 and HTTP/2.
use super::{client, get_abs, pki, site, Ca, Ferry, H2, HTTP11};
use bytes::Bytes;
use http::StatusCode;
use http_body_util::Empty;
use rustls::version::TLS13;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A GET over HTTPS/1.1 (raw, `connection: close`) read only when asked.
struct H1Download {
    tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    got: Vec<u8>,
}

impl H1Download {
    async fn start(f: &Ferry, root: &Ca, path: &str) -> H1Download {
        let config = client::config(&[root.der()], &[&TLS13], &[HTTP11]);
        let mut tls = client::connect(f.addr, "localhost", config).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
        tls.write_all(req.as_bytes()).await.unwrap();
        H1Download {
            tls,
            got: Vec::new(),
        }
    }

    async fn read_at_least(&mut self, n: usize) {
        let mut buf = vec![0u8; 64 * 1024];
        while self.got.len() < n {
            let n = self.tls.read(&mut buf).await.unwrap();
            assert!(n > 0, "the download ended early");
            self.got.extend_from_slice(&buf[..n]);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Reads to the end; checks the head is a 200 of `len` bytes and
    /// returns the body.
    async fn finish(mut self, len: usize) -> Vec<u8> {
        self.tls.read_to_end(&mut self.got).await.unwrap();
        let head_end = self
            .got
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a response head")
            + 4;
        let head = String::from_utf8_lossy(&self.got[..head_end]).to_lowercase();
        assert!(head.starts_with("http/1.1 200 "), "{head}");
        assert!(
            head.contains(&format!("content-length: {len}\r\n")),
            "{head}"
        );
        assert_eq!(self.got.len() - head_end, len, "body length");
        self.got.split_off(head_end)
    }
}

/// A GET over HTTPS/2 whose body is read only when asked.
struct H2Download {
    body: hyper::body::Incoming,
    got: Vec<u8>,
    /// The connection's request handle: it stays open while this is held.
    send: hyper::client::conn::http2::SendRequest<Empty<Bytes>>,
}

impl H2Download {
    async fn start(f: &Ferry, root: &Ca, path: &str) -> H2Download {
        let config = client::config(&[root.der()], &[&TLS13], &[H2]);
        let tls = client::connect(f.addr, "localhost", config).await.unwrap();
        let (mut send, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(tls),
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        let res = send.send_request(get_abs(f, path)).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        H2Download {
            body: res.into_body(),
            got: Vec::new(),
            send,
        }
    }

    /// Another request on the same HTTP/2 connection, as a new stream.
    async fn another(&mut self, f: &Ferry, path: &str) -> StatusCode {
        let res = self.send.send_request(get_abs(f, path)).await.unwrap();
        res.status()
    }

    async fn read_at_least(&mut self, n: usize) {
        use http_body_util::BodyExt as _;
        while self.got.len() < n {
            let frame = self.body.frame().await.expect("more body").unwrap();
            if let Ok(data) = frame.into_data() {
                self.got.extend_from_slice(&data);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn finish(mut self) -> Vec<u8> {
        use http_body_util::BodyExt as _;
        while let Some(frame) = self.body.frame().await {
            if let Ok(data) = frame.expect("the stream ended cleanly").into_data() {
                self.got.extend_from_slice(&data);
            }
        }
        self.got
    }
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
    let big = pattern(BIG);
    std::fs::write(site.join("big.bin"), &big).unwrap();
    let (cert, key) = pki::write_pair(dir.path(), "live", &one, &[]);
    let f = Ferry::serve_tls(&site, &cert, &key, &[]);
    assert_eq!(presented(&f, &root).await, one.der);

    // A download over HTTPS/1.1, read slowly: only the first MiB before the
    // reload, so the server is blocked on a full socket buffer mid-body.
    let mut dl = H1Download::start(&f, &root, "/big.bin").await;
    dl.read_at_least(1 << 20).await;

    // And one over HTTP/2, its first MiB read too.
    let mut dl2 = H2Download::start(&f, &root, "/big.bin").await;
    dl2.read_at_least(1 << 20).await;

    // A new pair (another key, serial and subject), then SIGHUP.
    pki::write_pair(dir.path(), "live", &two, &[]);
    f.signal_hup();
    f.wait_log_n("certificate reloaded", 1);
    assert_eq!(
        presented(&f, &root).await,
        two.der,
        "a new handshake after SIGHUP presents the new certificate"
    );
    // The HTTP/2 connection made before the reload takes new streams still.
    // (hyper's client windows: 2 MiB a stream, 5 MiB the connection, so the
    // paused download cannot starve this stream of connection window.)
    assert_eq!(dl2.another(&f, "/a.txt").await, StatusCode::OK);

    // The downloads in progress finish, byte-exact.
    assert!(
        dl.finish(BIG).await == big[..],
        "the body differs from the file"
    );
    assert!(
        dl2.finish().await == big[..],
        "the h2 body differs from the file"
    );

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

/// `Bytes` the test can tell apart: a misplaced or repeated chunk shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_https_downloads_finish_then_exits_0() {
    const LEN: usize = 16 << 20;
    let root = Ca::root("ferry shutdown root");
    let leaf = root.leaf("ferry shutdown", 1);
    let dir = tempfile::tempdir().unwrap();
    let site = site(dir.path());
    let big = pattern(LEN);
    std::fs::write(site.join("big.bin"), &big).unwrap();
    let (cert, key) = pki::write_pair(dir.path(), "live", &leaf, &[]);
    let mut f = Ferry::serve_tls(&site, &cert, &key, &[]);

    let mut dl1 = H1Download::start(&f, &root, "/big.bin").await;
    dl1.read_at_least(256 << 10).await;
    let mut dl2 = H2Download::start(&f, &root, "/big.bin").await;
    dl2.read_at_least(256 << 10).await;

    let ok = Command::new("kill")
        .args(["-TERM", &f.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    f.wait_log_n("shutting down", 1);
    // The listener is closed: no new connections.
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(f.addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // In-flight responses finish (HTTP/2 gets GOAWAY, its open stream
    // completes: RFC 9113 §6.8), then the process exits 0.
    assert!(
        dl1.finish(LEN).await == big[..],
        "the HTTP/1.1 body differs"
    );
    assert!(dl2.finish().await == big[..], "the HTTP/2 body differs");
    let status = f
        .exit_within(Duration::from_secs(10), "still running after its downloads")
        .await;
    assert!(status.success(), "{status:?}; {:?}", f.log.lock().unwrap());
}
