#![allow(clippy::single_range_in_vec_init)]
use super::*;
use std::time::{Duration, UNIX_EPOCH};

struct Case {
    name: &'static str,
    rfc: &'static str,
    method: Method,
    headers: &'static [(&'static str, &'static str)],
    coded: bool,
    len: u64,
    want: Plan,
}

fn set(v: &str, len: u64) -> RangeSet {
    match range::resolve(v.as_bytes(), len) {
        Resolved::Satisfiable(s) => s,
        other => panic!("{v}: {other:?}"),
    }
}

#[test]
fn decision_table() {
    let cases = [
        Case {
            name: "multipart_parts_keep_request_order",
            rfc: "§14.6: the server SHOULD send the parts in the same order that the \
                  corresponding range-spec appeared in the received Range header field",
            method: Method::GET,
            headers: &[("range", "bytes=5000-5099,100-199")],
            coded: false,
            len: 10_000,
            want: Plan::Multipart(set("bytes=5000-5099,100-199", 10_000)),
        },
        Case {
            name: "multi_range_of_a_coded_representation_is_full",
            rfc: "§14.2: a server MAY ignore the Range header field (Choice: a multipart \
                  body cannot carry the Content-Encoding)",
            method: Method::GET,
            headers: &[("range", "bytes=0-0,5-5")],
            coded: true,
            len: 10,
            want: Plan::Full,
        },
        Case {
            name: "one_range_of_a_coded_representation_is_partial",
            rfc: "§14.4: a single part is sent with Content-Range, here of the coded bytes",
            method: Method::GET,
            headers: &[("range", "bytes=0-0,1-1")],
            coded: true,
            len: 10,
            want: Plan::Partial(0..2),
        },
        Case {
            name: "head_of_a_coded_multi_range_is_full_too",
            rfc: "§9.3.2: the server SHOULD send the same header fields as for GET",
            method: Method::HEAD,
            headers: &[("range", "bytes=0-0,5-5")],
            coded: true,
            len: 10,
            want: Plan::Full,
        },
        Case {
            name: "multipart_too_long_for_a_u64_is_full",
            rfc: "§14.2: a server MAY ignore the Range header field (Choice: the \
                  multipart length must fit in Content-Length)",
            method: Method::GET,
            headers: &[("range", "bytes=0-0,2-")],
            coded: false,
            len: u64::MAX,
            want: Plan::Full,
        },
        Case {
            name: "post_is_405",
            rfc: "§15.5.6: the method is known but not supported by the target resource",
            method: Method::POST,
            headers: &[("range", "bytes=0-0,5-5")],
            coded: false,
            len: 10,
            want: Plan::MethodNotAllowed,
        },
    ];
    let lm = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    for c in cases {
        let meta = Meta {
            len: c.len,
            etag: Some(EntityTag::from_len_mtime(c.len, lm)),
            last_modified: Some(lm),
            coded: c.coded,
        };
        let mut h = HeaderMap::new();
        for (k, v) in c.headers {
            h.append(*k, v.parse().unwrap());
        }
        let got = plan(&c.method, &h, &meta, lm + Duration::from_secs(60));
        assert_eq!(got, c.want, "{}: {}", c.name, c.rfc);
    }
}

#[test]
fn only_get_and_head_are_allowed() {
    for m in [Method::GET, Method::HEAD] {
        assert!(allows(&m), "{m}");
    }
    for m in [
        "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH", "CONNECT", "get", "BREW",
    ] {
        let m = Method::from_bytes(m.as_bytes()).unwrap();
        assert!(!allows(&m), "{m}");
        let meta = Meta {
            len: 1,
            etag: None,
            last_modified: None,
            coded: false,
        };
        assert_eq!(
            plan(&m, &HeaderMap::new(), &meta, UNIX_EPOCH),
            Plan::MethodNotAllowed
        );
    }
}

#[test]
fn on_the_fly_only_for_whole_representations_the_client_accepts() {
    use crate::ContentCoding::{Br, Gzip, Zstd};
    let order = [Zstd, Br, Gzip];
    let sizes = 1024..=1 << 20;
    let meta = |len, coded| Meta {
        len,
        etag: None,
        last_modified: None,
        coded,
    };
    let headers = |pairs: &[(&'static str, &str)]| {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    };
    let all = [("accept-encoding", "gzip, deflate, br, zstd")];
    for (name, method, h, m, want) in [
        (
            "GET, all accepted",
            Method::GET,
            headers(&all),
            meta(5000, false),
            Some(Zstd),
        ),
        (
            "HEAD takes the GET path",
            Method::HEAD,
            headers(&all),
            meta(5000, false),
            Some(Zstd),
        ),
        ("POST", Method::POST, headers(&all), meta(5000, false), None),
        (
            "a sibling was chosen",
            Method::GET,
            headers(&all),
            meta(5000, true),
            None,
        ),
        (
            "below the minimum",
            Method::GET,
            headers(&all),
            meta(1023, false),
            None,
        ),
        (
            "at the minimum",
            Method::GET,
            headers(&all),
            meta(1024, false),
            Some(Zstd),
        ),
        (
            "above the maximum",
            Method::GET,
            headers(&all),
            meta((1 << 20) + 1, false),
            None,
        ),
        (
            "no Accept-Encoding",
            Method::GET,
            headers(&[]),
            meta(5000, false),
            None,
        ),
        (
            "a range: identity",
            Method::GET,
            headers(&[all[0], ("range", "bytes=0-9")]),
            meta(5000, false),
            None,
        ),
        (
            "a range with If-Range: identity",
            Method::GET,
            headers(&[all[0], ("range", "bytes=0-9"), ("if-range", "\"x\"")]),
            meta(5000, false),
            None,
        ),
        (
            "q-values beat the server's order",
            Method::GET,
            headers(&[("accept-encoding", "zstd;q=0.5, br;q=0.8, gzip;q=0.1")]),
            meta(5000, false),
            Some(Br),
        ),
    ] {
        let a = crate::AcceptEncoding::from_headers(&h);
        assert_eq!(
            on_the_fly(&method, &h, &a, &m, &sizes, &order),
            want,
            "{name}"
        );
    }
}
