//! Byte ranges on the wire (RFC 9110 §14): single, multipart, 416, If-Range.
use super::support::*;
use std::time::{Duration, SystemTime};

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 253) as u8).collect()
}

#[tokio::test]
async fn single_range_is_206_with_exact_bytes_and_validators() {
    let d = data(10_000);
    let fx = Fixture::new().file("f.bin", &d);
    let srv = TestServer::fs(fx.root()).await;
    let full = srv.get("/f.bin", &[]).await;
    for (spec, want) in [
        ("bytes=0-499", 0..500),
        ("bytes=500-999", 500..1000),
        ("bytes=-500", 9500..10_000),
        ("bytes=9500-", 9500..10_000),
        ("bytes=9990-99999", 9990..10_000),
        ("bytes=500-600,601-999", 500..1000),
        ("bytes=500-700,601-999", 500..1000),
    ] {
        let r = srv.get("/f.bin", &[("range", spec)]).await;
        assert_eq!(r.status, 206, "{spec}");
        assert_eq!(
            r.h("content-range"),
            format!("bytes {}-{}/10000", want.start, want.end - 1),
            "{spec}"
        );
        assert_eq!(r.h("content-length"), (want.end - want.start).to_string());
        assert!(r.body == d[want.clone()], "{spec}: wrong bytes");
        assert_eq!(r.h("etag"), full.h("etag"));
        assert_eq!(r.h("last-modified"), full.h("last-modified"));
    }
}

/// Parses a multipart/byteranges body byte-exactly: every part's headers, range
/// and bytes, and nothing before, between or after but the delimiters.
fn parse_multipart(
    body: &[u8],
    boundary: &str,
    len: usize,
) -> Vec<(String, std::ops::Range<usize>, Vec<u8>)> {
    let mut parts = Vec::new();
    let delim = format!("--{boundary}");
    let mut rest = body
        .strip_prefix(delim.as_bytes())
        .expect("body starts with the delimiter");
    loop {
        if rest == b"--\r\n" {
            return parts;
        }
        rest = rest.strip_prefix(b"\r\n").expect("CRLF after delimiter");
        let end = find(rest, b"\r\n\r\n").expect("part head");
        let head = std::str::from_utf8(&rest[..end]).unwrap();
        let mut ct = String::new();
        let mut range = None;
        for line in head.split("\r\n") {
            let (k, v) = line.split_once(": ").unwrap();
            match k.to_ascii_lowercase().as_str() {
                "content-type" => ct = v.to_owned(),
                "content-range" => {
                    let v = v.strip_prefix("bytes ").unwrap();
                    let (r, total) = v.split_once('/').unwrap();
                    assert_eq!(total.parse::<usize>().unwrap(), len);
                    let (a, b) = r.split_once('-').unwrap();
                    range = Some(a.parse::<usize>().unwrap()..b.parse::<usize>().unwrap() + 1);
                }
                other => panic!("unexpected part header {other}"),
            }
        }
        let range = range.expect("Content-Range in every part");
        rest = &rest[end + 4..];
        let bytes = rest[..range.len()].to_vec();
        rest = &rest[range.len()..];
        rest = rest
            .strip_prefix(format!("\r\n{delim}").as_bytes())
            .expect("delimiter after part");
        parts.push((ct, range, bytes));
    }
}

#[tokio::test]
async fn multipart_body_is_byte_exact() {
    let d = data(10_000);
    let fx = Fixture::new().file("f.txt", &d);
    let srv = TestServer::fs(fx.root()).await;
    let r = srv
        .get("/f.txt", &[("range", "bytes=0-0, -1, 100-199,5000-5099")])
        .await;
    assert_eq!(r.status, 206);
    let ct = r.h("content-type");
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .expect(ct)
        .to_owned();
    assert_eq!(
        r.h("content-length").parse::<usize>().unwrap(),
        r.body.len()
    );
    assert!(r.header("content-range").is_none());
    let parts = parse_multipart(&r.body, &boundary, d.len());
    let ranges: Vec<_> = parts.iter().map(|p| p.1.clone()).collect();
    // RFC 9110 §14.6: the parts come in the order the range-specs were asked.
    assert_eq!(ranges, vec![0..1, 9999..10_000, 100..200, 5000..5100]);
    for (ct, range, bytes) in parts {
        assert_eq!(ct, "text/plain; charset=utf-8");
        assert!(bytes == d[range], "part bytes differ");
    }
    // A fresh boundary per response.
    let again = srv.get("/f.txt", &[("range", "bytes=0-0,-1")]).await;
    assert_ne!(again.h("content-type"), r.h("content-type"));
}

#[tokio::test]
async fn unsatisfiable_is_416_with_current_length() {
    let fx = Fixture::new().file("f.bin", data(100)).file("empty", "");
    let srv = TestServer::fs(fx.root()).await;
    for spec in ["bytes=100-", "bytes=200-300", "bytes=100-200,300-400"] {
        let r = srv.get("/f.bin", &[("range", spec)]).await;
        assert_eq!(
            (r.status, r.h("content-range")),
            (416, "bytes */100"),
            "{spec}"
        );
    }
    // A zero-length representation never gets 206.
    assert_eq!(
        srv.get("/empty", &[("range", "bytes=0-")]).await.status,
        416
    );
    assert_eq!(
        srv.get("/empty", &[("range", "bytes=-5")]).await.status,
        200
    );
}

#[tokio::test]
async fn ignored_ranges_give_the_full_200() {
    let fx = Fixture::new().file("f.bin", data(100));
    let srv = TestServer::fs(fx.root()).await;
    for spec in [
        "bytes=",
        "bytes=-",
        "bytes=1-0",
        "items=0-5",
        "bytes=abc",
        "bytes=--1",
    ] {
        let r = srv.get("/f.bin", &[("range", spec)]).await;
        assert_eq!((r.status, r.body.len()), (200, 100), "{spec}");
        assert_eq!(r.h("accept-ranges"), "bytes");
    }
    let many: Vec<String> = (0..10_000)
        .map(|i| format!("{}-{}", i % 100, i % 100))
        .collect();
    let r = srv
        .get("/f.bin", &[("range", &format!("bytes={}", many.join(",")))])
        .await;
    assert!(
        matches!(r.status, 200 | 416) && r.body.len() <= 100,
        "{}",
        r.status
    );
}

#[tokio::test]
async fn abusive_overlapping_ranges_never_amplify() {
    let d = data(1000);
    let fx = Fixture::new().file("f.bin", &d);
    let srv = TestServer::fs(fx.root()).await;
    let spec = format!("bytes={}", vec!["0-999"; 50].join(","));
    let r = srv.get("/f.bin", &[("range", &spec)]).await;
    assert!(
        r.body.len() <= 1000 + 200,
        "sent {} bytes for a 1000-byte file",
        r.body.len()
    );
}

#[tokio::test]
async fn if_range_rules() {
    let d = data(1000);
    let fx = Fixture::new().file("f.bin", &d);
    let srv = TestServer::fs(fx.root()).await;
    let full = srv.get("/f.bin", &[]).await;
    let (etag, lm) = (
        full.h("etag").to_owned(),
        full.h("last-modified").to_owned(),
    );
    let range = ("range", "bytes=0-9");
    assert_eq!(
        srv.get("/f.bin", &[range, ("if-range", &etag)])
            .await
            .status,
        206
    );
    assert_eq!(
        srv.get("/f.bin", &[range, ("if-range", &lm)]).await.status,
        206
    );
    assert_eq!(
        srv.get("/f.bin", &[range, ("if-range", "\"stale\"")])
            .await
            .status,
        200
    );
    let weak = format!("W/{etag}");
    assert_eq!(
        srv.get("/f.bin", &[range, ("if-range", &weak)])
            .await
            .status,
        200
    );
    assert_eq!(
        srv.get(
            "/f.bin",
            &[range, ("if-range", "Sun, 06 Nov 1994 08:49:37 GMT")]
        )
        .await
        .status,
        200
    );
    // Without Range, If-Range is ignored.
    assert_eq!(
        srv.get("/f.bin", &[("if-range", "\"stale\"")]).await.status,
        200
    );
    // Preconditions come first (§13.2.2 step 5).
    assert_eq!(
        srv.get("/f.bin", &[range, ("if-none-match", &etag)])
            .await
            .status,
        304
    );
    assert_eq!(
        srv.get("/f.bin", &[range, ("if-match", "\"x\"")])
            .await
            .status,
        412
    );
}

#[tokio::test]
async fn if_range_date_needs_a_strong_last_modified() {
    let fx = Fixture::new().file("fresh.bin", data(100));
    // Modified "now": Last-Modified is weak (§8.8.2.2), so a date If-Range never matches.
    set_mtime(
        &fx.path("fresh.bin"),
        SystemTime::now() + Duration::from_millis(500),
    );
    let srv = TestServer::fs(fx.root()).await;
    let lm = srv
        .get("/fresh.bin", &[])
        .await
        .h("last-modified")
        .to_owned();
    let r = srv
        .get("/fresh.bin", &[("range", "bytes=0-9"), ("if-range", &lm)])
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn head_with_range_gets_the_206_head() {
    let fx = Fixture::new().file("f.bin", data(100));
    let srv = TestServer::fs(fx.root()).await;
    let wire = srv
        .raw(b"HEAD /f.bin HTTP/1.1\r\nhost: t\r\nrange: bytes=0-9\r\nconnection: close\r\n\r\n")
        .await;
    let r = Resp::parse(&wire);
    assert_eq!(
        (r.status, r.h("content-length"), r.body.len()),
        (206, "10", 0)
    );
}

/// A sparse file past 4 GiB: offsets beyond 2^32 are right and memory stays flat.
#[tokio::test]
async fn ranges_past_four_gib() {
    let fx = Fixture::new();
    let p = fx.path("huge.bin");
    let f = std::fs::File::create(&p).unwrap();
    let len: u64 = (5 << 30) + 12_345;
    f.set_len(len).unwrap();
    use std::os::unix::fs::FileExt;
    let at = (4u64 << 30) + 7;
    f.write_all_at(b"past-four-gib", at).unwrap();
    drop(f);
    let srv = TestServer::fs(fx.root()).await;
    let spec = format!("bytes={}-{}", at, at + 12);
    let r = srv.get("/huge.bin", &[("range", &spec)]).await;
    assert_eq!(r.status, 206);
    assert_eq!(
        r.h("content-range"),
        format!("bytes {}-{}/{len}", at, at + 12)
    );
    assert_eq!(r.body, b"past-four-gib");
    let r = srv.get("/huge.bin", &[("range", "bytes=-5")]).await;
    assert_eq!(
        r.h("content-range"),
        format!("bytes {}-{}/{len}", len - 5, len - 1)
    );
}

/// Streams 1 GiB of the sparse file and checks the process's RSS stays flat.
#[tokio::test]
async fn memory_stays_flat_while_streaming_a_huge_file() {
    let fx = Fixture::new();
    let p = fx.path("huge.bin");
    std::fs::File::create(&p).unwrap().set_len(5 << 30).unwrap();
    let srv = TestServer::fs(fx.root()).await;
    let rss_before = rss_kib();
    let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(b"GET /huge.bin HTTP/1.1\r\nhost: t\r\nrange: bytes=4294967296-5368709119\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    let mut peak = 0;
    loop {
        let n = s.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        total += n as u64;
        if total % (64 << 20) < n as u64 {
            peak = peak.max(rss_kib());
        }
    }
    assert!(total > 1 << 30);
    assert!(
        peak < rss_before + 64 * 1024,
        "RSS grew from {rss_before} KiB to {peak} KiB"
    );
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}
