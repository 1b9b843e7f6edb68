//! What an operator sees: the access log (stderr, a file, JSON, reopened on
//! SIGHUP), Prometheus metrics and `FERRY_LOG` tracing.
use super::{header, site, Ferry};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

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
