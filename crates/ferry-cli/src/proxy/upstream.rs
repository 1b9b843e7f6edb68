//! `ferry proxy`'s HTTP/1.1 client for its one upstream (RFC 9112): each
//! worker keeps its own idle keep-alive connections (nginx's upstream
//! `keepalive`), writes a request head and its body, and reads the response
//! head with httparse and the body with the same framing decoder as the fast
//! path's request bodies. No task, channel or lock per request.
use super::spool::Held;
use crate::framing::{Decoder, Fields, Framing};
use crate::reqbody::ReqBody;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};
use http_body_util::BodyExt as _;
use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Idle upstream connections kept per worker, and for how long.
const MAX_IDLE: usize = 64;
const IDLE_FOR: Duration = Duration::from_secs(30);
/// How long a connection may have been idle to carry a request that is not
/// retried (see [`Upstream::send`]).
const FRESH: Duration = Duration::from_secs(1);
/// Largest response head accepted from the upstream.
const MAX_HEAD: usize = 64 * 1024;
/// Most header fields in a response head.
const MAX_FIELDS: usize = 128;
/// Request bodies up to this size are written with their head in one call.
const WITH_HEAD: usize = 16 * 1024;

thread_local! {
    static IDLE: RefCell<Vec<(TcpStream, Instant)>> = const { RefCell::new(Vec::new()) };
}

/// Where requests go.
pub(super) struct Upstream {
    addr: SocketAddr,
    timeout: Duration,
}

/// What is sent as the request body.
pub(super) enum Outgoing {
    Empty,
    Held(Held),
    /// The client's, streamed on (`--no-request-buffering`), up to a size.
    Stream(ReqBody, Option<u64>),
}

/// Why no response came.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No connection, or it broke (502).
    Io(io::Error),
    /// No response head within the timeout (504).
    Timeout,
    /// An answer that is not HTTP/1.x as a server must send it (502).
    Protocol(&'static str),
    /// The client's body, streamed on, failed (400).
    ClientBody,
    /// The client's body, streamed on, outgrew `--max-body-size` (413).
    TooLarge,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Io(e) => write!(f, "{e}"),
            Failure::Timeout => f.write_str("no response in time"),
            Failure::Protocol(why) => f.write_str(why),
            Failure::ClientBody => f.write_str("the client's request body failed"),
            Failure::TooLarge => f.write_str("the client's request body is too large"),
        }
    }
}

impl Failure {
    /// The `kind` label of `ferry_upstream_errors_total`.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Failure::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused => "refused",
            Failure::Io(_) => "reset",
            Failure::Timeout => "timeout",
            Failure::Protocol(_) => "protocol",
            Failure::ClientBody | Failure::TooLarge => "client",
        }
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::TimedOut {
            Failure::Timeout
        } else {
            Failure::Io(e)
        }
    }
}

/// A response head from the upstream, and its body still on the connection.
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: UpstreamBody,
}

impl Upstream {
    /// The upstream at `addr`; `timeout` bounds the connect, the wait for the
    /// response head and each read of its body.
    pub(super) fn new(addr: SocketAddr, timeout: Duration) -> Self {
        Upstream { addr, timeout }
    }

    /// Sends a request and reads the response head.
    ///
    /// A kept connection the upstream closed while it was idle shows as a
    /// reset or an end before any answer; the request is then sent again on
    /// a new connection, but only when it is idempotent (RFC 9110 §9.2.2):
    /// the same signs follow an app that read a POST and died, which must
    /// never see it twice (as nginx, which retries no POST once sent). A
    /// non-idempotent request therefore reuses only a connection idle for
    /// less than [`FRESH`], well inside app servers' keep-alive (gunicorn's
    /// is 2 s), and fails with 502 in the rare race that remains.
    pub(super) async fn send(
        &self,
        method: &Method,
        target: &str,
        headers: &HeaderMap,
        mut body: Outgoing,
    ) -> Result<Answer, Failure> {
        let head = request_head(method, target, headers, &body);
        let retry = method.is_idempotent() && !matches!(body, Outgoing::Stream(..));
        let max_idle = if method.is_idempotent() {
            IDLE_FOR
        } else {
            FRESH
        };
        if let Some(conn) = take_idle(max_idle) {
            match self.exchange(conn, &head, method, &mut body).await {
                Err(Attempt::Unanswered(_)) if retry => {}
                Err(Attempt::Unanswered(f) | Attempt::Failed(f)) => return Err(f),
                Ok(a) => return Ok(a),
            }
        }
        let conn = tokio::time::timeout(self.timeout, TcpStream::connect(self.addr))
            .await
            .map_err(|_| Failure::Timeout)??;
        let _ = conn.set_nodelay(true);
        match self.exchange(conn, &head, method, &mut body).await {
            Ok(a) => Ok(a),
            Err(Attempt::Unanswered(f) | Attempt::Failed(f)) => Err(f),
        }
    }

    async fn exchange(
        &self,
        mut conn: TcpStream,
        head: &[u8],
        method: &Method,
        body: &mut Outgoing,
    ) -> Result<Answer, Attempt> {
        // An app may answer before it has read the whole body (a 403, a
        // 413) and close: a write that fails is followed by a look for that
        // answer before giving up.
        let wrote = write_request(&mut conn, head, body, self.timeout).await;
        let write_failed = match wrote {
            Ok(()) => None,
            Err(Failure::Io(e)) => Some(e),
            Err(f) => return Err(Attempt::Failed(f)),
        };
        let wait = match write_failed {
            Some(_) => self.timeout.min(Duration::from_secs(1)),
            None => self.timeout,
        };
        let unanswered = |e: io::Error| match e.kind() {
            io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::UnexpectedEof => Attempt::Unanswered(Failure::Io(e)),
            _ => Attempt::Failed(e.into()),
        };
        let mut buf = Vec::with_capacity(4096);
        loop {
            let read = tokio::time::timeout(wait, conn.read_buf(&mut buf)).await;
            match read {
                Ok(Ok(n)) if n > 0 => {}
                // Nothing at all came back: the request may not have reached
                // the app (see `send`).
                Ok(Ok(_)) | Ok(Err(_)) if buf.is_empty() => {
                    let e = match (read, write_failed) {
                        (_, Some(e)) => e,
                        (Ok(Err(e)), None) => e,
                        _ => io::ErrorKind::UnexpectedEof.into(),
                    };
                    return Err(unanswered(e));
                }
                Ok(Ok(_)) => {
                    return Err(Attempt::Failed(Failure::Protocol(
                        "the upstream closed mid-head",
                    )))
                }
                Ok(Err(e)) => return Err(Attempt::Failed(e.into())),
                Err(_) => match write_failed {
                    Some(e) => return Err(Attempt::Failed(e.into())),
                    None => return Err(Attempt::Failed(Failure::Timeout)),
                },
            }
            loop {
                match parse_head(&buf, method).map_err(Attempt::Failed)? {
                    Parsed::Partial if buf.len() > MAX_HEAD => {
                        return Err(Attempt::Failed(Failure::Protocol(
                            "the upstream's response head is too large",
                        )));
                    }
                    Parsed::Partial => break,
                    // 1xx before the final answer (RFC 9110 §15.2): skipped.
                    Parsed::Interim(used) => {
                        buf.drain(..used);
                    }
                    Parsed::Done(status, headers, framing, keep_alive, used) => {
                        return Ok(Answer {
                            status,
                            headers,
                            body: UpstreamBody {
                                conn: Some(conn),
                                buf,
                                pos: used,
                                decoder: Decoder::new(framing),
                                framing,
                                // After a failed write the connection is done.
                                keep_alive: keep_alive && write_failed.is_none(),
                                timeout: self.timeout,
                            },
                        });
                    }
                }
            }
        }
    }
}

enum Attempt {
    /// Nothing came back (an end or a reset before any byte): the request
    /// may or may not have reached the app.
    Unanswered(Failure),
    Failed(Failure),
}

/// An idle connection of this worker's, idle for less than `max`, if one is
/// still open.
fn take_idle(max: Duration) -> Option<TcpStream> {
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        while let Some((conn, since)) = idle.pop() {
            if since.elapsed() > max {
                continue;
            }
            // Open and quiet: a read would block. A FIN or stray bytes
            // mean it cannot carry a request.
            if matches!(conn.try_read(&mut [0u8; 1]), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            {
                return Some(conn);
            }
        }
        None
    })
}

fn give_idle(conn: TcpStream) {
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        // Connections past their time are closed here, not left in
        // CLOSE-WAIT under the newer ones until the next request finds them.
        idle.retain(|(_, since)| since.elapsed() < IDLE_FOR);
        if idle.len() < MAX_IDLE {
            idle.push((conn, Instant::now()));
        }
    });
}

/// `METHOD target HTTP/1.1`, the fields, and the framing of `body`.
fn request_head(method: &Method, target: &str, headers: &HeaderMap, body: &Outgoing) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match body {
        Outgoing::Held(h) => {
            out.extend_from_slice(format!("content-length: {}\r\n", h.len()).as_bytes());
        }
        Outgoing::Stream(b, _) => match http_body::Body::size_hint(b).exact() {
            Some(n) => out.extend_from_slice(format!("content-length: {n}\r\n").as_bytes()),
            None => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        },
        Outgoing::Empty => {
            if let Some(v) = headers.get(header::CONTENT_LENGTH) {
                out.extend_from_slice(b"content-length: ");
                out.extend_from_slice(v.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

async fn write_request(
    conn: &mut TcpStream,
    head: &[u8],
    body: &mut Outgoing,
    timeout: Duration,
) -> Result<(), Failure> {
    match body {
        Outgoing::Held(Held::Memory(b)) if b.len() <= WITH_HEAD => {
            let mut all = Vec::with_capacity(head.len() + b.len());
            all.extend_from_slice(head);
            all.extend_from_slice(b);
            write(conn, timeout, all.into()).await
        }
        Outgoing::Empty => write(conn, timeout, Bytes::copy_from_slice(head)).await,
        Outgoing::Held(held) => {
            write(conn, timeout, Bytes::copy_from_slice(head)).await?;
            let mut chunks = held.chunks();
            while let Some(c) = futures_util::StreamExt::next(&mut chunks).await {
                write(conn, timeout, c.map_err(Failure::Io)?).await?;
            }
            Ok(())
        }
        Outgoing::Stream(b, max) => {
            write(conn, timeout, Bytes::copy_from_slice(head)).await?;
            let chunked = http_body::Body::size_hint(b).exact().is_none();
            let mut total = 0u64;
            while let Some(frame) = b.frame().await {
                let frame = frame.map_err(|_| Failure::ClientBody)?;
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                if data.is_empty() {
                    continue;
                }
                total += data.len() as u64;
                if max.is_some_and(|m| total > m) {
                    // The upstream connection is dropped mid-body: the app
                    // never sees a complete request.
                    return Err(Failure::TooLarge);
                }
                if chunked {
                    let size = format!("{:x}\r\n", data.len());
                    write(conn, timeout, Bytes::from(size)).await?;
                    write(conn, timeout, data).await?;
                    write(conn, timeout, Bytes::from_static(b"\r\n")).await?;
                } else {
                    write(conn, timeout, data).await?;
                }
            }
            if chunked {
                write(conn, timeout, Bytes::from_static(b"0\r\n\r\n")).await?;
            }
            Ok(())
        }
    }
}

/// Writes `b` within `timeout`.
async fn write(conn: &mut TcpStream, timeout: Duration, b: Bytes) -> Result<(), Failure> {
    tokio::time::timeout(timeout, conn.write_all(&b))
        .await
        .map_err(|_| Failure::Timeout)?
        .map_err(Failure::Io)
}

/// What a look at the buffered bytes found.
pub(crate) enum Parsed {
    Partial,
    /// A 1xx of this many bytes.
    Interim(usize),
    /// The final head: status, fields, framing, whether the connection may
    /// be reused, and its length.
    Done(StatusCode, HeaderMap, Framing, bool, usize),
}

/// Parses a response head (RFC 9112 §4, §6.3) to a request of `method`.
pub(crate) fn parse_head(buf: &[u8], method: &Method) -> Result<Parsed, Failure> {
    let bad = |why| Failure::Protocol(why);
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut r = httparse::Response::new(&mut fields);
    let used = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(_) => return Err(bad("the upstream's response head is malformed")),
    };
    let code = r.code.unwrap_or(0);
    let status =
        StatusCode::from_u16(code).map_err(|_| bad("the upstream sent an invalid status"))?;
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Err(bad("the upstream switched protocols"));
    }
    if status.is_informational() {
        return Ok(Parsed::Interim(used));
    }
    let version = if r.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let mut headers = HeaderMap::with_capacity(r.headers.len());
    let mut fields = Fields::default();
    for f in r.headers.iter() {
        let name = HeaderName::from_bytes(f.name.as_bytes())
            .map_err(|_| bad("the upstream sent an invalid field name"))?;
        let value = HeaderValue::from_bytes(f.value)
            .map_err(|_| bad("the upstream sent an invalid field value"))?;
        fields
            .see(&name, f.value)
            .map_err(|()| bad("the upstream sent an invalid Content-Length"))?;
        headers.append(name, value);
    }
    let mut keep_alive = fields.persistent(version == Version::HTTP_11);
    // §6.1: a transfer coding other than chunked (`gzip`, `gzip, chunked`)
    // is one ferry cannot decode, and passing its bytes on without the
    // (hop-by-hop) field would hand the client coded bytes as content.
    if fields.te_lines > 0 && !fields.te_only_chunked {
        return Err(bad(
            "the upstream used a transfer coding other than chunked",
        ));
    }
    // §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing; the
    // connection is closed after it.
    if fields.te_lines > 0 && version == Version::HTTP_10 {
        keep_alive = false;
    }
    let (chunked, length) = (fields.te_lines > 0, fields.length);
    // §6.3: the framing, in the RFC's order.
    let no_body = method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let framing = match (no_body, chunked, length) {
        (true, _, _) => Framing::None,
        (false, true, _) => {
            // A length beside chunked is wrong and dropped (§6.3 item 3);
            // the connection is not reused after such a message.
            if length.is_some() {
                headers.remove(header::CONTENT_LENGTH);
                keep_alive = false;
            }
            Framing::Chunked
        }
        (false, false, Some(0)) => Framing::None,
        (false, false, Some(n)) => Framing::Length(n),
        (false, false, None) => {
            keep_alive = false;
            Framing::Close
        }
    };
    Ok(Parsed::Done(status, headers, framing, keep_alive, used))
}

/// A response body still on its upstream connection; read to its end, the
/// connection goes back to the worker's idle ones, dropped before, it closes.
pub(super) struct UpstreamBody {
    conn: Option<TcpStream>,
    buf: Vec<u8>,
    pos: usize,
    decoder: Decoder,
    framing: Framing,
    keep_alive: bool,
    timeout: Duration,
}

impl UpstreamBody {
    /// The length its framing declares, when it does.
    pub(super) fn len(&self) -> Option<u64> {
        self.framing.len()
    }

    /// The next piece of the body; `None` at its end.
    pub(super) async fn next(&mut self) -> Option<io::Result<Bytes>> {
        let conn = self.conn.as_mut()?;
        match self
            .decoder
            .next(conn, &mut self.buf, &mut self.pos, self.timeout)
            .await
        {
            Ok(Some(b)) => Some(Ok(b)),
            Ok(None) => {
                self.finish();
                None
            }
            Err(e) => {
                self.conn = None;
                Some(Err(e))
            }
        }
    }

    /// Reads the whole body.
    pub(super) async fn collect(mut self) -> io::Result<Bytes> {
        let mut out = Vec::with_capacity(self.len().unwrap_or(0) as usize);
        while let Some(piece) = self.next().await {
            out.extend_from_slice(&piece?);
        }
        Ok(out.into())
    }

    /// The body is not wanted (a hand-off): the connection is kept only when
    /// there is nothing to skip.
    pub(super) fn discard(mut self) {
        if self.len() == Some(0) {
            self.finish();
        }
    }

    /// The body as a response body, read as the client reads it.
    pub(super) fn into_body(self) -> ferry::Body {
        let stream = futures_util::stream::unfold(self, |mut b| async move {
            let piece = b.next().await?;
            Some((piece.map(http_body::Frame::data), b))
        });
        ferry::Body::new(http_body_util::StreamBody::new(stream))
    }

    fn finish(&mut self) {
        let conn = self.conn.take();
        // Bytes after the body (an upstream answering ahead) make the
        // connection unusable for the next request.
        if let Some(conn) = conn.filter(|_| self.keep_alive && self.pos == self.buf.len()) {
            give_idle(conn);
        }
    }
}

#[cfg(test)]
mod tests;
