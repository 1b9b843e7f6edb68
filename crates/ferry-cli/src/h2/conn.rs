//! One HTTP/2 connection (RFC 9113), driven from one task by one poll
//! function: read frames, hand each request to the pipeline, write the
//! answers' HEADERS and DATA as the flow-control windows allow, all in one
//! write buffer that goes out with as few writes as possible.
//!
//! The limits every HTTP/2 server needs are here: SETTINGS_MAX_CONCURRENT_STREAMS
//! with REFUSED_STREAM beyond it, a bound on streams the client resets
//! (rapid reset, CVE-2023-44487), header blocks and decoded field sections
//! bounded before they are kept (CONTINUATION floods, HPACK bombs), and no
//! read while the write buffer is full, so that PING, SETTINGS and request
//! floods from a client that does not read cannot grow memory, and a
//! zero-window client cannot make ferry buffer a file: DATA is made only as
//! the windows allow. Idle and write timeouts come from [`Deadline`].
use super::frame::{self, flag, kind, Code, Head};
use super::request::{Fields, Memo, Refused};
use crate::h1::pool;
use crate::hpack;
use crate::net::{Busy, BusyGuard, Deadline};
use crate::observe::{Pending, Sent};
use crate::pipeline::{App, Pipeline, ReqBody};
use bytes::Bytes;
use ferry::Body;
use futures_util::stream::{FuturesUnordered, StreamExt as _};
use http::{Method, Response, StatusCode};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// SETTINGS_MAX_CONCURRENT_STREAMS ferry advertises (nginx's default).
pub(crate) const MAX_STREAMS: usize = 128;
/// How much may wait in the write buffer before ferry stops reading and
/// making DATA.
const HIGH_WATER: usize = 128 * 1024;
/// The read buffer's size: a whole frame of the largest size ferry accepts
/// and then some.
const READ_BUF: usize = 32 * 1024;
/// Streams the client may reset before the connection is closed, beyond
/// the ones it let finish.
const FREE_RESETS: u64 = 200;

/// The payload of a file's DATA frame: with its 9-byte head, a frame fills
/// one TLS record's 2^14 bytes of plaintext (RFC 8446 §5.1), so that over
/// TLS each record is one frame and the two boundaries move together.
const RECORD_DATA: usize = frame::DEFAULT_MAX_FRAME - frame::HEAD;

/// Where, as an address modulo [`ALIGN`], a write starts in the buffer.
///
/// rustls copies each record's plaintext to 5 bytes (the record's header)
/// past the start of a new allocation, which the binary's allocator gives at
/// least 64-byte aligned. A copy whose destination lies 1 to 63 bytes past
/// its source modulo 4 KiB is slow on some CPUs (4K aliasing: `rep movsb` at
/// 1.6 GB/s against 37 on an AMD EPYC), and a buffer starting on a page put
/// every record there: 30 % of ferry's time sending a 100 MiB file over h2,
/// and every batch of small answers too. Starting the write 5 bytes past a
/// 64-byte boundary makes the distance a multiple of 64, never in that
/// window. For a file, in a buffer that starts on a page (as mimalloc gives
/// one of [`HIGH_WATER`]'s size), the kernel's copy from the page cache then
/// lands 14 bytes past the file offset's place in its page (also slow) and
/// drifts 9 bytes a frame ([`RECORD_DATA`]), out of the window after two
/// frames.
const WRITE_ALIGN: usize = 5;
const ALIGN: usize = 64;

/// Empties `wbuf` (nothing in it is still to be written), reserving
/// `room` bytes, and starts it at [`WRITE_ALIGN`].
fn start_aligned(wbuf: &mut Vec<u8>, wpos: &mut usize, room: usize) {
    wbuf.clear();
    // At least the lead's room, so that making the lead does not move it.
    wbuf.reserve(room.max(ALIGN));
    let lead = WRITE_ALIGN.wrapping_sub(wbuf.as_ptr() as usize) % ALIGN;
    wbuf.resize(lead, 0);
    *wpos = lead;
}

/// The payload of the PING that follows a graceful shutdown's first GOAWAY.
const DRAIN_PING: [u8; 8] = *b"ferry-gw";

type Answer = Pin<Box<dyn Future<Output = (u32, Response<Body>, Option<Pending>)> + Send>>;

/// What a stream still has to send.
enum Out {
    /// The pipeline has not answered yet.
    Waiting,
    /// The body, sent as DATA frames; `at` is the next file offset for a file
    /// body, `chunk` what a streamed body gave and is not sent yet.
    Body { body: Body, at: u64, chunk: Bytes },
    /// The response was sent to its end.
    Done,
}

struct Stream {
    id: u32,
    /// The client has not ended its side (no END_STREAM yet).
    recv_open: bool,
    send_window: i64,
    head: bool,
    out: Out,
    record: Option<(Pending, u16)>,
    sent: u64,
    _busy: BusyGuard,
}

/// A header block being received in HEADERS and CONTINUATION frames.
struct Continuing {
    stream: u32,
    end_stream: bool,
    refuse: Option<Code>,
    block: Vec<u8>,
}

/// The limits of one connection.
pub(crate) struct Limits {
    /// `--max-header-bytes`.
    pub(crate) max_head: usize,
    /// `--idle-timeout` and `--write-timeout`, kept by [`Deadline`].
    pub(crate) idle: std::time::Duration,
    pub(crate) write: std::time::Duration,
}

pub(crate) struct Conn<A: App, I> {
    io: Deadline<I>,
    /// The streams open, for the idle timeout of `io`.
    busy: Busy,
    pipeline: Arc<Pipeline<A>>,
    peer: SocketAddr,
    max_head: usize,
    rbuf: Box<[u8]>,
    rstart: usize,
    rend: usize,
    wbuf: Vec<u8>,
    wpos: usize,
    need_flush: bool,
    /// The client's preface is still to be read.
    preface: bool,
    /// The client's first frame, which must be SETTINGS, is still to come.
    first_frame: bool,
    decoder: hpack::Decoder,
    encoder: hpack::Encoder,
    /// The previous request's fields, reused by the next (see [`Memo`]).
    memo: Memo,
    block: Vec<u8>,
    streams: Vec<Stream>,
    /// Where the last DATA round stopped, for round-robin among streams.
    turn: usize,
    /// Answers not polled yet: most are ready at once and never wait in
    /// [`Conn::answers`].
    fresh: Vec<Answer>,
    answers: FuturesUnordered<Answer>,
    continuing: Option<Continuing>,
    last_stream: u32,
    peer_window: i64,
    send_window: i64,
    /// Bytes of DATA read and not yet given back with a WINDOW_UPDATE.
    unacked: u32,
    resets: u64,
    finished: u64,
    /// A graceful shutdown was announced: the first GOAWAY (every stream
    /// still welcome) and its PING are sent; the final GOAWAY follows the
    /// PING's ACK.
    announced: bool,
    /// The final GOAWAY was sent: no new streams; close once the open ones end.
    draining: bool,
    /// A connection error: the GOAWAY is in the buffer; close once it is out.
    failed: bool,
    /// The client sent GOAWAY or closed its side.
    peer_done: bool,
}

impl<A: App, I: AsyncRead + AsyncWrite + Unpin> Conn<A, I> {
    /// A connection over `io`; `preface` says whether the client's preface
    /// is still to be read (h2c's was read to tell it from HTTP/1.1).
    pub(crate) fn new(
        io: Deadline<I>,
        busy: Busy,
        pipeline: Arc<Pipeline<A>>,
        peer: SocketAddr,
        limits: &Limits,
        preface: bool,
    ) -> Self {
        let mut wbuf = pool::take();
        // RFC 9113 §3.4: the server's preface is a SETTINGS frame.
        frame::settings(
            &mut wbuf,
            &[
                (frame::setting::MAX_CONCURRENT_STREAMS, MAX_STREAMS as u32),
                (
                    frame::setting::MAX_HEADER_LIST_SIZE,
                    u32::try_from(list_limit(limits.max_head)).unwrap_or(u32::MAX),
                ),
            ],
        );
        Conn {
            io,
            busy,
            pipeline,
            peer,
            max_head: limits.max_head,
            rbuf: Box::default(),
            rstart: 0,
            rend: 0,
            wbuf,
            wpos: 0,
            need_flush: false,
            preface,
            first_frame: true,
            decoder: hpack::Decoder::new(4096),
            encoder: hpack::Encoder::new(),
            memo: Memo::default(),
            block: Vec::new(),
            streams: Vec::new(),
            turn: 0,
            fresh: Vec::new(),
            answers: FuturesUnordered::new(),
            continuing: None,
            last_stream: 0,
            peer_window: frame::DEFAULT_WINDOW,
            send_window: frame::DEFAULT_WINDOW,
            unacked: 0,
            resets: 0,
            finished: 0,
            announced: false,
            draining: false,
            failed: false,
            peer_done: false,
        }
    }

    /// Begins a graceful shutdown (RFC 9113 §6.8): a GOAWAY with the last
    /// stream 2^31-1 tells the client to open no more streams, while the
    /// requests it sent before reading it are still served; a PING marks
    /// the round trip, and its ACK brings the final GOAWAY
    /// ([`Conn::close_streams`]). A client that never answers the PING is
    /// closed by the caller's bound on that wait.
    pub(crate) fn drain(&mut self) {
        if !self.announced && !self.draining && !self.failed {
            self.announced = true;
            frame::goaway(&mut self.wbuf, 0x7fff_ffff, Code::NoError);
            frame::ping(&mut self.wbuf, DRAIN_PING);
        }
    }

    /// The final GOAWAY (RFC 9113 §6.8), with the last stream taken: the
    /// open streams are answered, later ones are not, then the connection
    /// closes.
    pub(crate) fn close_streams(&mut self) {
        if !self.draining && !self.failed {
            self.draining = true;
            frame::goaway(&mut self.wbuf, self.last_stream, Code::NoError);
        }
    }

    /// Shuts the connection down after the loop.
    pub(crate) async fn shutdown(&mut self) {
        use tokio::io::AsyncWriteExt as _;
        if self.wpos < self.wbuf.len() {
            let _ = self.io.write_all(&self.wbuf[self.wpos..]).await;
        }
        let _ = self.io.shutdown().await;
    }

    /// Drives the connection until it is done.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.wbuf.capacity() == 0 {
            self.wbuf = pool::take();
            start_aligned(&mut self.wbuf, &mut self.wpos, 0);
        }
        loop {
            let mut progress = false;
            if !self.fresh.is_empty() {
                let mut fresh = std::mem::take(&mut self.fresh);
                for mut answer in fresh.drain(..) {
                    match answer.as_mut().poll(cx) {
                        Poll::Ready((id, res, pending)) => self.respond(id, res, pending),
                        Poll::Pending => self.answers.push(answer),
                    }
                }
                self.fresh = fresh;
                progress = true;
            }
            while let Poll::Ready(Some((id, res, pending))) = self.answers.poll_next_unpin(cx) {
                self.respond(id, res, pending);
                progress = true;
            }
            progress |= self.make_data(cx);
            if self.wpos < self.wbuf.len() {
                match Pin::new(&mut self.io).poll_write(cx, &self.wbuf[self.wpos..]) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => {
                        self.wpos += n;
                        progress = true;
                        if self.wpos == self.wbuf.len() {
                            self.need_flush = true;
                            if self.wbuf.capacity() > 4 * HIGH_WATER {
                                self.wbuf = pool::take();
                            }
                            start_aligned(&mut self.wbuf, &mut self.wpos, 0);
                        }
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {}
                }
            } else if self.need_flush {
                match Pin::new(&mut self.io).poll_flush(cx) {
                    Poll::Ready(Ok(())) => self.need_flush = false,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {}
                }
            }
            let done_reading = self.failed || self.peer_done;
            if !done_reading && self.wbuf.len() - self.wpos < HIGH_WATER {
                if self.rstart == self.rend {
                    self.rstart = 0;
                    self.rend = 0;
                } else if self.rend == self.rbuf.len() {
                    self.rbuf.copy_within(self.rstart..self.rend, 0);
                    self.rend -= self.rstart;
                    self.rstart = 0;
                }
                if self.rbuf.is_empty() {
                    self.rbuf = spare::take();
                }
                let mut buf = ReadBuf::new(&mut self.rbuf[self.rend..]);
                match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
                    Poll::Ready(Ok(())) => {
                        let n = buf.filled().len();
                        if n == 0 {
                            self.peer_done = true;
                        } else {
                            self.rend += n;
                            self.frames();
                        }
                        progress = true;
                    }
                    Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::TimedOut => {
                        if !self.streams.is_empty() || self.draining {
                            return Poll::Ready(Err(e));
                        }
                        // Idle: say goodbye before closing.
                        self.close_streams();
                        self.peer_done = true;
                        progress = true;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {}
                }
            }
            let ending = self.failed || self.draining || self.peer_done;
            if ending
                && (self.failed
                    || (self.streams.is_empty()
                        && self.fresh.is_empty()
                        && self.answers.is_empty()))
                && self.wpos == self.wbuf.len()
                && !self.need_flush
            {
                return Poll::Ready(Ok(()));
            }
            if !progress {
                self.rest();
                return Poll::Pending;
            }
        }
    }

    /// Between rounds, when nothing is in flight: the buffers go back to the
    /// worker's spares, so that connections that wait for their client hold
    /// none (as the HTTP/1.1 fast path does between requests).
    fn rest(&mut self) {
        let quiet = self.streams.is_empty()
            && self.fresh.is_empty()
            && self.answers.is_empty()
            && self.continuing.is_none()
            && self.wpos == self.wbuf.len()
            && self.rstart == self.rend;
        if quiet {
            spare::give(std::mem::take(&mut self.rbuf));
            (self.rstart, self.rend, self.wpos) = (0, 0, 0);
            pool::give(std::mem::take(&mut self.wbuf));
        }
    }

    /// A connection error (RFC 9113 §5.4.1): GOAWAY, and nothing more.
    fn fail(&mut self, code: Code) {
        if self.failed {
            return;
        }
        tracing::debug!(?code, "h2 connection error");
        self.failed = true;
        for s in std::mem::take(&mut self.streams) {
            self.end(s);
        }
        self.fresh.clear();
        self.answers = FuturesUnordered::new();
        frame::goaway(&mut self.wbuf, self.last_stream, code);
    }

    /// A stream error (RFC 9113 §5.4.2): RST_STREAM, and the stream is gone.
    fn reset(&mut self, id: u32, code: Code) {
        frame::rst_stream(&mut self.wbuf, id, code);
        if let Some(i) = self.find(id) {
            let s = self.streams.swap_remove(i);
            self.end(s);
        }
    }

    fn find(&self, id: u32) -> Option<usize> {
        self.streams.iter().position(|s| s.id == id)
    }

    /// Records a stream that ended, however it ended.
    fn end(&mut self, s: Stream) {
        if let Some((p, status)) = s.record {
            let sent = Sent {
                bytes: s.sent,
                zero_copy: false,
            };
            self.pipeline.observer.finish(p, self.peer, status, sent);
        }
    }

    /// Handles every whole frame in the read buffer.
    fn frames(&mut self) {
        if self.preface {
            let have = &self.rbuf[self.rstart..self.rend];
            let n = have.len().min(frame::PREFACE.len());
            if have[..n] != frame::PREFACE[..n] {
                // RFC 9113 §3.4: not HTTP/2.
                self.fail(Code::Protocol);
                return;
            }
            if n < frame::PREFACE.len() {
                return;
            }
            self.rstart += n;
            self.preface = false;
        }
        while !self.failed {
            let have = &self.rbuf[self.rstart..self.rend];
            let Some(h) = Head::parse(have) else { break };
            // §4.2: larger than SETTINGS_MAX_FRAME_SIZE (ferry's is the default).
            if h.len > frame::DEFAULT_MAX_FRAME {
                self.fail(Code::FrameSize);
                break;
            }
            if have.len() < frame::HEAD + h.len {
                break;
            }
            let start = self.rstart + frame::HEAD;
            self.rstart = start + h.len;
            // The payload is copied out of the read buffer only for header
            // blocks split across frames; everything else borrows it.
            let rbuf = std::mem::take(&mut self.rbuf);
            self.frame(h, &rbuf[start..start + h.len]);
            self.rbuf = rbuf;
        }
        if self.unacked > 0 && !self.failed {
            // What DATA took from the connection's window is given back at
            // once: ferry's applications do not read request bodies here.
            frame::window_update(&mut self.wbuf, 0, self.unacked);
            self.unacked = 0;
        }
    }

    fn frame(&mut self, h: Head, payload: &[u8]) {
        if std::mem::take(&mut self.first_frame) && h.kind != kind::SETTINGS {
            // §3.4: the client preface ends with a SETTINGS frame.
            return self.fail(Code::Protocol);
        }
        if let Some(c) = &self.continuing {
            // §6.10: a header block is contiguous, nothing in between.
            if h.kind != kind::CONTINUATION || h.stream != c.stream {
                return self.fail(Code::Protocol);
            }
        }
        match h.kind {
            kind::DATA => self.data(h, payload),
            kind::HEADERS => self.headers(h, payload),
            kind::PRIORITY => {
                if h.stream == 0 {
                    return self.fail(Code::Protocol);
                }
                if h.len != 5 {
                    return self.reset(h.stream, Code::FrameSize);
                }
                if frame::dependency(payload) == Some(h.stream) {
                    // §5.3.1 of RFC 7540: a stream cannot depend on itself.
                    self.reset(h.stream, Code::Protocol);
                }
            }
            kind::RST_STREAM => {
                if h.stream == 0 {
                    return self.fail(Code::Protocol);
                }
                if h.len != 4 {
                    return self.fail(Code::FrameSize);
                }
                if self.idle(h.stream) {
                    return self.fail(Code::Protocol);
                }
                if let Some(i) = self.find(h.stream) {
                    let s = self.streams.swap_remove(i);
                    self.end(s);
                    // CVE-2023-44487: streams opened and reset at once
                    // cost ferry work the client does not wait for.
                    self.resets += 1;
                    if self.resets > FREE_RESETS + self.finished {
                        self.fail(Code::EnhanceYourCalm);
                    }
                }
            }
            kind::SETTINGS => self.settings(h, payload),
            kind::PUSH_PROMISE => self.fail(Code::Protocol),
            kind::PING => {
                if h.stream != 0 {
                    return self.fail(Code::Protocol);
                }
                if h.len != 8 {
                    return self.fail(Code::FrameSize);
                }
                if !h.has(flag::ACK) {
                    frame::ping_ack(&mut self.wbuf, payload);
                } else if self.announced && payload == DRAIN_PING {
                    // A round trip after the first GOAWAY: every stream
                    // the client opened before it has arrived.
                    self.close_streams();
                }
            }
            kind::GOAWAY => {
                if h.stream != 0 {
                    return self.fail(Code::Protocol);
                }
                if h.len < 8 {
                    return self.fail(Code::FrameSize);
                }
                self.peer_done = true;
            }
            kind::WINDOW_UPDATE => self.window_update(h, payload),
            kind::CONTINUATION => self.continuation(h, payload),
            // §5.5: unknown frame types are ignored.
            _ => {}
        }
    }

    /// A stream the client has not opened yet (§5.1: "idle").
    fn idle(&self, id: u32) -> bool {
        id > self.last_stream
    }

    fn settings(&mut self, h: Head, payload: &[u8]) {
        use frame::setting;
        if h.stream != 0 {
            return self.fail(Code::Protocol);
        }
        if h.has(flag::ACK) {
            if h.len != 0 {
                self.fail(Code::FrameSize);
            }
            return;
        }
        if h.len % 6 != 0 {
            return self.fail(Code::FrameSize);
        }
        for p in payload.chunks_exact(6) {
            let id = u16::from_be_bytes([p[0], p[1]]);
            let v = u32::from_be_bytes([p[2], p[3], p[4], p[5]]);
            match id {
                setting::HEADER_TABLE_SIZE => self.encoder.set_max_table_size(v as usize),
                setting::ENABLE_PUSH if v > 1 => return self.fail(Code::Protocol),
                setting::INITIAL_WINDOW_SIZE => {
                    let v = i64::from(v);
                    if v > frame::MAX_WINDOW {
                        return self.fail(Code::FlowControl);
                    }
                    // §6.9.2: the change applies to every open stream.
                    let delta = v - self.peer_window;
                    self.peer_window = v;
                    for s in &mut self.streams {
                        s.send_window += delta;
                        if s.send_window > frame::MAX_WINDOW {
                            return self.fail(Code::FlowControl);
                        }
                    }
                }
                // A larger maximum is accepted and not used: larger DATA
                // frames save nothing once TLS cuts them into 16 KiB records.
                setting::MAX_FRAME_SIZE if !(16_384..=16_777_215).contains(&v) => {
                    return self.fail(Code::Protocol);
                }
                _ => {}
            }
        }
        frame::settings_ack(&mut self.wbuf);
    }

    fn window_update(&mut self, h: Head, payload: &[u8]) {
        if h.len != 4 {
            return self.fail(Code::FrameSize);
        }
        let inc = i64::from(frame::word(payload) & 0x7fff_ffff);
        if h.stream == 0 {
            if inc == 0 {
                return self.fail(Code::Protocol);
            }
            self.send_window += inc;
            if self.send_window > frame::MAX_WINDOW {
                self.fail(Code::FlowControl);
            }
            return;
        }
        if self.idle(h.stream) {
            return self.fail(Code::Protocol);
        }
        if inc == 0 {
            return self.reset(h.stream, Code::Protocol);
        }
        if let Some(i) = self.find(h.stream) {
            let s = &mut self.streams[i];
            s.send_window += inc;
            if s.send_window > frame::MAX_WINDOW {
                self.reset(h.stream, Code::FlowControl);
            }
        }
    }

    fn data(&mut self, h: Head, payload: &[u8]) {
        if h.stream == 0 || self.idle(h.stream) {
            return self.fail(Code::Protocol);
        }
        // §6.9.1: the whole payload, padding included, counts.
        let len = h.len as u32;
        self.unacked += len;
        if frame::unpad(&h, payload).is_none() {
            return self.fail(Code::Protocol);
        }
        let Some(i) = self.find(h.stream) else {
            // A stream ferry closed (answered, or reset): DATA may still be
            // on its way; ignored.
            return;
        };
        let s = &mut self.streams[i];
        if !s.recv_open {
            return self.reset(h.stream, Code::StreamClosed);
        }
        // The stream's window is given back with every frame, so it never
        // falls below the initial 65,535 less one frame of at most 16,384
        // bytes: a client cannot overrun it (§6.9.1).
        if h.has(flag::END_STREAM) {
            s.recv_open = false;
            if matches!(s.out, Out::Done) {
                let s = self.streams.swap_remove(i);
                self.end(s);
            }
        } else if len > 0 {
            frame::window_update(&mut self.wbuf, h.stream, len);
        }
    }

    fn headers(&mut self, h: Head, payload: &[u8]) {
        if h.stream == 0 || h.stream % 2 == 0 {
            // §5.1.1: client streams are odd.
            return self.fail(Code::Protocol);
        }
        let Some(mut block) = frame::unpad(&h, payload) else {
            return self.fail(Code::Protocol);
        };
        let mut refuse = None;
        if h.has(flag::PRIORITY) {
            let Some(dep) = frame::dependency(block).filter(|_| block.len() >= 5) else {
                return self.fail(Code::FrameSize);
            };
            if dep == h.stream {
                refuse = Some(Code::Protocol);
            }
            block = &block[5..];
        }
        let end_stream = h.has(flag::END_STREAM);
        if h.has(flag::END_HEADERS) {
            self.block(h.stream, end_stream, refuse, block);
        } else {
            self.continuing = Some(Continuing {
                stream: h.stream,
                end_stream,
                refuse,
                block: block.to_vec(),
            });
        }
    }

    fn continuation(&mut self, h: Head, payload: &[u8]) {
        let Some(c) = &mut self.continuing else {
            // §6.10: CONTINUATION only follows a header block's frame.
            return self.fail(Code::Protocol);
        };
        // CVE-2024-27316: a header block is bounded before it is kept.
        if c.block.len() + payload.len() > block_limit(self.max_head) {
            return self.fail(Code::EnhanceYourCalm);
        }
        c.block.extend_from_slice(payload);
        if h.has(flag::END_HEADERS) {
            let Some(c) = self.continuing.take() else {
                return;
            };
            self.block(c.stream, c.end_stream, c.refuse, &c.block);
        }
    }

    /// A whole header block on stream `id`.
    fn block(&mut self, id: u32, end_stream: bool, refuse: Option<Code>, block: &[u8]) {
        let mut fields = Fields::new(list_limit(self.max_head), &mut self.memo);
        // The block is decoded even when the stream is refused: the
        // decoder's table must follow the client's (RFC 7541 §2.2).
        if self
            .decoder
            .decode(block, |n, v| fields.field(n, v))
            .is_err()
        {
            return self.fail(Code::Compression);
        }
        let built = fields.request::<ReqBody>();
        if !self.idle(id) {
            return match self.find(id) {
                // §8.1: trailers end the request; ferry does not use them.
                Some(i) if self.streams[i].recv_open => {
                    if !end_stream {
                        return self.reset(id, Code::Protocol);
                    }
                    self.streams[i].recv_open = false;
                    if matches!(self.streams[i].out, Out::Done) {
                        let s = self.streams.swap_remove(i);
                        self.end(s);
                    }
                }
                Some(_) => self.reset(id, Code::StreamClosed),
                // §5.1.1: a stream identifier cannot be reused.
                None => self.fail(Code::StreamClosed),
            };
        }
        self.last_stream = id;
        if self.draining {
            // §6.8: streams after the GOAWAY's last one are not processed.
            return;
        }
        if let Some(code) = refuse {
            return self.reset(id, code);
        }
        if self.streams.len() >= MAX_STREAMS {
            // §5.1.2: beyond SETTINGS_MAX_CONCURRENT_STREAMS.
            frame::rst_stream(&mut self.wbuf, id, Code::RefusedStream);
            return;
        }
        let stream = Stream {
            id,
            recv_open: !end_stream,
            send_window: self.peer_window,
            head: false,
            out: Out::Waiting,
            record: None,
            sent: 0,
            _busy: self.busy.enter(),
        };
        match built {
            Ok(mut req) => {
                let mut stream = stream;
                stream.head = req.method() == Method::HEAD;
                self.streams.push(stream);
                let pipeline = self.pipeline.clone();
                let peer = self.peer;
                self.fresh.push(Box::pin(async move {
                    let mut app = pipeline.app.conn();
                    let (res, pending) = pipeline.respond(&mut app, &mut req, peer, None).await;
                    (id, res, pending)
                }));
            }
            Err(Refused::Malformed(why)) => {
                tracing::debug!(why, "malformed HTTP/2 request");
                self.reset(id, Code::Protocol);
            }
            Err(Refused::TooLarge) => {
                self.streams.push(stream);
                let status = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
                self.pipeline.observer.reject(self.peer, status.as_u16(), 0);
                // The same answer as the pipeline's own 431.
                self.respond(id, crate::answer::closing(status), None);
            }
        }
    }

    /// The pipeline's answer for stream `id`: its HEADERS, and its body
    /// from then on as the windows allow.
    fn respond(&mut self, id: u32, res: Response<Body>, pending: Option<Pending>) {
        let status = res.status();
        let Some(i) = self.find(id) else {
            // Reset by the client meanwhile.
            if let Some(p) = pending {
                let sent = Sent::default();
                self.pipeline
                    .observer
                    .finish(p, self.peer, status.as_u16(), sent);
            }
            return;
        };
        let (parts, body) = res.into_parts();
        let s = &mut self.streams[i];
        s.record = pending.map(|p| (p, status.as_u16()));
        let no_body = s.head
            || status == StatusCode::NOT_MODIFIED
            || status == StatusCode::NO_CONTENT
            || status.is_informational();
        let exact = http_body::Body::size_hint(&body).exact();
        self.block.clear();
        self.encoder.status(status.as_u16(), &mut self.block);
        for (name, value) in &parts.headers {
            // §8.2.2: connection-specific fields are not HTTP/2's.
            if crate::pipeline::connection_specific(name) {
                continue;
            }
            self.encoder.header(name, value, &mut self.block);
        }
        if !no_body && !parts.headers.contains_key(http::header::CONTENT_LENGTH) {
            if let Some(n) = exact {
                let mut b = [0; 20];
                self.encoder
                    .field(b"content-length", decimal(n, &mut b), &mut self.block);
            }
        }
        ferry::recycle_headers(parts.headers);
        let end = no_body || exact == Some(0);
        frame::headers(
            &mut self.wbuf,
            id,
            &self.block,
            end,
            frame::DEFAULT_MAX_FRAME,
        );
        let s = &mut self.streams[i];
        if end {
            s.out = Out::Done;
            self.sent_all(i);
        } else {
            let at = body.as_file().map_or(0, |(_, r)| r.start);
            s.out = Out::Body {
                body,
                at,
                chunk: Bytes::new(),
            };
        }
    }

    /// Stream `i` sent its last frame.
    fn sent_all(&mut self, i: usize) {
        self.finished += 1;
        let s = self.streams.swap_remove(i);
        if s.recv_open {
            // §8.1: the response is complete while the request is not; the
            // client may stop sending it.
            frame::rst_stream(&mut self.wbuf, s.id, Code::NoError);
        }
        self.end(s);
    }

    /// Makes DATA frames for the streams that have a body and window, in
    /// turn, until the buffer is full; whether any was made.
    fn make_data(&mut self, cx: &mut Context<'_>) -> bool {
        let mut made = false;
        let mut blocked = 0;
        while !self.streams.is_empty()
            && self.send_window > 0
            && self.wbuf.len() - self.wpos < HIGH_WATER
            && blocked < self.streams.len()
        {
            let i = self.turn % self.streams.len();
            self.turn = self.turn.wrapping_add(1);
            match self.data_frame(i, cx) {
                Some(true) => {
                    made = true;
                    blocked = 0;
                }
                Some(false) => blocked += 1,
                None => {
                    made = true;
                    blocked = 0;
                }
            }
        }
        made
    }

    /// One DATA frame of stream `i`: `Some(true)` made one, `Some(false)`
    /// nothing to send now, `None` the stream is gone (ended or failed).
    fn data_frame(&mut self, i: usize, cx: &mut Context<'_>) -> Option<bool> {
        let room = self
            .send_window
            .min(self.streams[i].send_window)
            .min(frame::DEFAULT_MAX_FRAME as i64);
        if room <= 0 {
            return Some(false);
        }
        let room = room as usize;
        let s = &mut self.streams[i];
        let id = s.id;
        let Out::Body { body, at, chunk } = &mut s.out else {
            return Some(false);
        };
        if let Some((file, range)) = body.as_file() {
            let left = range.end - *at;
            let n = (left.min(room.min(RECORD_DATA) as u64)) as usize;
            let last = n as u64 == left;
            if self.wpos == self.wbuf.len() && left >= 4 * RECORD_DATA as u64 {
                // Room for a full buffer, so that it does not move (and lose
                // its alignment) while DATA is made.
                let room = HIGH_WATER + frame::DEFAULT_MAX_FRAME + frame::HEAD + ALIGN;
                start_aligned(&mut self.wbuf, &mut self.wpos, room);
            }
            let start = self.wbuf.len();
            frame::head(
                &mut self.wbuf,
                n,
                kind::DATA,
                if last { flag::END_STREAM } else { 0 },
                id,
            );
            let from = self.wbuf.len();
            self.wbuf.resize(from + n, 0);
            if crate::h1::read_exact_at(file, &mut self.wbuf[from..], *at).is_err() {
                // The file shrank or failed: the declared length cannot be met.
                self.wbuf.truncate(start);
                self.reset(id, Code::Internal);
                return None;
            }
            *at += n as u64;
            return self.sent_data(i, n, last);
        }
        if chunk.is_empty() {
            match http_body::Body::poll_frame(Pin::new(&mut *body), cx) {
                Poll::Pending => return Some(false),
                Poll::Ready(Some(Ok(f))) => {
                    if let Ok(d) = f.into_data() {
                        *chunk = d;
                    }
                    if chunk.is_empty() && !http_body::Body::is_end_stream(body) {
                        return Some(true);
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    tracing::debug!(error = %e, "response body failed");
                    self.reset(id, Code::Internal);
                    return None;
                }
                Poll::Ready(None) => {
                    frame::head(&mut self.wbuf, 0, kind::DATA, flag::END_STREAM, id);
                    s.out = Out::Done;
                    self.sent_all(i);
                    return None;
                }
            }
        }
        let n = chunk.len().min(room);
        let last = n == chunk.len() && http_body::Body::is_end_stream(body);
        let fl = if last { flag::END_STREAM } else { 0 };
        frame::head(&mut self.wbuf, n, kind::DATA, fl, id);
        self.wbuf.extend_from_slice(&chunk.split_to(n));
        self.sent_data(i, n, last)
    }

    /// Stream `i` made a DATA frame of `n` bytes: the windows shrink; the
    /// stream is done after its `last`. What [`Conn::data_frame`] returns.
    fn sent_data(&mut self, i: usize, n: usize, last: bool) -> Option<bool> {
        let s = &mut self.streams[i];
        s.sent += n as u64;
        s.send_window -= n as i64;
        self.send_window -= n as i64;
        if last {
            s.out = Out::Done;
            self.sent_all(i);
            return None;
        }
        Some(true)
    }
}

/// Each worker's spare read buffers (as [`pool`] keeps write buffers).
mod spare {
    use std::cell::RefCell;

    const KEEP: usize = 16;

    thread_local! {
        static FREE: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn take() -> Box<[u8]> {
        FREE.with(|f| f.borrow_mut().pop())
            .unwrap_or_else(|| vec![0; super::READ_BUF].into_boxed_slice())
    }

    pub(super) fn give(buf: Box<[u8]>) {
        if buf.len() == super::READ_BUF {
            FREE.with(|f| {
                let mut f = f.borrow_mut();
                if f.len() < KEEP {
                    f.push(buf);
                }
            });
        }
    }
}

/// The largest decoded field section kept (RFC 7541 §4.1 sizes): above
/// `--max-header-bytes` so that the pipeline answers 431 as on every other
/// protocol, bounded so that an HPACK bomb is not.
fn list_limit(max_head: usize) -> usize {
    max_head.saturating_mul(2).max(16 * 1024)
}

/// The largest header block (HEADERS and its CONTINUATION frames) kept.
fn block_limit(max_head: usize) -> usize {
    list_limit(max_head) + frame::DEFAULT_MAX_FRAME
}

/// `n` in decimal, without allocating.
fn decimal(n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    let mut n = n;
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn decimal_rfc_9110_8_6() {
        for n in [0, 7, 10, 1024, u64::MAX] {
            let mut b = [0; 20];
            assert_eq!(super::decimal(n, &mut b), n.to_string().as_bytes());
        }
    }

    #[test]
    fn an_aligned_write_starts_at_its_offset_with_nothing_pending() {
        use super::{frame, start_aligned, ALIGN, HIGH_WATER, WRITE_ALIGN};
        let full = HIGH_WATER + frame::DEFAULT_MAX_FRAME + frame::HEAD + ALIGN;
        for cap in [0, 1, 2048, 100_000, 1 << 20] {
            for room in [0, full] {
                let mut wbuf = Vec::with_capacity(cap);
                wbuf.extend_from_slice(b"written");
                let mut wpos = wbuf.len();
                start_aligned(&mut wbuf, &mut wpos, room);
                assert_eq!(wpos, wbuf.len(), "nothing is pending");
                assert!(wpos < ALIGN);
                assert_eq!((wbuf.as_ptr() as usize + wpos) % ALIGN, WRITE_ALIGN);
                if room > 0 {
                    let at = wbuf.as_ptr();
                    wbuf.resize(room, 1);
                    assert_eq!(wbuf.as_ptr(), at, "the room reserved does not move it");
                }
            }
        }
    }
}
