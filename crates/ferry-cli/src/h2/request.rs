//! An HTTP/2 request head from its decoded fields (RFC 9113 §8.2, §8.3):
//! pseudo-header fields first, lowercase names, no connection-specific
//! fields, and a `Request` built the way the other wire layers build theirs.
//!
//! A connection's requests repeat themselves: a browser sends the same
//! fields in the same order, HPACK sends them as indexes, and they decode
//! to the same bytes. [`Memo`] keeps the previous request's parsed fields,
//! so a repeated one is a comparison and a reference count, not a parse,
//! a validation and a copy; and when every regular field repeats, the
//! previous request's whole field map is cloned, not rebuilt field by field.
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, Parts, PathAndQuery, Scheme};
use http::{Method, Request, Uri, Version};

/// Why a request is not answered as a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Malformed (RFC 9113 §8.1.1): a stream error of type PROTOCOL_ERROR.
    Malformed(&'static str),
    /// The decoded field section outgrew the limit: 431 without building it.
    TooLarge,
}

/// The previous request's parsed fields on one connection, reused when the
/// next request carries the same bytes: `:authority` and `:path`, and each
/// regular field by its position in the block.
#[derive(Default)]
pub(crate) struct Memo {
    authority: Option<Authority>,
    path: Option<PathAndQuery>,
    fields: Vec<(HeaderName, HeaderValue)>,
    /// The regular fields of the last request built, when they are all the
    /// first `count` of `fields` (none diverged, none beyond
    /// [`MEMO_FIELDS`]).
    count: usize,
    /// Those fields' map, once one request was built from them whole.
    map: Option<HeaderMap>,
}

/// At most this many regular fields are remembered per connection.
const MEMO_FIELDS: usize = 64;

/// Collects one header block's fields as the HPACK decoder yields them.
pub(crate) struct Fields<'m> {
    method: Option<Method>,
    scheme: Option<Scheme>,
    authority: Option<Authority>,
    path: Option<PathAndQuery>,
    /// Seen, but not parsed, when malformed: refused anyway.
    pseudo: u8,
    headers: HeaderMap,
    /// Regular fields seen.
    seen: usize,
    /// A regular field differed from the memo's at its place: `headers`
    /// holds every regular field seen. Until then, each was the memo's and
    /// none is in `headers` yet.
    diverged: bool,
    /// RFC 7541 §4.1's size of what was decoded (name + value + 32 each).
    size: usize,
    limit: usize,
    refused: Option<Refused>,
    memo: &'m mut Memo,
}

/// Bits of [`Fields::pseudo`].
const SCHEME: u8 = 1;
const AUTHORITY: u8 = 2;
const PATH: u8 = 4;

impl<'m> Fields<'m> {
    /// Fields of a block whose decoded size may reach `limit`, reusing what
    /// `memo` kept of the connection's previous request.
    pub(crate) fn new(limit: usize, memo: &'m mut Memo) -> Fields<'m> {
        Fields {
            method: None,
            scheme: None,
            authority: None,
            path: None,
            pseudo: 0,
            headers: HeaderMap::new(),
            seen: 0,
            diverged: false,
            size: 0,
            limit,
            refused: None,
            memo,
        }
    }

    fn malformed(&mut self, why: &'static str) {
        if self.refused.is_none() {
            self.refused = Some(Refused::Malformed(why));
        }
    }

    /// One decoded field.
    pub(crate) fn field(&mut self, name: &[u8], value: &[u8]) {
        self.size += name.len() + value.len() + 32;
        if self.size > self.limit {
            // Nothing more is kept: a block of indexed references can
            // decode into far more than it weighs (HPACK bombs).
            self.refused = Some(Refused::TooLarge);
        }
        if self.refused.is_some() {
            return;
        }
        if let Some(pseudo) = name.strip_prefix(b":") {
            return self.pseudo(pseudo, value);
        }
        let at = self.seen;
        self.seen += 1;
        // The same field at the same place as in the previous request: it
        // passed every check below then.
        if let Some((n, v)) = self.memo.fields.get(at) {
            if n.as_str().as_bytes() == name && v.as_bytes() == value {
                if self.diverged {
                    self.headers.append(n.clone(), v.clone());
                }
                return;
            }
        }
        if !self.diverged {
            self.diverge(at);
        }
        if bad_value(value) {
            return self.malformed("bad field value");
        }
        // §8.2: "A field name MUST NOT contain characters in the ranges
        // 0x00-0x20, 0x41-0x5a, or 0x7f-0xff (all ranges inclusive)."
        if name.iter().any(u8::is_ascii_uppercase) {
            return self.malformed("uppercase field name");
        }
        let Ok(name) = HeaderName::from_bytes(name) else {
            return self.malformed("bad field name");
        };
        // §8.2.2: connection-specific fields make the message malformed;
        // TE may only say "trailers".
        if crate::pipeline::connection_specific(&name)
            || (name == http::header::TE && value != b"trailers")
        {
            return self.malformed("connection-specific field");
        }
        let Ok(value) = HeaderValue::from_bytes(value) else {
            return self.malformed("bad field value");
        };
        if at < self.memo.fields.len() {
            self.memo.fields[at] = (name.clone(), value.clone());
        } else if at == self.memo.fields.len() && at < MEMO_FIELDS {
            self.memo.fields.push((name.clone(), value.clone()));
        }
        self.headers.append(name, value);
    }

    /// The first `at` regular fields were the memo's, the next is not:
    /// they go into `headers`, and the memo's map no longer holds for the
    /// fields it is about to remember.
    fn diverge(&mut self, at: usize) {
        self.diverged = true;
        self.memo.map = None;
        self.headers = HeaderMap::with_capacity(self.memo.fields.len().max(at + 1));
        for (n, v) in &self.memo.fields[..at] {
            self.headers.append(n.clone(), v.clone());
        }
    }

    /// A pseudo-header field (§8.3.1), `name` without its colon.
    fn pseudo(&mut self, name: &[u8], value: &[u8]) {
        // §8.3: "All pseudo-header fields MUST appear in a field block
        // before all regular field lines."
        if self.seen > 0 {
            return self.malformed("pseudo-header after a regular field");
        }
        if bad_value(value) {
            return self.malformed("bad field value");
        }
        let bit = match name {
            b"method" => {
                if self.method.is_some() {
                    return self.malformed("two :method");
                }
                match Method::from_bytes(value) {
                    Ok(m) => self.method = Some(m),
                    Err(_) => self.malformed("bad :method"),
                }
                return;
            }
            b"scheme" => SCHEME,
            b"authority" => AUTHORITY,
            b"path" => PATH,
            // §8.3: "Endpoints MUST treat a request or response that
            // contains undefined or invalid pseudo-header fields as
            // malformed" (`:status` included, `:protocol` not offered).
            _ => return self.malformed("unknown pseudo-header"),
        };
        if self.pseudo & bit != 0 {
            return self.malformed("repeated pseudo-header");
        }
        self.pseudo |= bit;
        let memo = &mut *self.memo;
        match bit {
            SCHEME => match value {
                b"https" => self.scheme = Some(Scheme::HTTPS),
                b"http" => self.scheme = Some(Scheme::HTTP),
                _ => match Scheme::try_from(value) {
                    Ok(s) => self.scheme = Some(s),
                    Err(_) => self.malformed("bad :scheme"),
                },
            },
            AUTHORITY => match recall(&mut memo.authority, value, Authority::as_str) {
                Some(a) => self.authority = Some(a),
                None => self.malformed("bad :authority"),
            },
            // §8.3.1: origin-form or `*`, judged on the bytes sent (the
            // parsed form would drop a fragment: `#x` would become `/`).
            _ if value.contains(&b'#') || !(value.starts_with(b"/") || value == b"*") => {
                self.malformed("bad :path")
            }
            _ => match recall(&mut memo.path, value, PathAndQuery::as_str) {
                Some(p) => self.path = Some(p),
                None => self.malformed("bad :path"),
            },
        }
    }

    /// The request these fields make (RFC 9113 §8.3.1), with an empty body.
    pub(crate) fn request<B: Default>(mut self) -> Result<Request<B>, Refused> {
        if let Some(r) = self.refused {
            return Err(r);
        }
        self.gather();
        let Some(method) = self.method else {
            return Err(Refused::Malformed("no :method"));
        };
        let mut parts = Parts::default();
        if method == Method::CONNECT {
            // §8.5: only :authority; ferry serves no tunnels, the
            // application answers it.
            let (Some(a), None, None) = (self.authority, &self.scheme, &self.path) else {
                return Err(Refused::Malformed("CONNECT with :scheme or :path"));
            };
            parts.authority = Some(a);
        } else {
            // §8.3.1: ":method", ":scheme" and ":path" are required.
            let (Some(scheme), Some(path)) = (self.scheme, self.path) else {
                return Err(Refused::Malformed("no :scheme or :path"));
            };
            // The bytes were origin-form or `*` (Fields::pseudo); `*` is
            // for OPTIONS only.
            if path.as_str() == "*" && method != Method::OPTIONS {
                return Err(Refused::Malformed("bad :path"));
            }
            if let Some(a) = self.authority {
                parts.scheme = Some(scheme);
                parts.authority = Some(a);
            }
            parts.path_and_query = Some(path);
        }
        let Ok(uri) = Uri::from_parts(parts) else {
            return Err(Refused::Malformed("bad request target"));
        };
        let mut req = Request::new(B::default());
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        *req.version_mut() = Version::HTTP_2;
        *req.headers_mut() = self.headers;
        Ok(req)
    }
}

impl Fields<'_> {
    /// Puts the regular fields in `headers` when they were all the memo's
    /// (and remembers whole maps for the next request).
    fn gather(&mut self) {
        let memo = &mut *self.memo;
        if self.diverged {
            memo.count = if self.seen <= MEMO_FIELDS {
                self.seen
            } else {
                usize::MAX
            };
            return;
        }
        if self.seen == 0 {
            return;
        }
        if self.seen == memo.count {
            if let Some(map) = &memo.map {
                self.headers = map.clone();
                return;
            }
        }
        let mut map = HeaderMap::with_capacity(self.seen);
        for (n, v) in &memo.fields[..self.seen] {
            map.append(n.clone(), v.clone());
        }
        if self.seen == memo.count {
            // Twice in a row: likely again.
            memo.map = Some(map.clone());
        } else {
            (memo.count, memo.map) = (self.seen, None);
        }
        self.headers = map;
    }
}

/// `value` parsed, or a clone of `memo`'s when it holds the same bytes;
/// a newly parsed value replaces the memo's.
fn recall<'a, T>(memo: &mut Option<T>, value: &'a [u8], text: fn(&T) -> &str) -> Option<T>
where
    T: Clone + TryFrom<&'a [u8]>,
{
    if let Some(m) = memo.as_ref().filter(|m| text(m).as_bytes() == value) {
        return Some(m.clone());
    }
    let parsed = T::try_from(value).ok()?;
    *memo = Some(parsed.clone());
    Some(parsed)
}

/// §8.2.1: a field value must not start or end with whitespace, nor hold
/// NUL, CR or LF.
fn bad_value(value: &[u8]) -> bool {
    value.first().is_some_and(|b| matches!(b, b' ' | b'\t'))
        || value.last().is_some_and(|b| matches!(b, b' ' | b'\t'))
        || value.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(fields: &[(&str, &str)]) -> Result<Request<()>, Refused> {
        let mut memo = Memo::default();
        let mut f = Fields::new(16 * 1024, &mut memo);
        for (n, v) in fields {
            f.field(n.as_bytes(), v.as_bytes());
        }
        f.request()
    }

    const GET: [(&str, &str); 4] = [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "example.com"),
        (":path", "/a?b=c"),
    ];

    #[test]
    fn a_request_has_its_pseudo_headers_rfc_9113_8_3_1() {
        let mut f = GET.to_vec();
        f.push(("accept", "*/*"));
        let r = build(&f).unwrap();
        assert_eq!(r.method(), Method::GET);
        assert_eq!(r.uri(), "https://example.com/a?b=c");
        assert_eq!(r.version(), Version::HTTP_2);
        assert_eq!(r.headers()["accept"], "*/*");
        let no_authority = build(&[(":method", "GET"), (":scheme", "http"), (":path", "/")]);
        assert_eq!(no_authority.unwrap().uri(), "/");
        let star = build(&[(":method", "OPTIONS"), (":scheme", "http"), (":path", "*")]);
        assert!(star.is_ok());
    }

    #[test]
    fn malformed_requests_rfc_9113_8_1_1() {
        let m = |f: &[(&str, &str)]| matches!(build(f), Err(Refused::Malformed(_)));
        let with = |extra: (&'static str, &'static str)| {
            let mut f = GET.to_vec();
            f.push(extra);
            f
        };
        // §8.2: uppercase names.
        assert!(m(&with(("Accept", "x"))));
        // §8.2.2: connection-specific fields; TE other than "trailers".
        assert!(m(&with(("connection", "keep-alive"))));
        assert!(m(&with(("transfer-encoding", "chunked"))));
        assert!(m(&with(("te", "gzip"))));
        assert!(build(&with(("te", "trailers"))).is_ok());
        // §8.2.1: whitespace around a value, CR/LF/NUL inside.
        assert!(m(&with(("x", " a"))));
        assert!(m(&with(("x", "a\r\nb"))));
        // §8.3: pseudo-header fields after regular ones, unknown, repeated.
        assert!(m(&[
            ("accept", "x"),
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/")
        ]));
        assert!(m(&with((":status", "200"))));
        assert!(m(&with((":path", "/again"))));
        // §8.3.1: missing :method, :scheme or :path; empty or relative :path.
        assert!(m(&GET[1..]));
        assert!(m(&[(":method", "GET"), (":path", "/")]));
        assert!(m(&[(":method", "GET"), (":scheme", "http")]));
        assert!(m(&[(":method", "GET"), (":scheme", "http"), (":path", "")]));
        // A fragment is no part of :path (RFC 3986 §3.5).
        assert!(m(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "#x")
        ]));
        assert!(m(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/a#x")
        ]));
        assert!(m(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "a")
        ]));
        assert!(m(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "*")
        ]));
        // §8.5: CONNECT carries only :authority.
        assert!(m(&[
            (":method", "CONNECT"),
            (":authority", "a:443"),
            (":path", "/")
        ]));
        assert!(build(&[(":method", "CONNECT"), (":authority", "a:443")]).is_ok());
    }

    #[test]
    fn a_connection_s_requests_reuse_what_repeats_and_only_that() {
        let mut memo = Memo::default();
        let mut one = |fields: &[(&str, &str)]| {
            let mut f = Fields::new(16 * 1024, &mut memo);
            for (n, v) in fields {
                f.field(n.as_bytes(), v.as_bytes());
            }
            f.request::<()>()
        };
        let mut first = GET.to_vec();
        first.extend([("accept", "*/*"), ("x-a", "1"), ("x-b", "2")]);
        let r = one(&first).unwrap();
        assert_eq!(r.uri(), "https://example.com/a?b=c");
        // The same fields: the same request.
        let again = one(&first).unwrap();
        assert_eq!(again.uri(), r.uri());
        assert_eq!(again.headers(), r.headers());
        // Another authority, path, value, a field dropped and one added.
        let second = [
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "example.org"),
            (":path", "/d"),
            ("accept", "text/html"),
            ("x-b", "2"),
            ("x-c", "3"),
        ];
        let r = one(&second).unwrap();
        assert_eq!(r.uri(), "https://example.org/d");
        let got: Vec<_> = r
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(got, [("accept", "text/html"), ("x-b", "2"), ("x-c", "3")]);
        // A field remembered from a valid request is still checked where it
        // is malformed now: after a regular field, or with another value.
        let mut late = second.to_vec();
        late.push((":path", "/e"));
        assert!(matches!(one(&late), Err(Refused::Malformed(_))));
        let mut te = GET.to_vec();
        te.push(("te", "trailers"));
        assert!(one(&te).is_ok());
        te[4] = ("te", "gzip");
        assert!(matches!(one(&te), Err(Refused::Malformed(_))));
    }

    /// A request as compared: its target and its fields in order.
    type Seen = (String, Vec<(String, Vec<u8>)>);

    /// What a request is, to compare: its target and its fields in order.
    fn seen(r: &Result<Request<()>, Refused>) -> Result<Seen, Refused> {
        r.as_ref().map_err(|e| *e).map(|r| {
            let fields = r
                .headers()
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
                .collect();
            (r.uri().to_string(), fields)
        })
    }

    proptest::proptest! {
        /// A connection's requests, built with what its memo kept (fields
        /// by place, whole maps), are the requests built afresh: whatever
        /// repeats, diverges, shrinks, grows or is refused in between.
        #[test]
        fn a_memo_never_changes_a_request(
            steps in proptest::collection::vec(
                (0..4u8, proptest::collection::vec((0..7usize, 0..3usize), 0..6), 0..6usize),
                1..24,
            ),
        ) {
            const NAMES: [&str; 7] = ["accept", "x-a", "x-b", "cookie", "te", "Upper", ":path"];
            const VALUES: [&str; 3] = ["1", "text/html", "trailers"];
            let mut memo = Memo::default();
            let mut list: Vec<(usize, usize)> = Vec::new();
            for (op, new, k) in steps {
                // Mostly what a connection does: the same request again,
                // or one like it.
                match op {
                    0 => list = new,
                    1 => {}
                    2 => list.truncate(k),
                    _ => list.extend(new.into_iter().take(1)),
                }
                let mut fields = GET.to_vec();
                fields.extend(list.iter().map(|&(n, v)| (NAMES[n], VALUES[v])));
                let mut f = Fields::new(16 * 1024, &mut memo);
                for (n, v) in &fields {
                    f.field(n.as_bytes(), v.as_bytes());
                }
                let with_memo = f.request::<()>();
                proptest::prop_assert_eq!(seen(&with_memo), seen(&build(&fields)), "{:?}", fields);
            }
        }
    }

    #[test]
    fn a_field_section_over_the_limit_is_too_large_and_not_kept() {
        let mut memo = Memo::default();
        let mut f = Fields::new(200, &mut memo);
        for (n, v) in GET {
            f.field(n.as_bytes(), v.as_bytes());
        }
        for _ in 0..1000 {
            f.field(b"x", &[b'a'; 100]);
        }
        assert!(f.headers.len() <= 2);
        assert_eq!(f.request::<()>().unwrap_err(), Refused::TooLarge);
    }
}
