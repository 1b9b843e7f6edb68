//! From a [`Plan`] and an [`Entity`] to a response. The only place where body
//! bytes start to flow, and the only place where HEAD differs from GET: the body
//! is dropped, every header stays.
//!
//! The plan is final: `build` sends the status and the kind of body the plan
//! names, never another one (the content coding is part of the metadata the
//! plan was made from, see [`Meta::coded`](ferry_proto::Meta::coded)).
use crate::{Body, Entity};
use ferry_proto::{date, multipart, range, Plan};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode};
use std::cell::{Cell, RefCell};
use std::time::{SystemTime, UNIX_EPOCH};

/// Response headers that come from configuration rather than from the entity.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Extra<'a> {
    /// Cache-Control for 200, 206 and 304.
    pub(crate) cache_control: Option<&'a HeaderValue>,
    /// Content-Disposition for 200 and 206.
    pub(crate) disposition: Option<&'a HeaderValue>,
    /// `X-Content-Type-Options: nosniff` on every response.
    pub(crate) nosniff: bool,
}

static NOSNIFF: HeaderName = HeaderName::from_static("x-content-type-options");

/// Builds the response for `plan`. `head` drops the body and keeps every header.
pub(crate) fn build(
    plan: Plan,
    entity: &Entity,
    head: bool,
    now: SystemTime,
    extra: &Extra<'_>,
) -> Response<Body> {
    let meta = entity.meta();
    let len = meta.len;
    // A 304 has no content to sniff.
    let not_modified = plan == Plan::NotModified;
    let mut res = bare(now, extra.nosniff && !not_modified);
    let h = res.headers_mut();
    let status = match plan {
        Plan::Full | Plan::Partial(_) | Plan::Multipart(_) => {
            validators(h, entity, now);
            representation(h, entity, extra, matches!(plan, Plan::Multipart(_)));
            match plan {
                Plan::Partial(r) => {
                    h.insert(header::CONTENT_RANGE, range::content_range_value(&r, len));
                    h.insert(header::CONTENT_LENGTH, length_value(r.end - r.start));
                    if !head {
                        *res.body_mut() = entity.read(r);
                    }
                    StatusCode::PARTIAL_CONTENT
                }
                Plan::Multipart(set) => {
                    let boundary = boundary();
                    let ct = entity.get_content_type().and_then(|v| v.to_str().ok());
                    let total = multipart::body_len(&boundary, ct, &set, len).expect(
                        "plan sends multipart only within MAX_CONTENT_LEN, which leaves \
                         room for a 38-byte boundary and any real Content-Type",
                    );
                    h.remove(header::CONTENT_TYPE);
                    h.insert(
                        header::CONTENT_TYPE,
                        value(format!("multipart/byteranges; boundary={boundary}")),
                    );
                    h.insert(header::CONTENT_LENGTH, HeaderValue::from(total));
                    if !head {
                        let mut parts = Vec::with_capacity(set.as_slice().len() * 2 + 1);
                        for (i, r) in set.as_slice().iter().enumerate() {
                            parts.push(Body::from(multipart::part_head(
                                &boundary,
                                ct,
                                r,
                                len,
                                i == 0,
                            )));
                            parts.push(entity.read(r.clone()));
                        }
                        parts.push(Body::from(multipart::closing(&boundary)));
                        *res.body_mut() = Body::chain(parts);
                    }
                    StatusCode::PARTIAL_CONTENT
                }
                _ => {
                    h.insert(header::CONTENT_LENGTH, length_value(len));
                    if !head && len > 0 {
                        *res.body_mut() = entity.read(0..len);
                    }
                    StatusCode::OK
                }
            }
        }
        Plan::NotModified => {
            // §15.4.5: the fields a 200 would carry among Cache-Control,
            // Content-Location, Date, ETag, Expires and Vary; no content. Other
            // metadata SHOULD NOT be sent unless it guides cache updates, as
            // Last-Modified does only when there is no ETag (so Go's
            // ServeContent also drops it).
            match entity.etag_header() {
                Some(tag) => {
                    h.insert(header::ETAG, tag);
                }
                None => validators(h, entity, now),
            }
            if let Some(cc) = extra.cache_control {
                h.insert(header::CACHE_CONTROL, cc.clone());
            }
            if entity.varies() {
                h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            }
            StatusCode::NOT_MODIFIED
        }
        Plan::PreconditionFailed => {
            return text(
                res,
                StatusCode::PRECONDITION_FAILED,
                "412 Precondition Failed\n",
                head,
            );
        }
        Plan::RangeNotSatisfiable => {
            // §15.5.17: SHOULD send Content-Range with the current length.
            h.insert(
                header::CONTENT_RANGE,
                range::unsatisfied_content_range_value(len),
            );
            if entity.varies() {
                h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            }
            return text(
                res,
                StatusCode::RANGE_NOT_SATISFIABLE,
                "416 Range Not Satisfiable\n",
                head,
            );
        }
        _ => return method_not_allowed(res, head),
    };
    *res.status_mut() = status;
    res
}

/// ETag and Last-Modified (never later than Date, §8.8.2.1).
fn validators(h: &mut HeaderMap, entity: &Entity, now: SystemTime) {
    let meta = entity.meta();
    if let Some(tag) = entity.etag_header() {
        h.insert(header::ETAG, tag);
    }
    if let Some(lm) = meta.last_modified {
        h.insert(
            header::LAST_MODIFIED,
            date_value(date::clamp_last_modified(lm, now)),
        );
    }
}

/// The representation metadata of a 200 or 206.
fn representation(h: &mut HeaderMap, entity: &Entity, extra: &Extra<'_>, multipart: bool) {
    if let Some(ct) = entity.get_content_type() {
        h.insert(header::CONTENT_TYPE, ct.clone());
    }
    // `plan` never answers multipart for a coded entity (Meta::coded); the
    // outer message of a multipart body never claims a coding.
    debug_assert!(
        !(multipart && entity.meta().coded),
        "multipart of a coded entity"
    );
    if let Some(c) = entity.content_encoding_header().filter(|_| !multipart) {
        h.insert(header::CONTENT_ENCODING, c.clone());
    }
    if entity.varies() {
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(cc) = extra.cache_control {
        h.insert(header::CACHE_CONTROL, cc.clone());
    }
    if let Some(cd) = extra.disposition {
        h.insert(header::CONTENT_DISPOSITION, cd.clone());
    }
}

/// A short plain-text response; `res` already carries Date and friends.
pub(crate) fn text(
    mut res: Response<Body>,
    status: StatusCode,
    body: &'static str,
    head: bool,
) -> Response<Body> {
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    *res.body_mut() = if head {
        Body::empty()
    } else {
        Body::from(body)
    };
    res
}

/// The 405 for a method [`ferry_proto::plan::allows`] refuses, answered before
/// anything is opened; `None` for GET and HEAD, which go on to `plan`.
///
/// Every entry point calls this, so 405 is decided by the one function `plan`
/// itself uses, and is the same response `build` gives
/// [`Plan::MethodNotAllowed`].
pub(crate) fn refuse_method(
    method: &Method,
    now: SystemTime,
    nosniff: bool,
) -> Option<Response<Body>> {
    (!ferry_proto::plan::allows(method)).then(|| method_not_allowed(bare(now, nosniff), false))
}

/// 405 with `Allow: GET, HEAD` ([RFC 9110 §15.5.6]).
///
/// [RFC 9110 §15.5.6]: https://www.rfc-editor.org/rfc/rfc9110#section-15.5.6
fn method_not_allowed(mut res: Response<Body>, head: bool) -> Response<Body> {
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    text(
        res,
        StatusCode::METHOD_NOT_ALLOWED,
        "405 Method Not Allowed\n",
        head,
    )
}

/// Room in a response's header map for every field a file response carries,
/// so the map never regrows.
const ROOM: usize = 16;

thread_local! {
    /// A cleared header map given back by [`recycle_headers`].
    static SPARE: Cell<Option<HeaderMap>> = const { Cell::new(None) };
}

/// Gives back the header map of a response whose head has been written: the
/// next response made on this thread starts from it, cleared, instead of
/// allocating its own (a server answering one request after another on a
/// thread allocates none). Maps far larger than a file response's are
/// dropped, not kept.
pub fn recycle_headers(mut headers: HeaderMap) {
    if (ROOM..=4 * ROOM).contains(&headers.capacity()) {
        headers.clear();
        SPARE.with(|s| s.set(Some(headers)));
    }
}

/// A response carrying only Date (and nosniff when asked), for errors and redirects.
pub(crate) fn bare(now: SystemTime, nosniff: bool) -> Response<Body> {
    let mut res = Response::new(Body::empty());
    *res.headers_mut() = SPARE
        .with(Cell::take)
        .unwrap_or_else(|| HeaderMap::with_capacity(ROOM));
    res.headers_mut().insert(header::DATE, date_value(now));
    if nosniff {
        res.headers_mut()
            .insert(NOSNIFF.clone(), HeaderValue::from_static("nosniff"));
    }
    res
}

fn value(s: String) -> HeaderValue {
    HeaderValue::try_from(s).expect("generated header values are visible ASCII")
}

/// `n` as a Content-Length value ([RFC 9110 §8.6]), formatted once per
/// thread while it is among the last few lengths sent: a server answering
/// the same files over and over sends the same lengths, and a clone of a
/// value is a reference count where a new one is an allocation.
///
/// [RFC 9110 §8.6]: https://www.rfc-editor.org/rfc/rfc9110#section-8.6
pub(crate) fn length_value(n: u64) -> HeaderValue {
    const SLOTS: usize = 4;
    thread_local! {
        static CACHE: RefCell<[Option<(u64, HeaderValue)>; SLOTS]> =
            const { RefCell::new([const { None }; SLOTS]) };
    }
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let slot = &mut c[(n % SLOTS as u64) as usize];
        match slot {
            Some((m, v)) if *m == n => v.clone(),
            _ => {
                let v = HeaderValue::from(n);
                *slot = Some((n, v.clone()));
                v
            }
        }
    })
}

/// The IMF-fixdate for `t`, formatted once per second per thread.
///
/// A few recent values are kept, so that Date and a Last-Modified of a file
/// that changed recently do not evict each other.
pub(crate) fn date_value(t: SystemTime) -> HeaderValue {
    const SLOTS: usize = 4;
    /// (seconds, formatted) pairs, and the slot to replace next.
    type Slots = ([(u64, Option<HeaderValue>); SLOTS], usize);
    thread_local! {
        static CACHE: RefCell<Slots> =
            const { RefCell::new(([const { (0, None) }; SLOTS], 0)) };
    }
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if let Some(v) =
            c.0.iter()
                .find(|(s, _)| *s == secs)
                .and_then(|(_, v)| v.clone())
        {
            return v;
        }
        let v = value(date::fmt_http_date(t));
        let next = c.1;
        c.0[next] = (secs, Some(v.clone()));
        c.1 = (next + 1) % SLOTS;
        v
    })
}

/// A multipart boundary that is random per response: 128 bits from the standard
/// library's randomly keyed SipHash over a counter. The chance that it occurs in
/// the content is negligible (2^-128 per position).
fn boundary() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let keys = std::collections::hash_map::RandomState::new();
    let mut a = keys.build_hasher();
    a.write_u64(n);
    let mut b = keys.build_hasher();
    b.write_u64(!n);
    format!("ferry-{:016x}{:016x}", a.finish(), b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_header_map_comes_back_empty() {
        let now = SystemTime::now();
        let mut first = bare(now, true);
        first
            .headers_mut()
            .insert(header::ETAG, HeaderValue::from_static("\"a\""));
        first
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("5"));
        let (parts, _) = first.into_parts();
        let room = parts.headers.capacity();
        recycle_headers(parts.headers);
        let next = bare(now, false);
        // The same allocation, with only what `bare` puts in it.
        assert_eq!(next.headers().capacity(), room);
        let names: Vec<_> = next.headers().keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["date"]);
        // A map far larger than a response's is not kept.
        let (parts, _) = next.into_parts();
        drop(parts);
        recycle_headers(HeaderMap::with_capacity(1000));
        assert!(bare(now, false).headers().capacity() < 1000);
    }

    #[test]
    fn a_remembered_length_is_that_length_rfc_9110_8_6() {
        // Lengths that share a slot (n % 4) and evict each other, repeated.
        let lengths = [0, 4, 1024, 1028, 7, u64::MAX, 4, 0, 1024];
        for _ in 0..3 {
            for n in lengths {
                assert_eq!(length_value(n), n.to_string().as_str(), "{n}");
            }
        }
    }
}
