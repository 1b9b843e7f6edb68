//! Byte ranges ([RFC 9110 §14]): parsing `Range`, resolving it against a length,
//! and formatting `Content-Range`.
//!
//! Ranges are half-open `Range<u64>` in code; the inclusive `first-last` form only
//! appears while parsing and formatting. All arithmetic is checked or saturating.
//!
//! [RFC 9110 §14]: https://www.rfc-editor.org/rfc/rfc9110#section-14
use std::ops::Range;

/// Most range-specs one request may ask for; more and the header is ignored
/// (the whole representation is sent, 200).
pub const MAX_RANGES: usize = 100;

/// A non-empty set of satisfiable byte ranges: coalesced (no two overlap or
/// touch), each non-empty and inside the length, in the order the request
/// asked for them ([RFC 9110 §14.6]).
///
/// [RFC 9110 §14.6]: https://www.rfc-editor.org/rfc/rfc9110#section-14.6
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeSet {
    ranges: Vec<Range<u64>>,
}

impl RangeSet {
    /// The ranges, in the order their first range-spec appeared in the request
    /// (not necessarily ascending).
    pub fn as_slice(&self) -> &[Range<u64>] {
        &self.ranges
    }

    /// Sum of the ranges' lengths: the content bytes a 206 sends.
    pub fn total_len(&self) -> u64 {
        self.ranges.iter().map(|r| r.end - r.start).sum()
    }
}

/// What a Range header means for a representation of some length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Invalid, another unit, or abusive: serve 200 as if absent (§14.2).
    Ignore,
    /// 206 with these ranges.
    Satisfiable(RangeSet),
    /// 416 Range Not Satisfiable.
    Unsatisfiable,
}

enum Spec {
    /// `first-` or `first-last` (inclusive last).
    Int(u64, Option<u64>),
    /// `-suffix`.
    Suffix(u64),
}

/// Parses digits; `None` for anything but 1*DIGIT, `Some(u64::MAX)` on overflow.
fn number(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    // One pass: once saturated at u64::MAX the value stays there, and a
    // non-digit after that still makes the whole spec invalid.
    s.iter().try_fold(0u64, |n, &b| {
        let d = b.wrapping_sub(b'0');
        (d < 10).then(|| n.saturating_mul(10).saturating_add(u64::from(d)))
    })
}

fn parse_spec(s: &[u8]) -> Option<Spec> {
    let dash = s.iter().position(|&b| b == b'-')?;
    let (first, last) = (&s[..dash], &s[dash + 1..]);
    if first.is_empty() {
        return Some(Spec::Suffix(number(last)?));
    }
    let first = number(first)?;
    if last.is_empty() {
        return Some(Spec::Int(first, None));
    }
    let last = number(last)?;
    // §14.1.1: a range-spec with last-pos < first-pos is invalid.
    (first <= last).then_some(Spec::Int(first, Some(last)))
}

/// Parses and resolves a Range value against a representation of `len` bytes
/// ([RFC 9110 §14.1.1], §14.1.2, §14.2).
///
/// - Another unit, bad syntax or `first > last` in any range-spec: [`Resolved::Ignore`]
///   ("An origin server MUST ignore a Range header field that contains a range
///   unit it does not understand"; a server MAY ignore the Range field).
/// - last-pos past the end is clamped; a suffix longer than the representation
///   means all of it.
/// - No satisfiable range-spec: [`Resolved::Unsatisfiable`].
/// - Choice, against CVE-2011-3192 (§14.2: "a server MAY ignore ... more than two
///   overlapping ranges"): more than [`MAX_RANGES`] specs, or several specs whose
///   lengths add up to more than the representation, are ignored, so a 206 never
///   sends more content than the representation holds. Parsing stops at the
///   limit, so a huge header costs no more than a short one.
/// - Choice: on a zero-length representation a suffix range (satisfiable per
///   §14.1.1, but not expressible in Content-Range) is ignored (200).
///
/// The ranges keep the order of the request: "the server SHOULD send the parts
/// in the same order that the corresponding range-spec appeared in the received
/// Range header field, excluding those ranges that were deemed unsatisfiable or
/// that were coalesced into other ranges" ([RFC 9110 §14.6]).
///
/// Choice: overlapping and adjacent ranges are coalesced. A range that overlaps
/// or touches ranges already kept is merged with all of them into one range,
/// which takes the place of the earliest of them; ranges that touch nothing keep
/// their place. So the parts are disjoint, and each stands where the first
/// range-spec it covers stood (`bytes=50-59,0-9,5-54` is `0..60`; `bytes=9-9,0-0`
/// stays `9..10, 0..1`).
///
/// # Examples
///
/// ```
/// use ferry_proto::range::{resolve, Resolved};
/// let Resolved::Satisfiable(set) = resolve(b"bytes=0-0,-1", 10_000) else { panic!() };
/// assert_eq!(set.as_slice(), [0..1, 9999..10_000]);
/// let Resolved::Satisfiable(set) = resolve(b"bytes=5000-5099,100-199", 10_000) else { panic!() };
/// assert_eq!(set.as_slice(), [5000..5100, 100..200]);
/// assert_eq!(resolve(b"bytes=10000-", 10_000), Resolved::Unsatisfiable);
/// assert_eq!(resolve(b"items=0-1", 10_000), Resolved::Ignore);
/// ```
///
/// [RFC 9110 §14.1.1]: https://www.rfc-editor.org/rfc/rfc9110#section-14.1.1
/// [RFC 9110 §14.6]: https://www.rfc-editor.org/rfc/rfc9110#section-14.6
pub fn resolve(value: &[u8], len: u64) -> Resolved {
    let value = crate::list::trim(value);
    let Some(eq) = value.iter().position(|&b| b == b'=') else {
        return Resolved::Ignore;
    };
    if !value[..eq].eq_ignore_ascii_case(b"bytes") {
        return Resolved::Ignore;
    }
    let mut ranges: Vec<Range<u64>> = Vec::new();
    let mut requested: u64 = 0;
    let mut count = 0usize;
    let mut saw_suffix_on_empty = false;
    // Commas inside quoted strings need no care here, unlike in `list::split`:
    // a range-spec holds only digits and `-`, so the first element with a `"`
    // makes the whole field ignored however the list is split.
    let items = value[eq + 1..]
        .split(|&b| b == b',')
        .map(crate::list::trim)
        .filter(|item| !item.is_empty());
    for item in items {
        count += 1;
        if count > MAX_RANGES {
            return Resolved::Ignore;
        }
        let Some(spec) = parse_spec(item) else {
            return Resolved::Ignore;
        };
        let r = match spec {
            Spec::Int(first, _) if first >= len => continue,
            Spec::Int(first, last) => first..last.map_or(len, |l| l.saturating_add(1).min(len)),
            Spec::Suffix(0) => continue,
            Spec::Suffix(_) if len == 0 => {
                saw_suffix_on_empty = true;
                continue;
            }
            Spec::Suffix(n) => len - n.min(len)..len,
        };
        requested = requested.saturating_add(r.end - r.start);
        ranges.push(r);
    }
    if count == 0 {
        return Resolved::Ignore;
    }
    if ranges.is_empty() {
        return if saw_suffix_on_empty {
            Resolved::Ignore
        } else {
            Resolved::Unsatisfiable
        };
    }
    if ranges.len() > 1 && requested > len {
        return Resolved::Ignore;
    }
    Resolved::Satisfiable(RangeSet {
        ranges: coalesce_in_order(ranges),
    })
}

/// Merges overlapping and touching ranges, keeping request order: each range
/// is merged into the earliest kept range it touches, together with every other
/// kept range it touches (which are then dropped); a range touching none is
/// kept at the end. At most [`MAX_RANGES`] ranges, so quadratic is fine.
///
/// One pass suffices: the kept ranges never touch each other, so the union of a
/// range with the kept ranges it touches touches no other kept range.
fn coalesce_in_order(ranges: Vec<Range<u64>>) -> Vec<Range<u64>> {
    let mut kept: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
    for mut r in ranges {
        let touches = |k: &Range<u64>, r: &Range<u64>| k.start <= r.end && r.start <= k.end;
        let Some(first) = kept.iter().position(|k| touches(k, &r)) else {
            kept.push(r);
            continue;
        };
        // Swallow every kept range that touches `r` (they all lie at or after
        // `first`), then put the union where the earliest of them stood.
        let mut i = first;
        while i < kept.len() {
            if touches(&kept[i], &r) {
                r = r.start.min(kept[i].start)..r.end.max(kept[i].end);
                if i == first {
                    i += 1;
                } else {
                    kept.remove(i);
                }
            } else {
                i += 1;
            }
        }
        kept[first] = r;
    }
    kept
}

/// `bytes first-last/len` for a non-empty half-open range ([RFC 9110 §14.4]).
///
/// [RFC 9110 §14.4]: https://www.rfc-editor.org/rfc/rfc9110#section-14.4
pub fn content_range(r: &Range<u64>, len: u64) -> String {
    ascii_string(write_content_range(
        Some(r),
        len,
        &mut [0; CONTENT_RANGE_MAX],
    ))
}

/// [`content_range`] as a header value, formatted without the `fmt` machinery
/// or an intermediate `String`: the Content-Range of every 206.
///
/// # Examples
///
/// ```
/// use ferry_proto::range::content_range_value;
/// assert_eq!(content_range_value(&(0..500), 10_000), "bytes 0-499/10000");
/// ```
pub fn content_range_value(r: &Range<u64>, len: u64) -> http::HeaderValue {
    header_value(write_content_range(
        Some(r),
        len,
        &mut [0; CONTENT_RANGE_MAX],
    ))
}

/// `bytes */len`, for 416 ([RFC 9110 §15.5.17]).
///
/// [RFC 9110 §15.5.17]: https://www.rfc-editor.org/rfc/rfc9110#section-15.5.17
pub fn unsatisfied_content_range(len: u64) -> String {
    ascii_string(write_content_range(None, len, &mut [0; CONTENT_RANGE_MAX]))
}

/// [`unsatisfied_content_range`] as a header value.
///
/// # Examples
///
/// ```
/// use ferry_proto::range::unsatisfied_content_range_value;
/// assert_eq!(unsatisfied_content_range_value(10_000), "bytes */10000");
/// ```
pub fn unsatisfied_content_range_value(len: u64) -> http::HeaderValue {
    header_value(write_content_range(None, len, &mut [0; CONTENT_RANGE_MAX]))
}

/// The longest Content-Range value: `bytes `, three 20-digit numbers, `-`, `/`.
const CONTENT_RANGE_MAX: usize = 6 + 20 + 1 + 20 + 1 + 20;

/// Writes `bytes first-last/len` (`bytes */len` without a range) at the end of
/// `buf`, back to front, and returns it.
fn write_content_range<'b>(
    r: Option<&Range<u64>>,
    len: u64,
    buf: &'b mut [u8; CONTENT_RANGE_MAX],
) -> &'b [u8] {
    let mut at = put_decimal(buf, CONTENT_RANGE_MAX, len);
    at = put(buf, at, b"/");
    at = match r {
        Some(r) => {
            at = put_decimal(buf, at, r.end.saturating_sub(1));
            at = put(buf, at, b"-");
            put_decimal(buf, at, r.start)
        }
        None => put(buf, at, b"*"),
    };
    at = put(buf, at, b"bytes ");
    &buf[at..]
}

/// Copies `s` to end just before `at` and returns where it starts.
fn put(buf: &mut [u8], at: usize, s: &[u8]) -> usize {
    buf[at - s.len()..at].copy_from_slice(s);
    at - s.len()
}

/// `00`, `01`, ... `99`: two decimal digits per division.
const DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Writes `n` in decimal to end just before `at` and returns where it starts.
fn put_decimal(buf: &mut [u8], mut at: usize, mut n: u64) -> usize {
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        at = put(buf, at, &DIGIT_PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        put(buf, at, &DIGIT_PAIRS[pair..pair + 2])
    } else {
        put(buf, at, &[b'0' + n as u8])
    }
}

fn ascii_string(s: &[u8]) -> String {
    String::from_utf8(s.to_vec()).expect("Content-Range is ASCII")
}

fn header_value(s: &[u8]) -> http::HeaderValue {
    http::HeaderValue::from_bytes(s).expect("Content-Range is visible ASCII")
}

#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod reference;
#[cfg(test)]
mod tests;
