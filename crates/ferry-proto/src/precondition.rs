//! Preconditions ([RFC 9110 §13.1]) evaluated in the order of §13.2.2.
//!
//! Each field evaluates to a tri-state [`Condition`] (as Go's `net/http/fs.go`):
//! `Absent` also covers every case where the RFC says to ignore the field.
//! Never performs I/O; the current time is an argument.
//!
//! [RFC 9110 §13.1]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1
use crate::date::{parse_http_date, parse_if_modified_since, secs};
use crate::etag::{match_list, ListMatch};
use crate::EntityTag;
use http::header::{self, HeaderMap, HeaderName};
use http::Method;
use std::time::{Duration, SystemTime};

/// A precondition's value: absent (or to be ignored), true or false.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// The field is missing or the RFC says to ignore it.
    Absent,
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
}

/// What the preconditions decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Go on (to Range processing and then 200/206).
    Proceed,
    /// 304 Not Modified (only for GET and HEAD).
    NotModified,
    /// 412 Precondition Failed.
    PreconditionFailed,
}

/// The validators of the selected representation.
#[derive(Debug, Clone, Copy)]
pub struct Validators<'a> {
    /// The entity tag, if the representation has one.
    pub etag: Option<&'a EntityTag>,
    /// Raw modification time (sub-second precision allowed; compared in whole
    /// seconds, as HTTP-dates carry).
    pub last_modified: Option<SystemTime>,
    /// Current length (for Django's `If-Modified-Since: <date>; length=N`).
    pub len: u64,
}

/// The request fields that preconditions and Range read, found in one pass
/// over the request's fields rather than by one lookup per field and rule
/// (a request carries none of them, or one or two).
#[derive(Clone, Copy)]
pub(crate) struct Fields<'a> {
    headers: &'a HeaderMap,
    if_match: Seen<'a>,
    if_none_match: Seen<'a>,
    if_modified_since: Seen<'a>,
    if_unmodified_since: Seen<'a>,
    if_range: Seen<'a>,
    range: Seen<'a>,
}

/// How many lines of one field a request has.
#[derive(Clone, Copy)]
enum Seen<'a> {
    Absent,
    One(&'a [u8]),
    /// Several: a list field reads them all from the map; a single-valued
    /// one is invalid.
    Many,
}

impl<'a> Fields<'a> {
    pub(crate) fn of(headers: &'a HeaderMap) -> Self {
        let mut f = Fields {
            headers,
            if_match: Seen::Absent,
            if_none_match: Seen::Absent,
            if_modified_since: Seen::Absent,
            if_unmodified_since: Seen::Absent,
            if_range: Seen::Absent,
            range: Seen::Absent,
        };
        for (name, value) in headers {
            let seen = if *name == header::IF_MATCH {
                &mut f.if_match
            } else if *name == header::IF_NONE_MATCH {
                &mut f.if_none_match
            } else if *name == header::IF_MODIFIED_SINCE {
                &mut f.if_modified_since
            } else if *name == header::IF_UNMODIFIED_SINCE {
                &mut f.if_unmodified_since
            } else if *name == header::IF_RANGE {
                &mut f.if_range
            } else if *name == header::RANGE {
                &mut f.range
            } else {
                continue;
            };
            *seen = match seen {
                Seen::Absent => Seen::One(value.as_bytes()),
                _ => Seen::Many,
            };
        }
        f
    }

    /// The Range field's value; `None` when absent or sent on several lines
    /// (an invalid field, ignored).
    pub(crate) fn range(&self) -> Option<&'a [u8]> {
        match self.range {
            Seen::One(v) => Some(v),
            _ => None,
        }
    }

    /// Matches every field line of a list field (a list may span several
    /// lines); `None` when absent.
    fn list(
        &self,
        seen: Seen<'_>,
        name: HeaderName,
        tag: Option<&EntityTag>,
        strong: bool,
    ) -> Option<ListMatch> {
        match seen {
            Seen::Absent => None,
            Seen::One(v) => Some(match_list(v, tag, strong)),
            Seen::Many => {
                let mut result = None;
                for v in self.headers.get_all(name) {
                    let m = match_list(v.as_bytes(), tag, strong);
                    result = Some(match (result, m) {
                        (_, ListMatch::Invalid) | (Some(ListMatch::Invalid), _) => {
                            ListMatch::Invalid
                        }
                        (Some(ListMatch::Any), _) | (_, ListMatch::Any) => ListMatch::Any,
                        (Some(ListMatch::Matched), _) | (_, ListMatch::Matched) => {
                            ListMatch::Matched
                        }
                        _ => ListMatch::NoMatch,
                    });
                }
                result
            }
        }
    }
}

/// The single value of a date field: `None` when absent, `Some(None)` when
/// sent on several lines (invalid).
fn single(seen: Seen<'_>) -> Option<Option<&[u8]>> {
    match seen {
        Seen::Absent => None,
        Seen::One(v) => Some(Some(v)),
        Seen::Many => Some(None),
    }
}

/// [RFC 9110 §13.1.1] If-Match: true when the field is `*` (a current
/// representation exists) or lists a tag that matches by strong comparison.
///
/// Choice: a syntactically invalid If-Match is false (412), as in Go's
/// `net/http`: a client that sent a precondition never gets the unconditional
/// action because it mistyped it.
///
/// [RFC 9110 §13.1.1]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.1
pub fn if_match(headers: &HeaderMap, v: &Validators<'_>) -> Condition {
    Fields::of(headers).if_match(v)
}

impl Fields<'_> {
    fn if_match(&self, v: &Validators<'_>) -> Condition {
        match self.list(self.if_match, header::IF_MATCH, v.etag, true) {
            None => Condition::Absent,
            Some(ListMatch::Any | ListMatch::Matched) => Condition::True,
            Some(ListMatch::NoMatch | ListMatch::Invalid) => Condition::False,
        }
    }
}

/// [RFC 9110 §13.1.4] If-Unmodified-Since: false when the representation was
/// modified after the date. "A recipient MUST ignore If-Unmodified-Since if the
/// request contains an If-Match header field" and "if the received field value
/// is not a valid HTTP-date"; ignored too without a modification time.
///
/// [RFC 9110 §13.1.4]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.4
pub fn if_unmodified_since(headers: &HeaderMap, v: &Validators<'_>) -> Condition {
    Fields::of(headers).if_unmodified_since(v)
}

impl Fields<'_> {
    fn if_unmodified_since(&self, v: &Validators<'_>) -> Condition {
        if !matches!(self.if_match, Seen::Absent) {
            return Condition::Absent;
        }
        let (Some(Some(value)), Some(lm)) = (single(self.if_unmodified_since), v.last_modified)
        else {
            return Condition::Absent;
        };
        match parse_http_date(value) {
            None => Condition::Absent,
            Some(date) if secs(lm) <= secs(date) => Condition::True,
            Some(_) => Condition::False,
        }
    }
}

/// [RFC 9110 §13.1.2] If-None-Match: false when the field is `*` or lists a tag
/// that matches by weak comparison. An invalid field is ignored.
///
/// [RFC 9110 §13.1.2]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.2
pub fn if_none_match(headers: &HeaderMap, v: &Validators<'_>) -> Condition {
    Fields::of(headers).if_none_match(v)
}

impl Fields<'_> {
    fn if_none_match(&self, v: &Validators<'_>) -> Condition {
        match self.list(self.if_none_match, header::IF_NONE_MATCH, v.etag, false) {
            None | Some(ListMatch::Invalid) => Condition::Absent,
            Some(ListMatch::Any | ListMatch::Matched) => Condition::False,
            Some(ListMatch::NoMatch) => Condition::True,
        }
    }
}

/// [RFC 9110 §13.1.3] If-Modified-Since: true when modified after the date.
/// "A recipient MUST ignore If-Modified-Since if the request contains an
/// If-None-Match header field", "if the received field value is not a valid
/// HTTP-date", or "if the request method is neither GET nor HEAD".
///
/// Django's legacy `; length=N`: a different length counts as modified.
///
/// [RFC 9110 §13.1.3]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.3
pub fn if_modified_since(method: &Method, headers: &HeaderMap, v: &Validators<'_>) -> Condition {
    Fields::of(headers).if_modified_since(method, v)
}

impl Fields<'_> {
    fn if_modified_since(&self, method: &Method, v: &Validators<'_>) -> Condition {
        if (method != Method::GET && method != Method::HEAD)
            || !matches!(self.if_none_match, Seen::Absent)
        {
            return Condition::Absent;
        }
        let (Some(Some(value)), Some(lm)) = (single(self.if_modified_since), v.last_modified)
        else {
            return Condition::Absent;
        };
        let Some(ims) = parse_if_modified_since(value) else {
            return Condition::Absent;
        };
        if ims.length.is_some_and(|n| n != v.len) {
            return Condition::True;
        }
        if secs(lm) > secs(ims.date) {
            Condition::True
        } else {
            Condition::False
        }
    }
}

/// [RFC 9110 §13.1.5] If-Range: true when the range may be sent.
///
/// An entity tag must match by strong comparison (a weak tag never matches). An
/// HTTP-date matches only when it equals Last-Modified exactly and Last-Modified
/// is a strong validator: per §8.8.2.2, at least one second older than `now`
/// (the response's Date). Absent when there is no If-Range.
///
/// Choice: a value that is neither a valid entity-tag nor a valid HTTP-date is
/// false: the range is ignored and the whole representation sent, which is
/// always safe.
///
/// [RFC 9110 §13.1.5]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.5
pub fn if_range(headers: &HeaderMap, v: &Validators<'_>, now: SystemTime) -> Condition {
    Fields::of(headers).if_range(v, now)
}

impl Fields<'_> {
    pub(crate) fn if_range(&self, v: &Validators<'_>, now: SystemTime) -> Condition {
        let Some(value) = single(self.if_range) else {
            return Condition::Absent;
        };
        let Some(value) = value else {
            return Condition::False;
        };
        let trimmed = crate::list::trim(value);
        if trimmed.first() == Some(&b'"') || trimmed.starts_with(b"W/") {
            let ok = crate::etag::parse(trimmed)
                .zip(v.etag)
                .is_some_and(|(theirs, ours)| theirs.strong_eq(ours));
            return if ok {
                Condition::True
            } else {
                Condition::False
            };
        }
        let ok = match (parse_http_date(trimmed), v.last_modified) {
            (Some(date), Some(lm)) => {
                let strong = now
                    .duration_since(lm)
                    .is_ok_and(|d| d >= Duration::from_secs(1));
                strong && secs(lm) == secs(date)
            }
            _ => false,
        };
        if ok {
            Condition::True
        } else {
            Condition::False
        }
    }
}

/// Steps 1–4 of [RFC 9110 §13.2.2]: If-Match, else If-Unmodified-Since; then
/// If-None-Match, else (GET/HEAD) If-Modified-Since.
///
/// Choice: a failed If-Match/If-Unmodified-Since is 412 even when the change
/// it guards against has already happened (§13.1.1 lets a server answer 2xx
/// there; ferry never performs state-changing methods).
///
/// [RFC 9110 §13.2.2]: https://www.rfc-editor.org/rfc/rfc9110#section-13.2.2
pub fn evaluate(method: &Method, headers: &HeaderMap, v: &Validators<'_>) -> Outcome {
    Fields::of(headers).evaluate(method, v)
}

impl Fields<'_> {
    /// [`evaluate`] over fields already found.
    pub(crate) fn evaluate(&self, method: &Method, v: &Validators<'_>) -> Outcome {
        // Step 1, else step 2.
        let first = match self.if_match(v) {
            Condition::Absent => self.if_unmodified_since(v),
            c => c,
        };
        if first == Condition::False {
            return Outcome::PreconditionFailed;
        }
        let get_or_head = method == Method::GET || method == Method::HEAD;
        // Step 3.
        match self.if_none_match(v) {
            Condition::False if get_or_head => return Outcome::NotModified,
            Condition::False => return Outcome::PreconditionFailed,
            Condition::True => return Outcome::Proceed,
            Condition::Absent => {}
        }
        // Step 4.
        if self.if_modified_since(method, v) == Condition::False {
            return Outcome::NotModified;
        }
        Outcome::Proceed
    }
}
