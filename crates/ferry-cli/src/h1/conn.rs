//! One HTTP/1.1 connection's state machine: wait for a head (idle, then
//! header timeout), parse it, run the exchange (the body fed to the
//! application while it runs), write the response, and close or linger.
use super::parse::{self, Framing, Parsed};
use super::wire::{self, Wire};
use super::{pool, Shared};
use crate::framing::Decoder;
use crate::pipeline::App;
use crate::reqbody::{ChannelBody, Piece, ReqBody};
use http::header;
use http::{Method, Request, StatusCode, Version};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::{mpsc, watch, Notify};

/// Request bodies nobody asked for are read and dropped up to this size, to
/// keep the connection; larger ones close it after the response.
const MAX_DISCARD: u64 = 64 * 1024;

/// Why a connection stopped.
pub(super) enum Close {
    /// Orderly: the client closed, asked to close, or shutdown began.
    Done,
    /// After an error response: half-close and drain what the client still
    /// sends, so a reset does not destroy the response (nginx's
    /// `lingering_close`).
    Linger,
}

pub(super) struct Conn<'a, A: App, W: Wire> {
    pub(super) stream: W,
    pub(super) peer: SocketAddr,
    pub(super) shared: &'a Shared<A>,
    app: A::Conn,
    stop: watch::Receiver<bool>,
    /// Resolves when shutdown begins (the stop value changes, or its sender
    /// is gone). Made once per connection: each wait polls it again rather
    /// than join and leave the channel's waiters, as `changed()` made anew
    /// for every wait would.
    stopping: Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    /// The waker `stopping` was last polled with: while the task's waker
    /// stays the same, a wait checks the channel's version instead of
    /// polling it again.
    stop_waker: Option<std::task::Waker>,
    pub(super) rbuf: Vec<u8>,
    /// Bytes of `rbuf` already consumed by parsed requests.
    pub(super) rpos: usize,
    pub(super) wbuf: Vec<u8>,
    /// The last request head and what it parsed to.
    memo: parse::Memo,
    /// The connection's one timer, and which wait it is set for.
    timer: Pin<Box<tokio::time::Sleep>>,
    armed: Armed,
    /// When the connection last became idle.
    idle_since: tokio::time::Instant,
    /// Shutdown began before the first request head arrived: that request
    /// is awaited for [`crate::net::DRAIN_GRACE`] (the timer's deadline),
    /// and the stop signal is not watched again.
    grace: bool,
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

/// How feeding a request body to the application ended.
enum Fed {
    /// Read to its end.
    Whole,
    /// The application let go of it first.
    Dropped,
    /// Bad framing, a timeout, or the client left.
    Failed,
}

impl<'a, A: App, W: Wire> Conn<'a, A, W> {
    pub(super) fn new(
        stream: W,
        peer: SocketAddr,
        shared: &'a Shared<A>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Conn {
            stream,
            peer,
            app: shared.pipeline.app.conn(),
            shared,
            stopping: {
                let mut stop = stop.clone();
                Box::pin(async move {
                    let _ = stop.changed().await;
                })
            },
            stop,
            stop_waker: None,
            // Allocated when a request arrives, given back between requests.
            rbuf: Vec::new(),
            rpos: 0,
            wbuf: Vec::new(),
            memo: parse::Memo::default(),
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            armed: Armed::Nothing,
            idle_since: tokio::time::Instant::now(),
            grace: false,
        }
    }

    pub(super) async fn run(&mut self) -> io::Result<()> {
        let close = match self.serve_requests().await {
            Ok(c) => c,
            Err(_) => return Ok(()), // The peer is gone; nothing to flush.
        };
        // Over TLS, close_notify goes out after the last answer and before
        // the FIN (RFC 8446 §6.1), in the same write: the answer's records
        // are sealed and held until it is queued.
        self.flush_with(W::HOLDS).await?;
        self.stream.close();
        self.flush().await?;
        let _ = self.stream.tcp_mut().shutdown().await;
        if let Close::Linger = close {
            // What the client still sends is drained as it comes, not
            // decrypted.
            let mut lingering = crate::linger::Lingering::default();
            let stream = self.stream.tcp_mut();
            std::future::poll_fn(|cx| lingering.poll(Pin::new(&mut *stream), cx)).await;
        }
        Ok(())
    }

    async fn serve_requests(&mut self) -> io::Result<Close> {
        loop {
            let head = match self.next_head().await? {
                Some(h) => h,
                None => return Ok(Close::Done),
            };
            let parsed = match head {
                Ok(p) => p,
                Err(status) => {
                    let res = crate::answer::closing(status);
                    let sent = self.respond(res, None, false, false, false).await?.sent;
                    self.shared
                        .pipeline
                        .observer
                        .reject(self.peer, status.as_u16(), sent.bytes);
                    return Ok(Close::Linger);
                }
            };
            let keep_alive = parsed.keep_alive && !*self.stop.borrow();
            match self.exchange(parsed, keep_alive).await? {
                None => {}
                Some(close) => return Ok(close),
            }
        }
    }

    /// One request and its response; `Some` when the connection ends after it.
    async fn exchange(
        &mut self,
        mut p: Box<Parsed>,
        keep_alive: bool,
    ) -> io::Result<Option<Close>> {
        let framing = p.body;
        let head = p.req.method() == Method::HEAD;
        let http10 = p.req.version() == Version::HTTP_10;
        let pipeline = &self.shared.pipeline;
        let (res, pending, keep_alive, linger, mut leftover) = if framing == Framing::None {
            let (res, pending) = pipeline
                .respond(&mut self.app, &mut p.req, self.peer, Some(p.size))
                .await;
            self.memo.give_back(p);
            (res, pending, keep_alive, false, None)
        } else {
            // What pipelined requests produced goes out before a 100 Continue.
            self.flush().await?;
            let expect = expects_continue(&p.req);
            let (body, tx, want) = ChannelBody::new(framing.len());
            let size = Some(p.size);
            let req = &mut p.req;
            *req.body_mut() = ReqBody::channel(body);
            let mut decoder = Decoder::new(framing);
            let started = AtomicBool::new(false);
            let (out, fed) = {
                let Conn {
                    stream,
                    rbuf,
                    rpos,
                    app,
                    peer,
                    shared,
                    ..
                } = self;
                let respond = std::pin::pin!(shared.pipeline.respond(app, req, *peer, size));
                let feed = std::pin::pin!(feed(
                    Feed {
                        stream,
                        rbuf,
                        rpos,
                        decoder: &mut decoder,
                        timeout: shared.idle_timeout,
                        write_timeout: shared.write_timeout,
                    },
                    tx,
                    &want,
                    expect,
                    &started,
                ));
                run_beside(respond, feed).await
            };
            // The body's receiving end goes now: the feeder stops with it.
            *p.req.body_mut() = ReqBody::default();
            let (res, pending) = out;
            // What is left of a body the application did not read whole.
            let (mut keep_alive, mut linger, mut leftover) = (keep_alive, false, None);
            match fed {
                Some(Fed::Whole) => {}
                Some(Fed::Failed) => (keep_alive, linger) = (false, true),
                None | Some(Fed::Dropped) => {
                    // A small rest (or a chunked one, up to the same budget)
                    // is read and dropped after the response, to keep the
                    // connection; a larger one closes it.
                    let small = decoder.remaining().is_none_or(|n| n <= MAX_DISCARD);
                    // RFC 9110 §10.1.1: a client waiting for 100 Continue was
                    // given the final status instead; it may never send the
                    // body, so the connection closes rather than wait for it.
                    let waiting = expect && !started.load(Ordering::Relaxed);
                    if small && !waiting {
                        leftover = Some(decoder);
                    } else {
                        (keep_alive, linger) = (false, true);
                    }
                }
            }
            (res, pending, keep_alive, linger, leftover)
        };
        let written = self.respond(res, pending, head, http10, keep_alive).await?;
        if written.keep_alive {
            if let Some(decoder) = &mut leftover {
                // The answer goes out first; the body may be slow to come.
                self.flush().await?;
                if self.discard(decoder).await.is_err() {
                    // Over budget, too slow, or gone: the response is out,
                    // the connection ends.
                    return Ok(Some(Close::Linger));
                }
            }
            return Ok(None);
        }
        Ok(Some(if linger || written.closes {
            Close::Linger
        } else {
            Close::Done
        }))
    }

    /// Reads and drops the rest of a body nobody needs, at most
    /// [`MAX_DISCARD`] bytes of it, each read within the header timeout.
    async fn discard(&mut self, decoder: &mut Decoder) -> io::Result<()> {
        let timeout = self.shared.header_timeout;
        let mut dropped = 0u64;
        while let Some(piece) = decoder
            .next(&mut self.stream, &mut self.rbuf, &mut self.rpos, timeout)
            .await?
        {
            dropped += piece.len() as u64;
            if dropped > MAX_DISCARD {
                return Err(io::ErrorKind::InvalidData.into());
            }
        }
        Ok(())
    }

    /// The next request head: `None` when the client closed (or went idle, or
    /// shutdown began) between requests.
    async fn next_head(&mut self) -> io::Result<Option<Result<Box<Parsed>, StatusCode>>> {
        // An idle keep-alive connection may wait --idle-timeout for its next
        // request; once a head has begun, it has the header timeout to finish.
        let mut head_deadline = None;
        let mut idle_started = false;
        loop {
            if self.rpos < self.rbuf.len() {
                match parse::parse_with(
                    &mut self.memo,
                    &self.rbuf[self.rpos..],
                    self.shared.max_head,
                    !A::CHANGES_REQUESTS,
                ) {
                    Ok(Some((parsed, used))) => {
                        self.rpos += used;
                        return Ok(Some(Ok(parsed)));
                    }
                    Ok(None) => {}
                    Err(status) => return Ok(Some(Err(status))),
                }
                if self.rbuf.len() - self.rpos >= self.shared.max_head {
                    return Ok(Some(Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)));
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
            let n = match self.stream.try_read(&mut self.rbuf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.rbuf.is_empty() {
                        // Between requests a connection holds no buffer (the
                        // response was flushed above): memory is what the
                        // connections being served use, not all that are open,
                        // as nginx frees its request buffers on keep-alive.
                        pool::give(std::mem::take(&mut self.rbuf));
                        pool::give(std::mem::take(&mut self.wbuf));
                        self.shared.pipeline.app.idle(&mut self.app);
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
                    let stop = (&self.stop, &mut self.stopping, &mut self.stop_waker);
                    tokio::select! {
                        biased;
                        // The socket's own waker slot, not a waiter list entry
                        // made and removed each time as `readable()` would.
                        r = std::future::poll_fn(|cx| self.stream.tcp().poll_read_ready(cx)) => {
                            r?;
                            continue;
                        }
                        () = &mut self.timer => {
                            if !partial && !self.grace {
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
                        () = std::future::poll_fn(|cx| poll_stop(stop.0, stop.1, stop.2, cx)),
                            if !partial && !self.grace => {
                            if self.memo.is_empty() {
                                // A client that connected before the drain
                                // began may have its request on the way (after
                                // a TLS handshake, say): it gets a round trip.
                                self.grace = true;
                                let d = tokio::time::Instant::now() + crate::net::DRAIN_GRACE;
                                self.timer.as_mut().reset(d);
                                self.armed = Armed::Idle;
                                continue;
                            }
                            return Ok(None);
                        }
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
}

/// Ready once shutdown begins: `stopping` is polled when the waker is new
/// (to join the channel's waiters with it); after that, a wake-up is told
/// from the channel's version, which a send always moves.
fn poll_stop(
    stop: &watch::Receiver<bool>,
    stopping: &mut Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    waker: &mut Option<std::task::Waker>,
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<()> {
    if waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
        // A sender gone (Err) is a shutdown too, as `changed()` reports it.
        return if stop.has_changed().unwrap_or(true) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        };
    }
    let r = stopping.as_mut().poll(cx);
    if r.is_pending() {
        *waker = Some(cx.waker().clone());
    }
    r
}

/// Runs `main` to its end while driving `side` beside it; `side`'s result
/// if it finished first.
async fn run_beside<M: std::future::Future, S: std::future::Future>(
    mut main: Pin<&mut M>,
    mut side: Pin<&mut S>,
) -> (M::Output, Option<S::Output>) {
    let mut done = None;
    loop {
        tokio::select! {
            biased;
            out = main.as_mut() => return (out, done),
            r = side.as_mut(), if done.is_none() => done = Some(r),
        }
    }
}

/// The connection's parts a body feed borrows.
struct Feed<'a, W> {
    stream: &'a mut W,
    rbuf: &'a mut Vec<u8>,
    rpos: &'a mut usize,
    decoder: &'a mut Decoder,
    timeout: Duration,
    write_timeout: Duration,
}

/// Feeds a request body to the application once it asks for it (sending
/// `100 Continue` first to a client that waits for it).
async fn feed<W: Wire>(
    f: Feed<'_, W>,
    tx: mpsc::Sender<Piece>,
    want: &Arc<Notify>,
    expect: bool,
    started: &AtomicBool,
) -> Fed {
    want.notified().await;
    started.store(true, Ordering::Relaxed);
    if expect {
        let cont = wire::write_all(f.stream, b"HTTP/1.1 100 Continue\r\n\r\n");
        if !matches!(
            tokio::time::timeout(f.write_timeout, cont).await,
            Ok(Ok(()))
        ) {
            return Fed::Failed;
        }
    }
    loop {
        match f.decoder.next(f.stream, f.rbuf, f.rpos, f.timeout).await {
            Ok(Some(b)) => {
                if tx.send(Piece::Data(b)).await.is_err() {
                    return Fed::Dropped;
                }
            }
            Ok(None) => {
                let _ = tx.send(Piece::End).await;
                return Fed::Whole;
            }
            Err(e) => {
                let _ = tx.send(Piece::Err(e)).await;
                return Fed::Failed;
            }
        }
    }
}

/// Whether the client waits for `100 Continue` before sending its body.
fn expects_continue<B>(req: &Request<B>) -> bool {
    req.version() == Version::HTTP_11
        && req
            .headers()
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}
