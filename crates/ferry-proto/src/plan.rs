//! The decision: method, request headers, representation metadata and the
//! current time in; what to send out. Never performs I/O.
use crate::precondition::{self, Condition, Outcome, Validators};
use crate::range::{self, Resolved};
use crate::{EntityTag, RangeSet};
use http::{header, HeaderMap, Method};
use std::ops::Range;
use std::time::SystemTime;

/// Metadata of the selected representation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Length in bytes.
    pub len: u64,
    /// Entity tag, if any.
    pub etag: Option<EntityTag>,
    /// Raw modification time (sub-second allowed).
    pub last_modified: Option<SystemTime>,
}

/// What to send, decided without touching the body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Plan {
    /// 200 with the whole representation.
    Full,
    /// 206 with one range ([RFC 9110 §14.4]).
    ///
    /// [RFC 9110 §14.4]: https://www.rfc-editor.org/rfc/rfc9110#section-14.4
    Partial(Range<u64>),
    /// 206 multipart/byteranges ([RFC 9110 §14.6]).
    ///
    /// [RFC 9110 §14.6]: https://www.rfc-editor.org/rfc/rfc9110#section-14.6
    Multipart(RangeSet),
    /// 304 ([RFC 9110 §15.4.5]).
    ///
    /// [RFC 9110 §15.4.5]: https://www.rfc-editor.org/rfc/rfc9110#section-15.4.5
    NotModified,
    /// 412 ([RFC 9110 §15.5.13]).
    ///
    /// [RFC 9110 §15.5.13]: https://www.rfc-editor.org/rfc/rfc9110#section-15.5.13
    PreconditionFailed,
    /// 416 with `Content-Range: bytes */len` ([RFC 9110 §15.5.17]).
    ///
    /// [RFC 9110 §15.5.17]: https://www.rfc-editor.org/rfc/rfc9110#section-15.5.17
    RangeNotSatisfiable,
    /// 405 with `Allow: GET, HEAD`.
    MethodNotAllowed,
}

/// Decides the response for a GET or HEAD of a representation.
///
/// 1. Methods other than GET and HEAD: [`Plan::MethodNotAllowed`].
/// 2. Preconditions, steps 1–4 of [RFC 9110 §13.2.2]: 412 or 304.
/// 3. Step 5: Range, only when If-Range (if any) is true; ignored Range → 200.
///
/// Choice: HEAD takes exactly the GET path, ranges included, so a HEAD shows the
/// status and headers the GET would get. Several Range field lines make the
/// field invalid (ignored).
///
/// # Examples
///
/// ```
/// use ferry_proto::{plan, Meta, Plan};
/// use http::{HeaderMap, Method};
/// use std::time::{Duration, SystemTime};
///
/// let meta = Meta { len: 10_000, etag: Some("\"v1\"".parse()?), last_modified: None };
/// let mut h = HeaderMap::new();
/// h.insert("range", "bytes=-500".parse().unwrap());
/// assert_eq!(plan(&Method::GET, &h, &meta, SystemTime::now()), Plan::Partial(9500..10_000));
/// h.insert("if-none-match", "\"v1\"".parse().unwrap());
/// assert_eq!(plan(&Method::GET, &h, &meta, SystemTime::now()), Plan::NotModified);
/// # Ok::<(), ferry_proto::ParseError>(())
/// ```
///
/// [RFC 9110 §13.2.2]: https://www.rfc-editor.org/rfc/rfc9110#section-13.2.2
pub fn plan(method: &Method, headers: &HeaderMap, meta: &Meta, now: SystemTime) -> Plan {
    if method != Method::GET && method != Method::HEAD {
        return Plan::MethodNotAllowed;
    }
    let v = Validators {
        etag: meta.etag.as_ref(),
        last_modified: meta.last_modified,
        len: meta.len,
    };
    match precondition::evaluate(method, headers, &v) {
        Outcome::NotModified => return Plan::NotModified,
        Outcome::PreconditionFailed => return Plan::PreconditionFailed,
        Outcome::Proceed => {}
    }
    let mut ranges = headers.get_all(header::RANGE).iter();
    let (Some(value), None) = (ranges.next(), ranges.next()) else {
        // No Range, or several lines: If-Range is ignored (§13.1.5) and so is Range.
        return Plan::Full;
    };
    if precondition::if_range(headers, &v, now) == Condition::False {
        return Plan::Full;
    }
    match range::resolve(value.as_bytes(), meta.len) {
        Resolved::Ignore => Plan::Full,
        Resolved::Unsatisfiable => Plan::RangeNotSatisfiable,
        Resolved::Satisfiable(set) if set.as_slice().len() == 1 => {
            Plan::Partial(set.as_slice()[0].clone())
        }
        Resolved::Satisfiable(set) => Plan::Multipart(set),
    }
}
