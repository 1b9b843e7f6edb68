//! The HTTP/1.1 fast path (RFC 9112) for plaintext listeners of both
//! commands: a request parser that borrows from the read buffer, request
//! bodies decoded as the application asks for them, responses written with one
//! `write` for small files and `sendfile(2)` for large ones.
//!
//! This module only does the wire: framing, keep-alive, pipelining, the
//! header/idle/write timeouts and lingering close. Every request is answered
//! by the one [`Pipeline`], as on every other
//! protocol.
mod conn;
pub(crate) mod parse;
pub(crate) mod pool;
mod write;

pub(crate) use write::read_exact_at;

use crate::pipeline::{App, Pipeline};
use crate::settings::Settings;
use std::sync::Arc;
use std::time::Duration;

/// What every fast-path connection of one listener shares.
pub(crate) struct Shared<A> {
    pipeline: Arc<Pipeline<A>>,
    idle_timeout: Duration,
    write_timeout: Duration,
    header_timeout: Duration,
    max_head: usize,
}

/// The connection function of a plaintext HTTP/1.1 listener answering with
/// `pipeline`.
pub(crate) fn serve<A: App>(pipeline: Arc<Pipeline<A>>, s: &Settings) -> crate::net::Serve {
    let shared = Arc::new(Shared {
        pipeline,
        idle_timeout: s.idle_timeout,
        write_timeout: s.write_timeout,
        header_timeout: s.header_timeout,
        max_head: s.max_head,
    });
    Arc::new(move |stream, peer, stop| {
        let shared = shared.clone();
        Box::pin(async move {
            let mut c = conn::Conn::new(stream, peer, &shared, stop);
            let r = c.run().await;
            tracing::debug!(result = ?r.err(), "h1 connection done");
        })
    })
}
