//! The `ferry` binary started for a test: its address, its stderr lines,
//! killed on drop.
#![allow(dead_code)] // Each test file uses its own part.

use std::io::{BufRead, BufReader, Write as _};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `ferry`, killed on drop.
pub(crate) struct Ferry {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    /// `"http"` or `"https"`, as the address line announced it.
    pub(crate) scheme: &'static str,
    pub(crate) log: Arc<Mutex<Vec<String>>>,
    /// stderr lines printed before the address line (other listeners').
    pub(crate) early: Vec<String>,
}

impl Ferry {
    /// Starts `ferry ARGS --listen 127.0.0.1:0` and waits for the line that
    /// names its address ("ferry: … on http://ADDR/", or `https://` with TLS);
    /// the lines before it are kept in `early`, later ones collected in `log`.
    pub(crate) fn start(args: &[&str]) -> Ferry {
        Ferry::start_env(args, &[])
    }

    /// As [`Ferry::start`], with these environment variables set too
    /// (`FERRY_LOG`, say).
    pub(crate) fn start_env(args: &[&str], env: &[(&str, &str)]) -> Ferry {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(args)
            .envs(env.iter().copied())
            .args(["--listen", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        // Other lines (the metrics listener's, the upstream's URL, the
        // --redirect-http listener's) may come first.
        let announced = |l: &str| {
            ["http", "https"]
                .into_iter()
                .find(|scheme| l.contains(&format!(" on {scheme}://")))
        };
        let mut before = Vec::new();
        let first = lines
            .by_ref()
            .map_while(Result::ok)
            .find(|l| {
                before.push(l.clone());
                announced(l).is_some()
            })
            .expect("ferry printed its address");
        let scheme = announced(&first).expect("found above");
        let url = first
            .rsplit(&format!(" on {scheme}://"))
            .next()
            .unwrap_or_else(|| panic!("no URL in {first:?}"));
        let addr = url.trim_end_matches('/').parse().unwrap();
        before.pop(); // The address line itself.
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for l in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(l);
            }
        });
        Ferry {
            child,
            addr,
            scheme,
            log,
            early: before,
        }
    }

    /// Waits up to `limit` for the process to exit; panics saying `what` if
    /// it is still running then.
    pub(crate) async fn exit_within(&mut self, limit: Duration, what: &str) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Ferry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ferry hash-password --algorithm ALGORITHM` with `stdin` on its standard
/// input: (exit code, stdout trimmed, stderr).
pub(crate) fn hash_password(stdin: &str, algorithm: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["hash-password", "--algorithm", algorithm])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
