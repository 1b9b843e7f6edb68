//! multipart/byteranges framing ([RFC 9110 §14.6]) with an exact length known
//! before any body byte is read.
//!
//! ```text
//! --B CRLF Content-Type: T CRLF Content-Range: bytes a-b/len CRLF CRLF <bytes>
//! CRLF --B CRLF ...                                                 <bytes>
//! CRLF --B-- CRLF
//! ```
//!
//! [RFC 9110 §14.6]: https://www.rfc-editor.org/rfc/rfc9110#section-14.6
use crate::range::{content_range, MAX_RANGES};
use crate::RangeSet;
use std::ops::Range;

/// The longest boundary a multipart body may use (RFC 2046 §5.1.1: "1*70").
pub const MAX_BOUNDARY_LEN: usize = 70;

/// The most content bytes (the sum of the ranges) [`plan()`](crate::plan())
/// sends as multipart/byteranges: `u64::MAX` less 2^40, room for any framing.
///
/// The framing is at most [`MAX_RANGES`] part heads of at most
/// `4 + 70 + 2 + 14 + T + 2 + 15 + 67 + 4` bytes each (CRLF and `--`, the
/// boundary, `Content-Type: ` and a type of `T` bytes, `Content-Range: ` and
/// the longest value, the blank line), and a closing of at most 78 bytes. For
/// any boundary RFC 2046 allows and a Content-Type under 4 GiB that is less
/// than 2^39, so [`body_len`] of a set within this limit never overflows.
pub const MAX_CONTENT_LEN: u64 = u64::MAX - (1 << 40);

// The bound above counts on the number of parts being small.
const _: () = assert!(MAX_RANGES <= 100);

/// The head of one part. The first part starts with `--B`; later parts with
/// `\r\n--B` (the CRLF ends the previous part's bytes).
pub fn part_head(
    boundary: &str,
    content_type: Option<&str>,
    r: &Range<u64>,
    len: u64,
    first: bool,
) -> String {
    let mut s = String::with_capacity(96 + boundary.len());
    if !first {
        s.push_str("\r\n");
    }
    s.push_str("--");
    s.push_str(boundary);
    s.push_str("\r\n");
    if let Some(ct) = content_type {
        s.push_str("Content-Type: ");
        s.push_str(ct);
        s.push_str("\r\n");
    }
    s.push_str("Content-Range: ");
    s.push_str(&content_range(r, len));
    s.push_str("\r\n\r\n");
    s
}

/// The closing delimiter: `\r\n--B--\r\n`.
pub fn closing(boundary: &str) -> String {
    format!("\r\n--{boundary}--\r\n")
}

/// The exact length of the multipart body for `set`, or `None` when it does not
/// fit in a `u64` (a representation near 16 EiB). [`plan()`](crate::plan())
/// never answers multipart for a set beyond [`MAX_CONTENT_LEN`], so for its
/// plans this is `Some` whenever the boundary and type are of sane length.
pub fn body_len(
    boundary: &str,
    content_type: Option<&str>,
    set: &RangeSet,
    len: u64,
) -> Option<u64> {
    let mut total = closing(boundary).len() as u64;
    for (i, r) in set.as_slice().iter().enumerate() {
        let head = part_head(boundary, content_type, r, len, i == 0).len() as u64;
        total = total.checked_add(head)?.checked_add(r.end - r.start)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::range::{resolve, Resolved};

    fn build(boundary: &str, ct: Option<&str>, set: &RangeSet, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, r) in set.as_slice().iter().enumerate() {
            out.extend_from_slice(part_head(boundary, ct, r, data.len() as u64, i == 0).as_bytes());
            out.extend_from_slice(&data[r.start as usize..r.end as usize]);
        }
        out.extend_from_slice(closing(boundary).as_bytes());
        out
    }

    #[test]
    fn framing_is_exact() {
        let data: Vec<u8> = (0..100u8).collect();
        let Resolved::Satisfiable(set) = resolve(b"bytes=0-1,-2", 100) else {
            panic!()
        };
        let body = build("B", Some("text/plain"), &set, &data);
        let mut want =
            b"--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/100\r\n\r\n\x00\x01"
                .to_vec();
        want.extend_from_slice(b"\r\n--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 98-99/100\r\n\r\nbc\r\n--B--\r\n");
        assert_eq!(body, want);
        assert_eq!(
            body_len("B", Some("text/plain"), &set, 100),
            Some(body.len() as u64)
        );
    }

    /// libFuzzer (`range` target): `heads + total_len + closing` overflowed for
    /// a representation near `u64::MAX`: a panic in debug builds, a wrapped
    /// Content-Length in release builds.
    #[test]
    fn fuzz_body_len_overflow_near_u64_max() {
        let len = u64::MAX;
        let Resolved::Satisfiable(set) = resolve(b"bytes=0-0,2-", len) else {
            panic!()
        };
        assert_eq!(set.total_len(), u64::MAX - 1);
        assert_eq!(body_len("b", Some("t/t"), &set, len), None);
        // Just inside the limit `plan` keeps to, the length is exact.
        let len = MAX_CONTENT_LEN + 1;
        let Resolved::Satisfiable(set) = resolve(b"bytes=0-0,2-", len) else {
            panic!()
        };
        assert_eq!(set.total_len(), MAX_CONTENT_LEN);
        let b = "b".repeat(MAX_BOUNDARY_LEN);
        let heads: u64 = (0..2)
            .map(|i| part_head(&b, Some("t/t"), &set.as_slice()[i], len, i == 0).len() as u64)
            .sum();
        assert_eq!(
            body_len(&b, Some("t/t"), &set, len),
            Some(MAX_CONTENT_LEN + heads + closing(&b).len() as u64)
        );
    }

    proptest::proptest! {
        #[test]
        fn predicted_length_equals_built_length(
            header in "bytes=[0-9,-]{1,40}", len in 1u64..300, ct in proptest::option::of("[a-z/]{1,20}"),
        ) {
            if let Resolved::Satisfiable(set) = resolve(header.as_bytes(), len) {
                let data = vec![7u8; len as usize];
                let body = build("ferry-b", ct.as_deref(), &set, &data);
                proptest::prop_assert_eq!(body_len("ferry-b", ct.as_deref(), &set, len), Some(body.len() as u64));
            }
        }
    }
}
