//! An HTTP/2 request head from its decoded fields (RFC 9113 §8.2, §8.3):
//! pseudo-header fields first, lowercase names, no connection-specific
//! fields, and a `Request` built the way the other wire layers build theirs.
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri, Version};

/// Why a request is not answered as a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Malformed (RFC 9113 §8.1.1): a stream error of type PROTOCOL_ERROR.
    Malformed(&'static str),
    /// The decoded field section outgrew the limit: 431 without building it.
    TooLarge,
}

/// Collects one header block's fields as the HPACK decoder yields them.
pub(crate) struct Fields {
    method: Option<Method>,
    scheme: Option<HeaderValue>,
    authority: Option<HeaderValue>,
    path: Option<HeaderValue>,
    headers: HeaderMap,
    regular: bool,
    /// RFC 7541 §4.1's size of what was decoded (name + value + 32 each).
    size: usize,
    limit: usize,
    refused: Option<Refused>,
}

impl Fields {
    /// Fields of a block whose decoded size may reach `limit`.
    pub(crate) fn new(limit: usize) -> Fields {
        Fields {
            method: None,
            scheme: None,
            authority: None,
            path: None,
            headers: HeaderMap::new(),
            regular: false,
            size: 0,
            limit,
            refused: None,
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
        // §8.2.1: a field value must not start or end with whitespace, nor
        // hold NUL, CR or LF.
        if value.first().is_some_and(|b| matches!(b, b' ' | b'\t'))
            || value.last().is_some_and(|b| matches!(b, b' ' | b'\t'))
            || value.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n'))
        {
            return self.malformed("bad field value");
        }
        if let Some(pseudo) = name.strip_prefix(b":") {
            // §8.3: "All pseudo-header fields MUST appear in a field block
            // before all regular field lines."
            if self.regular {
                return self.malformed("pseudo-header after a regular field");
            }
            let slot = match pseudo {
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
                b"scheme" => &mut self.scheme,
                b"authority" => &mut self.authority,
                b"path" => &mut self.path,
                // §8.3: "Endpoints MUST treat a request or response that
                // contains undefined or invalid pseudo-header fields as
                // malformed" (`:status` included, `:protocol` not offered).
                _ => return self.malformed("unknown pseudo-header"),
            };
            if slot.is_some() {
                return self.malformed("repeated pseudo-header");
            }
            match HeaderValue::from_bytes(value) {
                Ok(v) => *slot = Some(v),
                Err(_) => self.malformed("bad pseudo-header value"),
            }
            return;
        }
        self.regular = true;
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
        if crate::pipeline::CONNECTION_SPECIFIC.contains(&name)
            || (name == http::header::TE && value != b"trailers")
        {
            return self.malformed("connection-specific field");
        }
        match HeaderValue::from_bytes(value) {
            Ok(v) => {
                self.headers.append(name, v);
            }
            Err(_) => self.malformed("bad field value"),
        }
    }

    /// The request these fields make (RFC 9113 §8.3.1), with an empty body.
    pub(crate) fn request<B: Default>(self) -> Result<Request<B>, Refused> {
        if let Some(r) = self.refused {
            return Err(r);
        }
        let Some(method) = self.method else {
            return Err(Refused::Malformed("no :method"));
        };
        let uri = if method == Method::CONNECT {
            // §8.5: only :authority; ferry serves no tunnels, the
            // application answers it.
            let (Some(a), None, None) = (&self.authority, &self.scheme, &self.path) else {
                return Err(Refused::Malformed("CONNECT with :scheme or :path"));
            };
            Uri::builder().authority(a.as_bytes()).build()
        } else {
            // §8.3.1: ":method", ":scheme" and ":path" are required.
            let (Some(scheme), Some(path)) = (&self.scheme, &self.path) else {
                return Err(Refused::Malformed("no :scheme or :path"));
            };
            let p = path.as_bytes();
            if !(p.starts_with(b"/") || (p == b"*" && method == Method::OPTIONS)) {
                return Err(Refused::Malformed("bad :path"));
            }
            match &self.authority {
                Some(a) => Uri::builder()
                    .scheme(scheme.as_bytes())
                    .authority(a.as_bytes())
                    .path_and_query(p)
                    .build(),
                None => Uri::builder().path_and_query(p).build(),
            }
        };
        let Ok(uri) = uri else {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn build(fields: &[(&str, &str)]) -> Result<Request<()>, Refused> {
        let mut f = Fields::new(16 * 1024);
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
    fn a_field_section_over_the_limit_is_too_large_and_not_kept() {
        let mut f = Fields::new(200);
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
