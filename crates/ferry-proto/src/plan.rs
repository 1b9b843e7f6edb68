//! The decision: method, request headers, representation metadata and the
//! current time in; what to send out. Never performs I/O.
use crate::multipart;
use crate::precondition::{self, Condition, Outcome, Validators};
use crate::range::{self, Resolved};
use crate::{AcceptEncoding, ContentCoding, EntityTag, RangeSet};
use http::{header, HeaderMap, Method};
use std::ops::{Range, RangeInclusive};
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
    /// Whether the representation has a content coding, so that a 200 or 206
    /// carries `Content-Encoding` ([RFC 9110 §8.4]): a precompressed variant,
    /// or bytes stored coded. `plan` needs it because a multipart/byteranges
    /// response cannot carry the coding (see [`plan()`]).
    ///
    /// [RFC 9110 §8.4]: https://www.rfc-editor.org/rfc/rfc9110#section-8.4
    pub coded: bool,
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

/// Whether `plan` serves `method`: GET and HEAD. Every other method is
/// [`Plan::MethodNotAllowed`] (405 with `Allow: GET, HEAD`, [RFC 9110 §15.5.6]).
///
/// The one place that decides 405: [`plan()`] calls it, and so do servers that
/// answer 405 before opening anything (they have no metadata to plan with yet).
///
/// # Examples
///
/// ```
/// use http::Method;
/// assert!(ferry_proto::plan::allows(&Method::HEAD));
/// assert!(!ferry_proto::plan::allows(&Method::POST));
/// ```
///
/// [RFC 9110 §15.5.6]: https://www.rfc-editor.org/rfc/rfc9110#section-15.5.6
pub fn allows(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// Decides the response for a GET or HEAD of a representation. What it
/// returns is what is sent: nothing after it changes the status or the kind
/// of body.
///
/// 1. Methods other than GET and HEAD ([`allows`]): [`Plan::MethodNotAllowed`].
/// 2. Preconditions, steps 1–4 of [RFC 9110 §13.2.2]: 412 or 304.
/// 3. Step 5: Range, only when If-Range (if any) is true; ignored Range → 200.
///    One satisfiable range is a 206; several are a multipart/byteranges 206
///    with the parts in request order ([`range::resolve`]), except as below.
///
/// Choice: HEAD takes exactly the GET path, ranges included, so a HEAD shows the
/// status and headers the GET would get. Several Range field lines make the
/// field invalid (ignored).
///
/// Choice: several ranges of a content-coded representation ([`Meta::coded`])
/// get the whole representation (200). A multipart/byteranges response would
/// need the Content-Encoding inside each part, which clients do not read, and
/// the outer message must not claim a coding its multipart body does not have;
/// §14.2 lets a server ignore Range. One range of it is still a 206.
///
/// Choice: several ranges whose multipart body would be too long to count in a
/// `u64` (content beyond [`multipart::MAX_CONTENT_LEN`], a representation near
/// 16 EiB) get the whole representation (200), whose length always fits.
///
/// # Examples
///
/// ```
/// use ferry_proto::{plan, Meta, Plan};
/// use http::{HeaderMap, Method};
/// use std::time::{Duration, SystemTime};
///
/// let meta = Meta { len: 10_000, etag: Some("\"v1\"".parse()?), last_modified: None, coded: false };
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
    if !allows(method) {
        return Plan::MethodNotAllowed;
    }
    let v = Validators {
        etag: meta.etag.as_ref(),
        last_modified: meta.last_modified,
        len: meta.len,
    };
    let fields = precondition::Fields::of(headers);
    match fields.evaluate(method, &v) {
        Outcome::NotModified => return Plan::NotModified,
        Outcome::PreconditionFailed => return Plan::PreconditionFailed,
        Outcome::Proceed => {}
    }
    let Some(value) = fields.range() else {
        // No Range, or several lines: If-Range is ignored (§13.1.5) and so is Range.
        return Plan::Full;
    };
    if fields.if_range(&v, now) == Condition::False {
        return Plan::Full;
    }
    match range::resolve(value, meta.len) {
        Resolved::Ignore => Plan::Full,
        Resolved::Unsatisfiable => Plan::RangeNotSatisfiable,
        Resolved::Satisfiable(set) => match set.as_slice() {
            [one] => Plan::Partial(one.clone()),
            // Choice (see above): no multipart of a coded representation.
            _ if meta.coded => Plan::Full,
            // Choice (see above): the multipart length must fit in a u64.
            _ if set.total_len() > multipart::MAX_CONTENT_LEN => Plan::Full,
            _ => Plan::Multipart(set),
        },
    }
}

/// Whether to send a coded variant made on the fly, and in which coding: the
/// server's half of proactive negotiation ([RFC 9110 §12.1]) for a
/// representation that has no precompressed variant.
///
/// The caller asks only for a representation of a compressible type (text,
/// not images or archives). `None` (send the representation as it is) unless
/// all of these hold: GET or HEAD; the representation is not coded already
/// ([`Meta::coded`]: a precompressed sibling was chosen, which is always
/// preferred); its length lies within `sizes` (tiny files gain nothing, huge
/// ones would cost too much memory); the request has no `Range`; and
/// Accept-Encoding allows one of `order` ([`AcceptEncoding::preferred_in`]).
///
/// Choice: a request with `Range` gets the identity bytes, so ranges are
/// always ranges of the file as stored. Their validators are the identity's:
/// an `If-Range` with the identity ETag or a date can never yield coded
/// bytes, and one with a coded ETag fails (§13.1.5) and gets the whole
/// identity (200). Resuming a download is a thing done to files, so nothing
/// is lost.
///
/// The coded variant is another representation with its own ETag (strong
/// when the representation's is, [`EntityTag::for_coding`]); the caller then
/// calls [`plan()`] with its metadata, so 304s are per coding.
///
/// # Examples
///
/// ```
/// use ferry_proto::{plan, AcceptEncoding, ContentCoding::{Br, Gzip, Zstd}, Meta};
/// use http::{HeaderMap, Method};
///
/// let meta = Meta { len: 100_000, etag: None, last_modified: None, coded: false };
/// let mut h = HeaderMap::new();
/// h.insert("accept-encoding", "gzip, br, zstd".parse().unwrap());
/// let a = AcceptEncoding::from_headers(&h);
/// let sizes = 1024..=8 << 20;
/// let order = [Zstd, Br, Gzip];
/// assert_eq!(plan::on_the_fly(&Method::GET, &h, &a, &meta, &sizes, &order), Some(Zstd));
/// h.insert("range", "bytes=0-99".parse().unwrap());
/// assert_eq!(plan::on_the_fly(&Method::GET, &h, &a, &meta, &sizes, &order), None);
/// ```
///
/// [RFC 9110 §12.1]: https://www.rfc-editor.org/rfc/rfc9110#section-12.1
pub fn on_the_fly(
    method: &Method,
    headers: &HeaderMap,
    accept: &AcceptEncoding,
    meta: &Meta,
    sizes: &RangeInclusive<u64>,
    order: &[ContentCoding],
) -> Option<ContentCoding> {
    if meta.coded || !sizes.contains(&meta.len) || !allows(method) {
        return None;
    }
    // Choice (see above): ranges are of the identity bytes.
    if headers.contains_key(header::RANGE) {
        return None;
    }
    accept.preferred_in(order)
}

#[cfg(test)]
mod tests;
