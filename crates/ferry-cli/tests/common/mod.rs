//! The `ferry` binary started for a test: its address, its stderr lines,
//! killed on drop.
#![allow(dead_code)] // Each test file uses its own part.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// A running `ferry`, killed on drop.
pub(crate) struct Ferry {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    pub(crate) log: Arc<Mutex<Vec<String>>>,
}

impl Ferry {
    /// Starts `ferry ARGS --listen 127.0.0.1:0` and waits for the line that
    /// names its address ("ferry: … on http://ADDR/"); later stderr lines are
    /// collected in `log`.
    pub(crate) fn start(args: &[&str]) -> Ferry {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        // Other lines (the metrics listener's, the upstream's URL) may come first.
        let first = lines
            .by_ref()
            .map_while(Result::ok)
            .find(|l| l.contains(" on http://"))
            .expect("ferry printed its address");
        let url = first
            .rsplit(" on http://")
            .next()
            .unwrap_or_else(|| panic!("no URL in {first:?}"));
        let addr = url.trim_end_matches('/').parse().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for l in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(l);
            }
        });
        Ferry { child, addr, log }
    }
}

impl Drop for Ferry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
