//! The listener settings every server command shares, validated once: the
//! flags (and FERRY_* variables and the config file, already merged by
//! [`crate::config`]) become durations, bounds and an open access log here,
//! and nothing downstream clamps again.
use crate::accesslog::AccessLog;
use crate::args::ServerArgs;
use anyhow::Context as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// `--listen`, the limits, the timeouts, the log and the metrics switch.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) listen: SocketAddr,
    /// `--header-timeout`: from a head's first byte to its end.
    pub(crate) header_timeout: Duration,
    /// `--idle-timeout`: an idle keep-alive connection.
    pub(crate) idle_timeout: Duration,
    /// `--write-timeout`: a client that accepts no more of a response.
    pub(crate) write_timeout: Duration,
    /// `--drain-timeout`: in-flight responses after SIGTERM.
    pub(crate) drain_timeout: Duration,
    /// `--max-header-bytes`, exactly, on every transport.
    pub(crate) max_head: usize,
    /// `--max-connections`.
    pub(crate) max_connections: usize,
    /// `--health-check PATH`.
    pub(crate) health: Option<Arc<str>>,
    /// The access log (none with `--no-access-log`), opened.
    pub(crate) log: Option<Arc<AccessLog>>,
    /// `--metrics ADDR` (the recorder is installed when it is set).
    pub(crate) metrics: Option<SocketAddr>,
}

impl Settings {
    /// Validates `args` (and opens the access log).
    ///
    /// # Errors
    /// An access log file that cannot be opened for appending.
    pub(crate) fn from_args(args: &ServerArgs) -> anyhow::Result<Self> {
        let log = if args.no_access_log {
            None
        } else {
            let log = AccessLog::open(args.access_log_format, args.access_log.clone())
                .with_context(|| match &args.access_log {
                    Some(p) => format!("cannot open the access log {}", p.display()),
                    None => "cannot open the access log".to_owned(),
                })?;
            Some(Arc::new(log))
        };
        // clap's value ranges (which the file and FERRY_* values pass through
        // too) are the bounds; nothing is clamped again here.
        let secs = Duration::from_secs;
        Ok(Settings {
            listen: args.listen,
            header_timeout: secs(args.header_timeout),
            idle_timeout: secs(args.idle_timeout),
            write_timeout: secs(args.write_timeout),
            drain_timeout: Duration::from_secs(args.drain_timeout),
            max_head: args.max_header_bytes,
            max_connections: args.max_connections,
            health: args.health_check.as_deref().map(Arc::from),
            log,
            metrics: args.metrics,
        })
    }
}
