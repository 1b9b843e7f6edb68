//! One table over every listener of both commands: `ferry serve` on the
//! plaintext fast path, over HTTPS (HTTP/1.1, h2 and HTTP/3) and h2c, and
//! `ferry proxy` in plaintext and over HTTPS (h2 and HTTP/3). Each must write the same access-log
//! line to `--access-log FILE` (reopened on SIGHUP), count its connections in
//! `ferry_open_connections`, log a store error, and answer a malformed Host
//! and an oversized head with the same 400 and 431.
use super::client;
use super::{pki, Ca, Ferry, H2, HTTP11};
use bytes::Bytes;
use http::{Request, StatusCode, Version};
use http_body_util::Empty;
use rustls::version::TLS13;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// A listener and how to reach it.
struct Listener {
    name: &'static str,
    /// Index into the processes.
    process: usize,
    tls: bool,
    h2: bool,
    /// HTTP/3 over QUIC, on the HTTPS port.
    h3: bool,
}

const LISTENERS: [Listener; 9] = [
    Listener {
        name: "serve, fast path",
        process: 0,
        tls: false,
        h2: false,
        h3: false,
    },
    Listener {
        name: "serve, HTTPS/1.1",
        process: 1,
        tls: true,
        h2: false,
        h3: false,
    },
    Listener {
        name: "serve, HTTPS h2",
        process: 1,
        tls: true,
        h2: true,
        h3: false,
    },
    Listener {
        name: "serve --h2c, h2",
        process: 2,
        tls: false,
        h2: true,
        h3: false,
    },
    Listener {
        name: "serve --h2c, HTTP/1.1",
        process: 2,
        tls: false,
        h2: false,
        h3: false,
    },
    Listener {
        name: "proxy, plaintext",
        process: 3,
        tls: false,
        h2: false,
        h3: false,
    },
    Listener {
        name: "proxy, HTTPS h2",
        process: 4,
        tls: true,
        h2: true,
        h3: false,
    },
    Listener {
        name: "serve, HTTP/3",
        process: 1,
        tls: true,
        h2: false,
        h3: true,
    },
    Listener {
        name: "proxy, HTTP/3",
        process: 4,
        tls: true,
        h2: false,
        h3: true,
    },
];

/// One `ferry` process of the table, with its log file and metrics address.
struct Process {
    ferry: Ferry,
    log: PathBuf,
    metrics: std::net::SocketAddr,
}

fn free_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

impl Process {
    fn start(dir: &Path, n: usize, args: &[&str]) -> Process {
        let log = dir.join(format!("access-{n}.log"));
        let metrics = free_port();
        let (l, m) = (log.to_str().unwrap().to_owned(), metrics.to_string());
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--access-log",
            &l,
            "--access-log-format",
            "json",
            "--metrics",
            &m,
            "--max-header-bytes",
            "4096",
        ]);
        Process {
            ferry: Ferry::start(&all),
            log,
            metrics,
        }
    }

    /// The last line of the access log, parsed, once there are `n` lines.
    fn log_line(&self, n: usize) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            if lines.len() >= n {
                return serde_json::from_str(lines[n - 1]).unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "no line {n} in {}",
                self.log.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    async fn open_connections(&self) -> f64 {
        let tcp = TcpStream::connect(self.metrics).await.unwrap();
        let req = Request::get("/metrics")
            .header("host", "metrics")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let text = String::from_utf8(client::h1(tcp, req).await.body.to_vec()).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("ferry_open_connections "))
            .map_or(0.0, |v| v.trim().parse().unwrap())
    }
}

struct Table {
    procs: Vec<Process>,
    root: Ca,
    _dir: tempfile::TempDir,
}

impl Table {
    async fn connect(&self, l: &Listener) -> client::Sender {
        let f = &self.procs[l.process].ferry;
        if l.h3 {
            let roots = [self.root.der()];
            let h3 = super::http3::connect(f.addr, "localhost", &roots).await;
            return client::Sender::H3(h3.unwrap());
        }
        let tcp = TcpStream::connect(f.addr).await.unwrap();
        if l.tls {
            let alpn = if l.h2 { H2 } else { HTTP11 };
            let config = client::config(&[self.root.der()], &[&TLS13], &[alpn]);
            let tls = client::connect(f.addr, "localhost", config).await.unwrap();
            return client::Sender::open(tls, l.h2).await;
        }
        client::Sender::open(tcp, l.h2).await
    }

    fn request(&self, l: &Listener, path: &str, extra: &[(&str, &str)]) -> Request<Empty<Bytes>> {
        let f = &self.procs[l.process].ferry;
        let scheme = if l.tls { "https" } else { "http" };
        let mut req = if l.h2 || l.h3 {
            Request::get(format!("{scheme}://localhost:{}{path}", f.addr.port()))
        } else {
            Request::get(path).header("host", "localhost")
        };
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        req.body(Empty::new()).unwrap()
    }
}

/// What must be the same in ferry's own short answers on every listener.
fn short_answer(r: &client::Resp) -> (StatusCode, Vec<Option<String>>, Bytes) {
    let fields = [
        "content-type",
        "content-length",
        "cache-control",
        "x-content-type-options",
    ]
    .iter()
    .map(|n| r.header(n).map(str::to_owned))
    .collect();
    (r.status, fields, r.body.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listener_logs_counts_and_refuses_alike() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    std::fs::create_dir(&site).unwrap();
    std::fs::write(site.join("a.txt"), "hello, listeners\n").unwrap();
    // A socket where a file should be: opening it fails with ENXIO, a store
    // error (500) that is the operator's to see.
    let _sock = std::os::unix::net::UnixListener::bind(site.join("sock.txt")).unwrap();
    let root = Ca::root("ferry listeners root");
    let (cert, key) = pki::write_pair(dir.path(), "live", &root.leaf("ferry listeners", 1), &[]);
    let (s, c, k) = (
        site.to_str().unwrap(),
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
    );
    let stat = format!("/={s}");
    // Nothing listens on the upstream: every request here is --static.
    let up = "http://127.0.0.1:9";
    let tls = ["--tls-cert", c, "--tls-key", k];
    let procs = vec![
        Process::start(dir.path(), 0, &["serve", s]),
        Process::start(dir.path(), 1, &[&["serve", s][..], &tls].concat()),
        Process::start(dir.path(), 2, &["serve", s, "--h2c"]),
        Process::start(
            dir.path(),
            3,
            &["proxy", "--upstream", up, "--static", &stat],
        ),
        Process::start(
            dir.path(),
            4,
            &[&["proxy", "--upstream", up, "--static", &stat][..], &tls].concat(),
        ),
    ];
    let t = Table {
        procs,
        root,
        _dir: dir,
    };
    let mut lines = [0usize; 5];
    let mut errors = [0usize; 5];
    let mut refusals = Vec::new();
    for l in &LISTENERS {
        let p = &t.procs[l.process];
        let version = match (l.h2, l.h3) {
            (_, true) => Version::HTTP_3,
            (true, _) => Version::HTTP_2,
            _ => Version::HTTP_11,
        };

        // A file, its log line, and the connection counted while open.
        let conn = t.connect(l).await;
        let r = conn
            .send(t.request(l, "/a.txt", &[("user-agent", "table/1")]))
            .await;
        assert_eq!(
            (r.status, r.version),
            (StatusCode::OK, version),
            "{}",
            l.name
        );
        assert!(p.open_connections().await >= 1.0, "{}: not counted", l.name);
        lines[l.process] += 1;
        let line = p.log_line(lines[l.process]);
        let want_version = match (l.h2, l.h3) {
            (_, true) => "HTTP/3.0",
            (true, _) => "HTTP/2.0",
            _ => "HTTP/1.1",
        };
        for (k, v) in [
            ("method", "GET".into()),
            ("target", "/a.txt".into()),
            ("version", want_version.into()),
            ("host", "localhost".into()),
            ("status", 200.into()),
            ("bytes", 17.into()),
            ("user_agent", "table/1".into()),
            ("referer", serde_json::Value::Null),
        ] {
            assert_eq!(line[k], v, "{}: `{k}` in {line}", l.name);
        }
        conn.close();
        drop(conn);
        let deadline = Instant::now() + Duration::from_secs(5);
        while p.open_connections().await != 0.0 {
            assert!(
                Instant::now() < deadline,
                "{}: a closed connection still counted",
                l.name
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        // A store error: 500 for the client, the reason for the operator.
        let r = t
            .connect(l)
            .await
            .send(t.request(l, "/sock.txt", &[]))
            .await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", l.name);
        lines[l.process] += 1;
        assert_eq!(p.log_line(lines[l.process])["status"], 500, "{}", l.name);
        errors[l.process] += 1;
        let logged = p
            .ferry
            .wait_log_n("GET /sock.txt: store error", errors[l.process]);
        assert!(
            logged.contains("No such device or address"),
            "{}: {logged}",
            l.name
        );

        // RFC 9112 §3.2: an invalid Host value is 400; a head over
        // --max-header-bytes is 431 (RFC 6585 §5). The same answer everywhere.
        let big = "x".repeat(6000);
        for extra in [[("host", "a b")], [("x-big", big.as_str())]] {
            if l.h3 && extra[0].0 == "host" {
                // h3's client refuses to send an invalid Host at all.
                continue;
            }
            let r = t
                .connect(l)
                .await
                .send(t.request(l, "/a.txt", &extra))
                .await;
            lines[l.process] += 1;
            refusals.push((l.name, extra[0].0, short_answer(&r)));
        }
    }
    for (name, what, answer) in &refusals {
        let first = refusals.iter().find(|(_, w, _)| w == what).unwrap();
        assert_eq!(
            answer, &first.2,
            "{name} answered `{what}` unlike {}",
            first.0
        );
        let want = if *what == "host" { 400 } else { 431 };
        assert_eq!(answer.0.as_u16(), want, "{name}: `{what}`");
    }

    // SIGHUP reopens the log file (logrotate moved it) on both commands.
    for (i, p) in t.procs.iter().enumerate() {
        let l = LISTENERS.iter().find(|l| l.process == i).unwrap();
        std::fs::rename(&p.log, p.log.with_extension("1")).unwrap();
        p.ferry.signal_hup();
        // The handler runs on the main runtime; give it a moment.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let r = t.connect(l).await.send(t.request(l, "/a.txt", &[])).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(p.log_line(1)["target"], "/a.txt", "{} after SIGHUP", l.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_never_cuts_a_request_being_answered() {
    // --idle-timeout is for idle connections: over h2 and HTTPS/1.1 a
    // request whose answer takes longer (a slow app behind ferry proxy) is
    // answered, and the idle connection is closed after it, as on the fast
    // path.
    let up = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up_addr = up.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in up.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                std::thread::sleep(Duration::from_millis(2500));
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\nslow",
                );
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let root = Ca::root("ferry idle root");
    let (cert, key) = pki::write_pair(dir.path(), "live", &root.leaf("ferry idle", 1), &[]);
    let upstream = format!("http://{up_addr}");
    let f = Ferry::proxy_tls(
        &upstream,
        &cert,
        &key,
        &["--idle-timeout", "1", "--no-access-log"],
    );
    for h2 in [true, false] {
        let alpn = if h2 { H2 } else { HTTP11 };
        let config = client::config(&[root.der()], &[&TLS13], &[alpn]);
        let tls = client::connect(f.addr, "localhost", config).await.unwrap();
        let conn = client::Sender::open(tls, h2).await;
        let req = if h2 {
            Request::get(format!("https://localhost:{}/slow", f.addr.port()))
        } else {
            Request::get("/slow").header("host", "localhost")
        }
        .body(Empty::<Bytes>::new())
        .unwrap();
        let r = conn.send(req).await;
        assert_eq!(
            (r.status, &r.body[..]),
            (StatusCode::OK, &b"slow"[..]),
            "h2 {h2}"
        );
    }
}
