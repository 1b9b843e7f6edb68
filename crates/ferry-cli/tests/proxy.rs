//! `ferry proxy` as a user runs it in front of an application: the real binary,
//! a tiny upstream speaking raw HTTP/1.1 on std threads, and raw client bytes.
//! An upstream that fails (`upstream`), fields on their way through
//! (`headers`), files ferry serves itself (`handoff`), bodies both ways
//! (`bodies`), kept upstream connections (`keepalive`) and upstream response
//! framing (`framing`). The client, the upstream and their helpers live here.
use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "proxy/bodies.rs"]
mod bodies;
mod common;
#[path = "proxy/framing.rs"]
mod framing;
#[path = "proxy/handoff.rs"]
mod handoff;
#[path = "proxy/headers.rs"]
mod headers;
#[path = "proxy/keepalive.rs"]
mod keepalive;
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

/// One keep-alive client connection to ferry: requests sent one at a time,
/// each response read by its framing, so a byte too many or too few shows
/// in the next one. Every read is bounded by a timeout.
struct Conn {
    r: BufReader<TcpStream>,
}

impl Conn {
    fn open(f: &Ferry) -> Conn {
        let s = TcpStream::connect(f.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Conn {
            r: BufReader::new(s),
        }
    }

    /// `METHOD path` with a Host, the connection kept open.
    fn request(&mut self, method: &str, path: &str) -> Reply {
        self.send(format!("{method} {path} HTTP/1.1\r\nhost: t\r\n\r\n").as_bytes())
    }

    fn send(&mut self, req: &[u8]) -> Reply {
        self.r.get_mut().write_all(req).unwrap();
        let mut head = String::new();
        loop {
            let mut line = String::new();
            self.r.read_line(&mut line).unwrap();
            assert!(!line.is_empty(), "closed before a whole head: {head:?}");
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let head = head.trim_end().to_owned();
        let status = &head[9..12];
        // RFC 9112 §6.3: no content after HEAD, 1xx, 204 or 304.
        let body = if req.starts_with(b"HEAD ") || ["204", "304"].contains(&status) {
            Vec::new()
        } else if header_in(&head, "transfer-encoding") == Some("chunked") {
            dechunk(&mut self.r)
        } else {
            let len = header_in(&head, "content-length")
                .unwrap_or_else(|| panic!("a keep-alive answer with no framing: {head}"));
            let mut b = vec![0; len.parse().unwrap()];
            self.r.read_exact(&mut b).unwrap();
            b
        };
        Reply { head, body }
    }
}

/// Whether `body` is a complete chunked body (RFC 9112 §7.1): every chunk
/// whole, then the last chunk and the end of the trailer section.
fn chunked_complete(mut body: &[u8]) -> bool {
    loop {
        let Some(eol) = find(body, b"\r\n") else {
            return false;
        };
        let line = String::from_utf8_lossy(&body[..eol]);
        let Ok(size) = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16) else {
            return false;
        };
        body = &body[eol + 2..];
        if size == 0 {
            return body == b"\r\n" || find(body, b"\r\n\r\n").is_some();
        }
        if body.len() < size + 2 {
            return false;
        }
        body = &body[size + 2..];
    }
}

/// A body's length and hash, to compare bodies without printing them.
fn digest(bytes: &[u8]) -> String {
    let mut h = DefaultHasher::new();
    h.write(bytes);
    format!("{} {:016x}", bytes.len(), h.finish())
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

/// What the upstream does with a request it has read.
enum Act {
    /// Writes these bytes and reads the next request on the connection.
    Keep(Vec<u8>),
    /// Writes these bytes and closes the connection.
    Close(Vec<u8>),
    /// Writes these bytes, then closes the connection without reading the
    /// next request as soon as it begins to arrive: a keep-alive timeout
    /// that fires just as the proxy reuses the connection.
    KeepThenDrop(Vec<u8>),
    /// Writes these bytes, then resets the connection (RST, `SO_LINGER` 0).
    Reset(Vec<u8>),
}

type Acts = dyn Fn(&Seen) -> Act + Send + Sync;

/// The application behind ferry: one thread per connection, every request
/// it reads recorded and handled by a closure, the connections it accepted
/// counted.
struct Upstream {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    accepted: Arc<AtomicUsize>,
}

impl Upstream {
    /// Answers each request with `answer`, then closes the connection.
    fn start(answer: impl Fn(&Seen) -> Vec<u8> + Send + Sync + 'static) -> Upstream {
        Upstream::acting(move |s| Act::Close(answer(s)))
    }

    /// Answers each request with `answer` and keeps the connection for the next.
    fn keep_alive(answer: impl Fn(&Seen) -> Vec<u8> + Send + Sync + 'static) -> Upstream {
        Upstream::acting(move |s| Act::Keep(answer(s)))
    }

    fn acting(act: impl Fn(&Seen) -> Act + Send + Sync + 'static) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let act: Arc<Acts> = Arc::new(act);
        let (sink, count) = (seen.clone(), accepted.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let (sink, act) = (sink.clone(), act.clone());
                std::thread::spawn(move || Upstream::connection(stream, &sink, &*act));
            }
        });
        Upstream {
            addr,
            seen,
            accepted,
        }
    }

    fn connection(stream: TcpStream, sink: &Mutex<Vec<Seen>>, act: &Acts) {
        let mut w = stream.try_clone().unwrap();
        let mut r = BufReader::new(stream);
        while let Some(seen) = Upstream::read_request(&mut r) {
            sink.lock().unwrap().push(seen.clone());
            match act(&seen) {
                Act::Keep(b) => {
                    if w.write_all(&b).is_err() {
                        return;
                    }
                }
                Act::Close(b) => {
                    let _ = w.write_all(&b);
                    return;
                }
                Act::KeepThenDrop(b) => {
                    let _ = w.write_all(&b);
                    // Peeked, not read: closing with the request unread
                    // resets the connection.
                    let _ = r.get_ref().peek(&mut [0; 1]);
                    return;
                }
                Act::Reset(b) => {
                    let _ = w.write_all(&b);
                    let _ = rustix::net::sockopt::set_socket_linger(&w, Some(Duration::ZERO));
                    return;
                }
            }
        }
    }

    /// The next request on the connection; `None` once it is closed.
    fn read_request(r: &mut BufReader<TcpStream>) -> Option<Seen> {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return None; // A pooled connection closed unused.
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let head = head.trim_end().to_owned();
        let body = if header_in(&head, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            dechunk(r)
        } else {
            let len = header_in(&head, "content-length").map_or(0, |v| v.parse().unwrap());
            let mut b = vec![0; len];
            r.read_exact(&mut b).ok()?;
            b
        };
        Some(Seen { head, body })
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many connections ferry opened to it so far.
    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
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
