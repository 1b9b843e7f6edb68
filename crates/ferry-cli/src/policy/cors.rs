//! CORS (the Fetch standard's HTTP extensions, fetch.spec.whatwg.org §3.2):
//! which origins may read responses, and the answer to a preflight. This
//! module never performs I/O.
use anyhow::{bail, Context as _};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::Method;

/// `--cors-allow-origin`, `--cors-allow-methods`, `--cors-allow-headers`,
/// `--cors-max-age`, validated.
#[derive(Debug, Clone)]
pub(crate) struct Cors {
    /// `None`: any origin (`*`).
    origins: Option<Vec<HeaderValue>>,
    methods: Vec<Method>,
    methods_value: HeaderValue,
    /// Lowercase.
    headers: Vec<HeaderName>,
    headers_value: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
}

/// The answer to a preflight request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Preflight {
    /// 204 with these fields.
    Allowed(HeaderMap),
    /// 403: the origin, the method or a header is not allowed.
    Refused(HeaderMap),
}

impl Cors {
    /// Validates the flags; `None` when no origin is allowed (CORS off).
    ///
    /// # Errors
    /// An origin that is not `*` or `scheme://host[:port]`, or a method or
    /// header name that is not a token.
    pub(crate) fn new(
        origins: &[String],
        methods: &[String],
        headers: &[String],
        max_age: Option<u64>,
    ) -> anyhow::Result<Option<Cors>> {
        if origins.is_empty() {
            return Ok(None);
        }
        let origins = if origins.iter().any(|o| o.trim() == "*") {
            None
        } else {
            let mut out = Vec::new();
            for o in origins {
                let o = o.trim().trim_end_matches('/');
                let ok = o.split_once("://").is_some_and(|(scheme, host)| {
                    !scheme.is_empty() && !host.is_empty() && !host.contains(['/', '?', '#', ' '])
                });
                if !ok {
                    bail!("--cors-allow-origin {o:?}: expected `*` or scheme://host[:port]");
                }
                out.push(
                    HeaderValue::from_str(o)
                        .with_context(|| format!("--cors-allow-origin {o:?}"))?,
                );
            }
            Some(out)
        };
        let methods: Vec<Method> = methods
            .iter()
            .map(|m| {
                Method::from_bytes(m.trim().as_bytes())
                    .with_context(|| format!("--cors-allow-methods: {m:?} is not a method"))
            })
            .collect::<anyhow::Result<_>>()?;
        let headers: Vec<HeaderName> = headers
            .iter()
            .filter(|h| !h.trim().is_empty())
            .map(|h| {
                HeaderName::from_bytes(h.trim().as_bytes())
                    .with_context(|| format!("--cors-allow-headers: {h:?} is not a header name"))
            })
            .collect::<anyhow::Result<_>>()?;
        let join = |items: Vec<&str>| HeaderValue::from_str(&items.join(", "));
        Ok(Some(Cors {
            origins,
            methods_value: join(methods.iter().map(Method::as_str).collect())?,
            methods,
            headers_value: if headers.is_empty() {
                None
            } else {
                Some(join(headers.iter().map(HeaderName::as_str).collect())?)
            },
            headers,
            max_age: max_age.map(HeaderValue::from),
        }))
    }

    /// Whether the answer depends on the request's Origin (explicit origins),
    /// so caches must key on it (`Vary: origin`).
    fn varies(&self) -> bool {
        self.origins.is_some()
    }

    /// The `Access-Control-Allow-Origin` value for `origin`, if allowed.
    fn allow_origin(&self, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
        match &self.origins {
            None => Some(HeaderValue::from_static("*")),
            Some(list) => {
                let o = origin?;
                list.iter()
                    .any(|a| a.as_bytes().eq_ignore_ascii_case(o.as_bytes()))
                    .then(|| o.clone())
            }
        }
    }

    /// Whether `method` and `headers` make a CORS preflight: OPTIONS with
    /// Origin and Access-Control-Request-Method (Fetch §3.2.2).
    pub(crate) fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
        method == Method::OPTIONS
            && headers.contains_key(header::ORIGIN)
            && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// The answer to a preflight: allowed only when the origin, the method
    /// and every requested header are. It never needs credentials (Fetch
    /// §3.2.2: a preflight is sent without them), so it comes before
    /// `--basic-auth`.
    pub(crate) fn preflight(&self, headers: &HeaderMap) -> Preflight {
        let mut out = HeaderMap::new();
        if self.varies() {
            out.insert(header::VARY, HeaderValue::from_static("origin"));
        }
        let Some(origin) = self.allow_origin(headers.get(header::ORIGIN)) else {
            return Preflight::Refused(out);
        };
        let method_ok = headers
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
            .is_some_and(|m| self.methods.contains(&m));
        // A `#` list of field names (no quoted strings in tokens).
        let headers_ok = headers
            .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .flat_map(|v| v.to_str().unwrap_or("\u{0}").split(','))
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .all(|h| {
                self.headers
                    .iter()
                    .any(|a| a.as_str().eq_ignore_ascii_case(h))
            });
        if !method_ok || !headers_ok {
            return Preflight::Refused(out);
        }
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        out.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            self.methods_value.clone(),
        );
        if let Some(h) = &self.headers_value {
            out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, h.clone());
        }
        if let Some(a) = &self.max_age {
            out.insert(header::ACCESS_CONTROL_MAX_AGE, a.clone());
        }
        Preflight::Allowed(out)
    }

    /// Adds the CORS fields of an actual (not preflight) response:
    /// `Access-Control-Allow-Origin` when the request's origin is allowed,
    /// and `Vary: origin` whenever the answer depends on it, with or without
    /// an Origin in this request (a cache must not hand one origin's answer
    /// to another).
    pub(crate) fn respond(&self, req: &HeaderMap, res: &mut HeaderMap) {
        if self.varies() {
            add_vary(res, "origin");
        }
        if req.contains_key(header::ORIGIN) || !self.varies() {
            if let Some(o) = self.allow_origin(req.get(header::ORIGIN)) {
                res.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
            }
        }
    }
}

/// Adds `token` to the response's Vary, in one field line.
pub(crate) fn add_vary(h: &mut HeaderMap, token: &'static str) {
    let v = match h.get(header::VARY).and_then(|v| v.to_str().ok()) {
        Some(old) if old.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)) => return,
        Some(old) if !old.trim().is_empty() => HeaderValue::from_str(&format!("{old}, {token}")),
        _ => Ok(HeaderValue::from_static(token)),
    };
    if let Ok(v) = v {
        h.insert(header::VARY, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origins: &[&str]) -> Cors {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        Cors::new(
            &s(origins),
            &s(&["GET", "HEAD", "PUT"]),
            &s(&["X-Token"]),
            Some(600),
        )
        .unwrap()
        .unwrap()
    }

    fn req(h: &[(&str, &str)]) -> HeaderMap {
        h.iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn preflights_allow_exactly_the_configured_origin_method_and_headers() {
        let c = cors(&["https://app.test"]);
        let pre = |h: &[(&str, &str)]| c.preflight(&req(h));
        let Preflight::Allowed(h) = pre(&[
            ("origin", "https://app.test"),
            ("access-control-request-method", "PUT"),
            ("access-control-request-headers", "x-token"),
        ]) else {
            panic!("allowed")
        };
        assert_eq!(h["access-control-allow-origin"], "https://app.test");
        assert_eq!(h["access-control-allow-methods"], "GET, HEAD, PUT");
        assert_eq!(h["access-control-allow-headers"], "x-token");
        assert_eq!(h["access-control-max-age"], "600");
        assert_eq!(h["vary"], "origin");
        for refused in [
            &[
                ("origin", "https://evil.test"),
                ("access-control-request-method", "GET"),
            ][..],
            &[
                ("origin", "https://app.test"),
                ("access-control-request-method", "DELETE"),
            ],
            &[
                ("origin", "https://app.test"),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "x-token, x-other"),
            ],
        ] {
            assert!(matches!(pre(refused), Preflight::Refused(_)), "{refused:?}");
        }
        assert!(Cors::is_preflight(
            &Method::OPTIONS,
            &req(&[("origin", "a"), ("access-control-request-method", "GET")])
        ));
        assert!(!Cors::is_preflight(
            &Method::OPTIONS,
            &req(&[("origin", "a")])
        ));
    }

    #[test]
    fn actual_responses_vary_on_origin_unless_any_origin_is_allowed() {
        let c = cors(&["https://app.test"]);
        let mut res = req(&[("vary", "accept-encoding")]);
        c.respond(&req(&[("origin", "https://app.test")]), &mut res);
        assert_eq!(res["access-control-allow-origin"], "https://app.test");
        assert_eq!(res["vary"], "accept-encoding, origin");
        let mut res = HeaderMap::new();
        c.respond(&req(&[("origin", "https://evil.test")]), &mut res);
        assert!(!res.contains_key("access-control-allow-origin"));
        assert_eq!(res["vary"], "origin");
        let mut res = HeaderMap::new();
        c.respond(&HeaderMap::new(), &mut res);
        assert_eq!(res["vary"], "origin", "without Origin too");
        let any = cors(&["*"]);
        let mut res = HeaderMap::new();
        any.respond(&HeaderMap::new(), &mut res);
        assert_eq!(res["access-control-allow-origin"], "*");
        assert!(!res.contains_key("vary"));
    }

    #[test]
    fn bad_origins_are_config_errors() {
        for bad in ["app.test", "https://", "https://a/b", "null x"] {
            let r = Cors::new(&[bad.to_string()], &[], &[], None);
            assert!(r.is_err(), "{bad}");
        }
        assert!(Cors::new(&[], &[], &[], None).unwrap().is_none());
    }
}
