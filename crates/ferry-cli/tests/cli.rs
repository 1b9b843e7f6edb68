//! The `ferry` binary as a user runs it: flags, settings and their errors
//! (`config`), sites by Host and SIGHUP reloads (`sites`), timeouts and
//! limits (`limits`), access log, metrics and tracing (`logs`), restarts and
//! shutdown (`lifecycle`), the site policy's settings (`policy`). The
//! helpers every module uses live here.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
#[path = "cli/config.rs"]
mod config;
#[path = "cli/lifecycle.rs"]
mod lifecycle;
#[path = "cli/limits.rs"]
mod limits;
#[path = "cli/logs.rs"]
mod logs;
#[path = "cli/policy.rs"]
mod policy;
#[path = "cli/sites.rs"]
mod sites;
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

/// One response from a keep-alive connection: its head, and a body of its
/// Content-Length.
fn read_response(s: &mut TcpStream) -> (String, String) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let len = header(&head, "content-length").map_or(0, |v| v.parse().unwrap());
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    (head, String::from_utf8(body).unwrap())
}

/// The same request bytes again and again on one connection are answered
/// from what ferry remembers of the head (parsed once, then reused), and
/// each answer is still decided afresh: a file changed between two of them
/// is seen by the next, for a GET and for a conditional GET alike.
#[test]
fn a_request_repeated_on_one_connection_sees_the_file_change() {
    let d = site();
    let f = Ferry::serve(d.path(), &[]);
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let get = b"GET /a.txt HTTP/1.1\r\nhost: t\r\n\r\n";
    let mut etag = String::new();
    for _ in 0..4 {
        s.write_all(get).unwrap();
        let (head, body) = read_response(&mut s);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(body, "hello");
        etag = header(&head, "etag").unwrap().to_owned();
    }
    std::fs::write(d.path().join("a.txt"), "changed!").unwrap();
    s.write_all(get).unwrap();
    let (head, body) = read_response(&mut s);
    assert_eq!(body, "changed!", "{head}");
    let new_tag = header(&head, "etag").unwrap().to_owned();
    assert_ne!(new_tag, etag);

    let inm = format!("GET /a.txt HTTP/1.1\r\nhost: t\r\nif-none-match: {new_tag}\r\n\r\n");
    for _ in 0..4 {
        s.write_all(inm.as_bytes()).unwrap();
        let (head, body) = read_response(&mut s);
        assert!(head.starts_with("HTTP/1.1 304"), "{head}");
        assert_eq!(body, "");
    }
    std::fs::write(d.path().join("a.txt"), "changed again").unwrap();
    s.write_all(inm.as_bytes()).unwrap();
    let (head, body) = read_response(&mut s);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, "changed again");
}
