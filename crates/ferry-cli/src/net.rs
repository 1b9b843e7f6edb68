//! The one connection layer under every listener of both commands: listening
//! sockets (or systemd's), one current-thread runtime per core, accept with
//! backoff, `--max-connections` slots, the open-connection count and gauge,
//! and the graceful drain on SIGINT/SIGTERM. What a connection speaks is the
//! listener's [`Serve`] function's business.
use crate::settings::Settings;
use anyhow::Context as _;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};

/// When a graceful shutdown begins, how long a connection's client still
/// has to get a request in that it sent before it could know: a fresh
/// HTTP/1.1 connection's first request, an HTTP/2 client's answer to the
/// PING after the first GOAWAY (RFC 9113 §6.8). A round trip, generously.
pub(crate) const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// Serves one accepted connection until it is done; `stop` turns true when
/// shutdown begins (finish what is in flight, accept no new request).
pub(crate) type Serve = Arc<
    dyn Fn(TcpStream, SocketAddr, watch::Receiver<bool>) -> Pin<Box<dyn Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

/// A listener that is not TCP (HTTP/3's UDP endpoint): started in the main
/// runtime before set-up (an error then stops ferry before anything is
/// announced), it returns the future that, once set-up is done, accepts and
/// serves its own connections, takes a [`Conns::slot`] for each, and ends
/// once shutdown began and its connections are done.
pub(crate) type Datagram =
    Box<dyn FnOnce(Conns) -> anyhow::Result<Pin<Box<dyn Future<Output = ()> + Send>>> + Send>;

/// What a [`Datagram`] listener shares with the connection layer: its own
/// `--max-connections` slots, the process's open-connection count (for the
/// drain and the gauge), and the shutdown signal.
#[cfg_attr(not(feature = "http3"), allow(dead_code))]
pub(crate) struct Conns {
    open: Arc<Open>,
    slots: Arc<Semaphore>,
    /// Turns true when shutdown begins.
    pub(crate) stop: watch::Receiver<bool>,
}

#[cfg_attr(not(feature = "http3"), allow(dead_code))]
impl Conns {
    /// A slot for one more connection, held until it is done; `None` at
    /// `--max-connections` (a datagram listener has no listen queue to
    /// leave the connection in: it refuses it).
    pub(crate) fn slot(&self) -> Option<Slot> {
        let permit = self.slots.clone().try_acquire_owned().ok()?;
        Some(Slot::new(permit, self.open.clone(), true))
    }
}

/// One open connection, of any listener: its `--max-connections` permit,
/// and its place in the open-connection count (and in the gauge, if
/// `gauged`), until it is dropped.
pub(crate) struct Slot {
    _permit: tokio::sync::OwnedSemaphorePermit,
    open: Arc<Open>,
    gauged: bool,
}

impl Slot {
    fn new(permit: tokio::sync::OwnedSemaphorePermit, open: Arc<Open>, gauged: bool) -> Slot {
        let gauged = gauged && open.metrics;
        open.count.fetch_add(1, Ordering::AcqRel);
        if gauged {
            crate::metrics::connection_opened();
        }
        Slot {
            _permit: permit,
            open,
            gauged,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.gauged {
            crate::metrics::connection_closed();
        }
        if self.open.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.open.done.notify_waiters();
        }
    }
}

/// A bound listener and what its connections speak.
pub(crate) struct Bound {
    pub(crate) listener: std::net::TcpListener,
    pub(crate) serve: Serve,
    /// Its own `--max-connections` slots.
    slots: Arc<Semaphore>,
    /// Whether its connections count in `ferry_open_connections` (the
    /// metrics listener's scrapes do not).
    gauged: bool,
}

impl Bound {
    pub(crate) fn new(listener: std::net::TcpListener, serve: Serve, settings: &Settings) -> Self {
        Bound {
            listener,
            serve,
            slots: Arc::new(Semaphore::new(settings.max_connections)),
            gauged: true,
        }
    }

    /// Its connections are not counted in `ferry_open_connections`.
    pub(crate) fn ungauged(mut self) -> Self {
        self.gauged = false;
        self
    }
}

/// The sockets systemd passed (`LISTEN_FDS`), read from the environment
/// once (listenfd clears it), for the TCP listener and then the UDP one.
fn passed_fds() -> std::sync::MutexGuard<'static, listenfd::ListenFd> {
    static PASSED: std::sync::OnceLock<std::sync::Mutex<listenfd::ListenFd>> =
        std::sync::OnceLock::new();
    PASSED
        .get_or_init(|| std::sync::Mutex::new(listenfd::ListenFd::from_env()))
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The main listening socket: the one systemd passed (socket activation,
/// `LISTEN_FDS`), so restarts lose no connection attempts, else `addr`.
pub(crate) fn listen_main(addr: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    let passed = passed_fds()
        .take_tcp_listener(0)
        .context("LISTEN_FDS names a socket that is not a TCP listener")?;
    match passed {
        Some(l) => {
            let _ = SYSTEMD_LISTENER.set(l.as_raw_fd());
            nonblocking(l)
        }
        None => listen(addr),
    }
}

/// The descriptor of the listening socket systemd passed, if it did: that
/// socket is systemd's too, and stays listening after ferry stops (the next
/// start takes the connections that queued meanwhile), so shutdown leaves it
/// alone.
static SYSTEMD_LISTENER: std::sync::OnceLock<std::os::fd::RawFd> = std::sync::OnceLock::new();

/// What [`crate::main_with`] was given to run when start-up is over.
pub(crate) static AFTER_STARTUP: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// The UDP socket for HTTP/3 beside the TCP listener on `addr`: the
/// datagram socket systemd passed (`ListenDatagram=` in the socket unit), else
/// one bound to `addr`; a port that cannot be bound is an error naming it.
#[cfg_attr(not(feature = "http3"), allow(dead_code))]
pub(crate) fn listen_udp(addr: SocketAddr) -> anyhow::Result<std::net::UdpSocket> {
    let mut passed = passed_fds();
    for i in 1..passed.len() {
        if let Ok(Some(s)) = passed.take_udp_socket(i) {
            s.set_nonblocking(true)?;
            udp_buffers(&s);
            return Ok(s);
        }
    }
    let s = std::net::UdpSocket::bind(addr).with_context(|| {
        format!("cannot listen on UDP {addr} for HTTP/3 (--no-http3 turns it off)")
    })?;
    s.set_nonblocking(true)?;
    udp_buffers(&s);
    Ok(s)
}

/// Socket buffers of 4 MiB each way: a QUIC sender's burst (a window of
/// full-size datagrams) no longer overflows the kernel's default (~200 KiB)
/// and turns into loss. Beyond `net.core.[rw]mem_max` only with
/// CAP_NET_ADMIN (the `FORCE` options), else up to that limit.
#[cfg_attr(not(feature = "http3"), allow(dead_code))]
fn udp_buffers(s: &std::net::UdpSocket) {
    use rustix::net::sockopt;
    const SIZE: usize = 4 << 20;
    if sockopt::set_socket_recv_buffer_size_force(s, SIZE).is_err() {
        let _ = sockopt::set_socket_recv_buffer_size(s, SIZE);
    }
    if sockopt::set_socket_send_buffer_size_force(s, SIZE).is_err() {
        let _ = sockopt::set_socket_send_buffer_size(s, SIZE);
    }
}

/// The accept queue asked for. std's `bind` listens with a backlog of 128:
/// the 130th connection that arrives before the workers accept any has its
/// SYN dropped by the kernel, and its client waits 1, 3, 7 seconds to retry.
/// nginx asks for 511, Go for `net.core.somaxconn`; the kernel caps the
/// request at that limit (listen(2)), whose default is 4096 since Linux 5.4.
const BACKLOG: i32 = 4096;

/// A listening socket on `addr`.
pub(crate) fn listen(addr: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    let l =
        std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    // listen(2) again on a listening socket only sets its backlog.
    rustix::net::listen(&l, BACKLOG).with_context(|| format!("cannot listen on {addr}"))?;
    nonblocking(l)
}

fn nonblocking(l: std::net::TcpListener) -> anyhow::Result<std::net::TcpListener> {
    l.set_nonblocking(true)?;
    Ok(l)
}

/// A current-thread runtime: one per core, each accepting and serving its
/// own connections (no work stealing, no cross-thread wake-ups).
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")
}

/// Connections open in the whole process, for the drain.
struct Open {
    count: AtomicUsize,
    done: Notify,
    metrics: bool,
}

/// Serves `listeners` until SIGINT or SIGTERM, then lets in-flight
/// responses finish for `--drain-timeout`. `setup` runs first on the main
/// runtime (signal handlers, certificate reloads, ACME): what it spawns runs
/// there for the server's life. Each listener is announced as
/// `ferry: {what} on {scheme}://{addr}/` once setup is done.
pub(crate) fn run<F>(
    settings: &Settings,
    listeners: Vec<Bound>,
    datagrams: Vec<Datagram>,
    setup: F,
) -> anyhow::Result<()>
where
    F: Future<Output = anyhow::Result<()>>,
{
    let rt = runtime()?;
    let open = Arc::new(Open {
        count: AtomicUsize::new(0),
        done: Notify::new(),
        metrics: settings.metrics.is_some(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let datagrams = {
        let _main = rt.enter();
        datagrams
            .into_iter()
            .map(|d| {
                d(Conns {
                    open: open.clone(),
                    slots: Arc::new(Semaphore::new(settings.max_connections)),
                    stop: stop_rx.clone(),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    // SIGHUP handlers are installed before any worker accepts: a HUP that
    // arrived first would terminate the process.
    rt.block_on(setup)?;
    if let Some(f) = AFTER_STARTUP.get() {
        f();
    }
    // Descriptors of the listening sockets that stay here: at shutdown they
    // stop listening before ferry says so, whatever its workers are busy with
    // (all but systemd's, which outlives this process).
    let closers = listeners
        .iter()
        .filter(|b| SYSTEMD_LISTENER.get() != Some(&b.listener.as_raw_fd()))
        .map(|b| b.listener.try_clone())
        .collect::<io::Result<Vec<_>>>()?;
    let drain = settings.drain_timeout;
    // One worker per core this process may run on (taskset narrows it).
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut threads = Vec::new();
    for i in 1..workers {
        let mine = listeners
            .iter()
            .map(|b| b.try_clone())
            .collect::<io::Result<Vec<_>>>()?;
        let (open, stop) = (open.clone(), stop_rx.clone());
        threads.push(
            std::thread::Builder::new()
                .name(format!("ferry-worker-{i}"))
                .spawn(move || -> anyhow::Result<()> {
                    runtime()?.block_on(worker(mine, open, stop, drain))
                })?,
        );
    }
    rt.block_on(async {
        let udp: Vec<_> = datagrams.into_iter().map(tokio::spawn).collect();
        let main = tokio::spawn(worker(listeners, open.clone(), stop_rx, drain));
        shutdown_signal().await;
        let _ = stop_tx.send(true);
        stop_listening(closers);
        eprintln!("ferry: shutting down, finishing in-flight requests");
        let _ = main.await;
        // Their connections are drained (or the drain timed out) by now:
        // a moment to close the endpoints.
        for d in udp {
            let _ = tokio::time::timeout(Duration::from_secs(1), d).await;
        }
    });
    for t in threads {
        let _ = t.join();
    }
    if open.count.load(Ordering::Acquire) > 0 {
        eprintln!(
            "ferry: gave up waiting for connections after {}s",
            drain.as_secs()
        );
    }
    Ok(())
}

/// Ends the listening of every socket in `listeners` now, though other
/// descriptors of them (one per worker) are open until their workers see the
/// stop: `shutdown(SHUT_RD)` on a listening socket closes it for the protocol
/// (Linux: a new connection is refused, one waiting in the queue is reset,
/// and `accept` fails), as closing its last descriptor would. A connection
/// after the drain began is then refused at once, never accepted into a queue
/// that no one serves. The stop is sent first, so a worker woken by the
/// failing `accept` sees it before it.
fn stop_listening(listeners: Vec<std::net::TcpListener>) {
    for l in &listeners {
        let _ = rustix::net::shutdown(l, rustix::net::Shutdown::Read);
    }
}

impl Bound {
    fn try_clone(&self) -> io::Result<Bound> {
        Ok(Bound {
            listener: self.listener.try_clone()?,
            serve: self.serve.clone(),
            slots: self.slots.clone(),
            gauged: self.gauged,
        })
    }
}

/// One core's share: accepts on every listener until shutdown begins, then
/// keeps driving its connections (a current-thread runtime runs them only
/// while this future runs) until every connection of the process is done,
/// or `drain` passed.
async fn worker(
    listeners: Vec<Bound>,
    open: Arc<Open>,
    stop: watch::Receiver<bool>,
    drain: Duration,
) -> anyhow::Result<()> {
    let mut loops = Vec::new();
    for b in listeners {
        let l = TcpListener::from_std(b.listener)?;
        loops.push(tokio::spawn(accept_loop(
            l,
            b.serve,
            b.slots,
            open.clone(),
            b.gauged,
            stop.clone(),
        )));
    }
    for l in loops {
        let _ = l.await;
    }
    let drained = async {
        loop {
            let notified = open.done.notified();
            if open.count.load(Ordering::Acquire) == 0 {
                break;
            }
            notified.await;
        }
    };
    let _ = tokio::time::timeout(drain, drained).await;
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    serve: Serve,
    slots: Arc<Semaphore>,
    open: Arc<Open>,
    gauged: bool,
    mut stop: watch::Receiver<bool>,
) {
    let mut failing = AcceptFailures::default();
    loop {
        // At --max-connections, stop accepting: new connections wait in the
        // listen queue, as with nginx's worker_connections.
        let permit = tokio::select! {
            biased;
            _ = stop.changed() => return,
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => return,
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok(s) => {
                    if let Some(line) = failing.accepted() {
                        eprintln!("{line}");
                    }
                    s
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    if e.kind() != io::ErrorKind::WouldBlock {
                        if let Some(line) = failing.failed(&e) {
                            eprintln!("{line}");
                        }
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let slot = Slot::new(permit, open.clone(), gauged);
        let conn = serve(stream, peer, stop.clone());
        let span = tracing::debug_span!("conn", %peer);
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                conn.await;
                tracing::debug!("closed");
                drop(slot);
            },
            span,
        ));
    }
}

/// How long the accept loop waits after a failed `accept` (EMFILE, ENFILE,
/// ENOBUFS…) before trying again: no busy loop while descriptors are short.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// A run of failed `accept`s, so that running out of descriptors logs one
/// line when it starts and one when it ends instead of one per retry (20 a
/// second per worker, for as long as it lasts).
#[derive(Debug, Default)]
struct AcceptFailures {
    run: u64,
}

impl AcceptFailures {
    /// A failure: the line to log, for the first of a run only.
    fn failed(&mut self, e: &io::Error) -> Option<String> {
        self.run += 1;
        (self.run == 1).then(|| {
            format!(
                "ferry: accept: {e}; retrying every {} ms",
                ACCEPT_BACKOFF.as_millis()
            )
        })
    }

    /// A success: the line to log when it ends a run of failures.
    fn accepted(&mut self) -> Option<String> {
        let run = std::mem::take(&mut self.run);
        (run > 0).then(|| format!("ferry: accept: resumed after {run} failed attempts"))
    }
}

/// SIGINT or SIGTERM.
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

/// On SIGHUP, for as long as the runtime runs, calls `each`. Installed in
/// every case, so that a reload signal (systemd's `ExecReload`, an
/// operator's `kill -HUP`) never terminates the server.
pub(crate) fn on_hup(each: impl Fn() + Send + 'static) {
    #[cfg(unix)]
    if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                each();
            }
        });
    }
}

/// A connection that fails with `TimedOut` once nothing moved for `idle`
/// while only reading, or for `write` while a write waits: hyper's HTTP/2 has
/// no idle timeout of its own and no path of hyper's has a send timeout, so
/// without it an idle or stalled client would hold a `--max-connections`
/// slot for ever (`--idle-timeout`, `--write-timeout`). The HTTP/1.1 fast
/// path keeps its own timers.
pub(crate) struct Deadline<I> {
    io: I,
    idle: Duration,
    write: Duration,
    /// Requests in flight on the connection (see [`Busy`]): while any is, a
    /// pending read is the protocol watching for the client, not idleness.
    busy: Busy,
    was_busy: bool,
    /// The last time bytes moved either way.
    last: tokio::time::Instant,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl<I> Deadline<I> {
    pub(crate) fn new(io: I, idle: Duration, write: Duration, busy: Busy) -> Self {
        let now = tokio::time::Instant::now();
        Deadline {
            io,
            idle,
            write,
            busy,
            was_busy: false,
            last: now,
            sleep: Box::pin(tokio::time::sleep_until(now + idle)),
        }
    }

    /// After a `Pending`: `Ready(Err)` once `limit` has passed since bytes
    /// last moved, else the timer is armed to wake the task then.
    fn expired(&mut self, limit: Duration, cx: &mut Context<'_>) -> Poll<io::Error> {
        let at = self.last + limit;
        if self.sleep.deadline() != at {
            self.sleep.as_mut().reset(at);
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::ErrorKind::TimedOut.into()),
            Poll::Pending => Poll::Pending,
        }
    }

    /// After a write: progress moves the deadline; `Pending` waits at most
    /// `--write-timeout` since bytes last moved.
    fn wrote(
        &mut self,
        r: Poll<io::Result<usize>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
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
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.last = tokio::time::Instant::now();
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                if self.busy.any() {
                    // A request is being answered (a slow upstream, a long
                    // poll): no idle timer until it is.
                    self.was_busy = true;
                    return Poll::Pending;
                }
                if std::mem::take(&mut self.was_busy) {
                    // Idle from the moment the last answer was given.
                    self.last = tokio::time::Instant::now();
                }
                let idle = self.idle;
                self.expired(idle, cx).map(Err)
            }
        }
    }
}

/// A connection's count of requests in flight, shared by its service (a
/// [`BusyGuard`] per request: until its response head is given over hyper,
/// its whole response over HTTP/3) and what times the connection out (its
/// [`Deadline`], HTTP/3's connection loop).
#[derive(Clone, Default)]
pub(crate) struct Busy(Arc<InFlight>);

#[derive(Default)]
struct InFlight {
    count: AtomicUsize,
    ended: Notify,
}

impl Busy {
    pub(crate) fn any(&self) -> bool {
        self.0.count.load(Ordering::Acquire) > 0
    }

    /// One more request in flight, until the guard is dropped.
    pub(crate) fn enter(&self) -> BusyGuard {
        self.0.count.fetch_add(1, Ordering::AcqRel);
        BusyGuard(self.0.clone())
    }

    /// Resolves once a request has ended (one that ended since the last
    /// call counts).
    #[cfg_attr(not(feature = "http3"), allow(dead_code))]
    pub(crate) async fn ended(&self) {
        self.0.ended.notified().await;
    }
}

/// See [`Busy::enter`].
pub(crate) struct BusyGuard(Arc<InFlight>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::AcqRel);
        self.0.ended.notify_one();
    }
}

impl<I: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Deadline<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.wrote(r, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.wrote(r, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.io).poll_flush(cx) {
            Poll::Pending => {
                let write = self.write;
                self.expired(write, cx).map(Err)
            }
            r => r,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::AcceptFailures;
    use std::io;

    #[test]
    fn a_run_of_accept_failures_logs_its_start_and_its_end_once() {
        let mut f = AcceptFailures::default();
        let emfile = io::Error::from_raw_os_error(24);
        assert_eq!(f.accepted(), None, "no run, nothing to say");
        let first = f.failed(&emfile).expect("the first failure is logged");
        assert!(first.starts_with("ferry: accept: "), "{first}");
        assert!(first.ends_with("retrying every 50 ms"), "{first}");
        for _ in 0..99 {
            assert_eq!(f.failed(&emfile), None, "later failures are not");
        }
        assert_eq!(
            f.accepted().as_deref(),
            Some("ferry: accept: resumed after 100 failed attempts")
        );
        assert_eq!(f.accepted(), None, "a second success ends nothing");
        assert!(f.failed(&emfile).is_some(), "a new run is logged again");
    }

    #[test]
    fn a_burst_of_connections_waits_in_the_queue_beyond_std_s_backlog_of_128() {
        let limit: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(4096);
        // The kernel caps the backlog at its limit: where that is std's 128
        // or less there is nothing to show.
        let n = limit.min(300);
        if n <= 130 {
            return;
        }
        let l = super::listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        // Nothing accepts: every connection waits in the accept queue. With
        // a backlog of 128 the 130th SYN is dropped and its connect times
        // out.
        let mut held = Vec::new();
        for i in 0..n {
            match std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)) {
                Ok(s) => held.push(s),
                Err(e) => panic!("connection {} of {n} not queued: {e}", i + 1),
            }
        }
    }
}
