//! Writing responses: the head formatted into the connection's buffer, small
//! file bodies read into it and written with the head in one call (over TLS,
//! sealed into one record up to 16 KiB), large ones sent with `sendfile(2)`
//! or read in chunks (TLS), other bodies copied (chunked when their length is
//! unknown), every wait bounded by `--write-timeout`.
use super::conn::Conn;
use super::pool;
use super::wire::Wire;
use crate::observe::{Pending, Sent};
use crate::pipeline::App;
use ferry::Body;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::BodyExt as _;
use std::io::{self, Write as _};

/// File bodies up to this size are read into the response buffer and written
/// with the head in one call; larger ones go out with `sendfile(2)`.
const INLINE_BODY: u64 = 32 * 1024;

/// What writing a response decided about its connection.
pub(super) struct Written {
    pub(super) sent: Sent,
    /// The connection stays open for the next request: the caller wanted
    /// it kept, the response did not say `Connection: close`, and its body
    /// is delimited without closing.
    pub(super) keep_alive: bool,
    /// The response said `Connection: close`.
    pub(super) closes: bool,
}

impl<A: App, W: Wire> Conn<'_, A, W> {
    /// Writes `res` (its head, and its body unless `head` or the status has
    /// none) and records it with the observer. A body that fails mid-way
    /// still gets its record, with the bytes sent, and ends the connection.
    pub(super) async fn respond(
        &mut self,
        res: Response<Body>,
        pending: Option<Pending>,
        head: bool,
        http10: bool,
        keep_alive: bool,
    ) -> io::Result<Written> {
        let (mut parts, body) = res.into_parts();
        let head_only = head
            || parts.status == StatusCode::NOT_MODIFIED
            || parts.status == StatusCode::NO_CONTENT
            || parts.status.is_informational();
        // One buffer for the head and a body written inline with it. The
        // framing fields are read as the head is written, not looked up.
        if self.wbuf.capacity() == 0 {
            self.wbuf = pool::take();
        }
        self.wbuf.reserve(512);
        self.wbuf
            .extend_from_slice(status_line(parts.status).as_bytes());
        let framing = write_headers(&mut self.wbuf, &parts.headers);
        let mut len = framing.content_length.and_then(content_length);
        let closes = framing
            .connection
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        // A body that knows its length says so, as hyper does for it.
        let add_len = match (len, body_len(&body)) {
            (None, Some(n)) if !head_only => {
                len = Some(n);
                true
            }
            _ => false,
        };
        // A body of unknown length is chunked on HTTP/1.1; on HTTP/1.0 the end of
        // the connection delimits it.
        let chunked = !head_only && len.is_none() && !http10;
        let keep_alive = keep_alive && !closes && (head_only || len.is_some() || chunked);
        if add_len {
            let _ = write!(self.wbuf, "content-length: {}\r\n", len.unwrap_or(0));
        }
        if chunked {
            self.wbuf
                .extend_from_slice(b"transfer-encoding: chunked\r\n");
        }
        if !keep_alive {
            if framing.connection.is_none() {
                self.wbuf.extend_from_slice(b"connection: close\r\n");
            }
        } else if http10 {
            self.wbuf.extend_from_slice(b"connection: keep-alive\r\n");
        }
        self.wbuf.extend_from_slice(b"\r\n");
        ferry::recycle_headers(std::mem::take(&mut parts.headers));

        let mut sent = Sent::default();
        let mut result = Ok(());
        if !head_only {
            match self.send_body(body, chunked, &mut sent.bytes).await {
                Ok(z) => sent.zero_copy = z,
                Err(e) => result = Err(e),
            }
        }
        if let Some(p) = pending {
            self.shared
                .pipeline
                .observer
                .finish(p, self.peer, parts.status.as_u16(), sent);
        }
        result.map(|()| Written {
            sent,
            keep_alive,
            closes,
        })
    }

    /// Sends the body, counting the bytes handed to the transport in `sent`;
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
            self.flush_with(W::ZERO_COPY).await?;
            let mut off = range.start;
            while off < range.end {
                let count = usize::try_from(range.end - off)
                    .unwrap_or(usize::MAX)
                    .min(1 << 30);
                let n = self
                    .with_send_timeout(|s| s.try_send_file(file, &mut off, count))
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
            return Ok(W::ZERO_COPY);
        }
        loop {
            // What is ready is gathered; before waiting for more, what was
            // gathered goes out (a streamed response, such as server-sent
            // events, must not wait in ferry's buffer).
            let frame = match futures_util::FutureExt::now_or_never(body.frame()) {
                Some(f) => f,
                None => {
                    self.flush().await?;
                    body.frame().await
                }
            };
            let frame = match frame {
                None => break,
                Some(Ok(f)) => f,
                Some(Err(e)) => {
                    // What came before the failure still goes out; the
                    // connection then ends short of the declared length.
                    let _ = self.flush().await;
                    return Err(e);
                }
            };
            let Ok(data) = frame.into_data() else {
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
        mut op: impl FnMut(&mut W) -> io::Result<T>,
    ) -> io::Result<T> {
        // Taken at the first wait: most writes never wait.
        let mut deadline = None;
        loop {
            match op(&mut self.stream) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let d = *deadline.get_or_insert_with(|| {
                        tokio::time::Instant::now() + self.shared.write_timeout
                    });
                    tokio::time::timeout_at(d, self.stream.tcp().writable())
                        .await
                        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
                }
                r => return r,
            }
        }
    }

    pub(super) async fn flush(&mut self) -> io::Result<()> {
        self.flush_with(false).await
    }

    /// Writes the buffer out, and what the transport still holds (sealed TLS
    /// records); `more` says more follows at once: over TCP a body
    /// (MSG_MORE), so the kernel sends the head in the same segment as the
    /// body's first bytes, as nginx's `tcp_nopush` does; over TLS the
    /// records are sealed and held for the next send.
    pub(super) async fn flush_with(&mut self, more: bool) -> io::Result<()> {
        let mut at = 0;
        while at < self.wbuf.len() {
            let buf = std::mem::take(&mut self.wbuf);
            let r = self
                .with_send_timeout(|s| s.try_write(&buf[at..], more))
                .await;
            self.wbuf = buf;
            match r {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => at += n,
                Err(e) => return Err(e),
            }
        }
        if W::HOLDS && !more {
            self.with_send_timeout(W::try_flush).await?;
        }
        self.wbuf.clear();
        if self.wbuf.capacity() > 64 * 1024 {
            // A listing or a multipart head made it large: give it back.
            self.wbuf = Vec::new();
        }
        Ok(())
    }
}

/// A response's Content-Length value, when it is a valid one.
fn content_length(v: &HeaderValue) -> Option<u64> {
    // 1*DIGIT (RFC 9110 §8.6), read as bytes: no sign, no space.
    let v = v.as_bytes();
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit()
            .then_some(())
            .and_then(|()| n.checked_mul(10)?.checked_add(u64::from(b - b'0')))
    })
}

/// The exact length a body knows it has, when it knows.
fn body_len(body: &Body) -> Option<u64> {
    http_body::Body::size_hint(body).exact()
}

pub(crate) fn read_exact_at(
    file: &std::fs::File,
    mut buf: &mut [u8],
    mut pos: u64,
) -> io::Result<()> {
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

/// ferry answers in HTTP/1.1 whatever minor version asked (RFC 9110 §2.5).
fn status_line(s: StatusCode) -> std::borrow::Cow<'static, str> {
    match s {
        StatusCode::OK => "HTTP/1.1 200 OK\r\n".into(),
        StatusCode::PARTIAL_CONTENT => "HTTP/1.1 206 Partial Content\r\n".into(),
        StatusCode::NOT_MODIFIED => "HTTP/1.1 304 Not Modified\r\n".into(),
        StatusCode::NOT_FOUND => "HTTP/1.1 404 Not Found\r\n".into(),
        _ => format!(
            "HTTP/1.1 {} {}\r\n",
            s.as_str(),
            s.canonical_reason().unwrap_or("")
        )
        .into(),
    }
}

/// The first value of each field that frames an HTTP/1.1 response.
#[derive(Default)]
struct Framing<'a> {
    content_length: Option<&'a HeaderValue>,
    connection: Option<&'a HeaderValue>,
}

/// Writes `headers` as field lines; what frames the message is noted on the
/// way (the first value of each, as `HeaderMap::get` would give it).
fn write_headers<'a>(out: &mut Vec<u8>, headers: &'a HeaderMap) -> Framing<'a> {
    let mut framing = Framing::default();
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH {
            framing.content_length.get_or_insert(value);
        } else if name == header::CONNECTION {
            framing.connection.get_or_insert(value);
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    framing
}

#[cfg(test)]
mod tests {
    #[test]
    fn content_length_is_digits_only_rfc_9110_8_6() {
        let of = |v: &str| super::content_length(&v.parse().unwrap());
        assert_eq!(of("0"), Some(0));
        assert_eq!(of("1024"), Some(1024));
        assert_eq!(of("18446744073709551615"), Some(u64::MAX));
        for bad in ["", "+5", "-1", " 5", "5 ", "0x10", "18446744073709551616"] {
            assert_eq!(of(bad), None, "{bad:?}");
        }
    }
}
