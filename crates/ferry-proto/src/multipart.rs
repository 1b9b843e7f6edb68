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
use crate::range::content_range;
use crate::RangeSet;
use std::ops::Range;

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

/// The exact length of the multipart body for `set`.
pub fn body_len(boundary: &str, content_type: Option<&str>, set: &RangeSet, len: u64) -> u64 {
    let heads: u64 = set
        .as_slice()
        .iter()
        .enumerate()
        .map(|(i, r)| part_head(boundary, content_type, r, len, i == 0).len() as u64)
        .sum();
    heads + set.total_len() + closing(boundary).len() as u64
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
            body.len() as u64
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
                proptest::prop_assert_eq!(body_len("ferry-b", ct.as_deref(), &set, len), body.len() as u64);
            }
        }
    }
}
