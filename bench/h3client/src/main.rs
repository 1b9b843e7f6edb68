//! An HTTP/3 client (quinn + h3) for ferry's tests and benchmarks.
//!
//! ```text
//! h3client get URL --ca PEM [-H 'name: value']... [--out FILE]
//!     one request; prints `HTTP/3 STATUS`, the header fields, and
//!     `body-bytes N` to stdout; the body to FILE if given
//! h3client load URL --ca PEM [--conns N] [--streams M] [--secs S]
//!     M concurrent streams on each of N connections for S seconds; prints
//!     `requests R bytes B secs T errors E` (R: whole responses; B: body
//!     bytes received, of unfinished responses too)
//! ```
//!
//! The server is verified against `--ca` (a self-signed certificate is its
//! own CA) under the URL's host name.
use bytes::{Buf as _, Bytes};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::CertificateDer;
use std::net::ToSocketAddrs as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Sender = h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>;

struct Opts {
    url: http::Uri,
    ca: String,
    headers: Vec<(String, String)>,
    out: Option<String>,
    conns: usize,
    streams: usize,
    secs: u64,
}

fn usage() -> ! {
    eprintln!("usage: h3client get|load URL --ca PEM [-H 'k: v'] [--out FILE] [--conns N] [--streams M] [--secs S]");
    std::process::exit(2)
}

fn parse(mut args: impl Iterator<Item = String>) -> Opts {
    let url = args.next().unwrap_or_else(|| usage());
    let mut o = Opts {
        url: url.parse().unwrap_or_else(|_| usage()),
        ca: String::new(),
        headers: Vec::new(),
        out: None,
        conns: 4,
        streams: 32,
        secs: 5,
    };
    while let Some(flag) = args.next() {
        let v = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--ca" => o.ca = v,
            "-H" => {
                let (k, val) = v.split_once(':').unwrap_or_else(|| usage());
                o.headers.push((k.trim().to_owned(), val.trim().to_owned()));
            }
            "--out" => o.out = Some(v),
            "--conns" => o.conns = v.parse().unwrap_or_else(|_| usage()),
            "--streams" => o.streams = v.parse().unwrap_or_else(|_| usage()),
            "--secs" => o.secs = v.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if o.ca.is_empty() {
        usage();
    }
    o
}

fn endpoint(ca: &str) -> Result<quinn::Endpoint, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).map_err(|e| format!("{ca}: {e}"))? {
        roots
            .add(c.map_err(|e| format!("{ca}: {e}"))?)
            .map_err(|e| e.to_string())?;
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = vec![b"h3".to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(|e| e.to_string())?;
    // 4 MiB socket buffers, as the server's: a window's burst of datagrams
    // is not dropped by the kernel (beyond rmem_max with CAP_NET_ADMIN).
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    if rustix::net::sockopt::set_socket_recv_buffer_size_force(&socket, 4 << 20).is_err() {
        let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&socket, 4 << 20);
    }
    let mut ep = quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        None,
        socket,
        Arc::new(quinn::TokioRuntime),
    )
    .map_err(|e| e.to_string())?;
    ep.set_default_client_config(quinn::ClientConfig::new(Arc::new(quic)));
    Ok(ep)
}

async fn connect(ep: &quinn::Endpoint, url: &http::Uri) -> Result<Sender, String> {
    let host = url.host().ok_or("no host in the URL")?;
    let port = url.port_u16().unwrap_or(443);
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .find(|a| a.is_ipv4())
        .ok_or("no IPv4 address")?;
    let conn = ep
        .connect(addr, host)
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| format!("QUIC: {e}"))?;
    let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(conn))
        .await
        .map_err(|e| format!("HTTP/3: {e}"))?;
    tokio::spawn(async move {
        let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
    });
    Ok(send)
}

/// One request; the response head and the body's bytes (kept when `keep`;
/// counted into `progress` as they arrive).
async fn request(
    send: &mut Sender,
    o: &Opts,
    keep: bool,
    progress: Option<&AtomicU64>,
) -> Result<(http::Response<()>, u64, Vec<u8>), String> {
    let mut req = http::Request::get(o.url.clone());
    for (k, v) in &o.headers {
        req = req.header(k, v);
    }
    let mut stream = send
        .send_request(req.body(()).unwrap())
        .await
        .map_err(|e| e.to_string())?;
    // RFC 9114 §4.1: a server that has answered may stop the request stream
    // with H3_NO_ERROR (Caddy does); the response is still complete.
    match stream.finish().await {
        Err(e) if !stopped_without_error(&e) => return Err(e.to_string()),
        _ => {}
    }
    let res = stream.recv_response().await.map_err(|e| e.to_string())?;
    let (mut n, mut body) = (0u64, Vec::new());
    loop {
        let mut chunk = match stream.recv_data().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            // A reset without error ends the body only when all of it came
            // (Content-Length); otherwise it was cut short.
            Err(e) if stopped_without_error(&e) && content_length(&res) == Some(n) => break,
            Err(e) => return Err(e.to_string()),
        };
        n += chunk.remaining() as u64;
        if let Some(p) = progress {
            p.fetch_add(chunk.remaining() as u64, Ordering::Relaxed);
        }
        if keep {
            body.extend_from_slice(&chunk.copy_to_bytes(chunk.remaining()));
        } else {
            chunk.advance(chunk.remaining());
        }
    }
    Ok((res, n, body))
}

/// The response's Content-Length, if it has a valid one.
fn content_length(res: &http::Response<()>) -> Option<u64> {
    res.headers()
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Whether the peer ended the stream with H3_NO_ERROR (RFC 9114 §4.1, §8.1).
fn stopped_without_error(e: &h3::error::StreamError) -> bool {
    match e {
        h3::error::StreamError::RemoteTerminate { code, .. } => {
            *code == h3::error::Code::H3_NO_ERROR
        }
        e => e.is_h3_no_error(),
    }
}

async fn get(o: Opts) -> Result<(), String> {
    let ep = endpoint(&o.ca)?;
    let mut send = connect(&ep, &o.url).await?;
    let (res, n, body) = request(&mut send, &o, o.out.is_some(), None).await?;
    let mut head = format!("HTTP/3 {}\n", res.status().as_u16());
    for (k, v) in res.headers() {
        head += &format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes()));
    }
    head += &format!("body-bytes {n}\n");
    say(&head)?;
    if let Some(path) = &o.out {
        std::fs::write(path, body).map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

async fn load(o: Opts) -> Result<(), String> {
    let o = Arc::new(o);
    let ep = endpoint(&o.ca)?;
    let (reqs, bytes, errors) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let mut senders = Vec::new();
    for _ in 0..o.conns {
        senders.push(connect(&ep, &o.url).await?);
    }
    let start = Instant::now();
    for send in &senders {
        for _ in 0..o.streams {
            let (mut send, o) = (send.clone(), o.clone());
            let (reqs, bytes, errors, stop) =
                (reqs.clone(), bytes.clone(), errors.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match request(&mut send, &o, false, Some(&bytes)).await {
                        Ok((res, _, _)) if res.status().is_success() => {
                            reqs.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
            }));
        }
    }
    tokio::time::sleep(Duration::from_secs(o.secs)).await;
    stop.store(true, Ordering::Relaxed);
    let (r, b) = (reqs.load(Ordering::Relaxed), bytes.load(Ordering::Relaxed));
    let secs = start.elapsed().as_secs_f64();
    for t in tasks {
        t.abort();
    }
    say(&format!(
        "requests {r} bytes {b} secs {secs:.3} errors {}\n",
        errors.load(Ordering::Relaxed)
    ))
}

/// Writes `text` to stdout; a reader that has gone (`| head -1`, `grep -q`)
/// is not an error, as with other command-line tools, where `println!`
/// would panic.
fn say(text: &str) -> Result<(), String> {
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("stdout: {e}")),
        _ => Ok(()),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| usage());
    let o = parse(args);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let r = rt.block_on(async move {
        match mode.as_str() {
            "get" => get(o).await,
            "load" => load(o).await,
            _ => usage(),
        }
    });
    if let Err(e) = r {
        eprintln!("h3client: {e}");
        std::process::exit(1);
    }
}
