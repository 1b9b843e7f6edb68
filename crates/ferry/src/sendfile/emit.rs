//! The application side of sendfile: `Sendfile::send` serves a file in process
//! or hands it to the front server with `X-Accel-Redirect`, `X-Sendfile` or
//! `X-LIGHTTPD-send-file`, as django-sendfile2's backends do.
use super::honor::{X_ACCEL_REDIRECT, X_LIGHTTPD_SEND_FILE, X_SENDFILE};
use crate::disposition::{content_disposition, Disposition};
use crate::mime::MimeTable;
use crate::respond::{self, Extra};
use crate::service::Head;
use crate::store::fs::{blocking, open_path};
use crate::{Body, Error, ErrorKind};
use ferry_proto::plan;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// How [`Sendfile::send`] delivers a file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// Serve the bytes in process: 304/412, ranges, Content-Disposition.
    Stream,
    /// nginx: an empty response with `X-Accel-Redirect: {url_prefix}{path}`,
    /// the path relative to the sendfile root and percent-encoded.
    XAccelRedirect {
        /// The internal location nginx (or `ferry proxy --accel`) maps to the root,
        /// e.g. `/protected`.
        url_prefix: String,
    },
    /// Apache mod_xsendfile, lighttpd, `ferry proxy --sendfile-root`: an empty
    /// response with `X-Sendfile: /absolute/path`.
    XSendfile,
    /// lighttpd's older header, `X-LIGHTTPD-send-file: /absolute/path`.
    XLighttpdSendfile,
}

/// Per-call options, as django-sendfile2's `sendfile()` takes them.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SendOptions {
    /// `Some(Attachment)` asks the browser to download, `Some(Inline)` to show.
    pub disposition: Option<Disposition>,
    /// The download name (any Unicode; encoded per RFC 6266/8187). Defaults to
    /// the file's name when a disposition is set.
    pub filename: Option<String>,
    /// Overrides the Content-Type guessed from the extension.
    pub content_type: Option<HeaderValue>,
    /// `Content-Encoding` of the stored bytes (django-sendfile2's `encoding`),
    /// e.g. `gzip` for a `.gz` file the client should decode.
    pub encoding: Option<HeaderValue>,
}

impl SendOptions {
    /// Options for a download named `filename`.
    pub fn attachment(filename: impl Into<String>) -> Self {
        SendOptions {
            disposition: Some(Disposition::Attachment),
            filename: Some(filename.into()),
            ..SendOptions::default()
        }
    }

    /// Options for showing the file in the browser under the name `filename`.
    pub fn inline(filename: impl Into<String>) -> Self {
        SendOptions {
            disposition: Some(Disposition::Inline),
            filename: Some(filename.into()),
            ..SendOptions::default()
        }
    }
}

/// Sends files from under one root, with one [`Backend`].
///
/// # Examples
///
/// ```no_run
/// # async fn view(req: http::Request<()>) -> Result<http::Response<ferry::Body>, ferry::Error> {
/// use ferry::sendfile::{Backend, SendOptions, Sendfile};
/// let sendfile = Sendfile::new("/srv/private", Backend::XAccelRedirect { url_prefix: "/protected".into() })?;
/// sendfile.send(&req, "reports/2026.pdf", &SendOptions::attachment("Bericht 2026.pdf")).await
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Sendfile {
    root: PathBuf,
    backend: Backend,
}

/// Bytes escaped in an `X-Accel-Redirect` path: controls, space, and the
/// characters nginx would read as syntax (`%`, `?`, `#`), plus non-ASCII.
const ACCEL: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'%')
    .add(b'?')
    .add(b'#')
    .add(b'"')
    .add(b'\\');

impl Sendfile {
    /// Files under `root`, delivered by `backend`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] when `root` is not an existing directory.
    pub fn new(root: impl AsRef<Path>, backend: Backend) -> Result<Self, Error> {
        let root = std::fs::canonicalize(root.as_ref()).map_err(Error::from_io)?;
        if !root.is_dir() {
            return Err(Error::new(ErrorKind::NotFound));
        }
        Ok(Sendfile { root, backend })
    }

    /// Answers `req` with the file at `path` (absolute, or relative to the root).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] when the path does not resolve to a regular file
    /// inside the root (map it to 404); [`ErrorKind::Store`] for other I/O errors.
    pub fn send<'a, B>(
        &'a self,
        req: &'a Request<B>,
        path: impl AsRef<Path>,
        opts: &'a SendOptions,
    ) -> impl Future<Output = Result<Response<Body>, Error>> + Send + 'a {
        let head = Head::of(req);
        let path = self.root.join(path.as_ref());
        async move {
            let root = self.root.clone();
            let real = blocking(move || {
                let real = std::fs::canonicalize(&path).map_err(Error::from_io)?;
                let meta = std::fs::metadata(&real).map_err(Error::from_io)?;
                if !real.starts_with(&root) || !meta.is_file() {
                    return Err(Error::new(ErrorKind::NotFound));
                }
                Ok(real)
            })
            .await?;
            self.deliver(head, real, opts).await
        }
    }

    async fn deliver(
        &self,
        req: Head<'_>,
        real: PathBuf,
        opts: &SendOptions,
    ) -> Result<Response<Body>, Error> {
        let now = SystemTime::now();
        let name = opts
            .filename
            .clone()
            .or_else(|| real.file_name().map(|n| n.to_string_lossy().into_owned()));
        let disposition = opts
            .disposition
            .map(|d| content_disposition(d, name.as_deref()));
        let (hname, value) = match &self.backend {
            Backend::Stream => {
                let head = req.method == Method::HEAD;
                if let Some(res) = respond::refuse_method(req.method, now, true) {
                    return Ok(res);
                }
                let mut entity =
                    blocking(move || open_path(&real, None, &[], &MimeTable::default())).await?;
                // The override is the representation's type: a 200, a 206 and
                // each part of a multipart/byteranges carry it.
                if let Some(ct) = &opts.content_type {
                    entity = entity.content_type(ct.clone());
                }
                // The coding is part of what `plan` decides on: several ranges
                // of coded bytes get the whole file (200), never a multipart
                // body under a Content-Encoding it does not have.
                if let Some(enc) = &opts.encoding {
                    entity = entity.content_encoding(enc.clone());
                }
                let plan = plan(req.method, req.headers, entity.meta(), now);
                let extra = Extra {
                    cache_control: None,
                    disposition: disposition.as_ref(),
                    nosniff: true,
                };
                return Ok(respond::build(plan, &entity, head, now, &extra));
            }
            Backend::XAccelRedirect { url_prefix } => {
                let rel = real
                    .strip_prefix(&self.root)
                    .map_err(|_| Error::new(ErrorKind::NotFound))?;
                let rel = rel
                    .to_str()
                    .ok_or_else(|| Error::new(ErrorKind::NotFound))?;
                let url = format!(
                    "{}/{}",
                    url_prefix.trim_end_matches('/'),
                    utf8_percent_encode(rel, ACCEL)
                );
                (X_ACCEL_REDIRECT, url)
            }
            Backend::XSendfile | Backend::XLighttpdSendfile => {
                let name = if self.backend == Backend::XSendfile {
                    X_SENDFILE
                } else {
                    X_LIGHTTPD_SEND_FILE
                };
                let p = real
                    .to_str()
                    .ok_or_else(|| Error::new(ErrorKind::NotFound))?;
                // Choice: paths that are not visible ASCII cannot be a header value
                // as they are; they are percent-encoded (lighttpd decodes them).
                (name, utf8_percent_encode(p, ACCEL).to_string())
            }
        };
        let mut res = Response::new(Body::empty());
        *res.status_mut() = StatusCode::OK;
        let h = res.headers_mut();
        h.insert(
            hname,
            HeaderValue::try_from(value).map_err(|e| Error::with_source(ErrorKind::Store, e))?,
        );
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        let ct = opts
            .content_type
            .clone()
            .unwrap_or_else(|| MimeTable::default().for_path(&real));
        h.insert(header::CONTENT_TYPE, ct);
        if let Some(d) = disposition {
            h.insert(header::CONTENT_DISPOSITION, d);
        }
        if let Some(enc) = &opts.encoding {
            h.insert(header::CONTENT_ENCODING, enc.clone());
        }
        Ok(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn fixture() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("private");
        std::fs::create_dir_all(root.join("sub dir")).unwrap();
        std::fs::write(root.join("sub dir/a %?#ü.txt"), "hello world").unwrap();
        std::fs::write(root.join("report.pdf"), "%PDF-1.4").unwrap();
        std::fs::write(d.path().join("secret.txt"), "TOP SECRET").unwrap();
        std::os::unix::fs::symlink(d.path().join("secret.txt"), root.join("link.txt")).unwrap();
        let root = std::fs::canonicalize(root).unwrap();
        (d, root)
    }

    fn get(headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::get("/download");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[tokio::test]
    async fn accel_redirect_is_percent_encoded_for_nginx_with_an_empty_body() {
        let (_d, root) = fixture();
        let s = Sendfile::new(
            &root,
            Backend::XAccelRedirect {
                url_prefix: "/protected/".into(),
            },
        )
        .unwrap();
        let res = s
            .send(
                &get(&[]),
                "sub dir/a %?#ü.txt",
                &SendOptions::attachment("Grüße.txt"),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let h = res.headers();
        assert_eq!(
            h[X_ACCEL_REDIRECT],
            "/protected/sub%20dir/a%20%25%3F%23%C3%BC.txt"
        );
        assert_eq!(h[header::CONTENT_TYPE], "text/plain; charset=utf-8");
        assert_eq!(
            h[header::CONTENT_DISPOSITION],
            "attachment; filename=\"Gr__e.txt\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe.txt"
        );
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert!(body.is_empty());
    }

    #[tokio::test]
    async fn x_sendfile_names_the_absolute_path() {
        let (_d, root) = fixture();
        for (backend, name) in [
            (Backend::XSendfile, X_SENDFILE),
            (Backend::XLighttpdSendfile, X_LIGHTTPD_SEND_FILE),
        ] {
            let s = Sendfile::new(&root, backend).unwrap();
            let abs = root.join("report.pdf");
            let res = s
                .send(&get(&[]), &abs, &SendOptions::default())
                .await
                .unwrap();
            assert_eq!(res.headers()[name], abs.to_str().unwrap());
            assert_eq!(res.headers()[header::CONTENT_TYPE], "application/pdf");
            assert!(res.headers().get(header::CONTENT_DISPOSITION).is_none());
        }
    }

    #[tokio::test]
    async fn paths_outside_the_root_are_not_found() {
        let (d, root) = fixture();
        for backend in [
            Backend::Stream,
            Backend::XSendfile,
            Backend::XAccelRedirect {
                url_prefix: "/p".into(),
            },
        ] {
            let s = Sendfile::new(&root, backend).unwrap();
            let outside: [PathBuf; 7] = [
                "../secret.txt".into(),
                "sub dir/../../secret.txt".into(),
                d.path().join("secret.txt"),
                "link.txt".into(),
                "missing.txt".into(),
                "sub dir".into(),
                "/etc/passwd".into(),
            ];
            for p in outside {
                let e = s
                    .send(&get(&[]), &p, &SendOptions::default())
                    .await
                    .unwrap_err();
                assert_eq!(e.kind(), ErrorKind::NotFound, "{p:?}");
            }
        }
    }

    /// The Stream backend added `Content-Encoding` after `respond::build`, so a
    /// multi-range request of a coded file got a multipart/byteranges body
    /// whose outer message claimed a coding it did not have.
    #[tokio::test]
    async fn stream_multi_range_of_coded_bytes_is_the_whole_coded_file() {
        let (_d, root) = fixture();
        let s = Sendfile::new(&root, Backend::Stream).unwrap();
        std::fs::write(root.join("data.gz"), "GZIPPEDBYTES").unwrap();
        let mut opts = SendOptions::attachment("data.txt");
        opts.encoding = Some(HeaderValue::from_static("gzip"));
        for method in [Method::GET, Method::HEAD] {
            let mut req = get(&[("range", "bytes=0-0,5-6")]);
            *req.method_mut() = method.clone();
            let res = s.send(&req, "data.gz", &opts).await.unwrap();
            assert_eq!(res.status(), 200, "{method}");
            let h = res.headers();
            assert_eq!(h[header::CONTENT_ENCODING], "gzip");
            assert_eq!(h[header::CONTENT_LENGTH], "12");
            assert!(!h.contains_key(header::CONTENT_RANGE));
            let ct = h[header::CONTENT_TYPE].to_str().unwrap();
            assert!(!ct.starts_with("multipart/"), "{ct}");
            let body = res.into_body().collect().await.unwrap().to_bytes();
            let want: &[u8] = if method == Method::HEAD {
                b""
            } else {
                b"GZIPPEDBYTES"
            };
            assert_eq!(&body[..], want);
        }
        // One range of the coded bytes is still a 206 that names the coding.
        let res = s
            .send(&get(&[("range", "bytes=1-3")]), "data.gz", &opts)
            .await
            .unwrap();
        assert_eq!(res.status(), 206);
        assert_eq!(res.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(res.headers()[header::CONTENT_RANGE], "bytes 1-3/12");
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"ZIP");
        // 304 and 416 never carried it and still do not.
        let res = s
            .send(&get(&[("range", "bytes=50-")]), "data.gz", &opts)
            .await
            .unwrap();
        assert_eq!(res.status(), 416);
        assert!(!res.headers().contains_key(header::CONTENT_ENCODING));
    }

    #[tokio::test]
    async fn stream_serves_with_conditionals_ranges_and_options() {
        let (_d, root) = fixture();
        let s = Sendfile::new(&root, Backend::Stream).unwrap();
        let mut opts = SendOptions::inline("r.pdf");
        opts.content_type = Some(HeaderValue::from_static("application/x-custom"));
        let file = "sub dir/a %?#ü.txt";
        let res = s.send(&get(&[]), file, &opts).await.unwrap();
        assert_eq!(res.status(), 200);
        let etag = res.headers()[header::ETAG].clone();
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/x-custom");
        assert_eq!(
            res.headers()[header::CONTENT_DISPOSITION],
            "inline; filename=\"r.pdf\""
        );
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"hello world");

        let inm = get(&[("if-none-match", etag.to_str().unwrap())]);
        assert_eq!(s.send(&inm, file, &opts).await.unwrap().status(), 304);

        let res = s
            .send(&get(&[("range", "bytes=6-")]), file, &opts)
            .await
            .unwrap();
        assert_eq!(res.status(), 206);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"world");

        let res = s
            .send(&get(&[("range", "bytes=0-0,6-6")]), file, &opts)
            .await
            .unwrap();
        let ct = res.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(ct.starts_with("multipart/byteranges"), "{ct}");
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&body).to_ascii_lowercase();
        assert_eq!(
            body.matches("content-type: application/x-custom").count(),
            2
        );
    }
}
