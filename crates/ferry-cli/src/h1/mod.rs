//! The HTTP/1.1 fast path (RFC 9112) for both commands, over plain TCP and
//! over TLS when ALPN chose `http/1.1` or nothing: a request parser that
//! borrows from the read buffer, request bodies decoded as the application
//! asks for them, responses written with one `write` for small files (one
//! TLS record), and `sendfile(2)` (plaintext) or file reads in 64 KiB chunks
//! (TLS) for large ones.
//!
//! This module only does the wire: framing, keep-alive, pipelining, the
//! header/idle/write timeouts and lingering close, once for both transports
//! ([`wire::Wire`]). Every request is answered by the one [`Pipeline`], as
//! on every other protocol.
mod conn;
pub(crate) mod parse;
pub(crate) mod pool;
pub(crate) mod wire;
mod write;

pub(crate) use write::read_exact_at;

use crate::pipeline::{App, Pipeline};
use crate::settings::Settings;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What every fast-path connection of one listener shares.
pub(crate) struct Shared<A> {
    pipeline: Arc<Pipeline<A>>,
    idle_timeout: Duration,
    write_timeout: Duration,
    header_timeout: Duration,
    max_head: usize,
}

impl<A: App> Shared<A> {
    /// What the connections of a listener answering with `pipeline` share.
    pub(crate) fn new(pipeline: Arc<Pipeline<A>>, s: &Settings) -> Self {
        Shared {
            pipeline,
            idle_timeout: s.idle_timeout,
            write_timeout: s.write_timeout,
            header_timeout: s.header_timeout,
            max_head: s.max_head,
        }
    }
}

/// The connection function of a plaintext HTTP/1.1 listener answering with
/// `pipeline`.
pub(crate) fn serve<A: App>(pipeline: Arc<Pipeline<A>>, s: &Settings) -> crate::net::Serve {
    let shared = Arc::new(Shared::new(pipeline, s));
    Arc::new(move |stream, peer, stop| {
        let shared = shared.clone();
        Box::pin(async move {
            let mut c = conn::Conn::new(stream, peer, &shared, stop);
            let r = c.run().await;
            tracing::debug!(result = ?r.err(), "h1 connection done");
        })
    })
}

/// Serves one HTTP/1.1 connection over `wire` (TCP, or TLS after its
/// handshake) until it ends, or until it is idle once `stop` turns true.
pub(crate) async fn connection<A: App, W: wire::Wire>(
    shared: &Shared<A>,
    wire: W,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
) {
    let mut c = conn::Conn::new(wire, peer, shared, stop);
    let r = c.run().await;
    tracing::debug!(result = ?r.err(), "h1 connection done");
}
