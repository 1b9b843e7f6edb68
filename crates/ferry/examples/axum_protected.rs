//! An axum app with a permission-checked download, static files and one file.
//!
//! ```sh
//! cargo run -p ferry --example axum_protected -- ./private ./static
//! curl -i http://127.0.0.1:3000/download/report.pdf                              # 403
//! curl -i -H 'authorization: Bearer letmein' http://127.0.0.1:3000/download/report.pdf
//! curl -i http://127.0.0.1:3000/static/app.css
//! curl -i http://127.0.0.1:3000/robots.txt
//! ```
//!
//! - `/download/{*name}`: a 403 unless the request carries
//!   `Authorization: Bearer letmein`; then `Sendfile` serves `PRIVATE/name` as an
//!   attachment, with 304, ranges and a safe download name. Names that leave
//!   `PRIVATE` (`..`, symlinks) are 404.
//! - `/static/…`: `ferry::ServeDir` nested as a tower service.
//! - `/robots.txt`: `ferry::ServeFile`, one file as a tower service.
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ferry::sendfile::{Backend, SendOptions, Sendfile};
use ferry::{FsStore, ServeDir, ServeFile};
use http::StatusCode;
use std::path::PathBuf;
use std::sync::Arc;

/// The permission check a real app makes (session, ACL, …): here, a fixed token.
fn may_download(req: &Request) -> bool {
    req.headers()
        .get(http::header::AUTHORIZATION)
        .is_some_and(|v| v == "Bearer letmein")
}

async fn download(
    State(files): State<Arc<Sendfile>>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    if !may_download(&req) {
        return (StatusCode::FORBIDDEN, "forbidden\n").into_response();
    }
    // Only the head is needed to serve; dropping the body keeps the future `Send`.
    let req = Request::from_parts(req.into_parts().0, ());
    let opts = SendOptions::attachment(name.as_str());
    match files.send(&req, &name, &opts).await {
        Ok(res) => res.into_response(),
        // `ferry::Error`'s Display may name paths: log it, never send it.
        Err(e) => {
            eprintln!("download {name:?}: {e}");
            (e.status(), "not found\n").into_response()
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let private = args.next().unwrap_or_else(|| "private".into());
    let statics = args.next().unwrap_or_else(|| "static".into());

    // Stream serves the bytes in process; `Backend::XAccelRedirect` would hand
    // them to `ferry proxy` or nginx instead.
    let files = Sendfile::new(&private, Backend::Stream).map_err(std::io::Error::other)?;
    let app = Router::new()
        .route("/download/{*name}", get(download))
        .with_state(Arc::new(files))
        .nest_service("/static", ServeDir::new(FsStore::new(&statics)?))
        .route_service("/robots.txt", ServeFile::new(statics.join("robots.txt")));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!(
        "downloads from {}, static files from {} at http://127.0.0.1:3000/",
        private.display(),
        statics.display()
    );
    axum::serve(listener, app).await
}
