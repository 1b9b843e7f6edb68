//! Honouring `X-Accel-Redirect`, `X-Sendfile` and `X-LIGHTTPD-send-file` from an
//! upstream application, the way nginx and lighttpd do.
//!
//! The application checks a permission and answers with an empty body and one of
//! these headers; the front server serves the file itself, with the *client's*
//! conditional and Range headers. Which headers are honoured and where they may
//! point comes only from configuration, never from a request (Rack's
//! CVE-2025-61780 was the opposite).
use crate::respond::{self, Extra};
use crate::store::{Hidden, Key, Store};
use crate::{Body, Error, ErrorKind, FsStore};
use ferry_proto::{plan, AcceptEncoding};
use http::header::{self, HeaderMap, HeaderName};
use http::{Method, Response};
use std::path::Path;
use std::time::SystemTime;

/// `X-Accel-Redirect`: a URI path under a configured internal prefix (nginx).
pub const X_ACCEL_REDIRECT: HeaderName = HeaderName::from_static("x-accel-redirect");
/// `X-Sendfile`: an absolute file path (Apache mod_xsendfile, lighttpd).
pub const X_SENDFILE: HeaderName = HeaderName::from_static("x-sendfile");
/// `X-LIGHTTPD-send-file`: an absolute file path (lighttpd's older name).
pub const X_LIGHTTPD_SEND_FILE: HeaderName = HeaderName::from_static("x-lighttpd-send-file");

/// Which response headers an application may use to hand a file to ferry, and
/// where those files may live.
///
/// # Examples
///
/// ```no_run
/// # fn main() -> std::io::Result<()> {
/// use ferry::sendfile::Honor;
/// let honor = Honor::new()
///     .accel("/protected/", ferry::FsStore::new("/srv/private")?)
///     .sendfile_root(ferry::FsStore::new("/srv/private")?);
/// assert!(honor.is_internal("/protected/report.pdf"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Honor {
    accel: Vec<(String, FsStore)>,
    roots: Vec<FsStore>,
    #[cfg(feature = "compress")]
    compress: Option<std::sync::Arc<crate::compress::Compressor>>,
}

/// Why a handed-off file could not be served; always answered 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The header names a place outside every configured prefix or root, or a
    /// header ferry was not configured to honour.
    NotConfigured,
    /// The target path is malformed (`..`, encoded slash, NUL, not UTF-8).
    InvalidTarget,
    /// The target is inside a configured place but missing, hidden or a symlink
    /// out of it.
    Missing,
}

impl Honor {
    /// Honours nothing until configured.
    pub fn new() -> Self {
        Self::default()
    }

    /// Honours `X-Accel-Redirect` values starting with `url_prefix` (such as
    /// `/protected/`), serving the rest of the path from `store`. Clients asking
    /// for that prefix directly get 404, like nginx's `internal` locations.
    #[must_use]
    pub fn accel(mut self, url_prefix: &str, store: FsStore) -> Self {
        let mut p = url_prefix.to_owned();
        if !p.starts_with('/') {
            p.insert(0, '/');
        }
        if !p.ends_with('/') {
            p.push('/');
        }
        self.accel.push((p, store));
        // Longest prefix first, so nested prefixes pick the most specific store.
        self.accel.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        self
    }

    /// Honours `X-Sendfile` and `X-LIGHTTPD-send-file` paths inside `store`'s root.
    #[must_use]
    pub fn sendfile_root(mut self, store: FsStore) -> Self {
        self.roots.push(store);
        self
    }

    /// Compresses handed-off files of a compressible type (by the
    /// application's Content-Type) on the fly, as
    /// [`ServeDir::compress`](crate::ServeDir::compress) does (`None`, the
    /// default: never). Needs the `compress` feature.
    #[cfg(feature = "compress")]
    #[must_use]
    pub fn compress(mut self, config: Option<crate::compress::Compress>) -> Self {
        self.compress = config.map(|c| std::sync::Arc::new(crate::compress::Compressor::new(c)));
        self
    }

    /// Whether a client's request path falls under an internal prefix.
    pub fn is_internal(&self, path: &str) -> bool {
        let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
        self.accel.iter().any(|(p, _)| {
            path.starts_with(p.as_str())
                || decoded.starts_with(p.as_str())
                || path.trim_end_matches('/') == p.trim_end_matches('/')
        })
    }

    /// Whether `upstream` carries any hand-off header (honoured or not).
    pub fn wants_handoff(upstream: &HeaderMap) -> bool {
        upstream.contains_key(X_ACCEL_REDIRECT)
            || upstream.contains_key(X_SENDFILE)
            || upstream.contains_key(X_LIGHTTPD_SEND_FILE)
    }

    /// Serves the file the upstream response names, for the client request
    /// `method` and `headers`, keeping the application's Content-Type,
    /// Content-Disposition, Cache-Control, Expires and Set-Cookie.
    ///
    /// # Errors
    ///
    /// A [`Refusal`] when the target is not configured, malformed or missing: the
    /// caller answers 404 and logs it as a misconfiguration.
    pub async fn serve(
        &self,
        method: &Method,
        headers: &HeaderMap,
        upstream: &HeaderMap,
    ) -> Result<Response<Body>, Refusal> {
        let (store, key) = self.resolve(upstream)?;
        let now = SystemTime::now();
        let accept = AcceptEncoding::from_headers(headers);
        let mut entity = store
            .open(&key, &accept)
            .await
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidPath => Refusal::InvalidTarget,
                _ => Refusal::Missing,
            })?;
        // The application's type is the representation's type: a 200 or 206
        // carries it, and so does each part of a multipart/byteranges.
        if let Some(ct) = upstream.get(header::CONTENT_TYPE) {
            entity = entity.content_type(ct.clone());
        }
        // nginx serves an internal redirect as GET whatever the original method;
        // HEAD stays HEAD.
        let method = if method == Method::HEAD {
            Method::HEAD
        } else {
            Method::GET
        };
        #[cfg(feature = "compress")]
        if let Some(c) = self
            .compress
            .as_ref()
            .filter(|_| crate::compress::Compressor::applies(&entity))
        {
            // Keyed by the file's full path: several roots may hold the same key.
            let id = store.root().join(key.as_str());
            entity = c
                .select(&method, headers, &accept, &id.to_string_lossy(), entity)
                .await;
        }
        let plan = plan(&method, headers, entity.meta(), now);
        let extra = Extra {
            cache_control: upstream.get(header::CACHE_CONTROL),
            disposition: upstream.get(header::CONTENT_DISPOSITION),
            nosniff: true,
        };
        let mut res = respond::build(plan, &entity, method == Method::HEAD, now, &extra);
        let status = res.status();
        let h = res.headers_mut();
        if status.is_success() || status == http::StatusCode::NOT_MODIFIED {
            if let Some(exp) = upstream.get(header::EXPIRES) {
                h.insert(header::EXPIRES, exp.clone());
            }
        }
        for c in upstream.get_all(header::SET_COOKIE) {
            h.append(header::SET_COOKIE, c.clone());
        }
        Ok(res)
    }

    pub(crate) fn resolve(&self, upstream: &HeaderMap) -> Result<(&FsStore, Key), Refusal> {
        if let Some(v) = upstream.get(X_ACCEL_REDIRECT) {
            let v = v.to_str().map_err(|_| Refusal::InvalidTarget)?;
            // nginx allows arguments after `?`; they do not name the file.
            let path = v.split('?').next().unwrap_or("");
            let (prefix, store) = self
                .accel
                .iter()
                .find(|(p, _)| path.starts_with(p.as_str()))
                .ok_or(Refusal::NotConfigured)?;
            let rest = &path[prefix.len() - 1..];
            let key = Key::from_uri_path(rest, Hidden::Deny).map_err(refusal)?;
            if key.is_dir() {
                return Err(Refusal::Missing);
            }
            return Ok((store, key));
        }
        let v = upstream
            .get(X_SENDFILE)
            .or_else(|| upstream.get(X_LIGHTTPD_SEND_FILE))
            .ok_or(Refusal::NotConfigured)?;
        // Visible ASCII, as before decoding: raw non-ASCII bytes stay refused.
        let decoded = unescape(v.to_str().map_err(|_| Refusal::InvalidTarget)?)?;
        let path = Path::new(&*decoded);
        if !path.is_absolute() {
            return Err(Refusal::InvalidTarget);
        }
        for store in &self.roots {
            if let Ok(rel) = path.strip_prefix(store.root()) {
                let rel = rel.to_str().ok_or(Refusal::InvalidTarget)?;
                let key =
                    Key::from_relative(rel, Hidden::Deny).map_err(|_| Refusal::InvalidTarget)?;
                if key.as_str().is_empty() {
                    return Err(Refusal::Missing);
                }
                return Ok((store, key));
            }
        }
        Err(Refusal::NotConfigured)
    }
}

/// An `X-Sendfile` value as the file path it names.
///
/// Choice: the value is percent-decoded, as Apache's mod_xsendfile does
/// (`XSendFileUnescape`, on by default) and lighttpd does, so
/// `r%C3%A9sum%C3%A9%20final.pdf` names `résumé final.pdf`. The value must be
/// visible ASCII, as before; without `%` it is taken as it is, and a `%` not
/// followed by two hex digits stays literal (`a b%.txt`). The decoded path
/// must be UTF-8 without NUL, and then goes
/// through exactly the checks an undecoded one does (inside a root, no `..`,
/// no hidden names), so `%2e%2e%2f` can never leave the root.
fn unescape(value: &str) -> Result<std::borrow::Cow<'_, str>, Refusal> {
    let decoded = percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .map_err(|_| Refusal::InvalidTarget)?;
    if decoded.contains('\0') {
        return Err(Refusal::InvalidTarget);
    }
    Ok(decoded)
}

/// A key that cannot be built: hidden names are missing, the rest malformed.
fn refusal(e: Error) -> Refusal {
    match e.kind() {
        ErrorKind::NotFound => Refusal::Missing,
        _ => Refusal::InvalidTarget,
    }
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Self {
        let kind = match r {
            Refusal::InvalidTarget => ErrorKind::InvalidPath,
            _ => ErrorKind::NotFound,
        };
        Error::new(kind)
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::NotConfigured => "hand-off header names no configured prefix or root",
            Refusal::InvalidTarget => "hand-off target is not a valid path",
            Refusal::Missing => "hand-off target does not exist inside its root",
        })
    }
}

impl std::error::Error for Refusal {}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> (tempfile::TempDir, Honor) {
        let d = tempfile::tempdir().unwrap();
        let private = d.path().join("private");
        std::fs::create_dir_all(private.join("sub")).unwrap();
        std::fs::write(private.join("a b%.txt"), "spaced").unwrap();
        std::fs::write(private.join("sub/ü.txt"), "umlaut").unwrap();
        std::fs::write(private.join(".hidden"), "h").unwrap();
        std::fs::write(d.path().join("secret.txt"), "TOP SECRET").unwrap();
        std::os::unix::fs::symlink(d.path().join("secret.txt"), private.join("link.txt")).unwrap();
        let store = || FsStore::new(&private).unwrap();
        let honor = Honor::new()
            .accel("/protected", store())
            .sendfile_root(store());
        (d, honor)
    }

    async fn serve(
        honor: &Honor,
        name: &str,
        value: &str,
        client: &[(&str, &str)],
    ) -> Result<(u16, String), Refusal> {
        let mut up = HeaderMap::new();
        up.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
        up.insert(header::CONTENT_TYPE, "application/x-app".parse().unwrap());
        up.append(header::SET_COOKIE, "a=1".parse().unwrap());
        let mut h = HeaderMap::new();
        for (k, v) in client {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let res = honor.serve(&Method::GET, &h, &up).await?;
        let status = res.status().as_u16();
        if status == 200 {
            assert_eq!(res.headers()[header::CONTENT_TYPE], "application/x-app");
            assert_eq!(res.headers()[header::SET_COOKIE], "a=1");
        }
        use http_body_util::BodyExt;
        let body = res.into_body().collect().await.unwrap().to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    #[tokio::test]
    async fn accel_targets_resolve_inside_their_prefix_only() {
        let (d, honor) = fixture();
        let ok = |s: &str| (200u16, s.to_owned());
        assert_eq!(
            serve(&honor, "x-accel-redirect", "/protected/a%20b%25.txt", &[]).await,
            Ok(ok("spaced"))
        );
        assert_eq!(
            serve(
                &honor,
                "x-accel-redirect",
                "/protected/sub/%C3%BC.txt?x=1",
                &[]
            )
            .await,
            Ok(ok("umlaut"))
        );
        for (value, want) in [
            ("/protected/../secret.txt", Refusal::InvalidTarget),
            ("/protected/%2e%2e/secret.txt", Refusal::InvalidTarget),
            (
                "/protected/sub%2f..%2f..%2fsecret.txt",
                Refusal::InvalidTarget,
            ),
            ("/protected/link.txt", Refusal::Missing),
            ("/protected/.hidden", Refusal::Missing),
            ("/protected/missing.txt", Refusal::Missing),
            ("/protected/", Refusal::Missing),
            ("/elsewhere/a.txt", Refusal::NotConfigured),
            ("/protectedx/a.txt", Refusal::NotConfigured),
        ] {
            assert_eq!(
                serve(&honor, "x-accel-redirect", value, &[]).await,
                Err(want),
                "{value}"
            );
        }
        drop(d);
    }

    #[tokio::test]
    async fn sendfile_paths_must_lie_inside_a_root() {
        let (d, honor) = fixture();
        let private = std::fs::canonicalize(d.path().join("private")).unwrap();
        let p = |rel: &str| format!("{}/{rel}", private.display());
        assert_eq!(
            serve(&honor, "x-sendfile", &p("a b%.txt"), &[])
                .await
                .unwrap()
                .1,
            "spaced"
        );
        assert_eq!(
            serve(&honor, "x-lighttpd-send-file", &p("a b%.txt"), &[])
                .await
                .unwrap()
                .1,
            "spaced"
        );
        let outside = format!(
            "{}/secret.txt",
            std::fs::canonicalize(d.path()).unwrap().display()
        );
        assert_eq!(
            serve(&honor, "x-sendfile", &outside, &[]).await,
            Err(Refusal::NotConfigured)
        );
        assert_eq!(
            serve(&honor, "x-sendfile", &p("../secret.txt"), &[]).await,
            Err(Refusal::InvalidTarget)
        );
        assert_eq!(
            serve(&honor, "x-sendfile", &p("link.txt"), &[]).await,
            Err(Refusal::Missing)
        );
        assert_eq!(
            serve(&honor, "x-sendfile", "relative/a.txt", &[]).await,
            Err(Refusal::InvalidTarget)
        );
        let none = Honor::new();
        assert_eq!(
            serve(&none, "x-sendfile", &p("a b%.txt"), &[]).await,
            Err(Refusal::NotConfigured)
        );
    }

    #[tokio::test]
    async fn sendfile_values_are_percent_decoded_like_mod_xsendfile() {
        let (d, honor) = fixture();
        let private = std::fs::canonicalize(d.path().join("private")).unwrap();
        std::fs::write(private.join("résumé final.pdf"), "CV").unwrap();
        let p = |rel: &str| format!("{}/{rel}", private.display());
        for name in ["x-sendfile", "x-lighttpd-send-file"] {
            for (value, want) in [
                ("r%C3%A9sum%C3%A9%20final.pdf", "CV"),
                ("r%c3%a9sum%c3%a9%20final.pdf", "CV"),
                // Without `%`, as before; invalid escapes stay literal.
                ("a b%.txt", "spaced"),
                ("a%20b%25.txt", "spaced"),
                ("a%20b%.txt", "spaced"),
                ("sub/%C3%BC.txt", "umlaut"),
            ] {
                let got = serve(&honor, name, &p(value), &[]).await;
                assert_eq!(got, Ok((200, want.to_owned())), "{name}: {value}");
            }
            // Decoded values are refused exactly as the undecoded ones would be.
            for (encoded, plain) in [
                ("%2e%2e%2fsecret.txt", "../secret.txt"),
                ("%2E%2E/secret.txt", "../secret.txt"),
                ("sub%2f..%2f..%2fsecret.txt", "sub/../../secret.txt"),
                ("%6cink.txt", "link.txt"),
                ("%2ehidden", ".hidden"),
                ("missing%2etxt", "missing.txt"),
            ] {
                let want = serve(&honor, name, &p(plain), &[]).await;
                assert!(want.is_err(), "{plain}");
                assert_eq!(
                    serve(&honor, name, &p(encoded), &[]).await,
                    want,
                    "{encoded}"
                );
            }
            let outside = format!(
                "{}%2fsecret.txt",
                std::fs::canonicalize(d.path()).unwrap().display()
            );
            assert_eq!(
                serve(&honor, name, &outside, &[]).await,
                Err(Refusal::NotConfigured)
            );
            assert_eq!(
                serve(&honor, name, "%2fetc%2fpasswd", &[]).await,
                Err(Refusal::NotConfigured)
            );
            assert_eq!(
                serve(&honor, name, "relative%2fa.txt", &[]).await,
                Err(Refusal::InvalidTarget)
            );
            // Not UTF-8 once decoded, or a NUL: malformed, never a file.
            for value in ["%FF.txt", "r%C3sum%C3.pdf", "a%00b.txt", "a b%.txt%00"] {
                assert_eq!(
                    serve(&honor, name, &p(value), &[]).await,
                    Err(Refusal::InvalidTarget),
                    "{value}"
                );
            }
        }
    }

    #[tokio::test]
    async fn the_clients_conditionals_and_ranges_apply() {
        let (_d, honor) = fixture();
        let (s, body) = serve(
            &honor,
            "x-accel-redirect",
            "/protected/sub/%C3%BC.txt",
            &[("range", "bytes=0-2")],
        )
        .await
        .unwrap();
        assert_eq!((s, body.as_str()), (206, "uml"));
        let (s, _) = serve(
            &honor,
            "x-accel-redirect",
            "/protected/sub/%C3%BC.txt",
            &[("if-match", "\"nope\"")],
        )
        .await
        .unwrap();
        assert_eq!(s, 412);
    }

    #[test]
    fn internal_prefixes_are_hidden_from_clients() {
        let (_d, honor) = fixture();
        for p in [
            "/protected/a.txt",
            "/protected",
            "/protected/",
            "/%70rotected/a.txt",
        ] {
            assert!(honor.is_internal(p), "{p}");
        }
        assert!(!honor.is_internal("/public/a.txt"));
        assert!(!honor.is_internal("/protectedx"));
    }

    #[tokio::test]
    async fn multi_range_hand_off_is_multipart_with_the_apps_type_in_each_part() {
        let (_d, honor) = fixture();
        let mut up = HeaderMap::new();
        up.insert(X_ACCEL_REDIRECT, "/protected/a%20b%25.txt".parse().unwrap());
        up.insert(header::CONTENT_TYPE, "application/pdf".parse().unwrap());
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, "bytes=0-0,3-3".parse().unwrap());
        let res = honor.serve(&Method::GET, &h, &up).await.unwrap();
        assert_eq!(res.status(), 206);
        let ct = res.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(ct.starts_with("multipart/byteranges; boundary="), "{ct}");
        use http_body_util::BodyExt;
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&body).to_ascii_lowercase();
        assert_eq!(
            body.matches("content-type: application/pdf").count(),
            2,
            "{body}"
        );
    }
}
