//! `serve_file`: what a web app calls after checking a permission.
//!
//! The equivalent of django-sendfile2's `sendfile(request, path)`: answers 304
//! when the client's copy is current, otherwise streams the file with its
//! validators; ranges and 412 included.
use crate::mime::MimeTable;
mod emit;
mod honor;

pub use emit::{Backend, SendOptions, Sendfile};

pub use honor::{Honor, Refusal, X_ACCEL_REDIRECT, X_LIGHTTPD_SEND_FILE, X_SENDFILE};

use crate::respond::{self, Extra};
use crate::service::{error_response, Head};
use crate::store::fs::{blocking, open_path};
use crate::{Body, Error};
use ferry_proto::plan;
use http::{Method, Request, Response};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Serves the file at `path` in answer to `req`, whatever the request's body type.
///
/// The path is trusted: the application chose it. Missing or unreadable files
/// give 404, other failures 500, each with a short plain-text body.
///
/// # Examples
///
/// ```no_run
/// # async fn view(req: http::Request<()>, user_may_download: bool) -> http::Response<ferry::Body> {
/// if !user_may_download {
///     return http::Response::builder().status(403).body(ferry::Body::empty()).unwrap();
/// }
/// ferry::serve_file(&req, "/srv/private/report.pdf").await
/// # }
/// ```
pub fn serve_file<'a, B>(
    req: &'a Request<B>,
    path: impl AsRef<Path>,
) -> impl Future<Output = Response<Body>> + Send + 'a {
    let head = Head::of(req);
    let path = path.as_ref().to_owned();
    async move {
        let now = SystemTime::now();
        match serve_at(head, path, now).await {
            Ok(res) => res,
            Err(e) => error_response(&e, now, head.method == Method::HEAD, true),
        }
    }
}

/// As [`serve_file`], handing failures to the caller.
///
/// # Errors
///
/// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) for a missing, unreadable or
/// non-regular file; [`ErrorKind::Store`](crate::ErrorKind::Store) for other I/O
/// failures.
pub fn try_serve_file<'a, B>(
    req: &'a Request<B>,
    path: impl AsRef<Path>,
) -> impl Future<Output = Result<Response<Body>, Error>> + Send + 'a {
    serve_at(Head::of(req), path.as_ref().to_owned(), SystemTime::now())
}

async fn serve_at(req: Head<'_>, path: PathBuf, now: SystemTime) -> Result<Response<Body>, Error> {
    let extra = Extra {
        nosniff: true,
        ..Extra::default()
    };
    let head = req.method == Method::HEAD;
    if let Some(res) = respond::refuse_method(req.method, now, true) {
        return Ok(res);
    }
    let entity = blocking(move || open_path(&path, None, &[], &MimeTable::default())).await?;
    let plan = plan(req.method, req.headers, entity.meta(), now);
    Ok(respond::build(plan, &entity, head, now, &extra))
}
