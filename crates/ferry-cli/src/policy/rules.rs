//! Per-path rules: response headers, redirects and rewrites, each matched by
//! a [`Glob`] (the `--cache-rule` language) against the request's key; the
//! first matching glob wins. This module never performs I/O.
use anyhow::{bail, Context as _};
use ferry::cache::Glob;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;

/// Fields a `--header-rule` may not set, and why.
///
/// RFC 9110 §7.6.1: connection-specific fields (`Connection` and the fields
/// it names, `Keep-Alive`, `Proxy-Connection`, `TE`, `Transfer-Encoding`,
/// `Upgrade`) belong to one hop; RFC 9113 §8.2.2 forbids them in HTTP/2.
/// The rest describe the bytes ferry sends or carry its decisions
/// (RFC 9110 §8.6 Content-Length, §14.4 Content-Range, §8.4
/// Content-Encoding, §8.8 validators, §6.6.1 Date): a rule changing them
/// would make the message lie about its content.
const FORBIDDEN: &[(&str, &str)] = &[
    ("connection", "a hop-by-hop field (RFC 9110 §7.6.1)"),
    ("keep-alive", "a hop-by-hop field (RFC 9110 §7.6.1)"),
    ("proxy-connection", "a hop-by-hop field (RFC 9110 §7.6.1)"),
    ("te", "a hop-by-hop field (RFC 9110 §7.6.1)"),
    ("trailer", "framing, set by the server (RFC 9110 §6.6.2)"),
    (
        "transfer-encoding",
        "framing, set per connection (RFC 9112 §6.1)",
    ),
    ("upgrade", "a hop-by-hop field (RFC 9110 §7.8)"),
    (
        "content-length",
        "framing: the body's exact length (RFC 9110 §8.6)",
    ),
    ("content-range", "framing of a 206 or 416 (RFC 9110 §14.4)"),
    (
        "content-encoding",
        "it names the coding of the bytes sent (RFC 9110 §8.4)",
    ),
    ("etag", "a validator ferry computes (RFC 9110 §8.8.3)"),
    (
        "last-modified",
        "a validator ferry computes (RFC 9110 §8.8.2)",
    ),
    ("date", "the origin's clock (RFC 9110 §6.6.1)"),
    (
        "vary",
        "ferry lists what picked the variant (RFC 9110 §12.5.5)",
    ),
    ("host", "a request field"),
];

/// `--header-rule GLOB=Name: value`: set (or, with an empty value, remove)
/// one response field on keys matching the glob.
#[derive(Debug, Clone)]
pub(crate) struct HeaderRule {
    pub(crate) glob: Glob,
    pub(crate) name: HeaderName,
    /// `None`: remove the field.
    pub(crate) value: Option<HeaderValue>,
}

/// Parses `GLOB=Name: value`.
///
/// # Errors
/// No `=` or `:`, an invalid name or value, or a field in [`FORBIDDEN`].
pub(crate) fn parse_header_rule(spec: &str) -> anyhow::Result<HeaderRule> {
    let what = || format!("--header-rule {spec:?}");
    let (glob, field) = spec
        .split_once('=')
        .with_context(|| format!("{}: expected GLOB=Name: value", what()))?;
    let (name, value) = field
        .split_once(':')
        .with_context(|| format!("{}: expected GLOB=Name: value", what()))?;
    let glob = Glob::new(glob.trim()).with_context(what)?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .with_context(|| format!("{}: {:?} is not a header name", what(), name.trim()))?;
    if let Some((_, why)) = FORBIDDEN.iter().find(|(n, _)| *n == name.as_str()) {
        bail!("{}: a rule cannot set {name}: {why}", what());
    }
    let value = value.trim();
    let value = if value.is_empty() {
        None
    } else {
        Some(
            HeaderValue::from_str(value)
                .with_context(|| format!("{}: {value:?} is not a header value", what()))?,
        )
    };
    Ok(HeaderRule { glob, name, value })
}

/// Applies the rules of the first glob that matches `key` to `headers`.
pub(crate) fn apply_headers(rules: &[HeaderRule], key: &str, headers: &mut HeaderMap) {
    let Some(first) = rules.iter().find(|r| r.glob.matches(key)) else {
        return;
    };
    for r in rules.iter().filter(|r| r.glob == first.glob) {
        match &r.value {
            Some(v) => {
                headers.insert(r.name.clone(), v.clone());
            }
            None => {
                headers.remove(&r.name);
            }
        }
    }
}

/// `--redirect GLOB=CODE:TARGET`.
#[derive(Debug, Clone)]
pub(crate) struct Redirect {
    pub(crate) glob: Glob,
    pub(crate) status: StatusCode,
    /// With `$path` still in it.
    pub(crate) target: String,
}

/// Parses `GLOB=CODE:TARGET`.
///
/// # Errors
/// No `=` or `:`, a code other than 301, 302, 307, 308, or a target that
/// cannot be a Location value.
pub(crate) fn parse_redirect(spec: &str) -> anyhow::Result<Redirect> {
    let what = || format!("--redirect {spec:?}");
    let (glob, rest) = spec
        .split_once('=')
        .with_context(|| format!("{}: expected GLOB=CODE:TARGET", what()))?;
    let (code, target) = rest
        .split_once(':')
        .with_context(|| format!("{}: expected GLOB=CODE:TARGET", what()))?;
    let status = match code.trim() {
        "301" => StatusCode::MOVED_PERMANENTLY,
        "302" => StatusCode::FOUND,
        "307" => StatusCode::TEMPORARY_REDIRECT,
        "308" => StatusCode::PERMANENT_REDIRECT,
        c => bail!("{}: {c:?} is not 301, 302, 307 or 308", what()),
    };
    let target = target.trim();
    if target.is_empty() || HeaderValue::from_str(&target.replace("$path", "/")).is_err() {
        bail!("{}: {target:?} is not a URL or path", what());
    }
    Ok(Redirect {
        glob: Glob::new(glob.trim()).with_context(what)?,
        status,
        target: target.to_owned(),
    })
}

/// The status and Location of the first redirect matching `key`: `$path`
/// becomes the request path (as sent, still percent-encoded), and the query
/// is kept (appended with `&` when the target has one of its own).
pub(crate) fn redirect(
    rules: &[Redirect],
    key: &str,
    path: &str,
    query: Option<&str>,
) -> Option<(StatusCode, HeaderValue)> {
    let r = rules.iter().find(|r| r.glob.matches(key))?;
    // A backslash is not a URI character (RFC 3986 §2), but browsers read
    // `/\evil` as `//evil` (WHATWG URL): it goes out percent-encoded, in
    // the path and in the query alike.
    let mut location = r.target.replace("$path", &path.replace('\\', "%5C"));
    // One leading slash only: `//host/x` would be a network-path reference
    // (RFC 3986 §4.2) to another host, from a request path like `//evil`.
    if location.starts_with("//") {
        location = format!("/{}", location.trim_start_matches('/'));
    }
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        location.push(if location.contains('?') { '&' } else { '?' });
        location.push_str(&q.replace('\\', "%5C"));
    }
    // The path and query came from a valid request-target.
    HeaderValue::try_from(location).ok().map(|v| (r.status, v))
}

/// `--rewrite GLOB=/other/file`.
#[derive(Debug, Clone)]
pub(crate) struct Rewrite {
    pub(crate) glob: Glob,
    pub(crate) to: String,
}

/// Parses `GLOB=/path`.
///
/// # Errors
/// No `=`, or a target that is not an absolute path.
pub(crate) fn parse_rewrite(spec: &str) -> anyhow::Result<Rewrite> {
    let what = || format!("--rewrite {spec:?}");
    let (glob, to) = spec
        .split_once('=')
        .with_context(|| format!("{}: expected GLOB=/PATH", what()))?;
    let to = super::root_path(to.trim()).with_context(what)?;
    Ok(Rewrite {
        glob: Glob::new(glob.trim()).with_context(what)?,
        to,
    })
}

/// The path to serve instead, for the first rewrite matching `key`.
pub(crate) fn rewrite<'r>(rules: &'r [Rewrite], key: &str) -> Option<&'r str> {
    rules
        .iter()
        .find(|r| r.glob.matches(key))
        .map(|r| r.to.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_and_hop_by_hop_fields_cannot_be_set() {
        for spec in [
            "**=Content-Length: 5",
            "**=transfer-encoding: chunked",
            "**=Content-Range: bytes 0-1/2",
            "**=Connection: close",
            "**=ETag: \"x\"",
            "**=Content-Encoding: gzip",
            // A shared cache would hand one client's coding to another.
            "**=Vary: origin",
        ] {
            let e = parse_header_rule(spec).unwrap_err().to_string();
            assert!(e.contains("cannot set"), "{spec}: {e}");
        }
        for bad in ["**", "**=X-A", "=X-A: 1", "**=Bad Name: 1", "**=X: a\u{1}b"] {
            assert!(parse_header_rule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_first_matching_glob_sets_its_fields() {
        let rules: Vec<HeaderRule> = [
            "*.html=Content-Security-Policy: default-src 'self'",
            "*.html=X-Frame-Options: DENY",
            "**=X-Frame-Options: SAMEORIGIN",
            "**=X-Content-Type-Options:",
        ]
        .iter()
        .map(|s| parse_header_rule(s).unwrap())
        .collect();
        let mut h = HeaderMap::new();
        h.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        apply_headers(&rules, "index.html", &mut h);
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["content-security-policy"], "default-src 'self'");
        assert_eq!(h["x-content-type-options"], "nosniff", "not the ** rules");
        let mut h = HeaderMap::new();
        h.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        apply_headers(&rules, "a/b.css", &mut h);
        assert_eq!(h["x-frame-options"], "SAMEORIGIN");
        assert!(!h.contains_key("x-content-type-options"), "removed");
    }

    #[test]
    fn redirects_substitute_the_path_and_keep_the_query() {
        let rules = [
            parse_redirect("old/**=301:https://new.example$path").unwrap(),
            parse_redirect("blog=308:/news?from=blog").unwrap(),
            parse_redirect("x/**=302:$path").unwrap(),
        ];
        let loc = |key, path, q| redirect(&rules, key, path, q).map(|(s, v)| (s.as_u16(), v));
        assert_eq!(
            loc("old/a b", "/old/a%20b", Some("x=1")).unwrap(),
            (
                301,
                HeaderValue::from_static("https://new.example/old/a%20b?x=1")
            )
        );
        assert_eq!(
            loc("blog", "/blog", Some("p=2")).unwrap(),
            (308, HeaderValue::from_static("/news?from=blog&p=2"))
        );
        // Never a network-path reference to another host.
        assert_eq!(
            loc("x/evil.test", "//x/evil.test", None).unwrap().1,
            "/x/evil.test"
        );
        assert!(loc("new/a", "/new/a", None).is_none());
        for bad in ["a=300:/b", "a=301", "a=301:", "a=abc:/x", "a=301:/b\u{1}"] {
            assert!(parse_redirect(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rewrites_name_a_file_of_the_root() {
        let rules = [parse_rewrite("app/**=/app/shell.html").unwrap()];
        assert_eq!(rewrite(&rules, "app/users/7"), Some("/app/shell.html"));
        assert_eq!(rewrite(&rules, "other"), None);
        for bad in ["app/**", "app/**=shell.html", "app/**=/../x", "app/**=/"] {
            assert!(parse_rewrite(bad).is_err(), "{bad}");
        }
    }
}
