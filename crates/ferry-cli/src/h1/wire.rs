//! What the HTTP/1.1 state machine needs from the bytes under it, over
//! plain TCP or TLS: non-blocking reads and writes (waits go to the TCP
//! socket's readiness), file bodies, and the close. [`super::conn`],
//! [`super::write`] and [`crate::framing`] are written once against
//! [`Wire`]; each transport is a monomorphised copy, no `dyn` on the hot
//! path.
//!
//! TLS is driven here with rustls directly, after the handshake: one
//! response is sealed into as few records as its length allows and written
//! with one vectored `write`, with no extra buffer between rustls and the
//! socket.
use std::fs::File;
use std::io::{self, BufRead as _, Read, Write};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// A connection's bytes, as the HTTP/1.1 state machine sees them. Every
/// `try_*` returns `WouldBlock` instead of waiting; the caller then waits on
/// [`Wire::tcp`]'s readiness (`readable` after reads, `writable` after
/// writes, flushes and file sends) and tries again.
pub(crate) trait Wire {
    /// Whether [`Wire::try_send_file`] hands pages to the kernel
    /// (`sendfile(2)`), so a head before it is best sent with `MSG_MORE`.
    const ZERO_COPY: bool;

    /// Whether bytes taken by [`Wire::try_write`] may wait in the transport
    /// for [`Wire::try_flush`] (sealed TLS records); without it the flush
    /// is skipped at compile time.
    const HOLDS: bool;

    /// The TCP socket underneath, for readiness and the final shutdown.
    fn tcp(&self) -> &TcpStream;

    fn tcp_mut(&mut self) -> &mut TcpStream;

    /// Appends what can be read now to `buf`, up to its spare capacity:
    /// `Ok(0)` at the end of the stream.
    fn try_read(&mut self, buf: &mut Vec<u8>) -> io::Result<usize>;

    /// Takes bytes of `buf` to send; `more` says that more follows at once
    /// (TCP: `MSG_MORE`; TLS: the records are sealed and held for the next
    /// send). Taken bytes may still sit in the transport until
    /// [`Wire::try_flush`].
    fn try_write(&mut self, buf: &[u8], more: bool) -> io::Result<usize>;

    /// Sends what the transport itself still holds; `Ok` when nothing is
    /// left.
    fn try_flush(&mut self) -> io::Result<()>;

    /// Sends up to `count` bytes of `file` from `*off`, advancing it by what
    /// was taken; `Ok(0)` when the file ends before `*off`.
    fn try_send_file(&mut self, file: &File, off: &mut u64, count: usize) -> io::Result<usize>;

    /// Ends the stream of what is sent; [`Wire::try_flush`] then sends the
    /// end (TLS's `close_notify`).
    fn close(&mut self) {}
}

impl Wire for TcpStream {
    const ZERO_COPY: bool = true;
    const HOLDS: bool = false;

    fn tcp(&self) -> &TcpStream {
        self
    }

    fn tcp_mut(&mut self) -> &mut TcpStream {
        self
    }

    fn try_read(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let spare = buf.capacity() - buf.len();
        let n = self.try_read_buf(buf)?;
        if n > 0 && n < spare {
            drained(self);
        }
        Ok(n)
    }

    fn try_write(&mut self, buf: &[u8], more: bool) -> io::Result<usize> {
        if more {
            self.try_io(Interest::WRITABLE, || {
                rustix::net::send(&*self, buf, rustix::net::SendFlags::MORE)
                    .map_err(io::Error::from)
            })
        } else {
            TcpStream::try_write(self, buf)
        }
    }

    fn try_flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn try_send_file(&mut self, file: &File, off: &mut u64, count: usize) -> io::Result<usize> {
        use std::os::fd::AsFd as _;
        self.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(self.as_fd(), file, Some(off), count).map_err(io::Error::from)
        })
    }
}

/// A short read drained the socket: forget its readiness now, so the next
/// wait goes straight to epoll instead of first making a read that would
/// fail with EAGAIN. (New data raises a new edge; a FIN stays visible, tokio
/// keeps closed states.) Sound only because every connection runs on a
/// current-thread runtime (`net::runtime`): no I/O driver can record a new
/// edge between the read and this call, where it would be cleared unseen.
fn drained(tcp: &TcpStream) {
    let _ = tcp.try_io(Interest::READABLE, || {
        Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock))
    });
}

/// Reads into `buf` (see [`Wire::try_read`]), waiting for the socket as
/// long as it takes: the caller bounds the wait.
pub(crate) async fn read<W: Wire>(w: &mut W, buf: &mut Vec<u8>) -> io::Result<usize> {
    loop {
        match w.try_read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => w.tcp().readable().await?,
            r => return r,
        }
    }
}

/// Writes all of `buf` and flushes it, waiting for the socket as long as it
/// takes: the caller bounds the wait.
pub(crate) async fn write_all<W: Wire>(w: &mut W, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match w.try_write(buf, false) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => w.tcp().writable().await?,
            Err(e) => return Err(e),
        }
    }
    loop {
        match w.try_flush() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => w.tcp().writable().await?,
            r => return r,
        }
    }
}

/// File bytes read for one TLS send: four full records.
const TLS_FILE_CHUNK: usize = 64 * 1024;
/// Where, as an address modulo a 4 KiB page, a file chunk starts.
///
/// Two copies touch each chunk: the kernel's from the page cache (for a
/// whole file, chunks start at multiples of 64 KiB, so at the start of a
/// page) and rustls's to a new record 5 bytes past a page (the record
/// header; mimalloc gives that size on a page). A copy whose destination
/// lies 1 to 63 bytes past its source modulo 4 KiB is slow on some CPUs (4K
/// aliasing under `rep movsb`; see the HTTP/2 write buffer's `WRITE_ALIGN`).
/// Half a page keeps both distances (2048 and 2053 bytes) far from it, where
/// a chunk on the stack lands wherever the build's frame layout puts it.
const CHUNK_PAGE_OFFSET: usize = 2048;
const PAGE: usize = 4096;

thread_local! {
    /// Each worker's file chunk for TLS, filled once (zeroed at first use,
    /// then only overwritten), so a send zeroes nothing.
    static CHUNK: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0; TLS_FILE_CHUNK + PAGE].into_boxed_slice());
}

/// The part of `buf` (at least [`TLS_FILE_CHUNK`] + [`PAGE`] bytes) that
/// starts at [`CHUNK_PAGE_OFFSET`] in a page and holds [`TLS_FILE_CHUNK`].
fn page_placed(buf: &mut [u8]) -> &mut [u8] {
    let lead = CHUNK_PAGE_OFFSET.wrapping_sub(buf.as_ptr() as usize) % PAGE;
    &mut buf[lead..lead + TLS_FILE_CHUNK]
}

/// HTTP/1.1 over TLS (RFC 9112 §1, over RFC 8446), after the handshake: the
/// TCP socket and rustls's connection state, driven by hand.
pub(crate) struct Tls {
    tcp: TcpStream,
    conn: rustls::ServerConnection,
}

impl Tls {
    /// Takes a finished handshake apart. Nothing is lost: what the client
    /// sent after its Finished is buffered in the `ServerConnection`.
    pub(crate) fn new(stream: tokio_rustls::server::TlsStream<crate::linger::Linger>) -> Self {
        let (io, conn) = stream.into_inner();
        Tls {
            tcp: io.into_inner(),
            conn,
        }
    }

    /// Writes sealed records to the socket until none is left (`Ok`), or it
    /// would block.
    fn send_records(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut Socket(&self.tcp))? == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
        }
        Ok(())
    }

    /// Sends what can go now; only a failure other than a full socket is an
    /// error (the rest goes with the next flush).
    fn send_some(&mut self) -> io::Result<()> {
        match self.send_records() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(()),
        }
    }
}

impl Wire for Tls {
    const ZERO_COPY: bool = false;
    const HOLDS: bool = true;

    fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    fn tcp_mut(&mut self) -> &mut TcpStream {
        &mut self.tcp
    }

    fn try_read(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        loop {
            // Plaintext rustls already holds goes first.
            match self.conn.reader().fill_buf() {
                Ok(got) => {
                    // Empty: the client's close_notify (RFC 8446 §6.1).
                    let n = got.len().min(buf.capacity() - buf.len());
                    buf.extend_from_slice(&got[..n]);
                    self.conn.reader().consume(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // Choice: a TCP close without close_notify ends the stream
                // as one with it does. HTTP/1.1 delimits its own messages
                // (RFC 9112 §6.3), so a cut-off message is still seen as one.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            self.conn.read_tls(&mut Socket(&self.tcp))?;
            if let Err(e) = self.conn.process_new_packets() {
                // rustls queued the alert that says why (RFC 8446 §6.2).
                let _ = self.send_records();
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            // A KeyUpdate (RFC 8446 §4.6.3) may want an answer.
            self.send_some()?;
        }
    }

    fn try_write(&mut self, buf: &[u8], more: bool) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // rustls seals what fits under its buffer limit (64 KiB), in records
        // of at most 16 KiB (RFC 8446 §5.1).
        let mut n = self.conn.writer().write(buf)?;
        if n == 0 {
            // The buffer is full: send it, then seal more.
            self.send_records()?;
            n = self.conn.writer().write(buf)?;
        }
        if !more {
            self.send_some()?;
        }
        Ok(n)
    }

    fn try_flush(&mut self) -> io::Result<()> {
        self.send_records()
    }

    fn try_send_file(&mut self, file: &File, off: &mut u64, count: usize) -> io::Result<usize> {
        // Records sealed before go out first: at most one chunk is held.
        self.send_records()?;
        let want = count.min(TLS_FILE_CHUNK);
        let n = CHUNK.with(|c| {
            let mut c = c.borrow_mut();
            let chunk = page_placed(&mut c);
            let got = read_at(file, &mut chunk[..want], *off)?;
            self.conn.writer().write(&chunk[..got])
        })?;
        *off += n as u64;
        self.send_some()?;
        Ok(n)
    }

    /// RFC 8446 §6.1: "Each party MUST send a "close_notify" alert before
    /// closing its write side of the connection, unless it has already sent
    /// some error alert."
    fn close(&mut self) {
        self.conn.send_close_notify();
    }
}

/// One `pread`, retried when interrupted.
fn read_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    use std::os::unix::fs::FileExt as _;
    loop {
        match file.read_at(buf, pos) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// The socket as rustls's blocking-style reader and writer: `WouldBlock`
/// instead of waiting.
struct Socket<'a>(&'a TcpStream);

impl Read for Socket<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.try_read(buf)?;
        if n > 0 && n < buf.len() {
            drained(self.0);
        }
        Ok(n)
    }
}

impl Write for Socket<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{page_placed, CHUNK_PAGE_OFFSET, PAGE, TLS_FILE_CHUNK};

    #[test]
    fn a_file_chunk_starts_half_a_page_in_wherever_its_buffer_is() {
        let mut big = vec![0u8; TLS_FILE_CHUNK + 2 * PAGE];
        // Buffers starting at 68 places across a page (a step of 61 bytes
        // from wherever `big` is), so some fall on either side of the
        // chunk's place and the lead wraps around.
        for at in (0..PAGE).step_by(61) {
            let buf = &mut big[at..at + TLS_FILE_CHUNK + PAGE];
            let base = buf.as_ptr() as usize;
            let chunk = page_placed(buf);
            let start = chunk.as_ptr() as usize;
            assert_eq!(start % PAGE, CHUNK_PAGE_OFFSET, "buffer at {at}");
            assert_eq!(chunk.len(), TLS_FILE_CHUNK);
            assert!(start - base < PAGE, "buffer at {at}: lead {}", start - base);
        }
    }
}
