//! `ferry proxy`'s server loop: accept, serve with hyper, log, shut down
//! gracefully. (`ferry serve` uses the leaner [`crate::h1`].)
use crate::args::ServerArgs;
use anyhow::Context as _;
use bytes::Bytes;
use ferry::Body;
use futures_util::future::Either;
use http::{Request, Response};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The next connection, once one of `--max-connections` slots is free (the
/// permit travels with the connection); `None` once `shutdown` completes.
/// Accept errors (EMFILE…) back off instead of spinning.
pub(crate) async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
    mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Option<(tokio::net::TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    // At the limit, stop accepting: new connections wait in the listen
    // queue, as with nginx's worker_connections.
    let slot = tokio::select! {
        s = slots.clone().acquire_owned() => s.ok()?,
        () = shutdown.as_mut() => return None,
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    return Some((stream, peer, slot));
                }
                Err(e) => {
                    eprintln!("ferry: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = shutdown.as_mut() => return None,
        }
    }
}

/// `--max-connections` permits.
pub(crate) fn slots(args: &ServerArgs) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(
        args.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ))
}

/// A response's Content-Length, when it has a valid one.
pub(crate) fn content_length(h: &http::HeaderMap) -> Option<u64> {
    h.get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// The listening socket: the one systemd passed (socket activation,
/// `LISTEN_FDS`), so restarts lose no connection attempts, else `--listen`.
/// Non-blocking, for tokio.
pub(crate) fn listener(args: &ServerArgs) -> anyhow::Result<std::net::TcpListener> {
    let passed = listenfd::ListenFd::from_env()
        .take_tcp_listener(0)
        .context("LISTEN_FDS names a socket that is not a TCP listener")?;
    let l = match passed {
        Some(l) => l,
        None => std::net::TcpListener::bind(args.listen)
            .with_context(|| format!("cannot listen on {}", args.listen))?,
    };
    l.set_nonblocking(true)?;
    Ok(l)
}

/// A multi-threaded runtime with one worker per available core.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")
}

/// Accepts connections (over HTTPS when `https` is set: HTTP/2 or HTTP/1.1 by
/// ALPN) and answers each request with `handler` until SIGINT or SIGTERM,
/// then lets in-flight responses finish.
pub(crate) async fn serve<H, F>(
    args: &ServerArgs,
    https: Option<Arc<crate::tls::Https>>,
    what: &str,
    handler: H,
) -> anyhow::Result<()>
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    // A reload signal must never terminate the proxy.
    crate::accesslog::reopen_on_hup(None);
    let listener = TcpListener::from_std(listener(args)?)?;
    let addr = listener.local_addr()?;
    if let Some(h) = &https {
        h.start(addr.port(), args).await?;
    }
    let scheme = if https.is_some() { "https" } else { "http" };
    eprintln!("ferry: {what} on {scheme}://{addr}/");
    let header_timeout = Duration::from_secs(args.header_timeout.max(1));
    let max_head = args.max_header_bytes.max(1024);
    let hsts = https.as_ref().and_then(|h| h.hsts.clone());
    let idle = Duration::from_secs(args.idle_timeout);
    let write = Duration::from_secs(args.write_timeout);

    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(args.header_timeout.max(1)))
        .max_header_size(args.max_header_bytes.max(1024))
        .max_buf_size(args.max_header_bytes.max(8192).saturating_mul(2) + 8192)
        .keep_alive(true);
    let log = !args.no_access_log;
    let metrics = args.metrics.is_some();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown_signal());

    let slots = slots(args);
    let health: Option<Arc<str>> = args.health_check.as_deref().map(Into::into);
    while let Some((stream, peer, slot)) = accept(&listener, &slots, shutdown.as_mut()).await {
        let handler = handler.clone();
        let (health, hsts) = (health.clone(), hsts.clone());
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let start = Instant::now();
            let method = req.method().clone();
            let target = log.then(|| {
                req.uri()
                    .path_and_query()
                    .map_or_else(|| "/".into(), |p| p.as_str().to_owned())
            });
            // --health-check is answered here, never by the upstream.
            let res = match &health {
                Some(p) if req.uri().path() == &**p => {
                    Either::Left(std::future::ready(crate::sites::health(&method)))
                }
                _ => Either::Right(handler(req, peer)),
            };
            let metrics_method = metrics.then(|| method.clone());
            let hsts = hsts.clone();
            async move {
                let mut res = res.await;
                if let Some(v) = hsts {
                    res.headers_mut()
                        .insert(http::header::STRICT_TRANSPORT_SECURITY, v);
                }
                if let Some(m) = metrics_method {
                    let bytes = content_length(res.headers()).unwrap_or(0);
                    crate::metrics::response(
                        &m,
                        res.status().as_u16(),
                        bytes,
                        false,
                        start.elapsed(),
                    );
                }
                let line = target.map(|target| LogLine {
                    peer,
                    method,
                    target,
                    status: res.status().as_u16(),
                    start,
                });
                Ok::<_, Infallible>(res.map(|body| LogBody {
                    body,
                    sent: 0,
                    line,
                }))
            }
        });
        if let Some(h) = &https {
            let (h, watcher) = (h.clone(), graceful.watcher());
            tokio::spawn(async move {
                if let Some((tls, proto)) = h.accept(stream, header_timeout).await {
                    let b = crate::tls::builder(header_timeout, max_head, proto);
                    let tls = Deadline::new(tls, idle, write);
                    let conn = b.serve_connection(TokioIo::new(tls), service);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
                drop(slot);
            });
            continue;
        }
        let io = Deadline::new(crate::linger::Linger::new(stream), idle, write);
        let conn = http.serve_connection(TokioIo::new(io), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(slot);
        });
    }
    drop(listener);
    eprintln!("ferry: shutting down, finishing in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(args.drain_timeout)) => {
            eprintln!("ferry: gave up waiting for connections after {}s", args.drain_timeout);
        }
    }
    Ok(())
}

struct LogLine {
    peer: SocketAddr,
    method: http::Method,
    target: String,
    status: u16,
    start: Instant,
}

/// A response body that writes its access-log line when it is done (or dropped,
/// for a client that went away), with the bytes really sent.
struct LogBody {
    body: Body,
    sent: u64,
    line: Option<LogLine>,
}

impl http_body::Body for LogBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let res = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(f))) = &res {
            if let Some(d) = f.data_ref() {
                self.sent += d.len() as u64;
            }
        }
        res
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for LogBody {
    fn drop(&mut self) {
        if let Some(l) = self.line.take() {
            let ms = l.start.elapsed().as_secs_f64() * 1000.0;
            let _ = writeln!(
                std::io::stderr().lock(),
                "{} \"{} {}\" {} {} {:.3}ms",
                l.peer.ip(),
                l.method,
                l.target.escape_debug(),
                l.status,
                self.sent,
                ms
            );
        }
    }
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// A connection that fails with `TimedOut` once nothing moved for `idle`
/// while only reading, or for `write` while a write waits: hyper's HTTP/2 has
/// no idle timeout of its own and no path of hyper's has a send timeout, so
/// without it an idle or stalled client would hold a `--max-connections`
/// slot for ever (`--idle-timeout`, `--write-timeout`).
pub(crate) struct Deadline<I> {
    io: I,
    idle: Duration,
    write: Duration,
    /// The last time bytes moved either way.
    last: tokio::time::Instant,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl<I> Deadline<I> {
    pub(crate) fn new(io: I, idle: Duration, write: Duration) -> Self {
        let now = tokio::time::Instant::now();
        Deadline {
            io,
            idle,
            write,
            last: now,
            sleep: Box::pin(tokio::time::sleep_until(now + idle)),
        }
    }

    /// After a `Pending`: `Ready(Err)` once `limit` has passed since bytes
    /// last moved, else the timer is armed to wake the task then.
    fn expired(&mut self, limit: Duration, cx: &mut Context<'_>) -> Poll<std::io::Error> {
        let at = self.last + limit;
        if self.sleep.deadline() != at {
            self.sleep.as_mut().reset(at);
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(std::io::ErrorKind::TimedOut.into()),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<I> Deadline<I> {
    /// After a write: progress moves the deadline; `Pending` waits at most
    /// `--write-timeout` since bytes last moved.
    fn wrote(
        &mut self,
        r: Poll<std::io::Result<usize>>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<usize>> {
        match r {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    self.last = tokio::time::Instant::now();
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                let write = self.write;
                self.expired(write, cx).map(Err)
            }
        }
    }
}

impl<I: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Deadline<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.last = tokio::time::Instant::now();
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                let idle = self.idle;
                self.expired(idle, cx).map(Err)
            }
        }
    }
}

impl<I: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Deadline<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.wrote(r, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.wrote(r, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match Pin::new(&mut self.io).poll_flush(cx) {
            Poll::Pending => {
                let write = self.write;
                self.expired(write, cx).map(Err)
            }
            r => r,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
