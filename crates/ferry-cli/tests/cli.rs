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
