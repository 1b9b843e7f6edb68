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
    let value = crate::list::trim(value);
    if let Some(t) = parse_imf_fixdate(value) {
        return t;
    }
    let s = std::str::from_utf8(value).ok()?;
    if s.len() > 64 {
        return None;
    }
    httpdate::parse_http_date(s).ok()
}

/// The IMF-fixdate form of HTTP-date, `Sun, 06 Nov 1994 08:49:37 GMT`
/// ([RFC 9110 §5.6.7]), without the `httpdate` crate: the form every sender
/// generates, so the one on the hot path of `If-Modified-Since`.
///
/// `None` when `s` is not shaped like an IMF-fixdate (29 bytes: a day name,
/// `, `, two digits, a month name, four digits, `HH:MM:SS`, ` GMT`); the caller
/// then asks `httpdate`, which also knows the obsolete forms. Otherwise the
/// answer is final and exactly `httpdate`'s: `Some(None)` unless every field is
/// in range, the day exists in that month and year, the year is 1970..=9999 and
/// the day name is that date's weekday (`httpdate` checks all of this by a round
/// trip through `SystemTime`).
///
/// The last answer is kept per thread: a client polling one file sends the
/// same `If-Modified-Since` again and again (the `Last-Modified` it was given),
/// and comparing 29 bytes costs a tenth of parsing them.
///
/// [RFC 9110 §5.6.7]: https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7
fn parse_imf_fixdate(s: &[u8]) -> Option<Option<SystemTime>> {
    type Answer = ([u8; 29], Option<Option<SystemTime>>);
    thread_local! {
        // 29 zero bytes are not shaped like a date: the right first answer.
        static LAST: std::cell::Cell<Answer> = const { std::cell::Cell::new(([0; 29], None)) };
    }
    let s: &[u8; 29] = s.try_into().ok()?;
    let (last, answer) = LAST.get();
    if *s == last {
        return answer;
    }
    let answer = parse_fixdate(s);
    LAST.set((*s, answer));
    answer
}

/// [`parse_imf_fixdate`], without the memory.
fn parse_fixdate(s: &[u8; 29]) -> Option<Option<SystemTime>> {
    if &s[3..5] != b", "
        || s[7] != b' '
        || s[11] != b' '
        || s[16] != b' '
        || s[19] != b':'
        || s[22] != b':'
        || &s[25..] != b" GMT"
    {
        return None;
    }
    let wday: u64 = match [s[0], s[1], s[2]] {
        [b'M', b'o', b'n'] => 0,
        [b'T', b'u', b'e'] => 1,
        [b'W', b'e', b'd'] => 2,
        [b'T', b'h', b'u'] => 3,
        [b'F', b'r', b'i'] => 4,
        [b'S', b'a', b't'] => 5,
        [b'S', b'u', b'n'] => 6,
        _ => return None,
    };
    let mon: u64 = match [s[8], s[9], s[10]] {
        [b'J', b'a', b'n'] => 1,
        [b'F', b'e', b'b'] => 2,
        [b'M', b'a', b'r'] => 3,
        [b'A', b'p', b'r'] => 4,
        [b'M', b'a', b'y'] => 5,
        [b'J', b'u', b'n'] => 6,
        [b'J', b'u', b'l'] => 7,
        [b'A', b'u', b'g'] => 8,
        [b'S', b'e', b'p'] => 9,
        [b'O', b'c', b't'] => 10,
        [b'N', b'o', b'v'] => 11,
        [b'D', b'e', b'c'] => 12,
        _ => return None,
    };
    let digits = |at: usize, n: usize| {
        s[at..at + n].iter().try_fold(0u64, |v, &b| {
            let d = b.wrapping_sub(b'0');
            (d < 10).then_some(v * 10 + u64::from(d))
        })
    };
    let day = digits(5, 2)?;
    let year = digits(12, 4)?;
    let (hour, min, sec) = (digits(17, 2)?, digits(20, 2)?, digits(23, 2)?);
    if sec >= 60 || min >= 60 || hour >= 24 || !(1970..=9999).contains(&year) {
        return Some(None);
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_len = match mon {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day == 0 || day > month_len {
        return Some(None);
    }
    let days = days_from_civil(year, mon, day);
    // 1970-01-01 was a Thursday (index 3).
    if (days + 3) % 7 != wday {
        return Some(None);
    }
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec;
    Some(Some(UNIX_EPOCH + Duration::from_secs(secs)))
}

/// Days from 1970-01-01 to a proleptic Gregorian date in 1970..=9999, `month`
/// 1..=12 and `day` valid for it (Howard Hinnant's `days_from_civil`, with
/// years starting in March so that the leap day comes last).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let (era, yoe) = (y / 400, y % 400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
    // What browsers send back: a bare IMF-fixdate, which has no `;` to look for.
    if let Some(date) = parse_imf_fixdate(crate::list::trim(value)) {
        return date.map(|date| IfModifiedSince { date, length: None });
    }
    let (date, param) = match value.iter().position(|&b| b == b';') {
        Some(semi) => (&value[..semi], Some(&value[semi + 1..])),
        None => (value, None),
    };
    let date = parse_http_date(date)?;
    let length = param.and_then(|p| {
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
            (" \tSun, 06 Nov 1994 08:49:37 GMT\t ", None),
            ("Sun, 06 Nov 1994 08:49:37 GMT;", None),
            ("Sun, 06 Nov 1994 08:49:37 GMT ; length=0", Some(0)),
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

    const DAY_NAMES: [&[u8; 3]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
    const MONTH_NAMES: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];

    /// What `httpdate` alone says: the reference the IMF-fixdate fast path must
    /// agree with.
    fn reference(s: &str) -> Option<SystemTime> {
        httpdate::parse_http_date(s).ok()
    }

    #[test]
    fn imf_fixdate_fast_path_agrees_with_httpdate_on_the_calendar() {
        // §5.6.7: day-name must be the date's weekday; the date must exist.
        // Leap rules around centuries (2100 is not a leap year, 2000 and 2400
        // are), the first and last representable years, and years httpdate
        // rejects (before 1970).
        let years = [
            0, 1, 1600, 1900, 1969, 1970, 1971, 1972, 1999, 2000, 2001, 2024, 2038, 2099, 2100,
            2104, 2399, 2400, 2500, 9996, 9999,
        ];
        let mut accepted = 0;
        for year in years {
            for (m, mon) in MONTH_NAMES.iter().enumerate() {
                for day in 0..=39 {
                    for wday in DAY_NAMES {
                        let s = format!(
                            "{}, {day:02} {} {year:04} 23:59:59 GMT",
                            std::str::from_utf8(wday).unwrap(),
                            std::str::from_utf8(*mon).unwrap()
                        );
                        let want = reference(&s);
                        assert_eq!(
                            parse_imf_fixdate(s.as_bytes()),
                            Some(want),
                            "{s} (month {m})"
                        );
                        assert_eq!(parse_http_date(s.as_bytes()), want, "{s}");
                        accepted += usize::from(want.is_some());
                    }
                }
            }
        }
        // 365 or 366 days in each of the 16 years from 1970 on.
        assert_eq!(accepted, 16 * 365 + 6);
        for s in [
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Tue, 29 Feb 2000 12:00:00 GMT",
            "Tue, 29 Feb 2400 12:00:00 GMT",
        ] {
            assert!(parse_http_date(s.as_bytes()).is_some(), "{s}");
            assert_eq!(parse_http_date(s.as_bytes()), reference(s), "{s}");
        }
        for s in [
            "Mon, 29 Feb 2100 12:00:00 GMT",
            "Sun, 31 Apr 2024 12:00:00 GMT",
            "Wed, 31 Dec 1969 23:59:59 GMT",
            "Thu, 01 Jan 1970 24:00:00 GMT",
            "Thu, 01 Jan 1970 00:60:00 GMT",
            "Thu, 01 Jan 1970 00:00:60 GMT",
            "Fri, 01 Jan 1970 00:00:00 GMT",
        ] {
            assert_eq!(parse_http_date(s.as_bytes()), None, "{s}");
            assert_eq!(parse_imf_fixdate(s.as_bytes()), Some(None), "{s}");
        }
    }

    #[test]
    fn the_remembered_answer_is_the_answer_for_those_bytes() {
        // A fresh thread, so the first lookup meets the initial memory.
        std::thread::spawn(|| {
            assert_eq!(parse_imf_fixdate(&[0; 29]), None);
            let a = "Sun, 06 Nov 1994 08:49:37 GMT";
            let b = "Mon, 07 Nov 1994 08:49:37 GMT";
            let bad = "Mon, 06 Nov 1994 08:49:37 GMT"; // the wrong weekday
            let utc = "Sun, 06 Nov 1994 08:49:37 UTC"; // not the shape
            for s in [a, a, b, a, bad, bad, a, b, b, utc, a] {
                let fresh = parse_fixdate(s.as_bytes().try_into().unwrap());
                assert_eq!(parse_imf_fixdate(s.as_bytes()), fresh, "{s}");
            }
            assert_eq!(parse_imf_fixdate(bad.as_bytes()), Some(None));
            assert!(parse_imf_fixdate(a.as_bytes()).unwrap().is_some());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn only_imf_fixdate_shapes_take_the_fast_path() {
        for s in [
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT ",
            "Sun, 06 Nov 1994 08:49:3x GMT",
            "Sun, 06 Nov +994 08:49:37 GMT",
            "Sun,  06 Nov 1994 08:49:37 GMT",
            "\r\n\r\n\rSun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_imf_fixdate(s.as_bytes()), None, "{s:?}");
            assert_eq!(parse_http_date(s.as_bytes()), reference(s), "{s:?}");
        }
    }

    /// One edit of an IMF-fixdate, for the mutation proptest.
    #[derive(Debug, Clone)]
    enum Edit {
        Replace(usize, char),
        Insert(usize, char),
        Delete(usize),
        Field(usize, String),
    }

    fn edit() -> impl proptest::strategy::Strategy<Value = Edit> {
        use proptest::prelude::*;
        let ch = prop_oneof![
            4 => proptest::char::ranges(vec!['0'..='9'].into()),
            2 => proptest::sample::select(vec![' ', ':', ',', '-', '\t', '\r', '\n', ';', 'G', 'M', 'T']),
            1 => proptest::char::ranges(vec!['A'..='Z', 'a'..='z'].into()),
            1 => proptest::sample::select(vec!['\u{e9}', '\u{661}', '\u{ff10}', '\0', '\u{7f}']),
        ];
        let day = proptest::sample::select(DAY_NAMES.to_vec());
        let mon = proptest::sample::select(MONTH_NAMES.to_vec());
        let name = |n: &&[u8; 3]| String::from_utf8(n.to_vec()).unwrap();
        prop_oneof![
            (0..30usize, ch.clone()).prop_map(|(i, c)| Edit::Replace(i, c)),
            (0..30usize, ch).prop_map(|(i, c)| Edit::Insert(i, c)),
            (0..30usize).prop_map(Edit::Delete),
            day.prop_map(move |d| Edit::Field(0, name(&d))),
            (0..=39u32).prop_map(|d| Edit::Field(5, format!("{d:02}"))),
            mon.prop_map(move |m| Edit::Field(8, name(&m))),
            prop_oneof![
                0..=9999u32,
                1960..=2500u32,
                proptest::sample::select(vec![1900, 1969, 1970, 2000, 2100, 2400, 9999])
            ]
            .prop_map(|y| Edit::Field(12, format!("{y:04}"))),
            (0..=99u32).prop_map(|h| Edit::Field(17, format!("{h:02}"))),
            (0..=99u32).prop_map(|m| Edit::Field(20, format!("{m:02}"))),
            (0..=99u32).prop_map(|s| Edit::Field(23, format!("{s:02}"))),
        ]
    }

    fn apply(s: &str, edits: &[Edit]) -> String {
        let mut c: Vec<char> = s.chars().collect();
        for e in edits {
            match e {
                Edit::Replace(i, ch) if *i < c.len() => c[*i] = *ch,
                Edit::Insert(i, ch) => c.insert((*i).min(c.len()), *ch),
                Edit::Delete(i) if *i < c.len() => {
                    c.remove(*i);
                }
                Edit::Field(i, f) if i + f.len() <= c.len() => {
                    c.splice(*i..i + f.len(), f.chars());
                }
                _ => {}
            }
        }
        c.into_iter().collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        #[test]
        fn fast_path_reads_every_formatted_date(secs in 0u64..253_402_300_800) {
            // Up to Fri, 31 Dec 9999 23:59:59 GMT, the last date httpdate represents.
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            let s = fmt_http_date(t);
            proptest::prop_assert_eq!(parse_imf_fixdate(s.as_bytes()), Some(Some(t)), "{}", s);
            proptest::prop_assert_eq!(parse_http_date(s.as_bytes()), reference(&s), "{}", s);
        }

        #[test]
        fn fast_path_agrees_with_httpdate_on_mutated_dates(
            secs in 0u64..253_402_300_800,
            edits in proptest::collection::vec(edit(), 1..4),
        ) {
            let s = apply(&fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs)), &edits);
            proptest::prop_assert_eq!(parse_http_date(s.as_bytes()), reference(&s), "{:?}", s);
            // The same edits under every day name, so that a changed day, month
            // or year is also tried with its right weekday.
            for d in DAY_NAMES {
                let s = apply(&s, &[Edit::Field(0, String::from_utf8(d.to_vec()).unwrap())]);
                proptest::prop_assert_eq!(parse_http_date(s.as_bytes()), reference(&s), "{:?}", s);
                let ims = parse_if_modified_since(s.as_bytes()).map(|i| i.date);
                let before_semicolon = s.split(';').next().unwrap_or_default();
                proptest::prop_assert_eq!(ims, reference(before_semicolon), "{:?}", s);
            }
        }
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
