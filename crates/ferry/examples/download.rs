//! A permission-checked download with hyper: the view checks, then `serve_file`.
//!
//! ```sh
//! cargo run -p ferry --example download -- /path/to/file
//! curl -i -H 'authorization: Bearer let-me-in' http://127.0.0.1:3000/download
//! ```
//!
//! Without the token the answer is 403; with it, the file with 304 and ranges.
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::path::PathBuf;
use tokio::net::TcpListener;

async fn view(req: http::Request<Incoming>, file: PathBuf) -> http::Response<ferry::Body> {
    let allowed = req
        .headers()
        .get("authorization")
        .is_some_and(|v| v == "Bearer let-me-in");
    if req.uri().path() != "/download" {
        return http::Response::builder()
            .status(404)
            .body("not found\n".into())
            .unwrap();
    }
    if !allowed {
        return http::Response::builder()
            .status(403)
            .body("forbidden\n".into())
            .unwrap();
    }
    ferry::serve_file(&req, &file).await
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let file: PathBuf = std::env::args_os()
        .nth(1)
        .map_or_else(|| "Cargo.toml".into(), Into::into);
    let listener = TcpListener::bind("127.0.0.1:3000").await?;
    println!(
        "serving {} at http://127.0.0.1:3000/download",
        file.display()
    );
    loop {
        let (stream, _) = listener.accept().await?;
        let file = file.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let file = file.clone();
                async move { Ok::<_, Infallible>(view(req, file).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
