//! Request heads (RFC 9112 §2–§3, §6): from the bytes at the start of the
//! read buffer to a `Request` whose target and field values are slices of
//! one copy of the head, and how its body is framed.
use crate::framing::Fields;
pub(super) use crate::framing::Framing;
use crate::reqbody::ReqBody;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode, Uri, Version};

/// Most header fields accepted in one request head.
pub(crate) const MAX_HEADERS: usize = 100;

/// A parsed request head, with what the wire layer needs beside the `Request`
/// (its body empty until the connection gives it one). Handed around boxed:
/// it is a few hundred bytes, and the connection's future moved it several
/// times per request (callgrind: ~350 instructions of `memcpy`).
pub(crate) struct Parsed {
    pub(crate) req: Request<ReqBody>,
    pub(crate) keep_alive: bool,
    pub(crate) body: Framing,
    /// The head's bytes, of which the target and field values are slices.
    head: Bytes,
    /// The memo's own, lent by [`parse_with`]: [`Memo::give_back`] keeps it.
    lent: bool,
    /// [`crate::pipeline::head_size`] of `req`, reckoned once per parse, so
    /// that a head answered from the memo is not measured again.
    pub(crate) size: usize,
}

impl Parsed {
    /// A copy: the target and the field values share the head's bytes.
    fn copy(&self) -> Box<Parsed> {
        let mut req = Request::new(ReqBody::default());
        *req.method_mut() = self.req.method().clone();
        *req.uri_mut() = self.req.uri().clone();
        *req.version_mut() = self.req.version();
        *req.headers_mut() = self.req.headers().clone();
        Box::new(Parsed {
            req,
            keep_alive: self.keep_alive,
            body: self.body,
            head: self.head.clone(),
            lent: false,
            size: self.size,
        })
    }
}

/// A connection's last request head, so that the same bytes again are
/// answered with a copy of what they parsed to instead of being parsed:
/// [`parse`] depends on nothing but the bytes (and `--max-header-bytes`,
/// fixed for the connection). Clients that repeat a request on one
/// connection — polling, health checks, load generators — send exactly that.
///
/// A head is kept parsed only once it has come twice in a row; until then
/// only its bytes are (a reference count), so a connection whose requests
/// all differ pays a comparison that stops at the first differing byte.
#[derive(Default)]
pub(crate) struct Memo {
    /// The last head's bytes, CRLFCRLF included; empty before the first.
    head: Bytes,
    parsed: Option<Box<Parsed>>,
}

impl Memo {
    /// No request head has been parsed on this connection yet.
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_empty()
    }

    /// Takes back a request [`parse_with`] lent; any other is dropped. Called
    /// before the connection parses again, so the memo still holds the head
    /// the request was parsed from.
    pub(crate) fn give_back(&mut self, p: Box<Parsed>) {
        if p.lent {
            debug_assert_eq!(p.head, self.head, "given back after another head");
            self.parsed = Some(p);
        }
    }
}

/// [`parse`], through `memo`.
///
/// With `lend`, a repeated head without a body is answered with the memo's
/// own request rather than a copy of it (a copy is most of what a repeated
/// request costs to read: the field map, and a reference count taken and
/// dropped for every value). The caller promises to leave it as it is and to
/// hand it to [`Memo::give_back`] when done; until then the memo parses
/// again, and one never given back is only a memo lost.
pub(crate) fn parse_with(
    memo: &mut Memo,
    buf: &[u8],
    max_head: usize,
    lend: bool,
) -> Result<Option<(Box<Parsed>, usize)>, StatusCode> {
    let n = memo.head.len();
    let same = n > 0 && buf.len() >= n && buf[..n] == memo.head[..];
    if same {
        match memo.parsed.take() {
            Some(mut p) if lend && p.body == Framing::None => {
                p.lent = true;
                return Ok(Some((p, n)));
            }
            Some(p) => {
                let copy = p.copy();
                memo.parsed = Some(p);
                return Ok(Some((copy, n)));
            }
            None => {}
        }
    }
    let r = parse(buf, max_head);
    if let Ok(Some((p, used))) = &r {
        if same {
            memo.parsed = Some(p.copy());
        } else {
            memo.head = if p.head.len() == *used {
                p.head.clone()
            } else {
                Bytes::copy_from_slice(&buf[..*used])
            };
            memo.parsed = None;
        }
    }
    r
}

/// Parses one request head from the start of `buf`.
///
/// `Ok(None)` when the head is not complete yet; `Err(status)` for a head
/// that must be refused, after which the connection closes. Rules a server
/// MUST enforce on the wire are enforced here: Content-Length with
/// Transfer-Encoding, or an invalid Content-Length, is 400 (§6.3); a transfer
/// coding other than `chunked` is 501 (§6.1); versions other than 1.x are 505.
/// Host (§3.2) is checked by the pipeline, for every protocol alike.
pub(crate) fn parse(
    buf: &[u8],
    max_head: usize,
) -> Result<Option<(Box<Parsed>, usize)>, StatusCode> {
    let bad = StatusCode::BAD_REQUEST;
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Request::new(&mut fields);
    let used = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        }
        Err(httparse::Error::Version) => return version_fallback(buf, max_head),
        Err(_) => return Err(bad),
    };
    if used > max_head {
        return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
    let version = if r.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let method = match r.method.unwrap_or("") {
        "GET" => Method::GET,
        "HEAD" => Method::HEAD,
        m => Method::from_bytes(m.as_bytes()).map_err(|_| bad)?,
    };
    // The head is copied out of the read buffer once; the target and every
    // field value are slices of that copy (one allocation, not one each).
    let head = Bytes::copy_from_slice(&buf[..used]);
    let share = |s: &[u8]| {
        let at = (s.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
        if at <= used && s.len() <= used - at {
            head.slice(at..at + s.len())
        } else {
            // Not a slice of the head (httparse gives none such): copied.
            Bytes::copy_from_slice(s)
        }
    };
    let path = r.path.unwrap_or("");
    // RFC 9112 §3.2: no request-target form has a fragment; `http::Uri`
    // would drop it silently and serve another resource than was named.
    if path.as_bytes().contains(&b'#') {
        return Err(bad);
    }
    let uri: Uri = if path.starts_with('/') {
        Uri::from_maybe_shared(share(path.as_bytes()))
    } else {
        path.parse()
    }
    .map_err(|_| bad)?;

    let mut headers = HeaderMap::with_capacity(r.headers.len().max(12));
    let mut fields = Fields::default();
    for f in r.headers.iter() {
        let name = HeaderName::from_bytes(f.name.as_bytes()).map_err(|_| bad)?;
        let value = HeaderValue::from_maybe_shared(share(f.value)).map_err(|_| bad)?;
        fields.see(&name, f.value).map_err(|()| bad)?;
        headers.append(name, value);
    }
    // Only `chunked`, once: anything else (`chunked, identity`, `gzip,
    // chunked`, a second line) is a coding ferry does not implement, and
    // guessing would let requests be smuggled.
    let te = (fields.te_lines > 0).then_some(fields.te_lines == 1 && fields.te_only_chunked);
    let body = match (te, fields.length) {
        // §6.3: "If a message is received with both a Transfer-Encoding and a
        // Content-Length header field, [...] a server MAY reject the request".
        (Some(_), Some(_)) => return Err(bad),
        // §6.1: a transfer coding in an HTTP/1.0 request is faulty framing.
        (Some(_), None) if version == Version::HTTP_10 => return Err(bad),
        (Some(true), None) => Framing::Chunked,
        (Some(false), None) => return Err(StatusCode::NOT_IMPLEMENTED),
        (None, None | Some(0)) => Framing::None,
        (None, Some(n)) => Framing::Length(n),
    };
    let keep_alive = fields.persistent(version == Version::HTTP_11);
    let mut req = Request::new(ReqBody::default());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = version;
    *req.headers_mut() = headers;
    let size = crate::pipeline::head_size(&req);
    Ok(Some((
        Box::new(Parsed {
            req,
            keep_alive,
            body,
            head,
            lent: false,
            size,
        }),
        used,
    )))
}

/// httparse knows HTTP/1.0 and HTTP/1.1 only. RFC 9110 §2.5: a request with a
/// higher minor version of a supported major version is processed as that
/// version's highest minor (HTTP/1.2 as HTTP/1.1); another major version is
/// 505; a request line whose version is not `HTTP/d.d` at all is 400.
fn version_fallback(
    buf: &[u8],
    max_head: usize,
) -> Result<Option<(Box<Parsed>, usize)>, StatusCode> {
    let line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    let line = buf[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&buf[..line_end]);
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or(b"");
    match version {
        // 1.0 and 1.1 were rejected for another reason: a malformed line.
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] if (b'2'..=b'9').contains(minor) => {
            let mut copy = buf.to_vec();
            let at = line.len() - 1;
            copy[at] = b'1';
            match parse(&copy, max_head) {
                Ok(Some((mut p, used))) => {
                    *p.req.version_mut() = Version::HTTP_11;
                    Ok(Some((p, used)))
                }
                other => other,
            }
        }
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if (b'2'..=b'9').contains(major) && minor.is_ascii_digit() =>
        {
            Err(StatusCode::HTTP_VERSION_NOT_SUPPORTED)
        }
        _ => Err(StatusCode::BAD_REQUEST),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Result<Option<(Box<Parsed>, usize)>, u16> {
        parse(raw.as_bytes(), 32 * 1024).map_err(|s| s.as_u16())
    }

    #[test]
    fn request_heads_per_rfc_9112() {
        let ok = |raw: &str| head(raw).unwrap().unwrap().0;
        let p = ok("GET /a%20b?x=1 HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(p.req.uri().path(), "/a%20b");
        assert!(p.keep_alive);
        // §9.3: HTTP/1.0 closes unless it asks for keep-alive.
        assert!(!ok("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(!ok("GET / HTTP/1.1\r\nHost: t\r\nConnection: foo, close\r\n\r\n").keep_alive);
        // §3.2.2: absolute-form is accepted.
        assert_eq!(
            ok("GET http://t/x HTTP/1.1\r\nHost: t\r\n\r\n")
                .req
                .uri()
                .path(),
            "/x"
        );
        // Incomplete heads wait for more.
        assert!(head("GET / HTTP/1.1\r\nHost: t\r\n").unwrap().is_none());
        // §6.3: Content-Length with Transfer-Encoding, or an invalid length.
        assert_eq!(
            head("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
                .err(),
            Some(400)
        );
        assert_eq!(
            head("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n").err(),
            Some(400)
        );
        assert_eq!(
            head("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
                .err(),
            Some(400)
        );
        assert_eq!(head("GET / HTTP/2.0\r\nHost: t\r\n\r\n").err(), Some(505));
        // RFC 9110 §2.5: a higher minor version is processed as HTTP/1.1.
        let p = ok("GET /x HTTP/1.2\r\nHost: t\r\n\r\n");
        assert_eq!(
            (p.req.uri().path(), p.req.version()),
            ("/x", Version::HTTP_11)
        );
        // Malformed request lines are 400, not 505 (RFC 9112 §3).
        assert_eq!(
            head("GET /sp ace HTTP/1.1\r\nHost: t\r\n\r\n").err(),
            Some(400)
        );
        assert_eq!(head("GET / http/1.1\r\nHost: t\r\n\r\n").err(), Some(400));
        assert_eq!(head("GET  HTTP/1.1\r\nHost: t\r\n\r\n").err(), Some(400));
        assert_eq!(head("G\0T / HTTP/1.1\r\nHost: t\r\n\r\n").err(), Some(400));
        // §3.2: a fragment is not part of any request-target form.
        assert_eq!(head("GET /#p HTTP/1.1\r\nHost: t\r\n\r\n").err(), Some(400));
        assert_eq!(
            head("GET /a?q#p HTTP/1.1\r\nHost: t\r\n\r\n").err(),
            Some(400)
        );
        let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: y\r\n")).collect();
        assert_eq!(
            head(&format!("GET / HTTP/1.1\r\nHost: t\r\n{many}\r\n")).err(),
            Some(431)
        );
    }

    #[test]
    fn request_body_framing_rfc_9112_6() {
        let framing = |raw: &str| head(raw).map(|p| p.unwrap().0.body);
        assert_eq!(
            framing("GET / HTTP/1.1\r\nHost: t\r\n\r\n"),
            Ok(Framing::None)
        );
        assert_eq!(
            framing("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n"),
            Ok(Framing::Length(5))
        );
        assert_eq!(
            framing("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: Chunked\r\n\r\n"),
            Ok(Framing::Chunked)
        );
        // Codings ferry does not implement, obfuscations and repeats are
        // refused rather than guessed at (request smuggling).
        for te in [
            "chunked, identity",
            "gzip, chunked",
            "identity",
            "chunked\r\nTransfer-Encoding: chunked",
        ] {
            assert_eq!(
                framing(&format!(
                    "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: {te}\r\n\r\n"
                )),
                Err(501),
                "{te:?}"
            );
        }
        assert_eq!(
            framing("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(400)
        );
    }

    #[test]
    fn a_repeated_head_is_answered_from_the_memo_and_only_the_same_bytes_are() {
        let mut memo = Memo::default();
        let a = b"GET /a HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"x\"\r\n\r\n";
        let b = b"GET /b HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"x\"\r\n\r\n";
        let get = |memo: &mut Memo, buf: &[u8]| {
            let (p, n) = parse_with(memo, buf, 1024, false).unwrap().unwrap();
            (p.req.uri().path().to_owned(), p.req.headers().clone(), n)
        };
        // Seen once, then twice (kept parsed), then answered from the memo.
        for _ in 0..3 {
            let (path, h, n) = get(&mut memo, a);
            assert_eq!((path.as_str(), n), ("/a", a.len()));
            assert_eq!(h["if-none-match"], "\"x\"");
        }
        assert!(memo.parsed.is_some());
        // Pipelined: the head is a prefix of what is buffered.
        let mut two = a.to_vec();
        two.extend_from_slice(b);
        assert_eq!(get(&mut memo, &two).2, a.len());
        // Another head, and the first cut short, are parsed, not recalled.
        assert_eq!(get(&mut memo, b).0, "/b");
        assert!(memo.parsed.is_none());
        assert!(parse_with(&mut memo, &a[..a.len() - 1], 1024, false)
            .unwrap()
            .is_none());
        // A head that fails is never kept: it fails again.
        let bad = b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n";
        for _ in 0..3 {
            assert_eq!(
                parse_with(&mut memo, bad, 1024, true).err(),
                Some(StatusCode::BAD_REQUEST)
            );
        }
    }

    #[test]
    fn a_lent_head_is_the_memos_own_until_given_back() {
        let mut memo = Memo::default();
        let a = b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n";
        for _ in 0..2 {
            parse_with(&mut memo, a, 1024, true).unwrap().unwrap();
        }
        let (p, n) = parse_with(&mut memo, a, 1024, true).unwrap().unwrap();
        assert_eq!((p.req.uri().path(), n), ("/a", a.len()));
        assert!(p.lent && memo.parsed.is_none());
        // While it is out, the same bytes are parsed again (and kept).
        let (q, _) = parse_with(&mut memo, a, 1024, true).unwrap().unwrap();
        assert!(!q.lent && memo.parsed.is_some());
        memo.give_back(q);
        memo.give_back(p);
        let (p, _) = parse_with(&mut memo, a, 1024, true).unwrap().unwrap();
        assert!(p.lent, "given back, then lent again");
        memo.give_back(p);
        // Without `lend`, a copy; the memo keeps its own.
        let (c, _) = parse_with(&mut memo, a, 1024, false).unwrap().unwrap();
        assert!(!c.lent && memo.parsed.is_some());
        // A head with a body is never lent: the connection gives it one.
        let b = b"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\n";
        for _ in 0..3 {
            let (p, _) = parse_with(&mut memo, b, 1024, true).unwrap().unwrap();
            assert_eq!((p.lent, p.body), (false, Framing::Length(1)));
        }
        assert!(memo.parsed.is_some());
    }

    proptest::proptest! {
        /// Any bytes: a head, a wait, or a rejection; never a panic, and a
        /// parsed head never claims more bytes than it was given.
        #[test]
        fn parse_never_panics(buf in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok(Some((_, used))) = parse(&buf, 32 * 1024) {
                proptest::prop_assert!(used <= buf.len());
            }
        }
    }
}
