//! Invariants of the final answer: what ferry sends, not what `plan` said.
//!
//! [`final_answer`] builds the response the library sends (through the same
//! `plan` and `respond::build` as every entry point) for a request head and a
//! representation's metadata, over an in-memory entity whose bytes are a known
//! pattern, collects the body and asserts:
//!
//! - no body on 304 or for HEAD, and HEAD has the status and length of GET;
//! - Content-Length equals the bytes of the body;
//! - every Content-Range (of a 206, of each multipart part, of a 416) lies
//!   inside the representation, and the bytes are the ones it names;
//! - 416 only when the one Range field is unsatisfiable;
//! - Content-Encoding only on a 200 or single-part 206 of a coded
//!   representation, never on multipart/byteranges;
//! - 405 exactly for methods other than GET and HEAD.
//!
//! A proptest drives it on stable, and `fuzz/fuzz_targets/answer.rs` is a
//! two-line shell around [`fuzz_request`]. Only with the `test-util` feature.
use crate::respond::{self, Extra};
use crate::{Body, Entity, Source};
use bytes::{Bytes, BytesMut};
use ferry_proto::range::{resolve, Resolved};
use ferry_proto::{plan, ContentCoding, EntityTag, Meta};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode};
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Bodies longer than this are not collected; their exact size hint is
/// compared with Content-Length instead (a representation may be 16 EiB).
const COLLECT_MAX: u64 = 1 << 20;

/// The byte at `offset` of the pattern entity.
fn pattern(offset: u64) -> u8 {
    (offset % 251) as u8
}

/// The response ferry sends, with its body collected when it is short.
#[derive(Debug)]
#[non_exhaustive]
pub struct Answer {
    /// Status and headers as sent.
    pub head: Response<()>,
    /// The body bytes; `None` when longer than 1 MiB (not collected).
    pub body: Option<Bytes>,
}

/// Builds and checks the final answer to `method` with `headers` for a
/// representation described by `meta` (its `coded` flag makes it a gzip
/// variant), of type `content_type`, at time `now`.
///
/// # Panics
///
/// When an invariant listed in the [module docs](self) does not hold: that is
/// what it is for.
pub fn final_answer(
    method: &Method,
    headers: &HeaderMap,
    meta: &Meta,
    content_type: Option<&HeaderValue>,
    now: SystemTime,
) -> Answer {
    let answer = answer(method, headers, meta, content_type, now);
    check(method, headers, meta, &answer);
    if method == Method::HEAD {
        let get = answer_for_get(headers, meta, content_type, now);
        assert_eq!(
            answer.head.status(),
            get.head.status(),
            "HEAD takes the GET path"
        );
        let (h, g) = (answer.head.headers(), get.head.headers());
        for name in [
            header::CONTENT_LENGTH,
            header::CONTENT_RANGE,
            header::CONTENT_ENCODING,
        ] {
            assert_eq!(h.get(&name), g.get(&name), "HEAD and GET differ in {name}");
        }
    }
    answer
}

fn answer_for_get(
    headers: &HeaderMap,
    meta: &Meta,
    content_type: Option<&HeaderValue>,
    now: SystemTime,
) -> Answer {
    let a = answer(&Method::GET, headers, meta, content_type, now);
    check(&Method::GET, headers, meta, &a);
    a
}

/// The response, as the entry points build it: the 405 check first, then
/// `plan` over the entity's metadata, then `respond::build`.
fn answer(
    method: &Method,
    headers: &HeaderMap,
    meta: &Meta,
    content_type: Option<&HeaderValue>,
    now: SystemTime,
) -> Answer {
    let res = respond::refuse_method(method, now, true).unwrap_or_else(|| {
        let mut entity = Entity::new(meta.len, PatternSource);
        if let Some(tag) = &meta.etag {
            entity = entity.etag(tag.clone());
        }
        if let Some(t) = meta.last_modified {
            entity = entity.last_modified(t);
        }
        if let Some(ct) = content_type {
            entity = entity.content_type(ct.clone());
        }
        if meta.coded {
            entity = entity.coding(ContentCoding::Gzip).vary_encoding(true);
        }
        assert_eq!(entity.meta(), meta, "the entity carries the metadata given");
        let plan = plan(method, headers, entity.meta(), now);
        respond::build(
            plan,
            &entity,
            method == Method::HEAD,
            now,
            &Extra::default(),
        )
    });
    let (parts, body) = res.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .map(|v| v.to_str().ok().and_then(|s| s.parse::<u64>().ok()))
        .map(|n| n.expect("Content-Length is a decimal number"));
    let hint = http_body::Body::size_hint(&body);
    // HEAD's Content-Length is the one GET would send, over an empty body.
    let declared = declared.filter(|_| method != Method::HEAD);
    let body = if hint.upper().is_some_and(|n| n <= COLLECT_MAX) {
        let bytes = collect(body);
        assert_eq!(hint.exact(), Some(bytes.len() as u64), "size hint is exact");
        Some(bytes)
    } else {
        assert_eq!(
            hint.exact(),
            declared,
            "a long body's exact size is its Content-Length"
        );
        None
    };
    if let (Some(n), Some(b)) = (declared, &body) {
        assert_eq!(
            n,
            b.len() as u64,
            "Content-Length equals the bytes of the body"
        );
    }
    Answer {
        head: Response::from_parts(parts, ()),
        body,
    }
}

/// Reads an in-memory body to the end; it is never pending.
fn collect(mut body: Body) -> Bytes {
    let mut cx = Context::from_waker(Waker::noop());
    let mut out = BytesMut::new();
    loop {
        match http_body::Body::poll_frame(Pin::new(&mut body), &mut cx) {
            Poll::Ready(None) => return out.freeze(),
            Poll::Ready(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    out.extend_from_slice(&data);
                }
            }
            Poll::Ready(Some(Err(e))) => panic!("in-memory body failed: {e}"),
            Poll::Pending => panic!("in-memory body was pending"),
        }
    }
}

/// Asserts the invariants of the final answer.
fn check(method: &Method, headers: &HeaderMap, meta: &Meta, a: &Answer) {
    let status = a.head.status();
    let h = a.head.headers();
    let len = meta.len;
    let allowed = method == Method::GET || method == Method::HEAD;
    assert_eq!(
        status == StatusCode::METHOD_NOT_ALLOWED,
        !allowed,
        "{method}: {status}"
    );
    if !allowed {
        assert_eq!(h[header::ALLOW], "GET, HEAD");
        return;
    }
    let empty = a.body.as_ref().is_some_and(|b| b.is_empty());
    if method == Method::HEAD || status == StatusCode::NOT_MODIFIED {
        assert!(empty, "no body on 304 or HEAD ({status})");
    }
    let ct = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let multipart = ct.starts_with("multipart/byteranges");
    let encoded = h.contains_key(header::CONTENT_ENCODING);
    if multipart {
        assert!(!encoded, "no Content-Encoding on multipart/byteranges");
    }
    if encoded {
        assert!(
            meta.coded,
            "Content-Encoding only for a coded representation"
        );
    }
    match status {
        StatusCode::OK => {
            assert_eq!(h[header::CONTENT_LENGTH], len.to_string().as_str());
            assert_eq!(
                encoded, meta.coded,
                "a 200 of a coded variant names its coding"
            );
            if method == Method::GET {
                if let Some(b) = &a.body {
                    assert!(
                        b.iter().zip(0..).all(|(&x, i)| x == pattern(i)),
                        "200 bytes"
                    );
                }
            }
        }
        StatusCode::PARTIAL_CONTENT => {
            let value = single_range(headers).expect("206 only for one Range field");
            assert!(
                matches!(resolve(value.as_bytes(), len), Resolved::Satisfiable(_)),
                "206 only for a satisfiable Range"
            );
            if multipart {
                assert!(
                    !h.contains_key(header::CONTENT_RANGE),
                    "multipart has no outer Content-Range"
                );
                let boundary = ct
                    .strip_prefix("multipart/byteranges; boundary=")
                    .expect("multipart names its boundary");
                if let Some(b) = a.body.as_ref().filter(|_| method == Method::GET) {
                    let parts = parts(b, boundary, len);
                    assert!(parts.len() >= 2, "multipart has several parts");
                    for (i, p) in parts.iter().enumerate() {
                        for q in &parts[i + 1..] {
                            assert!(p.end < q.start || q.end < p.start, "parts are coalesced");
                        }
                    }
                }
            } else {
                assert_eq!(
                    encoded, meta.coded,
                    "a 206 of a coded variant names its coding"
                );
                let r = content_range(&h[header::CONTENT_RANGE], len);
                assert_eq!(
                    h[header::CONTENT_LENGTH],
                    (r.end - r.start).to_string().as_str()
                );
                if let Some(b) = a.body.as_ref().filter(|_| method == Method::GET) {
                    assert!(b.iter().zip(r).all(|(&x, i)| x == pattern(i)), "206 bytes");
                }
            }
        }
        StatusCode::RANGE_NOT_SATISFIABLE => {
            let value = single_range(headers).expect("416 only for one Range field");
            assert_eq!(
                resolve(value.as_bytes(), len),
                Resolved::Unsatisfiable,
                "416 only when unsatisfiable"
            );
            assert_eq!(h[header::CONTENT_RANGE], format!("bytes */{len}").as_str());
            assert!(!encoded);
        }
        StatusCode::NOT_MODIFIED => {
            assert!(!h.contains_key(header::CONTENT_RANGE) && !encoded);
        }
        StatusCode::PRECONDITION_FAILED => assert!(!encoded),
        other => panic!("unexpected status {other}"),
    }
}

/// The one Range field line, if there is exactly one.
fn single_range(headers: &HeaderMap) -> Option<&HeaderValue> {
    let mut all = headers.get_all(header::RANGE).iter();
    match (all.next(), all.next()) {
        (Some(v), None) => Some(v),
        _ => None,
    }
}

/// Parses `bytes a-b/len` and checks it lies inside the representation.
fn content_range(v: &HeaderValue, len: u64) -> Range<u64> {
    let s = v.to_str().expect("Content-Range is ASCII");
    let (range, total) = s
        .strip_prefix("bytes ")
        .and_then(|s| s.split_once('/'))
        .expect("Content-Range is bytes a-b/len");
    assert_eq!(
        total,
        len.to_string(),
        "Content-Range names the current length"
    );
    let (a, b) = range.split_once('-').expect("a-b");
    let (a, b): (u64, u64) = (a.parse().expect("first-pos"), b.parse().expect("last-pos"));
    assert!(
        a <= b && b < len,
        "Content-Range {s} inside the representation"
    );
    a..b + 1
}

/// Splits a multipart/byteranges body, checking its framing, each part's
/// Content-Range and bytes; returns the parts' ranges in order.
fn parts(body: &[u8], boundary: &str, len: u64) -> Vec<Range<u64>> {
    let mut rest = body
        .strip_prefix(format!("--{boundary}\r\n").as_bytes())
        .expect("body starts with the boundary");
    let mut out = Vec::new();
    loop {
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("part head ends with a blank line");
        let head = std::str::from_utf8(&rest[..end]).expect("part head is text");
        let cr = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Range: "))
            .expect("each part has a Content-Range");
        let r = content_range(&HeaderValue::from_str(cr).expect("visible ASCII"), len);
        let n = usize::try_from(r.end - r.start).expect("collected, so short");
        let bytes = &rest[end + 4..end + 4 + n];
        assert!(
            bytes.iter().zip(r.clone()).all(|(&x, i)| x == pattern(i)),
            "part bytes"
        );
        out.push(r);
        rest = rest[end + 4 + n..]
            .strip_prefix(format!("\r\n--{boundary}").as_bytes())
            .expect("a delimiter follows each part");
        if rest == b"--\r\n" {
            return out;
        }
        rest = rest.strip_prefix(b"\r\n").expect("delimiter line ends");
    }
}

/// Streams the pattern, a chunk at a time, for any range of any length.
struct PatternSource;

impl Source for PatternSource {
    fn read(&self, range: Range<u64>) -> Body {
        Body::new(PatternBody {
            at: range.start,
            end: range.end,
        })
    }
}

struct PatternBody {
    at: u64,
    end: u64,
}

impl http_body::Body for PatternBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        let n = (self.end - self.at).min(64 << 10);
        if n == 0 {
            return Poll::Ready(None);
        }
        let chunk: Bytes = (self.at..self.at + n).map(pattern).collect();
        self.at += n;
        Poll::Ready(Some(Ok(http_body::Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.at == self.end
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.end - self.at)
    }
}

/// The body of the `answer` fuzz target: a request and a representation from
/// arbitrary bytes, then [`final_answer`].
///
/// Layout: 8 bytes of length (little endian; short inputs take a small one),
/// one flags byte (bits 0–1: GET, HEAD, HEAD, POST; bit 2: coded; bit 3: no
/// Content-Type; bits 4–5: the length is that far below `u64::MAX`, or `% 2^40`),
/// then `\n`-separated values of If-Match, If-None-Match, If-Modified-Since,
/// If-Unmodified-Since, If-Range and Range (a second Range line after that).
pub fn fuzz_request(data: &[u8]) {
    let (raw_len, rest) = match data.split_first_chunk::<8>() {
        Some((n, rest)) => (u64::from_le_bytes(*n), rest),
        None => (data.len() as u64 * 1000, data),
    };
    let (flags, rest) = rest.split_first().map_or((0, rest), |(f, r)| (*f, r));
    let len = match (flags >> 4) & 3 {
        0 | 1 => raw_len % (1 << 40),
        2 => u64::MAX - raw_len % (1 << 41),
        _ => raw_len,
    };
    let method = match flags & 3 {
        0 => Method::GET,
        1 | 2 => Method::HEAD,
        _ => Method::POST,
    };
    let names = [
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
        "if-range",
        "range",
        "range",
    ];
    let mut h = HeaderMap::new();
    for (i, part) in rest.split(|&b| b == b'\n').enumerate().take(names.len()) {
        if let Ok(v) = HeaderValue::from_bytes(part) {
            h.append(HeaderName::from_static(names[i]), v);
        }
    }
    let lm = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    let meta = Meta {
        len,
        etag: Some(EntityTag::from_len_mtime(len, lm)),
        last_modified: Some(lm),
        coded: flags & 4 != 0,
    };
    let ct = HeaderValue::from_static("text/plain; charset=utf-8");
    let ct = (flags & 8 == 0).then_some(&ct);
    final_answer(&method, &h, &meta, ct, lm + Duration::from_secs(10));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn meta(len: u64, coded: bool) -> Meta {
        let lm = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        Meta {
            len,
            etag: Some(EntityTag::from_len_mtime(len, lm)),
            last_modified: Some(lm),
            coded,
        }
    }

    fn headers(fields: &[(&str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in fields {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), v);
            }
        }
        h
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_600_000_010)
    }

    #[test]
    fn named_answers() {
        let ct = HeaderValue::from_static("text/plain");
        let range = |v: &str| headers(&[("range", v.to_owned())]);
        // (method, headers, len, coded, status)
        for (m, h, len, coded, want) in [
            (
                Method::GET,
                range("bytes=5000-5099,100-199"),
                10_000,
                false,
                206,
            ),
            (Method::GET, range("bytes=0-0,5-5"), 10, true, 200),
            (Method::HEAD, range("bytes=0-0,5-5"), 10, true, 200),
            (Method::GET, range("bytes=0-0"), 10, true, 206),
            (Method::GET, range("bytes=10-"), 10, false, 416),
            (Method::GET, range("bytes=0-0,2-"), u64::MAX, false, 200),
            (
                Method::GET,
                range("bytes=0-0,2-"),
                u64::MAX - (1 << 40),
                false,
                206,
            ),
            (Method::POST, range("bytes=0-0"), 10, false, 405),
        ] {
            let a = final_answer(&m, &h, &meta(len, coded), Some(&ct), now());
            assert_eq!(a.head.status(), want, "{m} {h:?} {len} {coded}");
        }
        let a = final_answer(
            &Method::GET,
            &range("bytes=5000-5099,100-199"),
            &meta(10_000, false),
            Some(&ct),
            now(),
        );
        let body = String::from_utf8_lossy(a.body.as_ref().unwrap()).into_owned();
        let first = body.find("bytes 5000-5099/10000").unwrap();
        assert!(
            first < body.find("bytes 100-199/10000").unwrap(),
            "request order"
        );
    }

    /// Headers mostly well formed: validators that match or not, dates, ranges.
    fn fields() -> impl Strategy<Value = Vec<(&'static str, String)>> {
        let lm = "Sun, 13 Sep 2020 12:26:40 GMT";
        let value = prop_oneof![
            Just("*".to_owned()),
            Just("\"x\"".to_owned()),
            Just(lm.to_owned()),
            Just("Thu, 01 Jan 1970 00:00:00 GMT".to_owned()),
            "[ -~]{0,12}",
        ];
        let spec = (0u64..1300, 0u64..1300, any::<bool>()).prop_map(|(a, b, open)| {
            if open {
                format!("{}-", a.max(b))
            } else {
                format!("{}-{}", a.min(b), a.max(b))
            }
        });
        let range = prop_oneof![
            4 => prop::collection::vec(spec, 1..5).prop_map(|s| format!("bytes={}", s.join(","))),
            1 => "bytes=-[0-9]{1,4}(,[0-9]{0,3}-[0-9]{0,3})?",
            1 => "[ -~]{0,20}",
        ];
        let name = prop::sample::select(vec![
            "accept",
            "if-match",
            "if-none-match",
            "if-modified-since",
            "if-unmodified-since",
            "if-range",
        ]);
        (
            prop::collection::vec((name, value), 0..3),
            // Mostly none or one Range line; now and then two (ignored).
            prop_oneof![4 => prop::collection::vec(range.clone(), 0..2), 1 => prop::collection::vec(range, 2..3)],
        )
            .prop_map(|(mut f, r)| {
                f.extend(r.into_iter().map(|r| ("range", r)));
                f
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        #[test]
        fn every_final_answer_keeps_the_invariants(
            method in prop::sample::select(vec![Method::GET, Method::HEAD, Method::PUT]),
            fields in fields(),
            len in prop_oneof![4 => 0u64..1200, 1 => Just(u64::MAX), 1 => (u64::MAX - (1 << 41))..=u64::MAX],
            coded in any::<bool>(),
            typed in any::<bool>(),
            etag_matches in any::<bool>(),
        ) {
            let meta = meta(len, coded);
            let mut fields = fields;
            if etag_matches {
                let tag = meta.etag.as_ref().unwrap().to_string();
                fields.push(("if-none-match", tag.clone()));
                fields.push(("if-range", tag));
            }
            let ct = HeaderValue::from_static("application/octet-stream");
            final_answer(&method, &headers(&fields), &meta, typed.then_some(&ct), now());
        }

        #[test]
        fn fuzz_target(data in prop::collection::vec(any::<u8>(), 0..120)) {
            fuzz_request(&data)
        }

        #[test]
        fn fuzz_target_structured(len in any::<u64>(), flags in any::<u8>(), r in "bytes=[0-9,-]{0,24}") {
            let mut d = len.to_le_bytes().to_vec();
            d.push(flags);
            d.extend_from_slice(format!("\n\n\n\n\n{r}").as_bytes());
            fuzz_request(&d)
        }
    }
}
