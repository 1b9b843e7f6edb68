//! multipart/byteranges framing ([RFC 9110 §14.6]).
use crate::RangeSet;
use std::ops::Range;

/// The head of one part: `\r\n--B\r\nContent-Type: T\r\nContent-Range: bytes a-b/len\r\n\r\n`
/// (the first part starts with `--B` without the leading CRLF).
pub fn part_head(boundary: &str, content_type: Option<&str>, r: &Range<u64>, len: u64, first: bool) -> String { todo!() }

/// The closing delimiter: `\r\n--B--\r\n`.
pub fn closing(boundary: &str) -> String { todo!() }

/// The exact body length of the multipart body.
pub fn body_len(boundary: &str, content_type: Option<&str>, set: &RangeSet, len: u64) -> u64 { todo!() }
