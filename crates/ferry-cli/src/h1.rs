//! `ferry serve`'s HTTP/1.1 server (RFC 9112): one current-thread runtime per
//! core, a request parser that borrows from the read buffer, responses written
//! with one `write` for small files and `sendfile(2)` for large ones.
//!
//! Every response is decided by the library's [`ferry::ServeDir`], the same decision
//! the tower service and `ferry proxy --static` make; this module only does the
//! wire: framing, keep-alive, pipelining, limits, timeouts and the access log.
use crate::args::ServerArgs;
use crate::sites::{Live, Route, Sites, Snapshot};
use anyhow::Context as _;
use bytes::Bytes;
use ferry::{Body, Store};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt as _;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, Interest};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::Instrument;

/// Most header fields accepted in one request head.
const MAX_HEADERS: usize = 100;
/// File bodies up to this size are read into the response buffer and written
/// with the head in one call; larger ones go out with `sendfile(2)`.
const INLINE_BODY: u64 = 32 * 1024;
/// Request bodies (on GET/HEAD, which ignore them) read and discarded at most;
/// larger ones close the connection after the response.
const MAX_DISCARD: u64 = 64 * 1024;

struct Shared<S: Store> {
    live: Arc<Live<S>>,
    /// `--idle-timeout`: how long an idle keep-alive connection stays open.
    idle_timeout: Duration,
    /// `--write-timeout`: how long a client may take to accept more of a
    /// response before ferry gives up.
    write_timeout: Duration,
    /// `--max-connections`: a permit per open connection.
    slots: Arc<tokio::sync::Semaphore>,
    log: Option<Arc<crate::accesslog::AccessLog>>,
    metrics: bool,
    drain: Duration,
    header_timeout: Duration,
    max_head: usize,
    open: AtomicUsize,
    done: tokio::sync::Notify,
}

/// Serves `sites` until SIGINT or SIGTERM, then lets in-flight responses
/// finish; SIGHUP replaces them with what `reload` builds.
pub(crate) fn run<S: Store>(
    args: &ServerArgs,
    sites: Sites<S>,
    reload: impl Fn() -> anyhow::Result<Sites<S>> + Send + Sync + 'static,
    what: &str,
) -> anyhow::Result<()> {
    let listener = crate::server::listener(args)?;
    let addr = listener.local_addr()?;
    let live = Arc::new(Live::new(sites));
    let shared = Arc::new(Shared {
        live: live.clone(),
        idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
        write_timeout: Duration::from_secs(args.write_timeout.max(1)),
        slots: crate::server::slots(args),
        log: crate::accesslog::from_args(args)?,
        metrics: args.metrics.is_some(),
        drain: Duration::from_secs(args.drain_timeout),
        header_timeout: Duration::from_secs(args.header_timeout.max(1)),
        max_head: args.max_header_bytes.max(1024),
        open: AtomicUsize::new(0),
        done: tokio::sync::Notify::new(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    // SIGHUP (reopen the log) is handled before the address is announced and
    // any worker accepts: a HUP that arrived first would terminate the process.
    let rt = runtime()?;
    {
        let _in = rt.enter();
        crate::accesslog::reopen_on_hup(shared.log.as_ref());
        crate::sites::reload_on_hup(live, reload);
    }
    eprintln!("ferry: {what} on http://{addr}/");
    // One worker per core this process may run on (taskset narrows it).
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut threads = Vec::new();
    for i in 1..workers {
        let (l, s, rx) = (listener.try_clone()?, shared.clone(), stop_rx.clone());
        threads.push(
            std::thread::Builder::new()
                .name(format!("ferry-worker-{i}"))
                .spawn(move || -> anyhow::Result<()> { runtime()?.block_on(worker(l, s, rx)) })?,
        );
    }
    rt.block_on(async {
        let main = tokio::spawn(worker(listener, shared.clone(), stop_rx));
        crate::server::shutdown_signal().await;
        eprintln!("ferry: shutting down, finishing in-flight requests");
        let _ = stop_tx.send(true);
        let _ = main.await;
    });
    for t in threads {
        let _ = t.join();
    }
    if shared.open.load(Ordering::Acquire) > 0 {
        eprintln!(
            "ferry: gave up waiting for connections after {}s",
            args.drain_timeout
        );
    }
    Ok(())
}

/// One core's share: accepts until shutdown begins, then keeps driving its
/// connections (a current-thread runtime runs them only while this future runs)
/// until every connection of the process is done, or `--drain-timeout` passed.
async fn worker<S: Store>(
    listener: std::net::TcpListener,
    shared: Arc<Shared<S>>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    accept_loop(listener, shared.clone(), stop).await?;
    let drained = async {
        loop {
            let notified = shared.done.notified();
            if shared.open.load(Ordering::Acquire) == 0 {
                break;
            }
            notified.await;
        }
    };
    let _ = tokio::time::timeout(shared.drain, drained).await;
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")
}

async fn accept_loop<S: Store>(
    listener: std::net::TcpListener,
    shared: Arc<Shared<S>>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    loop {
        // At --max-connections, stop accepting: new connections wait in the
        // listen queue, as with nginx's worker_connections.
        let slot = tokio::select! {
            biased;
            _ = stop.changed() => return Ok(()),
            s = shared.slots.clone().acquire_owned() => s?,
        };
        let (stream, peer) = tokio::select! {
            biased;
            _ = stop.changed() => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(s) => s,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    if e.kind() != io::ErrorKind::WouldBlock {
                        eprintln!("ferry: accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        shared.open.fetch_add(1, Ordering::AcqRel);
        if shared.metrics {
            crate::metrics::connection_opened();
        }
        let (shared, stop) = (shared.clone(), stop.clone());
        let span = tracing::debug_span!("conn", %peer);
        tokio::spawn(Instrument::instrument(
            async move {
                let mut c = Conn::new(stream, peer, &shared, stop);
                let r = c.run().await;
                tracing::debug!(result = ?r.err(), "closed");
                drop(slot);
                if shared.metrics {
                    crate::metrics::connection_closed();
                }
                if shared.open.fetch_sub(1, Ordering::AcqRel) == 1 {
                    shared.done.notify_waiters();
                }
            },
            span,
        ));
    }
}

/// Why a connection stopped.
enum Close {
    /// Orderly: the client closed, asked to close, or shutdown began.
    Done,
    /// After an error response: half-close and drain what the client still sends,
    /// so a reset does not destroy the response (nginx's `lingering_close`).
    Linger,
}

struct Conn<'a, S: Store> {
    stream: TcpStream,
    peer: SocketAddr,
    shared: &'a Shared<S>,
    sites: Snapshot<S>,
    stop: watch::Receiver<bool>,
    rbuf: Vec<u8>,
    /// Bytes of `rbuf` already consumed by parsed requests.
    rpos: usize,
    wbuf: Vec<u8>,
    /// The connection's one timer, and which wait it is set for.
    timer: Pin<Box<tokio::time::Sleep>>,
    armed: Armed,
    /// When the connection last became idle.
    idle_since: tokio::time::Instant,
}

/// What [`Conn::timer`] is set for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Armed {
    Nothing,
    /// `--idle-timeout` after the connection became idle, or earlier: it is
    /// not moved for every request, but checked against `idle_since` when it
    /// fires (nginx similarly skips re-arming a timer when the change is
    /// small).
    Idle,
    /// `--header-timeout` after a request head began.
    Head,
}

/// A parsed request head, with what the wire layer needs beside the `Request`.
struct Parsed {
    req: Request<()>,
    keep_alive: bool,
    body: BodyFraming,
}

enum BodyFraming {
    None,
    Length(u64),
    /// Chunked or otherwise unknown: answered, then the connection closes.
    Unframed,
}

/// A response the parser decided on its own, before any request existed.
struct Reject {
    status: StatusCode,
    text: &'static str,
}

impl<'a, S: Store> Conn<'a, S> {
    fn new(
        stream: TcpStream,
        peer: SocketAddr,
        shared: &'a Shared<S>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Conn {
            stream,
            peer,
            sites: Snapshot::of(&shared.live),
            shared,
            stop,
            // Allocated when a request arrives, given back between requests.
            rbuf: Vec::new(),
            rpos: 0,
            wbuf: Vec::new(),
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            armed: Armed::Nothing,
            idle_since: tokio::time::Instant::now(),
        }
    }

    async fn run(&mut self) -> io::Result<()> {
        let close = self.serve_requests().await;
        let close = match close {
            Ok(c) => c,
            Err(_) => return Ok(()), // The peer is gone; nothing to flush.
        };
        self.flush().await?;
        let _ = self.stream.shutdown().await;
        if let Close::Linger = close {
            self.linger().await;
        }
        Ok(())
    }

    async fn serve_requests(&mut self) -> io::Result<Close> {
        loop {
            let head = match self.next_head().await? {
                Some(h) => h,
                None => return Ok(Close::Done),
            };
            // Read only for the access log and metrics: a clock read is a
            // measurable share of a 304.
            let start = (self.shared.log.is_some() || self.shared.metrics).then(Instant::now);
            let parsed = match head {
                Ok(p) => p,
                Err(r) => {
                    self.reject(r, start);
                    return Ok(Close::Linger);
                }
            };
            let mut keep_alive = parsed.keep_alive && !*self.stop.borrow();
            let mut linger = false;
            match parsed.body {
                BodyFraming::None => {}
                // RFC 9110 §10.1.1: a client waiting for 100 Continue gets the
                // final status at once instead (ferry never needs a body), and
                // the connection closes rather than read what may never come.
                BodyFraming::Length(_) if expects_continue(&parsed.req) => {
                    keep_alive = false;
                    linger = true;
                }
                BodyFraming::Length(n) if n <= MAX_DISCARD => self.discard(n).await?,
                BodyFraming::Length(_) | BodyFraming::Unframed => {
                    keep_alive = false;
                    linger = true;
                }
            }
            let req = parsed.req;
            let svc = match self.sites.get(&self.shared.live).route(
                req.method(),
                req.uri(),
                req.headers(),
            ) {
                Route::Serve(svc) => svc,
                Route::Answer(res) => {
                    self.respond(&req, res, keep_alive, start).await?;
                    if !keep_alive {
                        return Ok(if linger { Close::Linger } else { Close::Done });
                    }
                    continue;
                }
            };
            let span = tracing::debug_span!("request", method = %req.method(), target = %req.uri());
            let res = match Instrument::instrument(svc.try_serve(&req), span).await {
                Ok(res) => res,
                Err(e) => {
                    if e.status().is_server_error() {
                        // The client sees a short status text; the operator, why.
                        eprintln!(
                            "ferry: {} {}: {e}",
                            req.method(),
                            req.uri().path().escape_debug()
                        );
                    }
                    e.to_response(req.method() == Method::HEAD)
                }
            };
            self.respond(&req, res, keep_alive, start).await?;
            if !keep_alive {
                return Ok(if linger { Close::Linger } else { Close::Done });
            }
        }
    }

    /// The next request head: `None` when the client closed (or went idle, or
    /// shutdown began) between requests.
    async fn next_head(&mut self) -> io::Result<Option<Result<Parsed, Reject>>> {
        // An idle keep-alive connection may wait --idle-timeout for its next
        // request; once a head has begun, it has the header timeout to finish.
        let mut head_deadline = None;
        let mut idle_started = false;
        loop {
            if self.rpos < self.rbuf.len() {
                match parse(&self.rbuf[self.rpos..], self.shared.max_head) {
                    Ok(Some((parsed, used))) => {
                        self.rpos += used;
                        return Ok(Some(Ok(parsed)));
                    }
                    Ok(None) => {}
                    Err(r) => return Ok(Some(Err(r))),
                }
                if self.rbuf.len() - self.rpos >= self.shared.max_head {
                    return Ok(Some(Err(Reject {
                        status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                        text: "431 Request Header Fields Too Large\n",
                    })));
                }
            } else {
                self.rbuf.clear();
                self.rpos = 0;
            }
            // Nothing complete is buffered: send what pipelined requests produced
            // before waiting for more.
            self.flush().await?;
            if self.rpos > 0 && self.rpos == self.rbuf.len() {
                self.rbuf.clear();
                self.rpos = 0;
            }
            let partial = self.rpos < self.rbuf.len();
            if self.rbuf.capacity() - self.rbuf.len() < 1024 {
                if self.rpos > 0 {
                    self.rbuf.drain(..self.rpos);
                    self.rpos = 0;
                }
                if self.rbuf.capacity() == 0 {
                    self.rbuf = pool::take();
                }
                // A long head grows the buffer 4 KiB at a time, up to
                // --max-header-bytes.
                if self.rbuf.capacity() - self.rbuf.len() < 1024 {
                    self.rbuf.reserve(4096);
                }
            }
            let spare = self.rbuf.capacity() - self.rbuf.len();
            let n = match self.stream.try_read_buf(&mut self.rbuf) {
                Ok(n) if n > 0 && n < spare => {
                    // A short read drained the socket: forget its readiness now,
                    // so the next wait goes straight to epoll instead of first
                    // making a read that would fail with EAGAIN. (New data
                    // raises a new edge; a FIN stays visible, tokio keeps
                    // closed states.)
                    let _ = self.stream.try_io(Interest::READABLE, || {
                        Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock))
                    });
                    n
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.rbuf.is_empty() {
                        // Between requests a connection holds no buffer (the
                        // response was flushed above): memory is what the
                        // connections being served use, not all that are open,
                        // as nginx frees its request buffers on keep-alive.
                        pool::give(std::mem::take(&mut self.rbuf));
                        pool::give(std::mem::take(&mut self.wbuf));
                        self.sites.release_if_stale(&self.shared.live);
                    }
                    if partial {
                        // Within one call a head only ever begins (its bytes
                        // stay until it is parsed), so this is set once.
                        if head_deadline.is_none() {
                            let d = tokio::time::Instant::now() + self.shared.header_timeout;
                            head_deadline = Some(d);
                            self.timer.as_mut().reset(d);
                            self.armed = Armed::Head;
                        }
                    } else {
                        if !idle_started {
                            idle_started = true;
                            self.idle_since = tokio::time::Instant::now();
                        }
                        if self.armed != Armed::Idle {
                            let d = tokio::time::Instant::now() + self.shared.idle_timeout;
                            self.timer.as_mut().reset(d);
                            self.armed = Armed::Idle;
                        }
                    }
                    tokio::select! {
                        biased;
                        r = self.stream.readable() => { r?; continue; }
                        () = &mut self.timer => {
                            if !partial {
                                // Set before this idle spell began? Wait the rest.
                                let end = self.idle_since + self.shared.idle_timeout;
                                if end > tokio::time::Instant::now() {
                                    self.timer.as_mut().reset(end);
                                    continue;
                                }
                            }
                            // A slow head is closed without a response, as nginx
                            // does with client_header_timeout; an idle
                            // keep-alive connection likewise.
                            return Ok(None);
                        }
                        _ = self.stop.changed(), if !partial => return Ok(None),
                    }
                }
                Err(e) => return Err(e),
            };
            if n == 0 {
                // The client closed; a head cut short has nobody to answer.
                return Ok(None);
            }
        }
    }

    /// Reads and drops `n` bytes of a request body nobody needs.
    async fn discard(&mut self, mut n: u64) -> io::Result<()> {
        let buffered = (self.rbuf.len() - self.rpos) as u64;
        let take = buffered.min(n);
        self.rpos += take as usize;
        n -= take;
        // On the heap: a buffer held across an await would sit in every
        // connection's future, used or not.
        let mut scratch = vec![0u8; 4096];
        while n > 0 {
            let want = (n as usize).min(scratch.len());
            let got = tokio::time::timeout(
                self.shared.header_timeout,
                self.stream.read(&mut scratch[..want]),
            )
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
            if got == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            n -= got as u64;
        }
        Ok(())
    }

    /// Writes a response the parser produced (400, 431, 505…) and closes.
    fn reject(&mut self, r: Reject, start: Option<Instant>) {
        let now = SystemTime::now();
        self.wbuf
            .extend_from_slice(status_line(Version::HTTP_11, r.status).as_bytes());
        let date = ferry::proto::date::fmt_http_date(now);
        let _ = write!(
            self.wbuf,
            "date: {date}\r\ncontent-type: text/plain; charset=utf-8\r\nx-content-type-options: nosniff\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
            r.text.len(),
            r.text
        );
        if self.shared.metrics {
            crate::metrics::response(
                &http::Method::GET,
                r.status.as_u16(),
                0,
                false,
                elapsed(start),
            );
        }
        if let Some(log) = &self.shared.log {
            log.log(&crate::accesslog::Entry {
                peer: self.peer,
                method: "-",
                target: "-",
                version: "-",
                status: r.status.as_u16(),
                bytes: r.text.len() as u64,
                duration: elapsed(start),
                referer: None,
                user_agent: None,
                host: None,
            });
        }
    }

    async fn respond(
        &mut self,
        req: &Request<()>,
        res: Response<Body>,
        keep_alive: bool,
        start: Option<Instant>,
    ) -> io::Result<()> {
        let (parts, body) = res.into_parts();
        let head_only = req.method() == Method::HEAD
            || parts.status == StatusCode::NOT_MODIFIED
            || parts.status == StatusCode::NO_CONTENT
            || parts.status.is_informational();
        let http10 = req.version() == Version::HTTP_10;
        let len = crate::server::content_length(&parts.headers);
        // A body of unknown length is chunked on HTTP/1.1; on HTTP/1.0 the end of
        // the connection delimits it.
        let chunked = !head_only && len.is_none() && !http10;
        let keep_alive = keep_alive && (head_only || len.is_some() || chunked);

        // One buffer for the head and a body written inline with it.
        if self.wbuf.capacity() == 0 {
            self.wbuf = pool::take();
        }
        let inline = len.filter(|&n| !head_only && n <= INLINE_BODY).unwrap_or(0);
        self.wbuf.reserve(512 + inline as usize);
        self.wbuf
            .extend_from_slice(status_line(Version::HTTP_11, parts.status).as_bytes());
        write_headers(&mut self.wbuf, &parts.headers);
        if chunked {
            self.wbuf
                .extend_from_slice(b"transfer-encoding: chunked\r\n");
        }
        if !keep_alive {
            self.wbuf.extend_from_slice(b"connection: close\r\n");
        } else if http10 {
            self.wbuf.extend_from_slice(b"connection: keep-alive\r\n");
        }
        self.wbuf.extend_from_slice(b"\r\n");

        let (mut sent, mut zero_copy, mut result) = (0u64, false, Ok(()));
        if !head_only {
            // A client that goes away mid-body still gets its log line, with
            // the bytes it was sent (nginx logs these too).
            match self.send_body(body, chunked, &mut sent).await {
                Ok(z) => zero_copy = z,
                Err(e) => result = Err(e),
            }
        }
        if self.shared.metrics {
            crate::metrics::response(
                req.method(),
                parts.status.as_u16(),
                sent,
                zero_copy,
                elapsed(start),
            );
        }
        if let Some(log) = &self.shared.log {
            let h = |name| {
                req.headers()
                    .get(name)
                    .and_then(|v: &HeaderValue| v.to_str().ok())
            };
            log.log(&crate::accesslog::Entry {
                peer: self.peer,
                method: req.method().as_str(),
                target: req.uri().path_and_query().map_or("/", |p| p.as_str()),
                version: if http10 { "HTTP/1.0" } else { "HTTP/1.1" },
                status: parts.status.as_u16(),
                bytes: sent,
                duration: elapsed(start),
                referer: h(header::REFERER),
                user_agent: h(header::USER_AGENT),
                host: req.uri().host().or_else(|| h(header::HOST)),
            });
        }
        result
    }

    /// Sends the body, counting the bytes handed to the socket in `sent`;
    /// returns whether `sendfile(2)` sent them.
    async fn send_body(
        &mut self,
        mut body: Body,
        chunked: bool,
        sent: &mut u64,
    ) -> io::Result<bool> {
        if let Some((file, range)) = body.as_file() {
            let len = range.end - range.start;
            if len <= INLINE_BODY {
                let at = self.wbuf.len();
                self.wbuf.resize(at + len as usize, 0);
                read_exact_at(file, &mut self.wbuf[at..], range.start)?;
                *sent = len;
                return Ok(false);
            }
            self.flush_with(true).await?;
            let mut off = range.start;
            while off < range.end {
                let count = usize::try_from(range.end - off)
                    .unwrap_or(usize::MAX)
                    .min(1 << 30);
                let n = self
                    .with_send_timeout(|s| {
                        s.try_io(Interest::WRITABLE, || {
                            rustix::fs::sendfile(s.as_fd(), file, Some(&mut off), count)
                                .map_err(io::Error::from)
                        })
                    })
                    .await?;
                *sent += n as u64;
                if n == 0 {
                    // The file shrank under us: the declared length cannot be
                    // met, so the connection must end without completing it.
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shrank while serving",
                    ));
                }
            }
            return Ok(true);
        }
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame?.into_data() else {
                continue;
            };
            if data.is_empty() {
                continue;
            }
            *sent += data.len() as u64;
            if chunked {
                let _ = write!(self.wbuf, "{:x}\r\n", data.len());
            }
            self.wbuf.extend_from_slice(&data);
            if chunked {
                self.wbuf.extend_from_slice(b"\r\n");
            }
            if self.wbuf.len() >= 64 * 1024 {
                self.flush().await?;
            }
        }
        if chunked {
            self.wbuf.extend_from_slice(b"0\r\n\r\n");
        }
        Ok(false)
    }

    /// Runs a non-blocking write `op` until it makes progress, waiting for the
    /// socket to become writable, for at most `--write-timeout`.
    async fn with_send_timeout<T>(
        &mut self,
        mut op: impl FnMut(&TcpStream) -> io::Result<T>,
    ) -> io::Result<T> {
        // Taken at the first wait: most writes never wait.
        let mut deadline = None;
        loop {
            match op(&self.stream) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let d = *deadline.get_or_insert_with(|| {
                        tokio::time::Instant::now() + self.shared.write_timeout
                    });
                    tokio::time::timeout_at(d, self.stream.writable())
                        .await
                        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
                }
                r => return r,
            }
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.flush_with(false).await
    }

    /// Writes the buffer out; `more` says a body follows at once (MSG_MORE), so
    /// the kernel sends the head in the same segment as the body's first bytes,
    /// as nginx's `tcp_nopush` does.
    async fn flush_with(&mut self, more: bool) -> io::Result<()> {
        let mut at = 0;
        while at < self.wbuf.len() {
            let buf = std::mem::take(&mut self.wbuf);
            let r = self
                .with_send_timeout(|s| {
                    if more {
                        s.try_io(Interest::WRITABLE, || {
                            rustix::net::send(s, &buf[at..], rustix::net::SendFlags::MORE)
                                .map_err(io::Error::from)
                        })
                    } else {
                        s.try_write(&buf[at..])
                    }
                })
                .await;
            self.wbuf = buf;
            match r {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => at += n,
                Err(e) => return Err(e),
            }
        }
        self.wbuf.clear();
        if self.wbuf.capacity() > 64 * 1024 {
            // A listing or a multipart head made it large: give it back.
            self.wbuf = Vec::new();
        }
        Ok(())
    }

    /// Drains what the client still sends for up to two seconds (1 MiB at most)
    /// after the write side is shut, so the response is not lost to a reset.
    async fn linger(&mut self) {
        // On the heap: a buffer held across an await would sit in every
        // connection's future, used or not.
        let mut scratch = vec![0u8; 4096];
        let mut drained = 0;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while drained < (1 << 20) {
                match self.stream.read(&mut scratch).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => drained += n,
                }
            }
        })
        .await;
    }
}

/// Time since `start`, when it was taken (see `serve_requests`).
fn elapsed(start: Option<Instant>) -> Duration {
    start.map_or(Duration::ZERO, |s| s.elapsed())
}

/// Whether the client waits for `100 Continue` before sending its body.
fn expects_continue(req: &Request<()>) -> bool {
    req.headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

fn read_exact_at(file: &std::fs::File, mut buf: &mut [u8], mut pos: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    while !buf.is_empty() {
        match file.read_at(buf, pos) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shrank while serving",
                ))
            }
            Ok(n) => {
                buf = &mut buf[n..];
                pos += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn status_line(v: Version, s: StatusCode) -> std::borrow::Cow<'static, str> {
    if v == Version::HTTP_11 {
        match s {
            StatusCode::OK => return "HTTP/1.1 200 OK\r\n".into(),
            StatusCode::PARTIAL_CONTENT => return "HTTP/1.1 206 Partial Content\r\n".into(),
            StatusCode::NOT_MODIFIED => return "HTTP/1.1 304 Not Modified\r\n".into(),
            StatusCode::NOT_FOUND => return "HTTP/1.1 404 Not Found\r\n".into(),
            _ => {}
        }
    }
    let v = if v == Version::HTTP_10 {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    };
    format!(
        "{v} {} {}\r\n",
        s.as_str(),
        s.canonical_reason().unwrap_or("")
    )
    .into()
}

fn write_headers(out: &mut Vec<u8>, headers: &HeaderMap) {
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// Parses one request head from the start of `buf` (RFC 9112 §2-§3, §6).
///
/// `Ok(None)` when the head is not complete yet. The rules a server MUST
/// enforce are enforced here: a missing or repeated Host on HTTP/1.1 is 400
/// (§3.2), Content-Length with Transfer-Encoding or an invalid Content-Length is
/// 400 (§6.3), versions other than 1.x are 505.
fn parse(buf: &[u8], max_head: usize) -> Result<Option<(Parsed, usize)>, Reject> {
    let bad = Reject {
        status: StatusCode::BAD_REQUEST,
        text: "400 Bad Request\n",
    };
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Request::new(&mut fields);
    let used = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Reject {
                status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                text: "431 Request Header Fields Too Large\n",
            })
        }
        Err(httparse::Error::Version) => return version_fallback(buf, max_head),
        Err(_) => return Err(bad),
    };
    if used > max_head {
        return Err(Reject {
            status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            text: "431 Request Header Fields Too Large\n",
        });
    }
    let version = if r.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let method = match r.method.unwrap_or("") {
        "GET" => Method::GET,
        "HEAD" => Method::HEAD,
        m => Method::from_bytes(m.as_bytes()).map_err(|_| bad_request())?,
    };
    // The head is copied out of the read buffer once; the target and every
    // field value are slices of that copy (one allocation, not one each).
    let head = Bytes::copy_from_slice(&buf[..used]);
    let share = |s: &[u8]| {
        let at = (s.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
        if at <= used && s.len() <= used - at {
            head.slice(at..at + s.len())
        } else {
            // Not a slice of the head (httparse gives none such): copied.
            Bytes::copy_from_slice(s)
        }
    };
    let path = r.path.unwrap_or("");
    let uri: Uri = if path.starts_with('/') {
        Uri::from_maybe_shared(share(path.as_bytes()))
    } else {
        path.parse()
    }
    .map_err(|_| bad_request())?;

    let mut headers = HeaderMap::with_capacity(r.headers.len().max(12));
    let mut hosts = 0;
    let mut length: Option<u64> = None;
    let mut te = false;
    let mut close = false;
    let mut keep_alive_token = false;
    for f in r.headers.iter() {
        let name = HeaderName::from_bytes(f.name.as_bytes()).map_err(|_| bad_request())?;
        let value = HeaderValue::from_maybe_shared(share(f.value)).map_err(|_| bad_request())?;
        if name == header::HOST {
            hosts += 1;
            if !valid_host(f.value) {
                return Err(bad_request());
            }
        } else if name == header::CONTENT_LENGTH {
            let n = std::str::from_utf8(f.value)
                .ok()
                .map(str::trim)
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(bad_request)?;
            if length.is_some_and(|l| l != n) {
                return Err(bad_request());
            }
            length = Some(n);
        } else if name == header::TRANSFER_ENCODING {
            te = true;
        } else if name == header::CONNECTION {
            for token in f.value.split(|&b| b == b',') {
                let t = token.trim_ascii();
                close |= t.eq_ignore_ascii_case(b"close");
                keep_alive_token |= t.eq_ignore_ascii_case(b"keep-alive");
            }
        }
        headers.append(name, value);
    }
    if version == Version::HTTP_11 && hosts != 1 || hosts > 1 {
        return Err(bad_request());
    }
    if te && length.is_some() {
        return Err(bad_request());
    }
    let keep_alive = !close && (version == Version::HTTP_11 || keep_alive_token);
    let body = if te {
        BodyFraming::Unframed
    } else {
        match length {
            None | Some(0) => BodyFraming::None,
            Some(n) => BodyFraming::Length(n),
        }
    };
    let mut req = Request::new(());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = version;
    *req.headers_mut() = headers;
    Ok(Some((
        Parsed {
            req,
            keep_alive,
            body,
        },
        used,
    )))
}

/// httparse knows HTTP/1.0 and HTTP/1.1 only. RFC 9110 §2.5: a request with a
/// higher minor version of a supported major version is processed as that
/// version's highest minor (HTTP/1.2 as HTTP/1.1); another major version is
/// 505; a request line whose version is not `HTTP/d.d` at all is 400.
fn version_fallback(buf: &[u8], max_head: usize) -> Result<Option<(Parsed, usize)>, Reject> {
    let line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    let line = buf[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&buf[..line_end]);
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or(b"");
    match version {
        // 1.0 and 1.1 were rejected for another reason: a malformed line.
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] if (b'2'..=b'9').contains(minor) => {
            let mut copy = buf.to_vec();
            let at = line.len() - 1;
            copy[at] = b'1';
            match parse(&copy, max_head) {
                Ok(Some((mut p, used))) => {
                    *p.req.version_mut() = Version::HTTP_11;
                    Ok(Some((p, used)))
                }
                other => other,
            }
        }
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if (b'2'..=b'9').contains(major) && minor.is_ascii_digit() =>
        {
            Err(Reject {
                status: StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                text: "505 HTTP Version Not Supported\n",
            })
        }
        _ => Err(bad_request()),
    }
}

/// RFC 9112 §3.2: Host is `uri-host [ ":" port ]`; anything else is a 400.
fn valid_host(v: &[u8]) -> bool {
    v.iter().all(|&b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'['
                    | b']'
            )
    })
}

fn bad_request() -> Reject {
    Reject {
        status: StatusCode::BAD_REQUEST,
        text: "400 Bad Request\n",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Result<Option<(Parsed, usize)>, u16> {
        parse(raw.as_bytes(), 32 * 1024).map_err(|r| r.status.as_u16())
    }

    #[test]
    fn request_heads_per_rfc_9112() {
        let ok = |raw: &str| head(raw).unwrap().unwrap().0;
        let p = ok("GET /a%20b?x=1 HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(p.req.uri().path(), "/a%20b");
        assert!(p.keep_alive);
        // §9.3: HTTP/1.0 closes unless it asks for keep-alive.
        assert!(!ok("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(!ok("GET / HTTP/1.1\r\nHost: t\r\nConnection: foo, close\r\n\r\n").keep_alive);
        // §3.2.2: absolute-form is accepted.
        assert_eq!(
            ok("GET http://t/x HTTP/1.1\r\nHost: t\r\n\r\n")
                .req
                .uri()
                .path(),
            "/x"
        );
        // Incomplete heads wait for more.
        assert!(head("GET / HTTP/1.1\r\nHost: t\r\n").unwrap().is_none());
        // §3.2: "A server MUST respond with a 400 (Bad Request) status code to any
        // HTTP/1.1 request message that lacks a Host header field and to any
        // request message that contains more than one Host header field line".
        assert_eq!(head("GET / HTTP/1.1\r\n\r\n").err(), Some(400));
        assert_eq!(
            head("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").err(),
            Some(400)
        );
        // §6.3: Content-Length with Transfer-Encoding, or an invalid length.
        assert_eq!(
            head("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
                .err(),
            Some(400)
        );
        assert_eq!(
            head("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n").err(),
            Some(400)
        );
        assert_eq!(
            head("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
                .err(),
            Some(400)
        );
        assert_eq!(head("GET / HTTP/2.0\r\nHost: t\r\n\r\n").err(), Some(505));
        // RFC 9110 §2.5: a higher minor version is processed as HTTP/1.1.
        let p = ok("GET /x HTTP/1.2\r\nHost: t\r\n\r\n");
        assert_eq!(
            (p.req.uri().path(), p.req.version()),
            ("/x", Version::HTTP_11)
        );
        // Malformed request lines are 400, not 505 (RFC 9112 §3).
        assert_eq!(
            head("GET /sp ace HTTP/1.1\r\nHost: t\r\n\r\n").err(),
            Some(400)
        );
        assert_eq!(head("GET / http/1.1\r\nHost: t\r\n\r\n").err(), Some(400));
        // RFC 9112 §3.2: an invalid Host value is 400; an empty one is allowed.
        for bad in ["a b", "a\tb", "a/b", "a@b", "a\\b"] {
            assert_eq!(
                head(&format!("GET / HTTP/1.1\r\nHost: {bad}\r\n\r\n")).err(),
                Some(400),
                "{bad:?}"
            );
        }
        for good in [
            "",
            "example.com",
            "example.com:8080",
            "[::1]:80",
            "127.0.0.1",
        ] {
            assert!(
                ok(&format!("GET / HTTP/1.1\r\nHost: {good}\r\n\r\n")).keep_alive,
                "{good:?}"
            );
        }
        assert_eq!(head("GET  HTTP/1.1\r\nHost: t\r\n\r\n").err(), Some(400));
        assert_eq!(head("G\0T / HTTP/1.1\r\nHost: t\r\n\r\n").err(), Some(400));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: y\r\n")).collect();
        assert_eq!(
            head(&format!("GET / HTTP/1.1\r\nHost: t\r\n{many}\r\n")).err(),
            Some(431)
        );
    }

    #[test]
    fn request_body_framing() {
        let framing = |raw: &str| head(raw).unwrap().unwrap().0.body;
        assert!(matches!(
            framing("GET / HTTP/1.1\r\nHost: t\r\n\r\n"),
            BodyFraming::None
        ));
        assert!(matches!(
            framing("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n"),
            BodyFraming::Length(5)
        ));
        assert!(matches!(
            framing("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"),
            BodyFraming::Unframed
        ));
    }

    proptest::proptest! {
        /// Any bytes: a head, a wait, or a rejection; never a panic, and a
        /// parsed head never claims more bytes than it was given.
        #[test]
        fn parse_never_panics(buf in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok(Some((_, used))) = parse(&buf, 32 * 1024) {
                proptest::prop_assert!(used <= buf.len());
            }
        }
    }
}

/// Each worker's spare connection buffers: a connection takes one when a
/// request arrives and gives it back when it goes idle, so 1000 open
/// keep-alive connections hold no buffers, without a `malloc`/`free` pair per
/// request.
mod pool {
    use std::cell::RefCell;

    /// Buffers kept per worker, and the largest kept (larger ones are freed).
    const KEEP: usize = 16;
    const MAX_CAPACITY: usize = 16 * 1024;

    thread_local! {
        static FREE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    }

    /// An empty buffer of at least 2 KiB: a request head, or a response head
    /// with a small file.
    pub(super) fn take() -> Vec<u8> {
        FREE.with(|f| f.borrow_mut().pop())
            .unwrap_or_else(|| Vec::with_capacity(2048))
    }

    pub(super) fn give(mut buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > MAX_CAPACITY {
            return;
        }
        buf.clear();
        FREE.with(|f| {
            let mut f = f.borrow_mut();
            if f.len() < KEEP {
                f.push(buf);
            }
        });
    }
}
