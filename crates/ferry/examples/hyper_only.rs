//! ferry with hyper 1 and hyper-util only, no framework: a directory under `/`
//! and one file as a download, both as tower services.
//!
//! ```sh
//! cargo run -p ferry --example hyper_only -- ./site
//! curl -i http://127.0.0.1:3000/index.html
//! curl -i -r 0-99 http://127.0.0.1:3000/index.html              # 206
//! curl -i http://127.0.0.1:3000/download                          # ./site/index.html, as an attachment
//! ```
use ferry::disposition::Disposition;
use ferry::{FsStore, ServeDir, ServeFile};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::path::PathBuf;
use tokio::net::TcpListener;
use tower_service::Service as _;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .map_or_else(|| ".".into(), Into::into);
    let site = ServeDir::new(FsStore::new(&dir)?.precompressed(true));
    let download = ServeFile::new(dir.join("index.html"))
        .disposition(Disposition::Attachment, Some("index.html"));

    let listener = TcpListener::bind("127.0.0.1:3000").await?;
    println!("serving {} at http://127.0.0.1:3000/", dir.display());
    loop {
        let (stream, _) = listener.accept().await?;
        let (site, download) = (site.clone(), download.clone());
        // Both services are `Error = Infallible` with the same future type, and
        // cheap to clone: every request gets a response.
        let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
            if req.uri().path() == "/download" {
                download.clone().call(req)
            } else {
                site.clone().call(req)
            }
        });
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = conn.await {
                eprintln!("connection: {e}");
            }
        });
    }
}
