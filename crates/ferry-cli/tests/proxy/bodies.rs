//! Request and response bodies through the proxy: uploads held whole (in
//! memory, then spooled) or streamed on, and a GiB each way in flat memory.
use super::{digest, header_in, response, Ferry, Reply, Upstream};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

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
fn a_streamed_chunked_body_over_the_limit_is_413() {
    // With --no-request-buffering the body is counted as it streams on:
    // past --max-body-size the client gets 413 and the upstream connection
    // is dropped mid-body, whether or not the length was declared.
    let up = Upstream::start(|s| response("200 OK", &[], digest(&s.body).as_bytes()));
    let f = Ferry::proxy(
        &up.url(),
        &["--no-request-buffering", "--max-body-size", "1k"],
    );
    let body = vec![b'z'; 4096];
    let r = f.send(&chunked_upload(&body));
    assert_eq!(r.status(), 413, "{}", r.all());
    let mut req = b"POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: 4096\r\n\r\n".to_vec();
    req.extend_from_slice(&body);
    assert_eq!(f.send(&req).status(), 413);
    // Under the limit it passes.
    let r = f.send(&chunked_upload(&body[..1000]));
    assert_eq!((r.status(), r.text()), (200, digest(&body[..1000])));
}

#[test]
fn an_app_that_answers_before_reading_the_body_is_heard() {
    // An app that refuses an upload from its head alone (a 403, a 413)
    // answers and closes without reading the body; ferry's write of the
    // held body then fails, and the app's answer is what the client gets,
    // not a 502.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut w = stream.try_clone().unwrap();
            let mut r = BufReader::new(stream);
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let _ = w.write_all(&response(
                "403 Forbidden",
                &[("connection", "close")],
                b"nope",
            ));
            let _ = w.shutdown(std::net::Shutdown::Write);
            // Keep reading a little, as gunicorn does not: this test is
            // about the answer, the next one about the reset.
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let f = Ferry::proxy(&format!("http://{up}"), &[]);
    let body = vec![b'u'; 8 << 20];
    let mut req = format!(
        "POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let r = f.send(&req);
    assert_eq!(
        (r.status(), r.text()),
        (403, "nope".to_owned()),
        "{}",
        r.all()
    );
}
