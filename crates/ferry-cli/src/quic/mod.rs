//! HTTP/3 ([RFC 9114]) beside every HTTPS listener: a QUIC endpoint
//! (quinn) on the same UDP port, HTTP/3 framing and QPACK (h3), and every
//! request through the same [`Pipeline`] as HTTPS over TCP, so the answers,
//! the headers, the access-log line (`HTTP/3.0`) and the metrics are the same.
//!
//! Limits, as for HTTP/2: `--http3-max-streams` concurrent requests a
//! connection, `--idle-timeout` without a request in flight, the header
//! section bounded like HTTP/2's header list, `--max-connections` slots,
//! `--header-timeout` for the handshakes (QUIC's, then HTTP/3's set-up) and
//! each request head, `--write-timeout` for a client that takes no more of a
//! response, a graceful drain on SIGTERM (GOAWAY, then in-flight responses
//! finish), and `--quic-retry` for address validation.
//!
//! [RFC 9114]: https://www.rfc-editor.org/rfc/rfc9114
mod stream;

use crate::net::{Busy, BusyGuard, Conns, Datagram, Slot};
use crate::pipeline::{App, Pipeline};
use crate::settings::Settings;
use crate::tls::Https;
use anyhow::Context as _;
use bytes::Bytes;
use http::HeaderValue;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// HTTP/3's settings, from the TLS flags.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Http3 {
    /// `--alt-svc-max-age` (0: no Alt-Svc).
    pub(crate) alt_svc_max_age: u64,
    /// `--quic-retry`.
    pub(crate) retry: bool,
    /// `--http3-max-streams`.
    pub(crate) max_streams: u32,
}

impl Http3 {
    /// HTTP/3 as `tls` asks for it; `None` with `--no-http3`.
    pub(crate) fn from_args(tls: &crate::args::TlsArgs) -> Option<Http3> {
        (!tls.no_http3).then_some(Http3 {
            alt_svc_max_age: tls.alt_svc_max_age,
            retry: tls.quic_retry,
            max_streams: tls.http3_max_streams,
        })
    }

    /// The `Alt-Svc` field value that advertises HTTP/3 on UDP `port` for
    /// `--alt-svc-max-age` seconds ([RFC 7838 §3], [RFC 9114 §3.1.1]), or
    /// `None` when it is 0.
    ///
    /// [RFC 7838 §3]: https://www.rfc-editor.org/rfc/rfc7838#section-3
    /// [RFC 9114 §3.1.1]: https://www.rfc-editor.org/rfc/rfc9114#section-3.1.1
    pub(crate) fn alt_svc(&self, port: u16) -> Option<HeaderValue> {
        if self.alt_svc_max_age == 0 {
            return None;
        }
        let v = format!("h3=\":{port}\"; ma={}", self.alt_svc_max_age);
        HeaderValue::try_from(v).ok()
    }
}

/// The limits every connection of the endpoint keeps.
#[derive(Clone, Copy)]
struct Limits {
    handshake: Duration,
    idle: Duration,
    write: Duration,
    /// The header section bound given to h3 (see [`serve`]).
    field_section: u64,
    retry: bool,
}

/// What a client may have sent that ferry has not read yet, on one
/// connection: hyper's HTTP/2 connection window (1 MiB). quinn's default
/// has no connection-wide bound, and `ferry serve` never reads a request
/// body.
const RECEIVE_WINDOW: u32 = 1 << 20;

/// The same for one stream, unless the header section's bound is larger
/// (h3 holds a whole HEADERS frame before it decodes it).
const STREAM_RECEIVE_WINDOW: u32 = 256 << 10;

/// The QUIC endpoint's configuration: `https`'s certificates for ALPN `h3`,
/// `h3`'s stream limit, the receive windows (what a client can make ferry
/// hold), and the transport's idle timeout (a dead peer); keep-alive pings
/// keep a live but quiet one (a long answer, a slow upstream) open, and
/// ferry's own `--idle-timeout` counts from the last answer instead, as
/// over TCP. Responses are bounded by the client's windows, not these.
fn server_config(
    https: &Https,
    s: &Settings,
    h3: Http3,
    field_section: u64,
) -> anyhow::Result<quinn::ServerConfig> {
    let tls = quinn::crypto::rustls::QuicServerConfig::try_from(https.quic_tls()?)
        .context("QUIC's TLS configuration")?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(tls));
    let stream_window = u64::from(STREAM_RECEIVE_WINDOW).max(field_section);
    let window = u64::from(RECEIVE_WINDOW).max(stream_window);
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(h3.max_streams.into())
        // The client's control and QPACK streams (RFC 9114 §6.2), and room
        // for extensions it may open.
        .max_concurrent_uni_streams(8u32.into())
        .stream_receive_window(
            quinn::VarInt::from_u64(stream_window).context("QUIC's stream window")?,
        )
        .receive_window(quinn::VarInt::from_u64(window).context("QUIC's receive window")?)
        // No HTTP/3 datagrams (RFC 9297) are read: none are buffered.
        .datagram_receive_buffer_size(None)
        .max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(s.idle_timeout).context("--idle-timeout for QUIC")?,
        ))
        .keep_alive_interval(Some(s.idle_timeout / 3));
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// The UDP listener for HTTP/3 on `socket`, answering with `pipeline`
/// (the HTTPS listener's, so `--hsts` and `Alt-Svc` are on these responses
/// too).
///
/// # Errors
/// A TLS configuration QUIC cannot use; the returned listener's start, a
/// socket quinn cannot use.
pub(crate) fn serve<A: App>(
    pipeline: Arc<Pipeline<A>>,
    s: &Settings,
    https: &Https,
    h3: Http3,
    socket: std::net::UdpSocket,
) -> anyhow::Result<Datagram> {
    let limits = Limits {
        handshake: s.header_timeout,
        idle: s.idle_timeout,
        write: s.write_timeout,
        // As for HTTP/2: h3 counts 32 bytes a field on top of name and
        // value (RFC 9114 §4.2.2), so twice the limit; below it the pipeline
        // checks `--max-header-bytes` exactly and answers 431 as elsewhere.
        field_section: (s.max_head as u64).saturating_mul(2),
        retry: h3.retry,
    };
    let config = server_config(https, s, h3, limits.field_section)?;
    let at = socket.local_addr()?;
    Ok(Box::new(move |conns: Conns| {
        // In the main runtime, which drives the endpoint.
        let endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(config),
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .with_context(|| format!("cannot serve HTTP/3 on UDP {at} (--no-http3 turns it off)"))?;
        Ok(Box::pin(async move {
            accept_loop(&endpoint, pipeline, conns, limits).await;
        }) as Pin<Box<dyn Future<Output = ()> + Send>>)
    }))
}

/// Accepts connections until shutdown begins, then closes the endpoint
/// once its connections are done.
async fn accept_loop<A: App>(
    endpoint: &quinn::Endpoint,
    pipeline: Arc<Pipeline<A>>,
    conns: Conns,
    limits: Limits,
) {
    let mut stop = conns.stop.clone();
    loop {
        let incoming = tokio::select! {
            biased;
            _ = stop.changed() => break,
            i = endpoint.accept() => match i {
                Some(i) => i,
                None => return,
            },
        };
        // RFC 9000 §8.1.2: a Retry makes the client prove it receives at
        // its address before the server spends a handshake on it.
        if limits.retry && !incoming.remote_address_validated() && incoming.may_retry() {
            tracing::debug!(peer = %incoming.remote_address(), "QUIC Retry sent");
            let _ = incoming.retry();
            continue;
        }
        // At --max-connections: refused (CONNECTION_REFUSED, RFC 9000 §20.1).
        let Some(slot) = conns.slot() else {
            incoming.refuse();
            continue;
        };
        let peer = incoming.remote_address();
        let span = tracing::debug_span!("conn", %peer, proto = "h3");
        tokio::spawn(tracing::Instrument::instrument(
            connection(
                pipeline.clone(),
                incoming,
                peer,
                Arc::new(slot),
                stop.clone(),
                limits,
            ),
            span,
        ));
    }
    // No new connections; the drain waits for the open ones (each holds a
    // slot), then the endpoint says goodbye.
    endpoint.set_server_config(None);
    endpoint.wait_idle().await;
}

/// One request in flight: counted in its connection's [`Busy`], and
/// holding the connection's `--max-connections` slot until its response is
/// done.
struct InFlight {
    _busy: BusyGuard,
    _slot: Arc<Slot>,
}

/// HTTP/3's "no error" code (RFC 9114 §8.1), for closes without a fault.
const H3_NO_ERROR: u32 = 0x100;
/// HTTP/3's code for a peer that broke the protocol otherwise (RFC 9114 §8.1).
const H3_GENERAL_PROTOCOL_ERROR: u32 = 0x101;

/// Serves one QUIC connection: the handshake, then its requests, each on a
/// task of its own, until the client closes, `--idle-timeout` passes with
/// no request in flight, or shutdown begins (GOAWAY, then the requests in
/// flight finish).
async fn connection<A: App>(
    pipeline: Arc<Pipeline<A>>,
    incoming: quinn::Incoming,
    peer: SocketAddr,
    slot: Arc<Slot>,
    mut stop: watch::Receiver<bool>,
    limits: Limits,
) {
    let Ok(connecting) = incoming.accept() else {
        return;
    };
    let Ok(Ok(quic)) = tokio::time::timeout(limits.handshake, connecting).await else {
        tracing::debug!("QUIC handshake failed or timed out");
        return;
    };
    // h3 opens its control and QPACK streams and sends its SETTINGS: a
    // client that never allows them (RFC 9114 §6.2: it MUST) would hold the
    // slot for ever, kept alive by the pings.
    let mut builder = h3::server::builder();
    builder.max_field_section_size(limits.field_section);
    let built = builder.build::<_, Bytes>(h3_quinn::Connection::new(quic.clone()));
    let mut conn = match tokio::time::timeout(limits.handshake, built).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(_)) => return,
        Err(_) => {
            tracing::debug!("HTTP/3 set-up timed out");
            quic.close(H3_GENERAL_PROTOCOL_ERROR.into(), b"set-up timed out");
            return;
        }
    };
    let busy = Busy::default();
    // When the connection last went idle (at first, now), and whether it
    // was idle when last looked at (or a request began since).
    let mut last_end = tokio::time::Instant::now();
    let mut was_idle = true;
    let mut draining = false;
    loop {
        let idle = !busy.any();
        if idle && !was_idle {
            last_end = tokio::time::Instant::now();
        }
        was_idle = idle;
        if draining && idle {
            // Every request accepted before the GOAWAY is answered (h3's
            // accept would wait for the client to go).
            break;
        }
        tokio::select! {
            biased;
            _ = stop.changed(), if !draining => {
                // RFC 9114 §5.2: GOAWAY, so the client sends no new
                // request here; those accepted are answered.
                draining = true;
                if conn.shutdown(1).await.is_err() {
                    break;
                }
            }
            // A request ended: if it was the last, the idle timer starts
            // again from now (above).
            () = busy.ended() => {}
            () = tokio::time::sleep_until(last_end + limits.idle), if idle && !draining => {
                tracing::debug!("idle");
                quic.close(H3_NO_ERROR.into(), b"idle");
                break;
            }
            accepted = conn.accept() => match accepted {
                Ok(Some(resolver)) => {
                    let guard = InFlight { _busy: busy.enter(), _slot: slot.clone() };
                    was_idle = false;
                    tokio::spawn(stream::request(pipeline.clone(), resolver, peer, limits, guard));
                }
                // After a GOAWAY (ours or the client's), once the requests
                // in flight are done; or the connection is gone.
                Ok(None) | Err(_) => break,
            },
        }
    }
    // Requests still in flight (a connection that failed) keep `slot` and
    // their streams until done.
    if draining {
        // Every answer is handed to QUIC, whose buffers may still hold their
        // tail: closing now would cut it. A client that has read them closes
        // (RFC 9114 §5.2); one that does not is closed --write-timeout after
        // the last answer was handed over (as a stalled one would be).
        let tail = limits.write.saturating_sub(last_end.elapsed());
        let _ = tokio::time::timeout(tail, quic.closed()).await;
        quic.close(H3_NO_ERROR.into(), b"");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alt_svc_names_the_port_and_max_age_rfc_7838_3() {
        let h3 = Http3 {
            alt_svc_max_age: 86_400,
            retry: false,
            max_streams: 100,
        };
        assert_eq!(h3.alt_svc(8443).unwrap(), r#"h3=":8443"; ma=86400"#);
        let off = Http3 {
            alt_svc_max_age: 0,
            ..h3
        };
        assert!(off.alt_svc(8443).is_none());
    }
}
