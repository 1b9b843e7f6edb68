//! One file as a tower `Service`: every request is answered with the same file.
//!
//! Decides nothing of its own: the method check, [`plan`](ferry_proto::plan) and
//! `respond::build` are the ones [`serve_file`](crate::serve_file) uses, so 304,
//! 412, ranges and HEAD behave exactly alike.
use crate::disposition::{content_disposition, Disposition};
use crate::mime::MimeTable;
use crate::respond::{self, Extra};
use crate::service::{error_response, Head, ResponseFuture};
use crate::store::fs::{blocking, open_path};
use crate::{Body, Error};
use ferry_proto::{plan, AcceptEncoding, ContentCoding};
use http::header::HeaderValue;
use http::{Method, Request, Response};
use std::convert::Infallible;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

/// Answers every request with one file, whatever the request path: tower-http's
/// `ServeFile`, on the same path as [`serve_file`](crate::serve_file).
///
/// GET and HEAD only (405 with `Allow: GET, HEAD` otherwise); conditional
/// requests and ranges per RFC 9110; a missing file is 404. The path is trusted:
/// the application chose it. As a `Service` it never fails (`Error =
/// Infallible`); [`ServeFile::try_serve`] hands failures to the caller instead.
///
/// # Examples
///
/// ```no_run
/// # async fn run() {
/// use ferry::disposition::Disposition;
/// use ferry::ServeFile;
/// let report = ServeFile::new("/srv/private/report.pdf")
///     .disposition(Disposition::Attachment, Some("Report 2026.pdf"))
///     .cache_control(Some(http::HeaderValue::from_static("private, no-cache")));
/// let req = http::Request::get("/anything").body(()).unwrap();
/// let res = report.serve(&req).await;
/// assert_eq!(res.status(), 200);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ServeFile {
    inner: Arc<Inner>,
}

#[derive(Debug, Clone)]
struct Inner {
    path: PathBuf,
    content_type: Option<HeaderValue>,
    disposition: Option<HeaderValue>,
    cache_control: Option<HeaderValue>,
    precompressed: bool,
}

impl ServeFile {
    /// Serves the file at `path`, with its type guessed from the extension, no
    /// Content-Disposition, no Cache-Control and no precompressed siblings.
    ///
    /// The file is opened per request, so it may be replaced or appear later.
    pub fn new(path: impl AsRef<Path>) -> Self {
        ServeFile {
            inner: Arc::new(Inner {
                path: path.as_ref().to_owned(),
                content_type: None,
                disposition: None,
                cache_control: None,
                precompressed: false,
            }),
        }
    }

    fn inner_mut(&mut self) -> &mut Inner {
        Arc::make_mut(&mut self.inner)
    }

    /// The Content-Type of the file (and of each multipart/byteranges part),
    /// instead of the one guessed from its extension.
    #[must_use]
    pub fn content_type(mut self, value: HeaderValue) -> Self {
        self.inner_mut().content_type = Some(value);
        self
    }

    /// Sends `Content-Disposition` on 200 and 206 with the download name
    /// `filename` (any Unicode, encoded per RFC 6266 and RFC 8187; see
    /// [`content_disposition`]).
    #[must_use]
    pub fn disposition(mut self, disposition: Disposition, filename: Option<&str>) -> Self {
        self.inner_mut().disposition = Some(content_disposition(disposition, filename));
        self
    }

    /// One Cache-Control value for 200, 206 and 304; `None` (the default) sends none.
    #[must_use]
    pub fn cache_control(mut self, value: Option<HeaderValue>) -> Self {
        self.inner_mut().cache_control = value;
        self
    }

    /// Serves a sibling `file.br`, `file.zst` or `file.gz` when the request
    /// accepts its coding, with `Vary: accept-encoding` (off by default).
    #[must_use]
    pub fn precompressed(mut self, on: bool) -> Self {
        self.inner_mut().precompressed = on;
        self
    }

    /// The file being served.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Serves `req`; failures become short plain-text responses (404, 500).
    pub fn serve<'a, B>(
        &'a self,
        req: &'a Request<B>,
    ) -> impl Future<Output = Response<Body>> + Send + 'a {
        let head = Head::of(req);
        async move {
            let now = SystemTime::now();
            match self.try_serve_at(head, now).await {
                Ok(res) => res,
                Err(e) => error_response(&e, now, head.method == Method::HEAD, true),
            }
        }
    }

    /// Serves `req`, handing failures to the caller instead of answering them.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) for a missing,
    /// unreadable or non-regular file (404);
    /// [`ErrorKind::IsDirectory`](crate::ErrorKind::IsDirectory) for a directory
    /// (404); [`ErrorKind::Store`](crate::ErrorKind::Store) for other I/O
    /// failures (500).
    pub fn try_serve<'a, B>(
        &'a self,
        req: &'a Request<B>,
    ) -> impl Future<Output = Result<Response<Body>, Error>> + Send + 'a {
        self.try_serve_at(Head::of(req), SystemTime::now())
    }

    async fn try_serve_at(&self, req: Head<'_>, now: SystemTime) -> Result<Response<Body>, Error> {
        let inner = &*self.inner;
        let head = req.method == Method::HEAD;
        // Decided before any I/O, as ServeDir and serve_file do.
        if let Some(res) = respond::refuse_method(req.method, now, true) {
            return Ok(res);
        }
        let codings: Vec<ContentCoding> = if inner.precompressed {
            AcceptEncoding::from_headers(req.headers)
                .preferred()
                .collect()
        } else {
            Vec::new()
        };
        let path = inner.path.clone();
        let mut entity =
            blocking(move || open_path(&path, None, &codings, &MimeTable::default())).await?;
        entity = entity.vary_encoding(inner.precompressed);
        if let Some(ct) = &inner.content_type {
            entity = entity.content_type(ct.clone());
        }
        let plan = plan(req.method, req.headers, entity.meta(), now);
        let extra = Extra {
            cache_control: inner.cache_control.as_ref(),
            disposition: inner.disposition.as_ref(),
            nosniff: true,
        };
        Ok(respond::build(plan, &entity, head, now, &extra))
    }
}

impl<B: Send + 'static> tower_service::Service<Request<B>> for ServeFile {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> ResponseFuture {
        let this = self.clone();
        let (parts, _body) = req.into_parts();
        ResponseFuture::new(async move {
            let req = Request::from_parts(parts, ());
            Ok(this.serve(&req).await)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use http::header;
    use http::StatusCode;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    fn fixture() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("a.txt");
        std::fs::write(&file, "hello world").unwrap();
        std::fs::write(d.path().join("a.txt.gz"), "GZ").unwrap();
        (d, file)
    }

    fn req(method: Method, headers: &[(&str, &str)]) -> Request<String> {
        // Any path and any body type: the service always answers with its file.
        let mut b = Request::builder()
            .method(method)
            .uri("/some/other/../path?q=1");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body("request body".to_owned()).unwrap()
    }

    async fn call(svc: &ServeFile, req: Request<String>) -> (Response<Body>, String) {
        let res = svc.clone().oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        let body = String::from_utf8(body.to_vec()).unwrap();
        (Response::from_parts(parts, Body::empty()), body)
    }

    #[tokio::test]
    async fn get_is_200_with_validators_and_the_file() {
        let (_d, file) = fixture();
        let (res, body) = call(&ServeFile::new(&file), req(Method::GET, &[])).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body, "hello world");
        let h = res.headers();
        assert_eq!(h[header::CONTENT_TYPE], "text/plain; charset=utf-8");
        assert_eq!(h[header::CONTENT_LENGTH], "11");
        assert_eq!(h[header::ACCEPT_RANGES], "bytes");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h.contains_key(header::ETAG) && h.contains_key(header::LAST_MODIFIED));
        assert!(!h.contains_key(header::CACHE_CONTROL));
        assert!(!h.contains_key(header::CONTENT_DISPOSITION));
        assert!(!h.contains_key(header::VARY));
    }

    #[tokio::test]
    async fn if_none_match_with_the_current_etag_is_304() {
        let (_d, file) = fixture();
        let svc = ServeFile::new(&file)
            .cache_control(Some(HeaderValue::from_static("private, no-cache")))
            .disposition(Disposition::Attachment, Some("a.txt"));
        let (res, _) = call(&svc, req(Method::GET, &[])).await;
        let etag = res.headers()[header::ETAG].to_str().unwrap().to_owned();
        let (res, body) = call(&svc, req(Method::GET, &[("if-none-match", &etag)])).await;
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(body, "");
        let h = res.headers();
        // RFC 9110 §15.4.5: the 304 carries the ETag and Cache-Control a 200
        // would carry; Content-Disposition is not among those fields.
        assert_eq!(h[header::ETAG], etag.as_str());
        assert_eq!(h[header::CACHE_CONTROL], "private, no-cache");
        assert!(!h.contains_key(header::CONTENT_DISPOSITION));
        let (res, _) = call(&svc, req(Method::GET, &[("if-match", "\"other\"")])).await;
        assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED);
    }

    #[tokio::test]
    async fn range_is_206_with_content_range() {
        let (_d, file) = fixture();
        let svc = ServeFile::new(&file).disposition(Disposition::Attachment, Some("Grüße.txt"));
        let (res, body) = call(&svc, req(Method::GET, &[("range", "bytes=6-")])).await;
        assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(body, "world");
        let h = res.headers();
        assert_eq!(h[header::CONTENT_RANGE], "bytes 6-10/11");
        assert_eq!(
            h[header::CONTENT_DISPOSITION],
            "attachment; filename=\"Gr__e.txt\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe.txt"
        );
        let (res, _) = call(&svc, req(Method::GET, &[("range", "bytes=20-")])).await;
        assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    }

    #[tokio::test]
    async fn other_methods_are_405_with_allow_before_any_io() {
        let (d, file) = fixture();
        let missing = ServeFile::new(d.path().join("missing.txt"));
        for svc in [ServeFile::new(&file), missing] {
            for m in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
                let (res, body) = call(&svc, req(m.clone(), &[])).await;
                assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{m}");
                assert_eq!(res.headers()[header::ALLOW], "GET, HEAD");
                assert_eq!(body, "405 Method Not Allowed\n");
            }
        }
    }

    #[tokio::test]
    async fn head_has_the_get_headers_and_no_body() {
        let (_d, file) = fixture();
        let svc = ServeFile::new(&file);
        let (get, _) = call(&svc, req(Method::GET, &[])).await;
        let (head, body) = call(&svc, req(Method::HEAD, &[])).await;
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(body, "");
        for name in [header::CONTENT_LENGTH, header::CONTENT_TYPE, header::ETAG] {
            assert_eq!(head.headers()[&name], get.headers()[&name], "{name}");
        }
        let (head, body) = call(&svc, req(Method::HEAD, &[("range", "bytes=0-4")])).await;
        assert_eq!(
            (head.status(), body.as_str()),
            (StatusCode::PARTIAL_CONTENT, "")
        );
        assert_eq!(head.headers()[header::CONTENT_LENGTH], "5");
    }

    #[tokio::test]
    async fn missing_file_is_404_and_try_serve_hands_over_the_error() {
        let (d, _file) = fixture();
        for path in [d.path().join("missing.txt"), d.path().to_owned()] {
            let svc = ServeFile::new(&path);
            let (res, body) = call(&svc, req(Method::GET, &[])).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path:?}");
            assert_eq!(body, "404 Not Found\n");
            let e = svc.try_serve(&req(Method::GET, &[])).await.unwrap_err();
            assert_eq!(e.status(), StatusCode::NOT_FOUND, "{path:?}");
            let want = if path.is_dir() {
                ErrorKind::IsDirectory
            } else {
                ErrorKind::NotFound
            };
            assert_eq!(e.kind(), want, "{path:?}");
        }
    }

    #[tokio::test]
    async fn content_type_override_and_precompressed_sibling() {
        let (_d, file) = fixture();
        let svc = ServeFile::new(&file)
            .content_type(HeaderValue::from_static("application/x-custom"))
            .precompressed(true);
        let (res, body) = call(&svc, req(Method::GET, &[("accept-encoding", "gzip")])).await;
        assert_eq!(body, "GZ");
        let h = res.headers();
        assert_eq!(h[header::CONTENT_TYPE], "application/x-custom");
        assert_eq!(h[header::CONTENT_ENCODING], "gzip");
        assert_eq!(h[header::VARY], "accept-encoding");
        let (res, body) = call(&svc, req(Method::GET, &[])).await;
        assert_eq!(body, "hello world");
        assert_eq!(res.headers()[header::VARY], "accept-encoding");
        assert_eq!(svc.path(), file.as_path());
    }
}
