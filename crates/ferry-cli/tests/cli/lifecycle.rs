//! Restarts and signals: ETags that survive a restart, SIGTERM draining
//! in-flight responses within `--drain-timeout`, SIGHUP never fatal.
use super::{header, site, Ferry};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

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
fn sigterm_answers_the_first_request_of_a_fresh_connection_and_closes_idle_ones() {
    let d = site();
    let mut f = Ferry::serve(d.path(), &["--no-access-log"]);
    // Kept alive after one exchange: idle when the drain begins.
    let mut idle = TcpStream::connect(f.addr).unwrap();
    idle.write_all(b"GET /a.txt HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    let mut b = [0u8; 4096];
    assert!(idle.read(&mut b).unwrap() > 0);
    // Connected (and accepted) before the drain, its request still to come,
    // as after a slow TLS handshake.
    let mut fresh = TcpStream::connect(f.addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    f.signal_term();
    std::thread::sleep(Duration::from_millis(300));
    fresh
        .write_all(b"GET /a.txt HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    fresh.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        header(&answer, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close")),
        "{answer}"
    );
    let mut rest = Vec::new();
    idle.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "the idle connection closed without a word");
    let status = f.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn once_ferry_says_it_is_shutting_down_a_new_connection_is_refused() {
    let d = site();
    std::fs::write(d.path().join("big.bin"), vec![1u8; 20_000_000]).unwrap();
    let mut f = Ferry::serve(d.path(), &["--no-access-log", "--drain-timeout", "3"]);
    // Downloads in flight that stall keep the drain (and the workers) going.
    let stalled: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(f.addr).unwrap();
            s.write_all(b"GET /big.bin HTTP/1.1\r\nhost: t\r\n\r\n")
                .unwrap();
            let mut first = [0u8; 4096];
            s.read_exact(&mut first).unwrap();
            s
        })
        .collect();
    f.signal_term();
    f.wait_log("shutting down");
    let e = TcpStream::connect(f.addr).expect_err("a connection after the drain began");
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
    drop(stalled);
    assert!(f.child.wait().unwrap().success());
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
