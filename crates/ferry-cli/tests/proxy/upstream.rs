//! An upstream that refuses, closes without an answer or stays silent: 502 and
//! 504 without its address, and a health check ferry answers itself.
use super::{Ferry, Upstream};
use std::net::TcpListener;
use std::time::{Duration, Instant};

#[test]
fn refused_upstream_is_502_without_its_address() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let f = Ferry::proxy(&format!("http://127.0.0.1:{port}"), &[]);
    let r = f.get("/page", "");
    assert_eq!(r.status(), 502, "{}", r.all());
    assert_eq!(r.text(), "502 Bad Gateway\n");
    assert!(!r.all().contains(&port.to_string()), "{}", r.all());
    // The operator still learns why, on stderr.
    f.wait_log("upstream error");
}

#[test]
fn the_health_check_is_answered_by_ferry_even_when_the_upstream_is_down() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let f = Ferry::proxy(
        &format!("http://127.0.0.1:{port}"),
        &["--health-check", "/healthz"],
    );
    let r = f.get("/healthz", "");
    assert_eq!(
        (r.status(), r.text().as_str()),
        (200, "ok\n"),
        "{}",
        r.all()
    );
    assert_eq!(f.get("/healthz/more", "").status(), 502);
}

#[test]
fn upstream_closing_without_an_answer_is_502() {
    let up = Upstream::start(|_| Vec::new());
    let f = Ferry::proxy(&up.url(), &[]);
    let r = f.get("/page", "");
    assert_eq!((r.status(), r.text().as_str()), (502, "502 Bad Gateway\n"));
    assert!(
        !r.all().contains(&up.addr.port().to_string()),
        "{}",
        r.all()
    );
}

#[test]
fn silent_upstream_is_504_after_the_timeout() {
    let up = Upstream::start(|_| {
        std::thread::sleep(Duration::from_secs(10));
        Vec::new()
    });
    let f = Ferry::proxy(&up.url(), &["--upstream-timeout", "1"]);
    let start = Instant::now();
    let r = f.get("/slow", "");
    let took = start.elapsed();
    assert_eq!(r.status(), 504, "{}", r.all());
    assert_eq!(r.text(), "504 Gateway Timeout\n");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(up.seen().len(), 1, "the request did reach the upstream");
}
