//! Bodies of the cargo-fuzz targets under `fuzz/`, as plain functions so that
//! stable tests drive them too. Each asserts invariants, not only "no panic".
//!
//! Only with the `fuzzing` feature (which `fuzz/Cargo.toml` enables) or in this
//! crate's own tests: it is no part of the library, and like the rest of the
//! crate it never reads the clock (its times are fixed).
use crate::range::{resolve, Resolved};
use crate::{multipart, plan, EntityTag, Meta, Plan};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use std::time::{Duration, UNIX_EPOCH};

fn split_len(data: &[u8]) -> (u64, &[u8]) {
    if data.len() < 8 {
        return (data.len() as u64 * 1000, data);
    }
    let (n, rest) = data.split_at(8);
    (u64::from_le_bytes(n.try_into().expect("8 bytes")), rest)
}

/// Range parsing and resolution: the same answer as the reference resolver
/// (`range/reference.rs`, the differential); ranges stay inside, disjoint and
/// not touching, never more content than the representation; the multipart
/// length is counted without overflow, and exists whenever `plan` would send
/// one.
pub fn range(data: &[u8]) {
    let (len, header) = split_len(data);
    assert_eq!(
        resolve(header, len),
        crate::range::reference::resolve_reference(header, len),
        "the reference resolver disagrees"
    );
    if let Resolved::Satisfiable(set) = resolve(header, len) {
        let r = set.as_slice();
        assert!(!r.is_empty());
        assert!(r.iter().all(|r| r.start < r.end && r.end <= len));
        for (i, a) in r.iter().enumerate() {
            assert!(r[i + 1..]
                .iter()
                .all(|b| a.end < b.start || b.end < a.start));
        }
        assert!(set.total_len() <= len);
        let predicted = multipart::body_len("b", Some("t/t"), &set, len);
        if set.total_len() <= multipart::MAX_CONTENT_LEN {
            assert!(predicted.is_some());
        }
        if let Some(p) = predicted {
            assert!(p > set.total_len());
        }
    }
}

/// Entity-tag lists: parsing never panics; a tag's own display matches itself.
pub fn etag_list(data: &[u8]) {
    let _ = crate::etag::match_list(data, None, true);
    if let Some(tag) = crate::etag::parse(data) {
        let shown = tag.to_string();
        assert_eq!(shown.parse::<EntityTag>().as_ref(), Ok(&tag));
        assert_eq!(
            crate::etag::match_list(shown.as_bytes(), Some(&tag), false),
            crate::etag::ListMatch::Matched
        );
        assert_eq!(
            crate::etag::match_list(b"*", Some(&tag), true),
            crate::etag::ListMatch::Any
        );
    }
    for item in crate::list::split(data) {
        assert!(!item.is_empty());
    }
}

/// HTTP-dates: exactly `httpdate`'s answer (the differential: ferry's own
/// IMF-fixdate fast path must agree with it on every input), and whatever
/// parses formats back to an IMF-fixdate that parses to the same instant.
pub fn http_date(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(crate::list::trim(data)) {
        if s.len() <= 64 {
            assert_eq!(
                crate::parse_http_date(data),
                httpdate::parse_http_date(s).ok(),
                "httpdate disagrees on {s:?}"
            );
        }
    }
    if let Some(t) = crate::parse_http_date(data) {
        let s = crate::fmt_http_date(t);
        assert_eq!(crate::parse_http_date(s.as_bytes()), Some(t));
    }
    let _ = crate::date::parse_if_modified_since(data);
}

/// Accept-Encoding: preferences are distinct, acceptable codings.
pub fn accept_encoding(data: &[u8]) {
    let Ok(v) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut h = HeaderMap::new();
    h.insert(http::header::ACCEPT_ENCODING, v);
    let a = crate::AcceptEncoding::from_headers(&h);
    let prefs: Vec<_> = a.preferred().collect();
    assert!(prefs.len() <= 3);
    for (i, c) in prefs.iter().enumerate() {
        assert!(!prefs[i + 1..].contains(c));
    }
}

/// `plan` over arbitrary header values: never panics; ranges stay inside; a
/// request without conditionals or Range is always `Full`.
pub fn plan_request(data: &[u8]) {
    let (len, rest) = split_len(data);
    let len = len % (1 << 40);
    let names = [
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
        "if-range",
        "range",
    ];
    let mut h = HeaderMap::new();
    for (i, part) in rest.split(|&b| b == b'\n').enumerate().take(names.len()) {
        if let Ok(v) = HeaderValue::from_bytes(part) {
            h.insert(HeaderName::from_static(names[i]), v);
        }
    }
    let lm = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    let meta = Meta {
        len,
        etag: Some(EntityTag::from_len_mtime(len, lm)),
        last_modified: Some(lm),
        coded: rest.first().is_some_and(|b| b & 1 == 1),
    };
    let now = lm + Duration::from_secs(10);
    let head = plan(&Method::HEAD, &h, &meta, now);
    let p = plan(&Method::GET, &h, &meta, now);
    assert_eq!(head, p, "HEAD takes the GET path");
    match &p {
        Plan::Partial(r) => assert!(r.start < r.end && r.end <= len),
        Plan::Multipart(set) => {
            assert!(set.total_len() <= len && set.as_slice().len() > 1);
            assert!(!meta.coded, "no multipart of a coded representation");
        }
        _ => {}
    }
    assert_eq!(
        plan(&Method::GET, &HeaderMap::new(), &meta, now),
        Plan::Full
    );
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn range_target(data in proptest::collection::vec(any::<u8>(), 0..120)) { super::range(&data) }
        #[test]
        fn range_target_near_u64_max(back in 0u64..1 << 42, h in "bytes=[0-9 ,-]{0,20}") {
            let mut d = (u64::MAX - back).to_le_bytes().to_vec();
            d.extend_from_slice(h.as_bytes());
            super::range(&d)
        }
        #[test]
        fn range_target_structured(len in any::<u64>(), h in "bytes=[0-9 ,-]{0,60}") {
            let mut d = len.to_le_bytes().to_vec();
            d.extend_from_slice(h.as_bytes());
            super::range(&d)
        }
        #[test]
        fn etag_list_target(data in proptest::collection::vec(any::<u8>(), 0..80)) { super::etag_list(&data) }
        #[test]
        fn etag_list_structured(s in "(W/)?\"[!#-~]{0,10}\"( *, *(W/)?\"[a-z,]{0,5}\"){0,3}") { super::etag_list(s.as_bytes()) }
        #[test]
        fn http_date_target(data in proptest::collection::vec(any::<u8>(), 0..64)) { super::http_date(&data) }
        #[test]
        fn http_date_roundtrip(secs in 0u64..253_402_300_799) {
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            super::http_date(crate::fmt_http_date(t).as_bytes())
        }
        #[test]
        fn accept_encoding_target(s in "[a-z*;=0-9., -]{0,60}") { super::accept_encoding(s.as_bytes()) }
        #[test]
        fn plan_target(data in proptest::collection::vec(any::<u8>(), 0..200)) { super::plan_request(&data) }
        #[test]
        fn plan_structured(len in 0u64..100_000, r in "bytes=[0-9,-]{0,20}", inm in "(\"[0-9a-f.-]{0,20}\"|\\*)?") {
            let mut d = len.to_le_bytes().to_vec();
            d.extend_from_slice(format!("\n{inm}\n\n\n\n{r}").as_bytes());
            super::plan_request(&d)
        }
    }
}
