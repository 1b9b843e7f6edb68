//! HTTP-date ([RFC 9110 §5.6.7]) and Last-Modified ([RFC 9110 §8.8.2]).
//!
//! Never reads the clock: the current time is always an argument.
//!
//! [RFC 9110 §5.6.7]: https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7
//! [RFC 9110 §8.8.2]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.2
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses an HTTP-date in any of its three forms: IMF-fixdate, the obsolete
/// RFC 850 form and asctime ([RFC 9110 §5.6.7]: "A recipient that parses a
/// timestamp value in an HTTP field MUST accept all three HTTP-date formats").
///
/// Returns `None` for anything else; callers ignore such fields (§13.1.3, §13.1.4).
///
/// # Examples
///
/// ```
/// use ferry_proto::parse_http_date;
/// let a = parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT");
/// assert!(a.is_some());
/// assert_eq!(a, parse_http_date(b"Sunday, 06-Nov-94 08:49:37 GMT"));
/// assert_eq!(a, parse_http_date(b"Sun Nov  6 08:49:37 1994"));
/// assert_eq!(parse_http_date(b"yesterday"), None);
/// ```
///
/// [RFC 9110 §5.6.7]: https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7
pub fn parse_http_date(value: &[u8]) -> Option<SystemTime> {
    let s = std::str::from_utf8(crate::list::trim(value)).ok()?;
    if s.len() > 64 {
        return None;
    }
    httpdate::parse_http_date(s).ok()
}

/// Formats `t` (truncated to whole seconds) as IMF-fixdate, e.g.
/// `Sun, 06 Nov 1994 08:49:37 GMT`: "a sender MUST generate timestamps in the
/// IMF-fixdate format" (§5.6.7).
pub fn fmt_http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(truncate_to_secs(t))
}

/// Truncates to whole seconds since the epoch (earlier times become the epoch).
pub fn truncate_to_secs(t: SystemTime) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs(t))
}

/// Whole seconds since the epoch (0 before it).
pub(crate) fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The Last-Modified value to send: `min(mtime, now)` in whole seconds.
///
/// [RFC 9110 §8.8.2.1]: "An origin server with a clock MUST NOT generate a
/// Last-Modified date that is later than the server's time of message origination
/// (Date)."
///
/// [RFC 9110 §8.8.2.1]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.2.1
pub fn clamp_last_modified(mtime: SystemTime, now: SystemTime) -> SystemTime {
    truncate_to_secs(mtime.min(now))
}

/// A parsed `If-Modified-Since` value, including Django's legacy `; length=N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfModifiedSince {
    /// The date (whole seconds).
    pub date: SystemTime,
    /// The `length=N` parameter, when present and valid.
    pub length: Option<u64>,
}

/// Parses an If-Modified-Since value: an HTTP-date optionally followed by
/// `; length=N`.
///
/// Choice: the `length` parameter is an old Netscape/IE extension that Django's
/// `was_modified_since` still honours: when N differs from the current length,
/// the representation counts as modified. ferry does the same. A malformed
/// parameter is dropped and the date alone is used; a malformed date makes the
/// whole field invalid (and so ignored).
///
/// # Examples
///
/// ```
/// use ferry_proto::date::parse_if_modified_since;
/// let ims = parse_if_modified_since(b"Sun, 06 Nov 1994 08:49:37 GMT; length=123").unwrap();
/// assert_eq!(ims.length, Some(123));
/// ```
pub fn parse_if_modified_since(value: &[u8]) -> Option<IfModifiedSince> {
    let mut parts = value.splitn(2, |&b| b == b';');
    let date = parse_http_date(parts.next()?)?;
    let length = parts.next().and_then(|p| {
        let p = std::str::from_utf8(crate::list::trim(p)).ok()?;
        let (name, n) = p.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("length") {
            return None;
        }
        let n = n.trim();
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        n.parse().ok()
    });
    Some(IfModifiedSince { date, length })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_forms_rfc9110_5_6_7() {
        // §5.6.7: the three example forms denote the same instant.
        let want = UNIX_EPOCH + Duration::from_secs(784_111_777);
        for s in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(s.as_bytes()), Some(want), "{s}");
        }
        assert_eq!(fmt_http_date(want), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn garbage_is_none() {
        for s in [
            "",
            "yesterday",
            "Sun, 06 Nov 1994",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "1994-11-06T08:49:37Z",
            "\u{ff}",
        ] {
            assert_eq!(parse_http_date(s.as_bytes()), None, "{s:?}");
        }
        assert_eq!(parse_http_date(b"\xff\xfe"), None);
    }

    #[test]
    fn django_length_parameter() {
        let d = UNIX_EPOCH + Duration::from_secs(784_111_777);
        for (s, len) in [
            ("Sun, 06 Nov 1994 08:49:37 GMT", None),
            ("Sun, 06 Nov 1994 08:49:37 GMT; length=123", Some(123)),
            ("Sun, 06 Nov 1994 08:49:37 GMT;length=7", Some(7)),
            ("Sun, 06 Nov 1994 08:49:37 GMT; LENGTH = 9", Some(9)),
            ("Sun, 06 Nov 1994 08:49:37 GMT; length=abc", None),
            ("Sun, 06 Nov 1994 08:49:37 GMT; size=5", None),
        ] {
            assert_eq!(
                parse_if_modified_since(s.as_bytes()),
                Some(IfModifiedSince {
                    date: d,
                    length: len
                }),
                "{s}"
            );
        }
        assert_eq!(parse_if_modified_since(b"nope; length=1"), None);
    }

    #[test]
    fn last_modified_never_after_date() {
        let now = UNIX_EPOCH + Duration::new(1000, 500);
        assert_eq!(
            clamp_last_modified(now + Duration::from_secs(5), now),
            UNIX_EPOCH + Duration::from_secs(1000)
        );
        assert_eq!(
            clamp_last_modified(UNIX_EPOCH + Duration::new(900, 999), now),
            UNIX_EPOCH + Duration::from_secs(900)
        );
    }
}
