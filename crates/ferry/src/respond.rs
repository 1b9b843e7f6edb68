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
    match plan {
        Plan::Full | Plan::Partial(_) | Plan::Multipart(_) | Plan::NotModified => {}
        Plan::PreconditionFailed => {
            return text(
                bare(now, extra.nosniff),
                StatusCode::PRECONDITION_FAILED,
                "412 Precondition Failed\n",
                head,
            );
        }
        Plan::RangeNotSatisfiable => {
            let mut res = bare(now, extra.nosniff);
            let h = res.headers_mut();
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
        _ => return method_not_allowed(bare(now, extra.nosniff), head),
    }
    let mut map = spare_map();
    // The fields of a 200, 206 or 304, in the order they are written.
    let mut f = Fill::new(&mut map);
    f.push(header::DATE, date_value(now));
    // A 304 has no content to sniff.
    if extra.nosniff && plan != Plan::NotModified {
        f.push(NOSNIFF.clone(), HeaderValue::from_static("nosniff"));
    }
    let mut body = Body::empty();
    let status = match plan {
        Plan::Partial(r) => {
            validators(&mut f, entity, now);
            representation(&mut f, entity, extra, None);
            f.push(header::CONTENT_RANGE, range::content_range_value(&r, len));
            f.push(header::CONTENT_LENGTH, length_value(r.end - r.start));
            if !head {
                body = entity.read(r);
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
            let outer = value(format!("multipart/byteranges; boundary={boundary}"));
            validators(&mut f, entity, now);
            representation(&mut f, entity, extra, Some(outer));
            f.push(header::CONTENT_LENGTH, HeaderValue::from(total));
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
                body = Body::chain(parts);
            }
            StatusCode::PARTIAL_CONTENT
        }
        Plan::NotModified => {
            // §15.4.5: the fields a 200 would carry among Cache-Control,
            // Content-Location, Date, ETag, Expires and Vary; no content. Other
            // metadata SHOULD NOT be sent unless it guides cache updates, as
            // Last-Modified does only when there is no ETag (so Go's
            // ServeContent also drops it).
            match entity.etag_header() {
                Some(tag) => f.push(header::ETAG, tag),
                None => validators(&mut f, entity, now),
            }
            if let Some(cc) = extra.cache_control {
                f.push(header::CACHE_CONTROL, cc.clone());
            }
            if entity.varies() {
                f.push(header::VARY, HeaderValue::from_static("accept-encoding"));
            }
            StatusCode::NOT_MODIFIED
        }
        _ => {
            validators(&mut f, entity, now);
            representation(&mut f, entity, extra, None);
            f.push(header::CONTENT_LENGTH, length_value(len));
            if !head && len > 0 {
                body = entity.read(0..len);
            }
            StatusCode::OK
        }
    };
    f.finish().apply(&mut map);
    let mut res = Response::new(body);
    *res.status_mut() = status;
    *res.headers_mut() = map;
    res
}

/// ETag and Last-Modified (never later than Date, §8.8.2.1).
fn validators(f: &mut Fill<'_>, entity: &Entity, now: SystemTime) {
    let meta = entity.meta();
    if let Some(tag) = entity.etag_header() {
        f.push(header::ETAG, tag);
    }
    if let Some(lm) = meta.last_modified {
        f.push(
            header::LAST_MODIFIED,
            date_value(date::clamp_last_modified(lm, now)),
        );
    }
}

/// The representation metadata of a 200 or 206; `multipart`: the outer
/// Content-Type of a multipart/byteranges body.
fn representation(
    f: &mut Fill<'_>,
    entity: &Entity,
    extra: &Extra<'_>,
    multipart: Option<HeaderValue>,
) {
    // `plan` never answers multipart for a coded entity (Meta::coded); the
    // outer message of a multipart body never claims a coding.
    debug_assert!(
        !(multipart.is_some() && entity.meta().coded),
        "multipart of a coded entity"
    );
    let coding = entity
        .content_encoding_header()
        .filter(|_| multipart.is_none());
    match multipart {
        Some(outer) => f.push(header::CONTENT_TYPE, outer),
        None => {
            if let Some(ct) = entity.get_content_type() {
                f.push(header::CONTENT_TYPE, ct.clone());
            }
        }
    }
    if let Some(c) = coding {
        f.push(header::CONTENT_ENCODING, c.clone());
    }
    if entity.varies() {
        f.push(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    f.push(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(cc) = extra.cache_control {
        f.push(header::CACHE_CONTROL, cc.clone());
    }
    if let Some(cd) = extra.disposition {
        f.push(header::CONTENT_DISPOSITION, cd.clone());
    }
}

/// Sets a response's fields, each name once and in the order they are
/// written, into the map of the previous response ([`recycle_headers`]).
/// While that map holds the same names in the same order, as the previous
/// answer to the same kind of request does, each field only replaces the
/// value in its place: no name is hashed, no index rebuilt, which is most
/// of what a header map costs. From the first field that does not match,
/// the rest are inserted after the stale entries are removed
/// ([`Finished::apply`]).
struct Fill<'a> {
    /// The previous response's entries not yet replaced.
    old: http::header::IterMut<'a, HeaderValue>,
    /// Names of the previous response's entries that are no field of this
    /// one, from the first that did not match.
    stale: Vec<HeaderName>,
    /// This response's fields from the first that did not match.
    rest: Vec<(HeaderName, HeaderValue)>,
}

/// What [`Fill`] could not set in place.
struct Finished {
    stale: Vec<HeaderName>,
    rest: Vec<(HeaderName, HeaderValue)>,
}

impl<'a> Fill<'a> {
    fn new(map: &'a mut HeaderMap) -> Fill<'a> {
        if map.keys_len() != map.len() {
            // A name with several values: no place of its own per value.
            map.clear();
        }
        Fill {
            old: map.iter_mut(),
            stale: Vec::new(),
            rest: Vec::new(),
        }
    }

    /// The next field; `name` is not among those pushed before.
    fn push(&mut self, name: HeaderName, value: HeaderValue) {
        if self.rest.is_empty() {
            match self.old.next() {
                Some((n, v)) if *n == name => {
                    *v = value;
                    return;
                }
                Some((n, _)) => self.stale.push(n.clone()),
                None => {}
            }
        }
        self.rest.push((name, value));
    }

    fn finish(self) -> Finished {
        let mut stale = self.stale;
        stale.extend(self.old.map(|(n, _)| n.clone()));
        Finished {
            stale,
            rest: self.rest,
        }
    }
}

impl Finished {
    /// Makes the map hold exactly the fields pushed: the stale entries are
    /// removed (they are the map's last ones, after every entry set in
    /// place, so removing them moves none of those), and the rest added.
    fn apply(self, map: &mut HeaderMap) {
        for name in &self.stale {
            map.remove(name);
        }
        for (name, value) in self.rest {
            map.insert(name, value);
        }
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
/// next response made on this thread starts from it instead of allocating
/// its own (a server answering one request after another on a thread
/// allocates none), and when it has the same fields in the same order,
/// only their values are replaced. Maps far larger than a file response's
/// are dropped, not kept.
pub fn recycle_headers(headers: HeaderMap) {
    if (ROOM..=4 * ROOM).contains(&headers.capacity()) {
        SPARE.with(|s| s.set(Some(headers)));
    }
}

/// The map [`recycle_headers`] kept, as it was, or a new one.
fn spare_map() -> HeaderMap {
    SPARE
        .with(Cell::take)
        .unwrap_or_else(|| HeaderMap::with_capacity(ROOM))
}

/// A response carrying only Date (and nosniff when asked), for errors and redirects.
pub(crate) fn bare(now: SystemTime, nosniff: bool) -> Response<Body> {
    let mut res = Response::new(Body::empty());
    let h = res.headers_mut();
    *h = spare_map();
    h.clear();
    h.insert(header::DATE, date_value(now));
    if nosniff {
        h.insert(NOSNIFF.clone(), HeaderValue::from_static("nosniff"));
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

    /// A map's fields as (name, value) text pairs, in order.
    fn pairs(map: &HeaderMap) -> Vec<(String, String)> {
        map.iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect()
    }

    /// `fields` set into `map` as build sets them.
    fn fill(fields: &[(&'static str, &'static str)], mut map: HeaderMap) -> HeaderMap {
        let mut f = Fill::new(&mut map);
        for (n, v) in fields {
            f.push(HeaderName::from_static(n), HeaderValue::from_static(v));
        }
        f.finish().apply(&mut map);
        map
    }

    #[test]
    fn fields_filled_into_any_previous_map_are_exactly_those_fields() {
        let a: &[(&str, &str)] = &[("date", "d1"), ("etag", "\"x\""), ("content-length", "5")];
        let a2: &[(&str, &str)] = &[("date", "d2"), ("etag", "\"y\""), ("content-length", "6")];
        let shorter: &[(&str, &str)] = &[("date", "d3"), ("etag", "\"z\"")];
        let other: &[(&str, &str)] = &[
            ("date", "d4"),
            ("vary", "accept-encoding"),
            ("etag", "\"w\""),
        ];
        let mut with_tail = HeaderMap::new();
        for (n, v) in a {
            with_tail.insert(*n, HeaderValue::from_static(v));
        }
        with_tail.insert(
            "strict-transport-security",
            HeaderValue::from_static("max-age=1"),
        );
        with_tail.insert("alt-svc", HeaderValue::from_static("h3=\":443\""));
        let mut with_twice = HeaderMap::new();
        with_twice.insert("date", HeaderValue::from_static("d0"));
        with_twice.append("date", HeaderValue::from_static("d9"));
        with_twice.insert("etag", HeaderValue::from_static("\"q\""));
        // Each previous map (the same names, fewer, more, others, a tail
        // added after the list, a repeated name) into each list.
        let previous = |i: usize| -> HeaderMap {
            match i {
                0 => HeaderMap::new(),
                1 => fill(a, HeaderMap::new()),
                2 => fill(shorter, HeaderMap::new()),
                3 => fill(other, HeaderMap::new()),
                4 => with_tail.clone(),
                _ => with_twice.clone(),
            }
        };
        for want in [a, a2, shorter, other] {
            for i in 0..6 {
                let got = fill(want, previous(i));
                let want: Vec<_> = want
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect();
                assert_eq!(pairs(&got), want, "previous map {i}");
                assert_eq!(got.len(), want.len());
            }
        }
    }

    #[test]
    fn a_response_built_on_a_recycled_map_is_the_response_built_afresh() {
        use ferry_proto::range::{resolve, Resolved};
        struct Ten;
        impl crate::Source for Ten {
            fn read(&self, range: std::ops::Range<u64>) -> Body {
                Body::from(
                    bytes::Bytes::from_static(b"0123456789")
                        .slice(range.start as usize..range.end as usize),
                )
            }
        }
        let Resolved::Satisfiable(two) = resolve(b"bytes=0-1,4-5", 10) else {
            panic!("two ranges")
        };
        let now = SystemTime::now();
        let entity = |ct: &'static str, vary: bool| {
            Entity::new(10, Ten)
                .etag(ferry_proto::EntityTag::strong("a").unwrap())
                .last_modified(UNIX_EPOCH)
                .content_type(HeaderValue::from_static(ct))
                .vary_encoding(vary)
        };
        let cc = HeaderValue::from_static("no-cache");
        let plain = Extra::default();
        let with_cc = Extra {
            cache_control: Some(&cc),
            nosniff: true,
            ..Extra::default()
        };
        let plans = || {
            [
                Plan::Full,
                Plan::NotModified,
                Plan::Partial(2..5),
                Plan::Full,
                Plan::Multipart(two.clone()),
                Plan::PreconditionFailed,
                Plan::Full,
            ]
        };
        // The same plans in every order the loop makes, each response's map
        // given back before the next is built, compared with one built on a
        // new map.
        for (e, extra) in [
            (entity("text/plain", false), &plain),
            (entity("text/html", true), &with_cc),
        ] {
            for first in plans() {
                for next in plans() {
                    for plan in [first.clone(), next.clone(), next] {
                        // The previous response's map, kept aside while
                        // this one is built on a new map.
                        let previous = SPARE.with(Cell::take);
                        let fresh = build(plan.clone(), &e, false, now, extra);
                        let fresh_pairs: Vec<_> = pairs(fresh.headers())
                            .into_iter()
                            .filter(|(n, v)| !(n == "content-type" && v.starts_with("multipart/")))
                            .collect();
                        SPARE.with(|s| s.set(previous));
                        let again = build(plan.clone(), &e, false, now, extra);
                        let again_pairs: Vec<_> = pairs(again.headers())
                            .into_iter()
                            .filter(|(n, v)| !(n == "content-type" && v.starts_with("multipart/")))
                            .collect();
                        assert_eq!(again_pairs, fresh_pairs, "{plan:?}");
                        recycle_headers(again.into_parts().0.headers);
                    }
                }
            }
        }
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
