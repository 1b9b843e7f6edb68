//! The `ferry` binary as a user runs it: flags, errors, logs, limits, shutdown.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::Ferry;

impl Ferry {
    fn serve(dir: &Path, extra: &[&str]) -> Ferry {
        let dir = dir.to_str().unwrap();
        let mut args = vec!["serve", dir];
        args.extend_from_slice(extra);
        Ferry::start(&args)
    }

    fn raw(&self, req: &[u8]) -> String {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(req).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn get(&self, path: &str) -> String {
        self.raw(format!("GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n").as_bytes())
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

    fn signal_term(&self) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
    }
}

fn header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    resp.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn site() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("index.html"), "<h1>hi</h1>").unwrap();
    std::fs::write(d.path().join("a.txt"), "hello").unwrap();
    d
}

#[test]
fn missing_root_is_a_clear_error_with_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["serve", "/no/such/dir"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/no/such/dir") && err.contains("does not exist"),
        "{err}"
    );
}

#[test]
fn a_file_as_root_is_a_clear_error_with_exit_2() {
    let d = site();
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("serve")
        .arg(d.path().join("a.txt"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a directory"));
}

#[test]
fn help_explains_every_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--no-access-log",
        "--header-timeout",
        "--max-header-bytes",
        "--follow-symlinks",
        "--show-hidden",
        "--no-precompressed",
        "--cache-control",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn serves_and_logs_each_request() {
    let d = site();
    let f = Ferry::serve(d.path(), &[]);
    let r = f.get("/a.txt");
    assert!(
        r.starts_with("HTTP/1.1 200 OK") && r.ends_with("hello"),
        "{r}"
    );
    let line = f.wait_log("/a.txt");
    assert!(line.contains("\"GET /a.txt\" 200 5 "), "{line}");
    let r = f.get("/");
    assert!(r.ends_with("<h1>hi</h1>"), "{r}");
    f.get("/missing");
    assert!(f.wait_log("/missing").contains(" 404 "));
}

#[test]
fn access_log_can_be_switched_off() {
    let d = site();
    let f = Ferry::serve(d.path(), &["--no-access-log"]);
    assert!(f.get("/a.txt").ends_with("hello"));
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        f.log.lock().unwrap().is_empty(),
        "{:?}",
        f.log.lock().unwrap()
    );
}

#[test]
fn too_large_head_gets_431() {
    let d = site();
    let f = Ferry::serve(d.path(), &["--no-access-log"]);
    let big = "x".repeat(64 * 1024);
    let r = f.raw(format!("GET /a.txt HTTP/1.1\r\nhost: t\r\nx-big: {big}\r\n\r\n").as_bytes());
    assert!(r.starts_with("HTTP/1.1 431"), "{}", &r[..r.len().min(200)]);
}

#[test]
fn slow_head_is_closed_after_the_timeout() {
    let d = site();
    let f = Ferry::serve(d.path(), &["--no-access-log", "--header-timeout", "1"]);
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.write_all(b"GET /a.txt HTTP/1.1\r\nhost: t\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let start = Instant::now();
    let mut out = Vec::new();
    let res = s.read_to_end(&mut out);
    assert!(res.is_ok(), "connection was not closed: {res:?}");
    assert!(start.elapsed() < Duration::from_secs(4));
    assert!(!String::from_utf8_lossy(&out).contains("hello"));
}

#[test]
fn a_head_sent_byte_by_byte_is_closed_after_the_header_timeout() {
    // Each byte resets no timer: the head has --header-timeout in all.
    let d = site();
    let f = Ferry::serve(d.path(), &["--no-access-log", "--header-timeout", "1"]);
    let s = TcpStream::connect(f.addr).unwrap();
    let mut w = s.try_clone().unwrap();
    // A byte every 100 ms for 6 s, or until the server has closed.
    std::thread::spawn(move || {
        for &b in b"GET /a.txt HTTP/1.1\r\nx-slow: ".iter().cycle().take(60) {
            if w.write_all(&[b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let start = Instant::now();
    let mut r = s;
    r.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = Vec::new();
    let _ = r.read_to_end(&mut out);
    let waited = start.elapsed();
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

#[test]
fn a_head_begun_after_a_response_gets_the_header_timeout_not_the_idle_one() {
    let d = site();
    let f = Ferry::serve(
        d.path(),
        &[
            "--no-access-log",
            "--header-timeout",
            "1",
            "--idle-timeout",
            "30",
        ],
    );
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /a.txt HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(b"GET /a.txt HTTP/1.1\r\n").unwrap();
    closes_within(&mut s, Duration::from_millis(700), Duration::from_secs(4));
}

/// Waits for the server to close `s` without sending anything more, and checks
/// that it took between `lo` and `hi`.
fn closes_within(s: &mut TcpStream, lo: Duration, hi: Duration) {
    s.set_read_timeout(Some(hi * 2)).unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    assert_eq!(s.read(&mut buf).unwrap(), 0, "closed without a response");
    let waited = start.elapsed();
    assert!(waited >= lo && waited < hi, "{waited:?}");
}

#[test]
fn etags_survive_a_restart() {
    let d = site();
    let first = Ferry::serve(d.path(), &["--no-access-log"]);
    let a = header(&first.get("/a.txt"), "etag").unwrap().to_owned();
    drop(first);
    let second = Ferry::serve(d.path(), &["--no-access-log"]);
    let r = second.raw(
        format!(
            "GET /a.txt HTTP/1.1\r\nhost: t\r\nif-none-match: {a}\r\nconnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert!(r.starts_with("HTTP/1.1 304"), "{r}");
}

#[test]
fn sigterm_finishes_in_flight_responses_then_exits_0() {
    let d = site();
    let big: Vec<u8> = (0..20_000_000u32).map(|i| i as u8).collect();
    std::fs::write(d.path().join("big.bin"), &big).unwrap();
    let mut f = Ferry::serve(d.path(), &["--no-access-log"]);
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.write_all(b"GET /big.bin HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 4096];
    s.read_exact(&mut first).unwrap();
    f.signal_term();
    std::thread::sleep(Duration::from_millis(200));
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    let status = f.child.wait().unwrap();
    let mut all = first.to_vec();
    all.extend_from_slice(&rest);
    let body_at = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(
        all[body_at..] == big[..],
        "the in-flight body was cut short"
    );
    assert!(status.success(), "{status:?}");
}

#[test]
fn expect_continue_gets_the_final_status_at_once() {
    // RFC 9110 §10.1.1: the client waits for 100 Continue before its body;
    // ferry needs no body and answers at once.
    let d = site();
    let f = Ferry::serve(d.path(), &["--no-access-log"]);
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.write_all(
        b"POST /a.txt HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut buf = [0u8; 512];
    let start = Instant::now();
    let n = s.read(&mut buf).unwrap();
    assert!(start.elapsed() < Duration::from_secs(2));
    let r = String::from_utf8_lossy(&buf[..n]);
    assert!(r.starts_with("HTTP/1.1 405"), "{r}");
}

#[test]
fn access_log_to_a_file_in_json_reopened_on_sighup() {
    let d = site();
    let logs = tempfile::tempdir().unwrap();
    let path = logs.path().join("access.log");
    let f = Ferry::serve(
        d.path(),
        &[
            "--access-log",
            path.to_str().unwrap(),
            "--access-log-format",
            "json",
        ],
    );
    let wait_for = |p: &std::path::Path, needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            if text.contains(needle) {
                return text;
            }
            assert!(Instant::now() < deadline, "{needle:?} not in {text:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    f.get("/a.txt");
    let text = wait_for(&path, "\"target\":\"/a.txt\"");
    let line = text.lines().next().unwrap();
    assert!(line.starts_with("{\"time\":"), "{line}");
    assert!(line.contains("\"method\":\"GET\""), "{line}");
    assert!(line.contains("\"status\":200"), "{line}");
    // Which site: the Host asked for.
    assert!(line.contains("\"host\":\"t\""), "{line}");
    assert!(line.ends_with('}'), "{line}");

    // logrotate moves the file away, then signals.
    std::fs::rename(&path, logs.path().join("access.log.1")).unwrap();
    Command::new("kill")
        .args(["-HUP", &f.child.id().to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    f.get("/missing");
    let text = wait_for(&path, "\"status\":404");
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[test]
fn prometheus_metrics_count_what_was_served() {
    let d = site();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let maddr = format!("127.0.0.1:{port}");
    let f = Ferry::serve(d.path(), &["--no-access-log", "--metrics", &maddr]);
    let r = f.get("/a.txt");
    let etag = header(&r, "etag").unwrap().to_owned();
    f.get("/a.txt");
    f.raw(
        format!(
            "GET /a.txt HTTP/1.1\r\nhost: t\r\nif-none-match: {etag}\r\nconnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    f.get("/missing");
    let scrape = || {
        let mut s = TcpStream::connect(&maddr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nhost: m\r\nconnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    // The client sees EOF a moment before ferry counts the connection closed.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut text = scrape();
    while !text.contains("\nferry_open_connections 0\n") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        text = scrape();
    }
    let value = |series: &str| {
        text.lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .unwrap_or_else(|| panic!("no {series} in {text}"))
            .to_owned()
    };
    assert_eq!(
        value("ferry_requests_total{method=\"GET\",status=\"200\",class=\"2xx\"}"),
        "2"
    );
    assert_eq!(
        value("ferry_requests_total{method=\"GET\",status=\"304\",class=\"3xx\"}"),
        "1"
    );
    assert_eq!(
        value("ferry_requests_total{method=\"GET\",status=\"404\",class=\"4xx\"}"),
        "1"
    );
    assert_eq!(value("ferry_request_duration_seconds_count"), "4");
    let copied: u64 = value("ferry_response_bytes_total{path=\"copied\"}")
        .parse()
        .unwrap();
    assert!(copied >= 2 * 6, "{copied}");
    assert_eq!(value("ferry_open_connections"), "0");
    // One of four GETs was answered 304.
    assert_eq!(value("ferry_not_modified_ratio"), "0.25");
}

#[test]
fn drain_timeout_bounds_shutdown_with_a_stalled_client() {
    let d = site();
    std::fs::write(d.path().join("big.bin"), vec![1u8; 20_000_000]).unwrap();
    let mut f = Ferry::serve(d.path(), &["--no-access-log", "--drain-timeout", "1"]);
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.write_all(b"GET /big.bin HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 4096];
    s.read_exact(&mut first).unwrap();
    // The client stops reading: the response can never finish.
    let start = Instant::now();
    f.signal_term();
    let status = f.child.wait().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    assert!(status.success(), "{status:?}");
}

#[test]
fn sighup_never_terminates_the_server() {
    let d = site();
    let f = Ferry::serve(d.path(), &["--no-access-log"]);
    Command::new("kill")
        .args(["-HUP", &f.child.id().to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(f.get("/a.txt").starts_with("HTTP/1.1 200"));
}

fn ferry(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn settings_come_from_flags_then_environment_then_the_config_file() {
    let d = site();
    let cfg = d.path().join("ferry.toml");
    let root = d.path().to_str().unwrap().to_owned();
    std::fs::write(
        &cfg,
        format!("root = {root:?}\nlisten = \"127.0.0.1:1111\"\ncache-control = \"max-age=60\"\n"),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    // The file alone.
    let (code, out, err) = ferry(&["check-config", "--config", cfg], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("listen 127.0.0.1:1111 (from `listen` in"),
        "{out}"
    );
    assert!(out.contains("(from `root` in"), "{out}");
    // A variable beats the file; a flag beats both.
    let (_, out, _) = ferry(
        &["check-config", "--config", cfg],
        &[("FERRY_LISTEN", "127.0.0.1:2222")],
    );
    assert!(
        out.contains("listen 127.0.0.1:2222 (from FERRY_LISTEN)"),
        "{out}"
    );
    let (_, out, _) = ferry(
        &[
            "check-config",
            "--config",
            cfg,
            "--listen",
            "127.0.0.1:3333",
        ],
        &[("FERRY_LISTEN", "127.0.0.1:2222")],
    );
    assert!(
        out.contains("listen 127.0.0.1:3333 (from the command line"),
        "{out}"
    );
    // The file's values really apply when serving.
    let f = Ferry::serve(d.path(), &["--config", cfg, "--no-access-log"]);
    assert_eq!(
        header(&f.get("/a.txt"), "cache-control"),
        Some("max-age=60")
    );
}

#[test]
fn config_errors_say_where_the_value_came_from() {
    let d = site();
    let (code, _, err) = ferry(&["serve"], &[("FERRY_ROOT", "/no/such/dir")]);
    assert_eq!(code, 2);
    assert!(
        err.contains("root from FERRY_ROOT: /no/such/dir does not exist"),
        "{err}"
    );
    let cfg = d.path().join("bad.toml");
    std::fs::write(&cfg, "root = \"/no/such/dir\"\n").unwrap();
    let (code, _, err) = ferry(&["check-config", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("root from `root` in"), "{err}");
    std::fs::write(&cfg, "lisen = \"x\"\n").unwrap();
    let (code, _, err) = ferry(&["serve", "--config", cfg.to_str().unwrap(), "."], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown key `lisen`"), "{err}");
    let (code, _, err) = ferry(
        &[
            "check-config",
            d.path().to_str().unwrap(),
            "--tls-cert",
            "/no/cert.pem",
            "--tls-key",
            "/no/key.pem",
        ],
        &[],
    );
    assert_eq!(code, 2);
    assert!(err.contains("/no/cert.pem"), "{err}");
}

/// A GET with a Host, read to the end.
fn get_host(f: &Ferry, host: &str, path: &str) -> String {
    f.raw(format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n").as_bytes())
}

fn status(resp: &str) -> &str {
    resp.get(9..12).unwrap_or(resp)
}

#[test]
fn sites_are_chosen_by_host_with_421_or_a_default_site() {
    let (a, b, d) = (site(), site(), site());
    std::fs::write(a.path().join("who.txt"), "site a").unwrap();
    std::fs::write(b.path().join("who.txt"), "site b").unwrap();
    std::fs::write(d.path().join("who.txt"), "default").unwrap();
    let cfg = d.path().join("sites.toml");
    let sites = format!(
        "health-check = \"/healthz\"\ncache-control = \"max-age=1\"\n\
         [[site]]\nhost = [\"a.test\", \"www.a.test\"]\nroot = {:?}\n\
         [[site]]\nhost = \"b.test\"\nroot = {:?}\ncache-control = \"max-age=5\"\n",
        a.path(),
        b.path()
    );
    std::fs::write(&cfg, &sites).unwrap();
    let f = Ferry::start(&["serve", "--config", cfg.to_str().unwrap()]);
    let r = get_host(&f, "a.test", "/who.txt");
    assert!(r.ends_with("\r\n\r\nsite a"), "{r}");
    // Inherited from the file's top level.
    assert_eq!(header(&r, "cache-control"), Some("max-age=1"));
    let r = get_host(&f, "WWW.A.TEST:8080", "/who.txt");
    assert!(r.ends_with("site a"), "{r}");
    let r = get_host(&f, "b.test", "/who.txt");
    assert!(r.ends_with("site b"), "{r}");
    assert_eq!(header(&r, "cache-control"), Some("max-age=5"));
    // RFC 9110 §15.5.20: no site for this host, and no default site.
    let r = get_host(&f, "c.test", "/who.txt");
    assert_eq!(status(&r), "421", "{r}");
    // The absolute form's authority names the site (RFC 9112 §3.2.2).
    let r =
        f.raw(b"GET http://b.test/who.txt HTTP/1.1\r\nhost: b.test\r\nconnection: close\r\n\r\n");
    assert!(r.ends_with("site b"), "{r}");
    // The health check answers for any host.
    let r = get_host(&f, "c.test", "/healthz");
    assert_eq!(status(&r), "200", "{r}");
    assert!(r.ends_with("\r\n\r\nok\n"), "{r}");
    drop(f);

    // Sites inherit the top level's effective settings: a flag's too.
    let f = Ferry::start(&[
        "serve",
        "--config",
        cfg.to_str().unwrap(),
        "--cache-control",
        "max-age=7",
    ]);
    assert_eq!(
        header(&get_host(&f, "a.test", "/who.txt"), "cache-control"),
        Some("max-age=7")
    );
    assert_eq!(
        header(&get_host(&f, "b.test", "/who.txt"), "cache-control"),
        Some("max-age=5")
    );
    drop(f);

    // With a top-level root, it is the default site.
    std::fs::write(&cfg, format!("root = {:?}\n{sites}", d.path())).unwrap();
    let f = Ferry::start(&["serve", "--config", cfg.to_str().unwrap()]);
    assert!(get_host(&f, "c.test", "/who.txt").ends_with("default"));
    assert!(get_host(&f, "b.test", "/who.txt").ends_with("site b"));
    drop(f);

    // A value of the wrong type is an error naming its key, never a root.
    std::fs::write(&cfg, format!("browse = {:?}\n", a.path())).unwrap();
    let (code, _, err) = ferry(&["check-config", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("`browse` must be true or false"), "{err}");
    // A value starting with `-` is a value, not a flag.
    std::fs::write(
        &cfg,
        format!("root = {:?}\ncache-control = \"--browse\"\n", a.path()),
    )
    .unwrap();
    let (code, _, err) = ferry(&["check-config", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
    // A listener setting inside a site is an error naming the table.
    std::fs::write(
        &cfg,
        format!(
            "[[site]]\nhost = \"a.test\"\nroot = {:?}\nlisten = \"127.0.0.1:1\"\n",
            a.path()
        ),
    )
    .unwrap();
    let (code, _, err) = ferry(&["check-config", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("[[site]] #1: `listen` cannot be set per site"),
        "{err}"
    );
    // Two sites for one host.
    std::fs::write(
        &cfg,
        format!(
            "[[site]]\nhost = \"a.test\"\nroot = {:?}\n[[site]]\nhost = \"A.test\"\nroot = {:?}\n",
            a.path(),
            b.path()
        ),
    )
    .unwrap();
    let (code, _, err) = ferry(&["check-config", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("named by two sites"), "{err}");
}

#[test]
fn sighup_reloads_the_configuration_atomically_without_dropping_a_download() {
    let d = site();
    let big = vec![7u8; 32 << 20];
    std::fs::write(d.path().join("big.bin"), &big).unwrap();
    let cfg = d.path().join("ferry.toml");
    let root = format!("root = {:?}\n", d.path());
    std::fs::write(&cfg, format!("{root}cache-control = \"max-age=60\"\n")).unwrap();
    let f = Ferry::start(&["serve", "--config", cfg.to_str().unwrap()]);
    let hup = || {
        Command::new("kill")
            .args(["-HUP", &f.child.id().to_string()])
            .status()
            .unwrap();
    };
    // A download in flight across every reload below.
    let mut dl = TcpStream::connect(f.addr).unwrap();
    dl.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    dl.write_all(b"GET /big.bin HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut first = vec![0u8; 1 << 20];
    dl.read_exact(&mut first).unwrap();

    std::fs::write(&cfg, format!("{root}cache-control = \"max-age=120\"\n")).unwrap();
    hup();
    f.wait_log("configuration reloaded");
    assert_eq!(
        header(&f.get("/a.txt"), "cache-control"),
        Some("max-age=120")
    );

    // A bad file is refused whole: the old settings keep serving.
    std::fs::write(
        &cfg,
        format!("{root}cache-control = \"max-age=1\"\nbrowse = 3\nfoo = 1\n"),
    )
    .unwrap();
    hup();
    let l = f.wait_log("configuration not reloaded");
    assert!(l.contains("`browse` must be true or false"), "{l}");
    std::fs::write(&cfg, "root = \"/no/such/dir\"\n").unwrap();
    hup();
    f.wait_log("/no/such/dir does not exist");
    assert_eq!(
        header(&f.get("/a.txt"), "cache-control"),
        Some("max-age=120")
    );

    // The download finishes whole.
    let mut rest = Vec::new();
    dl.read_to_end(&mut rest).unwrap();
    let all = [first, rest].concat();
    let body_at = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(all.len() - body_at, big.len());

    // A listener setting waits for a restart, and says so; the sites' apply.
    std::fs::write(
        &cfg,
        format!("{root}cache-control = \"max-age=240\"\nidle-timeout = 5\n"),
    )
    .unwrap();
    hup();
    let l = f.wait_log("`idle-timeout` changed");
    assert!(l.contains("applies after a restart"), "{l}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while header(&f.get("/a.txt"), "cache-control") != Some("max-age=240") {
        assert!(Instant::now() < deadline, "the sites were not reloaded");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn max_connections_holds_new_connections_until_one_closes() {
    let d = site();
    let f = Ferry::serve(d.path(), &["--max-connections", "1"]);
    let req = b"GET /a.txt HTTP/1.1\r\nhost: t\r\n\r\n";
    let mut one = TcpStream::connect(f.addr).unwrap();
    one.write_all(req).unwrap();
    let mut buf = [0u8; 4096];
    assert!(one.read(&mut buf).unwrap() > 0);
    // The kernel completes the handshake; ferry does not take it yet.
    let mut two = TcpStream::connect(f.addr).unwrap();
    two.write_all(req).unwrap();
    two.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    assert!(
        two.read(&mut buf).is_err(),
        "served beyond --max-connections"
    );
    drop(one);
    two.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = two.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
}

#[test]
fn idle_keep_alive_connections_close_after_the_idle_timeout() {
    let d = site();
    let f = Ferry::serve(d.path(), &["--idle-timeout", "1"]);
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.write_all(b"GET /a.txt HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 4096];
    assert!(s.read(&mut buf).unwrap() > 0);
    closes_within(&mut s, Duration::from_millis(800), Duration::from_secs(5));
}

#[test]
fn the_idle_timeout_counts_from_the_last_response_not_the_first() {
    // Three requests 600 ms apart on one connection with a 1 s idle timeout:
    // the connection is never idle for 1 s until after the last one.
    let d = site();
    let f = Ferry::serve(d.path(), &["--idle-timeout", "1", "--no-access-log"]);
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 4096];
    for i in 0..3 {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(600));
        }
        s.write_all(b"GET /a.txt HTTP/1.1\r\nhost: t\r\n\r\n")
            .unwrap();
        let n = s.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "request {i}");
    }
    closes_within(&mut s, Duration::from_millis(800), Duration::from_secs(5));
}

#[test]
fn ferry_log_turns_on_tracing_spans_and_the_decision_events() {
    use std::io::BufRead as _;
    let d = site();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args([
            "serve",
            d.path().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .env("FERRY_LOG", "debug")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains(" on http://"))
        .unwrap();
    let addr = first
        .rsplit("http://")
        .next()
        .unwrap()
        .trim_end_matches('/');
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(
        b"GET /a.txt HTTP/1.1\r\nhost: t\r\nif-none-match: \"nope\"\r\nconnection: close\r\n\r\n",
    )
    .unwrap();
    let _ = s.read_to_end(&mut Vec::new());
    // Read on a thread: a missing line must fail the test, not hang it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let found = lines.map_while(Result::ok).find(|l| l.contains("decided"));
        let _ = tx.send(found);
    });
    let line = rx.recv_timeout(Duration::from_secs(10));
    let _ = child.kill();
    let _ = child.wait();
    let line = line.ok().flatten().expect("a `decided` event on stderr");
    // The event, inside its connection and request spans.
    for part in [
        "conn{peer=127.0.0.1:",
        "request{method=GET target=/a.txt version=HTTP/1.1}",
        "key=\"a.txt\"",
        "plan=Full",
    ] {
        assert!(line.contains(part), "{part} missing from {line}");
    }
}

#[test]
fn the_example_config_in_docs_has_only_known_keys() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/ferry.example.toml");
    let (code, _, err) = ferry(&["check-config", "--config", example], &[]);
    // Every key parses and passes its checks up to the first path that exists
    // only on a real server.
    assert_eq!(code, 2);
    assert!(
        err.contains("root from `root` in") && err.contains("/srv/www does not exist"),
        "{err}"
    );
}

#[test]
fn an_idle_http2_connection_closes_after_the_idle_timeout() {
    // hyper's HTTP/2 has no idle timeout of its own: a client that sends its
    // preface and then nothing must not hold a connection slot for ever.
    let d = site();
    let f = Ferry::serve(d.path(), &["--h2c", "--idle-timeout", "1"]);
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let t = Instant::now();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all); // The server's SETTINGS, then EOF.
    let idle = t.elapsed();
    assert!(
        idle >= Duration::from_millis(800) && idle < Duration::from_secs(5),
        "{idle:?}"
    );
}

#[test]
fn timeouts_and_limits_out_of_range_are_errors() {
    for (flag, v) in [
        ("--idle-timeout", "0"),
        ("--idle-timeout", "9223372036854775807"),
        ("--write-timeout", "100000"),
        ("--max-header-bytes", "10"),
        ("--max-connections", "0"),
        ("--drain-timeout", "18446744073709551615"),
    ] {
        let (code, _, err) = ferry(&["check-config", ".", flag, v], &[]);
        assert_eq!(code, 2, "{flag} {v}");
        assert!(err.contains(flag), "{flag} {v}: {err}");
    }
}

#[test]
fn a_client_that_stops_reading_is_cut_off_after_the_write_timeout() {
    let d = site();
    std::fs::write(d.path().join("big.bin"), vec![1u8; 64 << 20]).unwrap();
    let f = Ferry::serve(d.path(), &["--write-timeout", "1"]);
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.write_all(b"GET /big.bin HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    // Never read: the socket buffers fill and ferry's sends stall. The
    // response is given up after a second and still logged, with the bytes
    // that went out.
    let t = Instant::now();
    let line = f.wait_log("\"GET /big.bin\" 200");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let sent: u64 = line.split(' ').nth(4).unwrap().parse().unwrap();
    assert!(sent > 0 && sent < 64 << 20, "{line}");
    drop(s);
}
