//! `ferry proxy` as a user runs it in front of an application: the real binary,
//! a tiny upstream speaking raw HTTP/1.1 on std threads, and raw client bytes.
//! An upstream that fails (`upstream`), fields on their way through
//! (`headers`), files ferry serves itself (`handoff`), bodies both ways
//! (`bodies`). The client, the upstream and their helpers live here.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "proxy/bodies.rs"]
mod bodies;
mod common;
#[path = "proxy/handoff.rs"]
mod handoff;
#[path = "proxy/headers.rs"]
mod headers;
#[path = "proxy/upstream.rs"]
mod upstream;
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
