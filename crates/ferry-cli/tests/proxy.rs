//! `ferry proxy` as a user runs it in front of an application: the real binary,
//! a tiny upstream speaking raw HTTP/1.1 on std threads, and raw client bytes.
use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::Ferry;

impl Ferry {
    fn proxy(upstream: &str, extra: &[&str]) -> Ferry {
        let mut args = vec!["proxy", "--upstream", upstream];
        args.extend_from_slice(extra);
        Ferry::start(&args)
    }

    fn send(&self, req: &[u8]) -> Reply {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(req).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        Reply::parse(out)
    }

    fn get(&self, path: &str, headers: &str) -> Reply {
        self.send(
            format!("GET {path} HTTP/1.1\r\nhost: t\r\n{headers}connection: close\r\n\r\n")
                .as_bytes(),
        )
    }

    fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(l) = self.log.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return l.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needle:?}: {:?}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A response as the client got it, chunked framing removed.
struct Reply {
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn parse(raw: Vec<u8>) -> Reply {
        let at = find(&raw, b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&raw)));
        let head = String::from_utf8_lossy(&raw[..at]).into_owned();
        let rest = &raw[at + 4..];
        let mut r = Reply {
            head,
            body: rest.to_vec(),
        };
        if r.header("transfer-encoding") == Some("chunked") {
            r.body = dechunk(&mut &rest[..]);
        }
        r
    }

    fn status(&self) -> u16 {
        self.head[9..12].parse().unwrap()
    }

    fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.head, name)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Everything the client received, for "never leaks" checks.
    fn all(&self) -> String {
        format!("{}\r\n\r\n{}", self.head, self.text())
    }
}

fn header_in<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads a chunked body (RFC 9112 §7.1) from `r`, trailers dropped.
fn dechunk(r: &mut impl BufRead) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let size = line.trim().split(';').next().unwrap();
        let size = usize::from_str_radix(size, 16).unwrap_or_else(|_| panic!("chunk {line:?}"));
        if size == 0 {
            // Trailer section, then the empty line.
            loop {
                let mut t = String::new();
                if r.read_line(&mut t).unwrap() == 0 || t == "\r\n" {
                    return out;
                }
            }
        }
        let start = out.len();
        out.resize(start + size, 0);
        r.read_exact(&mut out[start..]).unwrap();
        let mut crlf = [0; 2];
        r.read_exact(&mut crlf).unwrap();
    }
}

/// A request as the upstream received it.
#[derive(Debug, Clone)]
struct Seen {
    head: String,
    body: Vec<u8>,
}

impl Seen {
    fn target(&self) -> &str {
        self.head.split(' ').nth(1).unwrap()
    }

    fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.head, name)
    }
}

type Answer = dyn Fn(&Seen) -> Vec<u8> + Send + Sync;

/// The application behind ferry: one thread per connection, every request
/// recorded, answered by a closure, then the connection closed.
struct Upstream {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Upstream {
    fn start(answer: impl Fn(&Seen) -> Vec<u8> + Send + Sync + 'static) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answer: Arc<Answer> = Arc::new(answer);
        let sink = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (sink, answer) = (sink.clone(), answer.clone());
                std::thread::spawn(move || Upstream::connection(stream, &sink, &*answer));
            }
        });
        Upstream { addr, seen }
    }

    fn connection(stream: TcpStream, sink: &Mutex<Vec<Seen>>, answer: &Answer) {
        let mut w = stream.try_clone().unwrap();
        let mut r = BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return; // A pooled connection closed unused.
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let head = head.trim_end().to_owned();
        let body = if header_in(&head, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            dechunk(&mut r)
        } else {
            let len = header_in(&head, "content-length").map_or(0, |v| v.parse().unwrap());
            let mut b = vec![0; len];
            r.read_exact(&mut b).unwrap();
            b
        };
        let seen = Seen { head, body };
        sink.lock().unwrap().push(seen.clone());
        let _ = w.write_all(&answer(&seen));
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A complete upstream response with Content-Length, closing the connection.
fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

const SECRET: &str = "TOP SECRET, outside every root\n";
const FILE: &str = "protected file contents\n";

/// `private/f.txt`, `private/sub/`, `private/link.txt` -> `../secret.txt`,
/// `static/app.css`, and `secret.txt` outside them all; paths canonical.
struct Site {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(root.join("private/sub")).unwrap();
        std::fs::create_dir_all(root.join("static")).unwrap();
        std::fs::write(root.join("private/f.txt"), FILE).unwrap();
        std::fs::write(root.join("static/app.css"), "body { color: red }\n").unwrap();
        std::fs::write(root.join("secret.txt"), SECRET).unwrap();
        std::os::unix::fs::symlink(root.join("secret.txt"), root.join("private/link.txt")).unwrap();
        Site { _dir: dir, root }
    }

    fn path(&self, rel: &str) -> String {
        self.root.join(rel).to_str().unwrap().to_owned()
    }

    fn accel(&self) -> String {
        format!("/protected/={}", self.path("private"))
    }
}

fn assert_no_secret(r: &Reply, what: &str) {
    let all = r.all();
    assert!(
        !all.contains("TOP SECRET") && !all.contains(FILE.trim()),
        "{what}: {all}"
    );
}

#[test]
fn refused_upstream_is_502_without_its_address() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let f = Ferry::proxy(&format!("http://127.0.0.1:{port}"), &[]);
    let r = f.get("/page", "");
    assert_eq!(r.status(), 502, "{}", r.all());
    assert_eq!(r.text(), "502 Bad Gateway\n");
    assert!(!r.all().contains(&port.to_string()), "{}", r.all());
    // The operator still learns why, on stderr.
    f.wait_log("upstream error");
}

#[test]
fn the_health_check_is_answered_by_ferry_even_when_the_upstream_is_down() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let f = Ferry::proxy(
        &format!("http://127.0.0.1:{port}"),
        &["--health-check", "/healthz"],
    );
    let r = f.get("/healthz", "");
    assert_eq!(
        (r.status(), r.text().as_str()),
        (200, "ok\n"),
        "{}",
        r.all()
    );
    assert_eq!(f.get("/healthz/more", "").status(), 502);
}

#[test]
fn upstream_closing_without_an_answer_is_502() {
    let up = Upstream::start(|_| Vec::new());
    let f = Ferry::proxy(&up.url(), &[]);
    let r = f.get("/page", "");
    assert_eq!((r.status(), r.text().as_str()), (502, "502 Bad Gateway\n"));
    assert!(
        !r.all().contains(&up.addr.port().to_string()),
        "{}",
        r.all()
    );
}

#[test]
fn silent_upstream_is_504_after_the_timeout() {
    let up = Upstream::start(|_| {
        std::thread::sleep(Duration::from_secs(10));
        Vec::new()
    });
    let f = Ferry::proxy(&up.url(), &["--upstream-timeout", "1"]);
    let start = Instant::now();
    let r = f.get("/slow", "");
    let took = start.elapsed();
    assert_eq!(r.status(), 504, "{}", r.all());
    assert_eq!(r.text(), "504 Gateway Timeout\n");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(up.seen().len(), 1, "the request did reach the upstream");
}

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
fn client_hand_off_headers_and_internal_paths_never_serve_a_file() {
    let site = Site::new();
    let up = Upstream::start(|_| response("200 OK", &[("content-type", "text/plain")], b"page"));
    let f = Ferry::proxy(
        &up.url(),
        &[
            "--accel",
            &site.accel(),
            "--sendfile-root",
            &site.path("private"),
        ],
    );
    let file = site.path("private/f.txt");
    let r = f.get(
        "/page",
        &format!(
            "x-accel-redirect: /protected/f.txt\r\nx-sendfile: {file}\r\n\
             x-lighttpd-send-file: {file}\r\n"
        ),
    );
    assert_eq!(
        (r.status(), r.text().as_str()),
        (200, "page"),
        "{}",
        r.all()
    );
    assert_no_secret(&r, "request headers");

    // nginx's `internal`: clients asking for the prefix itself get 404, in any spelling.
    for path in [
        "/protected/f.txt",
        "/protected/",
        "/protected",
        "/%70rotected/f.txt",
        "/protected/../protected/f.txt",
    ] {
        let r = f.get(path, "");
        assert_eq!(r.status(), 404, "{path}: {}", r.all());
        assert_no_secret(&r, path);
    }

    // A request smuggled in a body with conflicting framing is never a hand-off.
    let r = f.send(
        b"POST /page HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\n\
          transfer-encoding: chunked\r\n\r\n0\r\n\r\n\
          GET /protected/f.txt HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
    );
    assert_no_secret(&r, "smuggled request");
    for s in up.seen() {
        assert!(!s.target().contains("protected"), "{}", s.head);
        assert!(find(&s.body, b"/protected/").is_none(), "{}", s.head);
    }
}

#[test]
fn accel_hand_off_is_served_with_the_clients_range_and_validators() {
    let site = Site::new();
    let up = Upstream::start(|_| {
        response(
            "200 OK",
            &[
                ("x-accel-redirect", "/protected/f.txt"),
                ("x-accel-buffering", "no"),
                ("x-accel-expires", "0"),
                ("x-accel-limit-rate", "1024"),
                ("content-type", "text/x-app"),
                ("set-cookie", "s=1"),
            ],
            b"the app's body, dropped",
        )
    });
    let f = Ferry::proxy(&up.url(), &["--accel", &site.accel()]);
    let no_internal_headers = |r: &Reply| {
        assert!(
            !r.head.to_ascii_lowercase().contains("\nx-accel-")
                && !r.head.to_ascii_lowercase().contains("\nx-sendfile"),
            "{}",
            r.head
        );
        assert!(!r.text().contains("dropped"), "{}", r.all());
    };

    let r = f.get("/download", "");
    assert_eq!((r.status(), r.text().as_str()), (200, FILE), "{}", r.all());
    assert_eq!(r.header("content-type"), Some("text/x-app"));
    assert_eq!(r.header("set-cookie"), Some("s=1"));
    no_internal_headers(&r);
    let etag = r.header("etag").unwrap().to_owned();

    let r = f.get("/download", "range: bytes=0-8\r\n");
    assert_eq!(
        (r.status(), r.text().as_str()),
        (206, "protected"),
        "{}",
        r.all()
    );
    assert_eq!(r.header("content-range"), Some("bytes 0-8/24"));
    no_internal_headers(&r);

    let r = f.get("/download", &format!("if-none-match: {etag}\r\n"));
    assert_eq!((r.status(), r.text().as_str()), (304, ""), "{}", r.all());
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    no_internal_headers(&r);

    let r = f.send(b"HEAD /download HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n");
    assert_eq!((r.status(), r.text().as_str()), (200, ""), "{}", r.all());
    assert_eq!(r.header("content-length"), Some("24"));
    // Each request asked the application: the permission check is its own.
    assert_eq!(up.seen().len(), 4);
}

#[test]
fn accel_targets_outside_the_prefix_are_404() {
    let site = Site::new();
    let targets = [
        "/protected/../secret.txt",
        "/protected/%2e%2e/secret.txt",
        "/protected/..%2fsecret.txt",
        "/protected/sub/../../secret.txt",
        "/protected/link.txt",
        "/protected/",
        "/protected/sub",
        "/protected/missing.txt",
        "/protectedx/f.txt",
        "/elsewhere/secret.txt",
        "protected/f.txt",
    ];
    let up = Upstream::start(move |s| {
        let i: usize = s.target().trim_start_matches('/').parse().unwrap();
        response("200 OK", &[("x-accel-redirect", targets[i])], b"app body")
    });
    let f = Ferry::proxy(&up.url(), &["--accel", &site.accel()]);
    for (i, target) in targets.iter().enumerate() {
        let r = f.get(&format!("/{i}"), "");
        assert_eq!(r.status(), 404, "{target}: {}", r.all());
        assert_eq!(r.text(), "404 Not Found\n", "{target}");
        assert_no_secret(&r, target);
    }
    f.wait_log("misconfiguration");
}

#[test]
fn x_sendfile_outside_the_root_is_404_never_the_file() {
    let site = Site::new();
    let inside = site.path("private/f.txt");
    let targets: Vec<(&str, String)> = vec![
        ("x-sendfile", site.path("secret.txt")),
        (
            "x-sendfile",
            format!("{}/../secret.txt", site.path("private")),
        ),
        ("x-sendfile", site.path("private/link.txt")),
        ("x-sendfile", site.path("private")),
        ("x-sendfile", "/etc/passwd".into()),
        ("x-sendfile", "secret.txt".into()),
        ("x-lighttpd-send-file", site.path("secret.txt")),
        // Configured for X-Sendfile only: X-Accel-Redirect has no prefix to use.
        ("x-accel-redirect", "/protected/f.txt".into()),
    ];
    let answers = targets.clone();
    let ok = inside.clone();
    let up = Upstream::start(move |s| {
        let t = s.target().trim_start_matches('/');
        if t == "ok" {
            return response("200 OK", &[("x-sendfile", &ok)], b"");
        }
        let (name, value) = &answers[t.parse::<usize>().unwrap()];
        response("200 OK", &[(name, value)], b"app body")
    });
    let f = Ferry::proxy(&up.url(), &["--sendfile-root", &site.path("private")]);
    let r = f.get("/ok", "");
    assert_eq!((r.status(), r.text().as_str()), (200, FILE), "{}", r.all());
    assert_eq!(r.header("x-sendfile"), None);
    for (i, (name, value)) in targets.iter().enumerate() {
        let r = f.get(&format!("/{i}"), "");
        assert_eq!(r.status(), 404, "{name}: {value}: {}", r.all());
        assert_no_secret(&r, value);
        assert!(!r.text().contains("app body"), "{}", r.all());
        assert!(!r.all().contains(value.as_str()), "{}", r.all());
    }
}

#[test]
fn static_prefix_is_served_without_the_upstream() {
    let site = Site::new();
    let up = Upstream::start(|_| response("200 OK", &[], b"from the app"));
    let statics = format!("/static/={}", site.path("static"));
    let f = Ferry::proxy(&up.url(), &["--static", &statics]);
    let r = f.get("/static/app.css", "");
    assert_eq!(
        (r.status(), r.text().as_str()),
        (200, "body { color: red }\n"),
        "{}",
        r.all()
    );
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    let etag = r.header("etag").unwrap().to_owned();
    let r = f.get("/static/app.css", "range: bytes=0-3\r\n");
    assert_eq!((r.status(), r.text().as_str()), (206, "body"));
    let r = f.get("/static/app.css", &format!("if-none-match: {etag}\r\n"));
    assert_eq!(r.status(), 304);
    assert_eq!(f.get("/static/missing.css", "").status(), 404);
    let r = f.get("/static/../private/f.txt", "");
    assert!(matches!(r.status(), 400 | 404), "{}", r.all());
    assert_no_secret(&r, "traversal");
    assert!(up.seen().is_empty(), "{:?}", up.seen());

    // Everything else still goes to the application.
    assert_eq!(f.get("/page", "").text(), "from the app");
    assert_eq!(up.seen().len(), 1);
}

fn digest(bytes: &[u8]) -> String {
    let mut h = DefaultHasher::new();
    h.write(bytes);
    format!("{} {:016x}", bytes.len(), h.finish())
}

#[test]
fn a_one_mib_upload_passes_through_intact() {
    let up = Upstream::start(|s| response("200 OK", &[], digest(&s.body).as_bytes()));
    let f = Ferry::proxy(&up.url(), &[]);
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let body: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let want = digest(&body);

    let mut req = format!(
        "POST /upload HTTP/1.1\r\nhost: t\r\ncontent-type: application/octet-stream\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let r = f.send(&req);
    assert_eq!((r.status(), r.text()), (200, want.clone()));
    assert_eq!(up.seen()[0].header("content-length"), Some("1048576"));

    // The same bytes sent chunked, in uneven chunks.
    let r = f.send(&chunked_upload(&body));
    assert_eq!((r.status(), r.text()), (200, want));
    // Up to 1 MiB, a chunked body is read whole and forwarded with a length.
    assert_eq!(up.seen()[1].header("content-length"), Some("1048576"));

    // Longer, it is spooled to a temporary file and forwarded whole, with
    // its length, as nginx's proxy_request_buffering does.
    let big = body.repeat(3);
    let r = f.send(&chunked_upload(&big));
    assert_eq!((r.status(), r.text()), (200, digest(&big)));
    assert_eq!(up.seen()[2].header("content-length"), Some("3145728"));

    // With --no-request-buffering it streams on, chunked, intact.
    let f = Ferry::proxy(&up.url(), &["--no-request-buffering"]);
    let r = f.send(&chunked_upload(&big));
    assert_eq!((r.status(), r.text()), (200, digest(&big)));
    assert_eq!(up.seen()[3].header("transfer-encoding"), Some("chunked"));
}

/// `POST /upload` with `body` sent chunked, in uneven chunks.
fn chunked_upload(body: &[u8]) -> Vec<u8> {
    let mut req = b"POST /upload HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\
                    connection: close\r\n\r\n"
        .to_vec();
    for chunk in body.chunks(65_521) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    req
}

/// Peak resident memory of a process, from `/proc/PID/status` (VmHWM).
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib / 1024
}

const GIB: u64 = 1 << 30;

#[test]
fn a_gib_streams_both_ways_with_flat_memory() {
    // An upstream that counts the upload without keeping it, then streams a GiB
    // of its own; nothing is ever held whole, on either side of ferry.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                let len: u64 =
                    header_in(head.trim_end(), "content-length").map_or(0, |v| v.parse().unwrap());
                let got = std::io::copy(&mut (&mut r).take(len), &mut std::io::sink()).unwrap();
                if head.starts_with("POST") {
                    let body = got.to_string();
                    let _ = w.write_all(&response("200 OK", &[], body.as_bytes()));
                    return;
                }
                let _ = write!(
                    w,
                    "HTTP/1.1 200 OK\r\ncontent-length: {GIB}\r\nconnection: close\r\n\r\n"
                );
                let chunk = vec![b'x'; 1 << 20];
                for _ in 0..GIB >> 20 {
                    if w.write_all(&chunk).is_err() {
                        return;
                    }
                }
            });
        }
    });
    // No body size limit: the upload is spooled to a temporary file, the
    // download likewise (the client reads as fast as it can).
    let f = Ferry::proxy(
        &format!("http://{up}"),
        &["--no-access-log", "--max-body-size", "0"],
    );

    // Upload: a GiB in 1 MiB writes; the upstream reports how much arrived.
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(
        s,
        "POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: {GIB}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let chunk = vec![b'y'; 1 << 20];
    for _ in 0..GIB >> 20 {
        s.write_all(&chunk).unwrap();
    }
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let r = Reply::parse(out);
    assert_eq!((r.status(), r.text()), (200, GIB.to_string()));

    // Download: a GiB read and counted as it arrives.
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    s.write_all(b"GET /big HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let got = std::io::copy(&mut r, &mut std::io::sink()).unwrap();
    assert_eq!(got, GIB);

    let peak = peak_rss_mib(f.child.id());
    assert!(
        peak < 64,
        "ferry's peak RSS was {peak} MiB for 2 GiB through it"
    );
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
