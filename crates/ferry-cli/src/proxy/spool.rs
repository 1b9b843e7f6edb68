//! Bodies held for a slow side, as nginx's `proxy_request_buffering` and
//! `proxy_buffering` do: in memory up to a bound, then in an unlinked
//! temporary file (gone whatever happens to the process).
//!
//! - A request body is read whole from the client before the upstream sees
//!   the request ([`read_request`]), so a slow upload never holds an
//!   application worker; over `--max-body-size` it is refused with 413.
//! - A response body is read off the upstream as fast as it comes
//!   ([`response`]), so a slow reader never holds the upstream connection or
//!   its worker; the client reads it from memory, then from the file.
use bytes::{Bytes, BytesMut};
use ferry::Body;
use http::StatusCode;
use http_body::Body as _;
use http_body_util::BodyExt as _;
use std::collections::VecDeque;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Request bodies are kept in memory up to this size, then spooled.
const REQUEST_MEMORY: usize = 64 * 1024;
/// Response bodies are read into memory up to this much ahead of the
/// client, then spooled.
pub(super) const RESPONSE_MEMORY: usize = 256 * 1024;
/// What one read from (or write to) a spool file takes at most.
const CHUNK: usize = 64 * 1024;
/// How far a response spool may run ahead of its client on disk.
const MAX_SPOOL: u64 = 1 << 30;

/// A request body read whole.
pub(super) enum Held {
    Memory(Bytes),
    File(Arc<std::fs::File>, u64),
}

impl Held {
    pub(super) fn len(&self) -> u64 {
        match self {
            Held::Memory(b) => b.len() as u64,
            Held::File(_, n) => *n,
        }
    }

    /// The body in pieces, from memory or read back from its file.
    pub(super) fn chunks(&self) -> futures_util::stream::BoxStream<'static, io::Result<Bytes>> {
        use futures_util::StreamExt as _;
        match self {
            Held::Memory(b) => {
                futures_util::stream::once(std::future::ready(Ok(b.clone()))).boxed()
            }
            Held::File(file, len) => {
                let (file, len) = (file.clone(), *len);
                futures_util::stream::unfold(0u64, move |at| {
                    let file = file.clone();
                    async move {
                        if at >= len {
                            return None;
                        }
                        let want = (len - at).min(CHUNK as u64) as usize;
                        Some(match read_at(file, at, want).await {
                            Ok(b) if b.is_empty() => {
                                (Err(io::Error::from(io::ErrorKind::UnexpectedEof)), len)
                            }
                            Ok(b) => {
                                let next = at + b.len() as u64;
                                (Ok(b), next)
                            }
                            Err(e) => (Err(e), len),
                        })
                    }
                })
                .boxed()
            }
        }
    }
}

/// Reads a client's request body whole, at most `max` bytes (`None`: no
/// limit). `Err(413)` beyond it, `Err(400)` for a body cut short or
/// malformed (the client's fault), `Err(500)` when the spool fails.
pub(super) async fn read_request<B>(body: &mut B, max: Option<u64>) -> Result<Held, StatusCode>
where
    B: http_body::Body<Data = Bytes, Error = io::Error> + Unpin,
{
    if let (Some(max), Some(n)) = (max, body.size_hint().exact()) {
        // Refused before a byte is read, as nginx's client_max_body_size.
        if n > max {
            return Err(StatusCode::PAYLOAD_TOO_LARGE);
        }
    }
    // In memory up to REQUEST_MEMORY; past it, pieces are gathered in
    // `mem` and written CHUNK at a time (a body of one-byte chunks must not
    // cost a write each).
    let mut mem = BytesMut::new();
    let mut file: Option<Arc<std::fs::File>> = None;
    let mut total = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| StatusCode::BAD_REQUEST)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len() as u64;
        if max.is_some_and(|m| total > m) {
            return Err(StatusCode::PAYLOAD_TOO_LARGE);
        }
        mem.extend_from_slice(&data);
        let limit = if file.is_some() {
            CHUNK
        } else {
            REQUEST_MEMORY
        };
        if mem.len() > limit {
            let f = match &file {
                Some(f) => f.clone(),
                None => Arc::new(temp_file().await.map_err(spool_failed)?),
            };
            let at = total - mem.len() as u64;
            let piece = std::mem::take(&mut mem).freeze();
            write_at(f.clone(), at, piece).await.map_err(spool_failed)?;
            file = Some(f);
        }
    }
    Ok(match file {
        Some(f) => {
            if !mem.is_empty() {
                let at = total - mem.len() as u64;
                write_at(f.clone(), at, mem.freeze())
                    .await
                    .map_err(spool_failed)?;
            }
            Held::File(f, total)
        }
        None => Held::Memory(mem.freeze()),
    })
}

fn spool_failed(e: io::Error) -> StatusCode {
    eprintln!("ferry: cannot spool a body to a temporary file: {e}");
    StatusCode::INTERNAL_SERVER_ERROR
}

async fn temp_file() -> io::Result<std::fs::File> {
    tokio::task::spawn_blocking(tempfile::tempfile)
        .await
        .map_err(io::Error::other)?
}

async fn write_at(f: Arc<std::fs::File>, at: u64, data: Bytes) -> io::Result<()> {
    tokio::task::spawn_blocking(move || f.write_all_at(&data, at))
        .await
        .map_err(io::Error::other)?
}

async fn read_at(f: Arc<std::fs::File>, at: u64, n: usize) -> io::Result<Bytes> {
    tokio::task::spawn_blocking(move || {
        let mut buf = vec![0; n];
        let got = f.read_at(&mut buf, at)?;
        buf.truncate(got);
        Ok(Bytes::from(buf))
    })
    .await
    .map_err(io::Error::other)?
}

/// The state a response spool's writer (the task reading the upstream) and
/// reader (the client's body) share.
#[derive(Default)]
struct State {
    mem: VecDeque<Bytes>,
    mem_bytes: usize,
    /// Once spooling began, everything after goes to the file, in order.
    file: Option<Arc<std::fs::File>>,
    written: u64,
    read: u64,
    done: bool,
    failed: Option<io::ErrorKind>,
    reader_gone: bool,
}

struct Spool {
    state: Mutex<State>,
    /// Wakes the reader: new data, or the end.
    more: Notify,
    /// Wakes the writer: the reader took from the file, or left.
    drained: Notify,
}

fn lock(s: &Spool) -> std::sync::MutexGuard<'_, State> {
    s.state.lock().unwrap_or_else(|e| e.into_inner())
}

/// A response body read off the upstream by a task of its own, held for the
/// client as described in the module docs. The upstream connection goes back
/// to the pool once its body is read, whatever the client does.
pub(super) fn response(upstream: super::upstream::UpstreamBody) -> Body {
    let spool = Arc::new(Spool {
        state: Mutex::new(State::default()),
        more: Notify::new(),
        drained: Notify::new(),
    });
    tokio::spawn(fill(upstream, spool.clone()));
    let reader = Reader { spool };
    let stream = futures_util::stream::unfold(reader, |r| async move {
        let next = r.next().await;
        next.map(|item| (item.map(http_body::Frame::data), r))
    });
    Body::new(http_body_util::StreamBody::new(stream))
}

/// Reads the upstream body into the spool.
async fn fill(mut upstream: super::upstream::UpstreamBody, spool: Arc<Spool>) {
    let (mut pending_failure, mut pending_end) = (None, false);
    let failed = loop {
        let data = match upstream.next().await {
            None => break None,
            Some(Err(e)) => {
                eprintln!("ferry: upstream response body: {e}");
                break Some(io::ErrorKind::ConnectionAborted);
            }
            Some(Ok(d)) => d,
        };
        let to_file = {
            let mut s = lock(&spool);
            if s.reader_gone {
                // Nobody to send it to: drop the upstream connection, as
                // nginx does when the client goes away.
                return;
            }
            if s.file.is_none() && s.mem_bytes + data.len() <= RESPONSE_MEMORY {
                s.mem_bytes += data.len();
                s.mem.push_back(data);
                None
            } else {
                Some((s.file.clone(), s.written, data))
            }
        };
        if let Some((file, at, mut data)) = to_file {
            // What else is ready now goes in the same write.
            if data.len() < CHUNK {
                let mut more = BytesMut::from(&data[..]);
                while more.len() < CHUNK {
                    match futures_util::FutureExt::now_or_never(upstream.next()) {
                        Some(Some(Ok(d))) => more.extend_from_slice(&d),
                        Some(Some(Err(e))) => {
                            eprintln!("ferry: upstream response body: {e}");
                            pending_failure = Some(io::ErrorKind::ConnectionAborted);
                            break;
                        }
                        Some(None) => {
                            pending_end = true;
                            break;
                        }
                        None => break,
                    }
                }
                data = more.freeze();
            }
            let file = match file {
                Some(f) => f,
                None => match temp_file().await {
                    Ok(f) => {
                        let f = Arc::new(f);
                        lock(&spool).file = Some(f.clone());
                        f
                    }
                    Err(e) => {
                        eprintln!("ferry: cannot spool a response: {e}");
                        break Some(io::ErrorKind::Other);
                    }
                },
            };
            let n = data.len() as u64;
            if let Err(e) = write_at(file, at, data).await {
                eprintln!("ferry: cannot spool a response: {e}");
                break Some(io::ErrorKind::Other);
            }
            lock(&spool).written += n;
        }
        spool.more.notify_one();
        if pending_failure.is_some() || pending_end {
            break pending_failure;
        }
        // At most MAX_SPOOL ahead of the client on disk (nginx's
        // proxy_max_temp_file_size): past it, read the upstream only as fast
        // as the client reads.
        loop {
            let drained = spool.drained.notified();
            {
                let s = lock(&spool);
                if s.reader_gone || s.written.saturating_sub(s.read) <= MAX_SPOOL {
                    break;
                }
            }
            drained.await;
        }
    };
    let mut s = lock(&spool);
    s.done = true;
    s.failed = failed;
    drop(s);
    spool.more.notify_one();
}

/// The client's side of a response spool.
struct Reader {
    spool: Arc<Spool>,
}

impl Reader {
    async fn next(&self) -> Option<io::Result<Bytes>> {
        loop {
            let notified = self.spool.more.notified();
            let read = {
                let mut s = lock(&self.spool);
                if let Some(b) = s.mem.pop_front() {
                    s.mem_bytes -= b.len();
                    return Some(Ok(b));
                }
                match &s.file {
                    Some(f) if s.read < s.written => {
                        Some((f.clone(), s.read, (s.written - s.read).min(CHUNK as u64)))
                    }
                    _ if s.done => {
                        // A body cut short must reach the client as one: an
                        // error, never a clean end.
                        return s.failed.map(|k| Err(io::Error::from(k)));
                    }
                    _ => None,
                }
            };
            match read {
                Some((f, at, n)) => {
                    let got = read_at(f, at, n as usize).await;
                    if let Ok(b) = &got {
                        lock(&self.spool).read += b.len() as u64;
                        self.spool.drained.notify_one();
                    }
                    return Some(got);
                }
                None => notified.await,
            }
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        lock(&self.spool).reader_gone = true;
        self.spool.drained.notify_one();
    }
}
