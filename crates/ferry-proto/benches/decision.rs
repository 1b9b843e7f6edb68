//! The pure decision path per request, in ns: headers in, `Plan` out.
//!
//! `cargo bench -p ferry-proto` (criterion). The server adds I/O around this; the
//! numbers here are what the RFC 9110 logic itself costs.
#![allow(missing_docs)] // criterion_group! generates an undocumented fn.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ferry_proto::{plan, range, EntityTag, Meta};
use http::{HeaderMap, HeaderValue, Method};
use std::time::{Duration, UNIX_EPOCH};

fn headers(fields: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in fields {
        h.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

fn decision(c: &mut Criterion) {
    let mtime = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
    let now = mtime + Duration::from_secs(3600);
    let meta = Meta {
        len: 100 << 20,
        etag: Some(EntityTag::from_len_mtime(100 << 20, mtime)),
        last_modified: Some(mtime),
        coded: false,
    };
    let etag = meta.etag.as_ref().unwrap().to_header_value();
    let etag = etag.to_str().unwrap().to_owned();
    let lm = ferry_proto::date::fmt_http_date(mtime);
    let cases = [
        ("plain GET", headers(&[])),
        ("304 If-None-Match", headers(&[("if-none-match", &etag)])),
        (
            "304 If-Modified-Since",
            headers(&[("if-modified-since", &lm)]),
        ),
        (
            "304 If-None-Match list",
            headers(&[("if-none-match", &format!("\"a\", W/\"b\", {etag}"))]),
        ),
        ("412 If-Match", headers(&[("if-match", "\"other\"")])),
        (
            "206 single range",
            headers(&[("range", "bytes=1000000-1000999")]),
        ),
        (
            "206 If-Range + range",
            headers(&[("range", "bytes=0-99"), ("if-range", &etag)]),
        ),
        (
            "206 multipart",
            headers(&[("range", "bytes=0-9,100-199,-50")]),
        ),
    ];
    let mut g = c.benchmark_group("plan");
    for (name, h) in &cases {
        g.bench_function(*name, |b| {
            b.iter(|| plan(black_box(&Method::GET), black_box(h), black_box(&meta), now))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("parse");
    g.bench_function("HTTP-date", |b| {
        b.iter(|| ferry_proto::date::parse_http_date(black_box(lm.as_bytes())))
    });
    g.bench_function("Range, 3 specs", |b| {
        b.iter(|| range::resolve(black_box(b"bytes=0-9,100-199,-50"), 100 << 20))
    });
    g.bench_function("ETag from length and mtime", |b| {
        b.iter(|| EntityTag::from_len_mtime(black_box(1024), black_box(mtime)))
    });
    g.finish();
}

criterion_group!(benches, decision);
criterion_main!(benches);
