//! ferry's own HTTP/2 layer under abuse, frame by frame over a real socket
//! (h2c with prior knowledge, RFC 9113 §3.3): the limits every HTTP/2
//! server needs, each as the client sees it.
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

mod common;
use common::Ferry;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const CONTINUATION: u8 = 9;
const END_STREAM: u8 = 1;
const END_HEADERS: u8 = 4;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let l = (payload.len() as u32).to_be_bytes();
    let mut f = vec![l[1], l[2], l[3], kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An HPACK block of literals without indexing, new names, no Huffman
/// (RFC 7541 §6.2.2); every length below 127.
fn block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (n, v) in fields {
        b.push(0);
        b.push(n.len() as u8);
        b.extend_from_slice(n.as_bytes());
        b.push(v.len() as u8);
        b.extend_from_slice(v.as_bytes());
    }
    b
}

fn get(path: &str) -> Vec<u8> {
    block(&[
        (":method", "GET"),
        (":scheme", "http"),
        (":authority", "localhost"),
        (":path", path),
    ])
}

struct Client {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    /// Connected, preface and `settings` sent.
    fn new(f: &Ferry, settings: &[(u16, u32)]) -> Client {
        let s = TcpStream::connect(f.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut c = Client { s, buf: Vec::new() };
        let mut p = Vec::new();
        for (id, v) in settings {
            p.extend_from_slice(&id.to_be_bytes());
            p.extend_from_slice(&v.to_be_bytes());
        }
        let mut out = PREFACE.to_vec();
        out.extend(frame(SETTINGS, 0, 0, &p));
        c.send(&out);
        c
    }

    fn send(&mut self, b: &[u8]) {
        self.s.write_all(b).unwrap();
    }

    /// The next frame: (kind, flags, stream, payload); `None` at the end.
    fn next(&mut self) -> Option<(u8, u8, u32, Vec<u8>)> {
        loop {
            if self.buf.len() >= 9 {
                let len = usize::from(self.buf[0]) << 16
                    | usize::from(self.buf[1]) << 8
                    | usize::from(self.buf[2]);
                if self.buf.len() >= 9 + len {
                    let h: Vec<u8> = self.buf.drain(..9 + len).collect();
                    let id = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
                    return Some((h[3], h[4], id, h[9..].to_vec()));
                }
            }
            let mut b = [0u8; 65536];
            match self.s.read(&mut b) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&b[..n]),
            }
        }
    }

    /// Frames until `want` matches one (returned), or the connection ends.
    fn until(&mut self, want: impl Fn(u8, u32) -> bool) -> Option<(u8, u8, u32, Vec<u8>)> {
        while let Some(f) = self.next() {
            if want(f.0, f.2) {
                return Some(f);
            }
        }
        None
    }
}

fn code(payload: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(payload[at..at + 4].try_into().unwrap())
}

fn serve() -> (tempfile::TempDir, Ferry) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.bin"), vec![7u8; 1 << 20]).unwrap();
    std::fs::write(dir.path().join("a.txt"), "hello").unwrap();
    let f = Ferry::start(&[
        "serve",
        dir.path().to_str().unwrap(),
        "--h2c",
        "--no-access-log",
    ]);
    (dir, f)
}

#[test]
fn a_request_is_answered_and_ping_is_acknowledged_rfc_9113_6_7() {
    let (_d, f) = serve();
    let mut c = Client::new(&f, &[]);
    let mut out = frame(HEADERS, END_STREAM | END_HEADERS, 1, &get("/a.txt"));
    out.extend(frame(PING, 0, 0, b"12345678"));
    c.send(&out);
    let (mut data, mut ping) = (None, None);
    while data.is_none() || ping.is_none() {
        match c.next().expect("the connection stays open") {
            f @ (DATA, _, 1, _) => data = Some(f),
            f @ (PING, ..) => ping = Some(f),
            _ => {}
        }
    }
    let (data, ping) = (data.unwrap(), ping.unwrap());
    assert_eq!(data.3, b"hello");
    assert_eq!(data.1 & END_STREAM, END_STREAM);
    assert_eq!((ping.1, &ping.3[..]), (1, &b"12345678"[..]));
}

#[test]
fn streams_beyond_max_concurrent_streams_are_refused_and_a_zero_window_holds_no_file() {
    let (_d, f) = serve();
    // SETTINGS_INITIAL_WINDOW_SIZE = 0: no stream may receive DATA, so every
    // stream stays open (RFC 9113 §6.9.2).
    let mut c = Client::new(&f, &[(4, 0)]);
    let mut out = Vec::new();
    for i in 0..130u32 {
        out.extend(frame(
            HEADERS,
            END_STREAM | END_HEADERS,
            1 + 2 * i,
            &get("/big.bin"),
        ));
    }
    c.send(&out);
    // §5.1.2: streams above SETTINGS_MAX_CONCURRENT_STREAMS (128) are refused
    // with REFUSED_STREAM (0x7); the 128 others are answered (HEADERS).
    let (mut refused, mut answered, mut data) = (Vec::new(), 0, 0);
    while refused.len() < 2 || answered < 128 {
        match c.next().expect("the connection stays open") {
            (RST_STREAM, _, id, p) => refused.push((id, code(&p, 0))),
            (HEADERS, ..) => answered += 1,
            (DATA, ..) => data += 1,
            _ => {}
        }
    }
    assert_eq!(refused, [(257, 7), (259, 7)]);
    // Every answer is out; a PING round trip lets anything sent after them
    // arrive too. No DATA came: a client that gives no window gets no body.
    c.send(&frame(PING, 0, 0, b"12345678"));
    while let Some(f) = c.next() {
        match f.0 {
            PING => break,
            DATA => data += 1,
            _ => {}
        }
    }
    assert_eq!(data, 0, "DATA frames sent into a zero window");
}

#[test]
fn rapid_reset_ends_the_connection_with_enhance_your_calm_cve_2023_44487() {
    let (_d, f) = serve();
    let mut c = Client::new(&f, &[(4, 0)]);
    let mut out = Vec::new();
    for i in 0..1000u32 {
        let id = 1 + 2 * i;
        out.extend(frame(
            HEADERS,
            END_STREAM | END_HEADERS,
            id,
            &get("/big.bin"),
        ));
        out.extend(frame(RST_STREAM, 0, id, &8u32.to_be_bytes()));
    }
    // The server may close while this is still being written.
    let _ = c.s.write_all(&out);
    let g = c.until(|k, _| k == GOAWAY).expect("GOAWAY");
    assert_eq!(code(&g.3, 4), 0xb, "ENHANCE_YOUR_CALM");
}

#[test]
fn a_continuation_flood_is_refused_before_it_is_kept_cve_2024_27316() {
    let (_d, f) = serve();
    let mut c = Client::new(&f, &[]);
    c.send(&frame(HEADERS, 0, 1, &get("/a.txt")));
    let filler = block(&[("x-filler", &"a".repeat(100))]);
    let mut goaway = None;
    for _ in 0..10_000 {
        let mut out = Vec::new();
        for _ in 0..100 {
            out.extend(frame(CONTINUATION, 0, 1, &filler));
        }
        if c.s.write_all(&out).is_err() {
            break;
        }
        c.s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 4096];
        if let Ok(n) = c.s.read(&mut b) {
            c.buf.extend_from_slice(&b[..n]);
        }
        c.s.set_nonblocking(false).unwrap();
        if c.buf.windows(2).any(|w| w == [0, GOAWAY]) {
            break;
        }
    }
    if let Some(g) = c.until(|k, _| k == GOAWAY) {
        goaway = Some(code(&g.3, 4));
    }
    assert_eq!(goaway, Some(0xb), "ENHANCE_YOUR_CALM long before 120 MB");
}

#[test]
fn malformed_requests_are_stream_errors_rfc_9113_8_1_1() {
    let (_d, f) = serve();
    let mut c = Client::new(&f, &[]);
    let cases: [Vec<(&str, &str)>; 4] = [
        // Uppercase field name (§8.2).
        vec![
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/a.txt"),
            ("Accept", "x"),
        ],
        // Connection-specific field (§8.2.2).
        vec![
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/a.txt"),
            ("connection", "close"),
        ],
        // No :path (§8.3.1).
        vec![(":method", "GET"), (":scheme", "http")],
        // Pseudo-header after a regular field (§8.3).
        vec![
            (":method", "GET"),
            ("accept", "x"),
            (":scheme", "http"),
            (":path", "/"),
        ],
    ];
    for (i, fields) in cases.iter().enumerate() {
        let id = 1 + 2 * i as u32;
        c.send(&frame(
            HEADERS,
            END_STREAM | END_HEADERS,
            id,
            &block(fields),
        ));
        let rst = c
            .until(|k, s| (k == RST_STREAM || k == HEADERS) && s == id)
            .expect("answer");
        assert_eq!(
            (rst.0, code(&rst.3, 0)),
            (RST_STREAM, 1),
            "case {i}: PROTOCOL_ERROR"
        );
    }
    // The connection still serves.
    c.send(&frame(
        HEADERS,
        END_STREAM | END_HEADERS,
        11,
        &get("/a.txt"),
    ));
    let data = c.until(|k, s| k == DATA && s == 11).expect("DATA");
    assert_eq!(data.3, b"hello");
}

#[test]
fn a_graceful_shutdown_serves_the_streams_sent_before_the_client_saw_it_rfc_9113_6_8() {
    let (_d, mut f) = serve();
    // Stream 1 stays open: its 1 MiB body waits on the stream's 64 KiB
    // window (the connection's is opened wide).
    let mut c = Client::new(&f, &[]);
    let mut out = frame(8, 0, 0, &(4u32 << 20).to_be_bytes());
    out.extend(frame(
        HEADERS,
        END_STREAM | END_HEADERS,
        1,
        &get("/big.bin"),
    ));
    c.send(&out);
    let mut body = 0;
    while body < 16_384 {
        if let (DATA, _, 1, p) = c.next().expect("the download begins") {
            body += p.len();
        }
    }
    std::process::Command::new("kill")
        .args(["-TERM", &f.child.id().to_string()])
        .status()
        .unwrap();
    // §6.8: the first GOAWAY takes every stream (2^31-1), and a PING times
    // the round trip.
    let (mut first, mut ping) = (None, None);
    while first.is_none() || ping.is_none() {
        match c.next().expect("the connection stays open") {
            (DATA, _, 1, p) => body += p.len(),
            (GOAWAY, _, 0, p) => first = Some((code(&p, 0), code(&p, 4))),
            (PING, 0, 0, p) => ping = Some(p),
            _ => {}
        }
    }
    assert_eq!(
        first,
        Some((0x7fff_ffff, 0)),
        "GOAWAY: last stream, NO_ERROR"
    );
    // A request the client sent before it read the GOAWAY is served.
    let mut out = frame(HEADERS, END_STREAM | END_HEADERS, 3, &get("/a.txt"));
    out.extend(frame(PING, 1, 0, &ping.unwrap()));
    c.send(&out);
    let (mut hello, mut last) = (None, None);
    while hello.is_none() || last.is_none() {
        match c.next().expect("the connection stays open") {
            (DATA, _, 1, p) => body += p.len(),
            (DATA, _, 3, p) => hello = Some(p),
            (GOAWAY, _, 0, p) => last = Some((code(&p, 0), code(&p, 4))),
            _ => {}
        }
    }
    assert_eq!(hello.as_deref(), Some(&b"hello"[..]));
    assert_eq!(last, Some((3, 0)), "the final GOAWAY names stream 3");
    // A stream after the final GOAWAY is not processed; the open download
    // finishes whole once the window allows it.
    let mut out = frame(HEADERS, END_STREAM | END_HEADERS, 5, &get("/a.txt"));
    out.extend(frame(8, 0, 1, &(2u32 << 20).to_be_bytes()));
    c.send(&out);
    let mut later = 0;
    while let Some(fr) = c.next() {
        match fr {
            (DATA, _, 1, p) => body += p.len(),
            (_, _, 5, _) => later += 1,
            _ => {}
        }
    }
    assert_eq!(body, 1 << 20, "the open download arrives whole");
    assert_eq!(later, 0, "nothing answers stream 5");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let status = rt.block_on(f.exit_within(Duration::from_secs(10), "ferry exits once drained"));
    assert!(status.success(), "{status:?}");
}

#[test]
fn files_arrive_whole_over_concurrent_streams_in_frames_within_the_default_size_rfc_9113_6_1() {
    let (d, f) = serve();
    // A length that is no multiple of a frame, bytes that show a shifted or
    // repeated frame.
    let body: Vec<u8> = (0..(3 << 20) + 12_345u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(d.path().join("pattern.bin"), &body).unwrap();
    // Windows opened wide (§6.9.2 SETTINGS_INITIAL_WINDOW_SIZE, §6.9 the
    // connection's), so DATA is limited by the write buffer only.
    let mut c = Client::new(&f, &[(0x4, 0x7fff_ffff)]);
    let mut out = frame(8, 0, 0, &(0x7fff_ffffu32 - 65_535).to_be_bytes());
    for id in [1, 3, 5] {
        out.extend(frame(
            HEADERS,
            END_STREAM | END_HEADERS,
            id,
            &get("/pattern.bin"),
        ));
    }
    c.send(&out);
    let mut got: [Vec<u8>; 3] = Default::default();
    let mut ended = 0;
    while ended < 3 {
        let (kind, flags, id, p) = c.next().expect("the downloads end");
        if kind == DATA {
            assert!(p.len() <= 16_384, "a DATA frame of {} bytes", p.len());
            got[(id / 2) as usize].extend_from_slice(&p);
            if flags & END_STREAM != 0 {
                ended += 1;
            }
        }
    }
    for g in &got {
        assert!(g == &body, "a body of {} bytes differs", g.len());
    }
}
