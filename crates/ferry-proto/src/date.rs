//! HTTP-date ([RFC 9110 §5.6.7]) and Last-Modified ([§8.8.2]).
use std::time::SystemTime;

/// Parses an HTTP-date in any of the three forms (IMF-fixdate, RFC 850, asctime).
/// Returns `None` for anything else (callers ignore such fields, §13.1.3/§13.1.4).
pub fn parse_http_date(value: &[u8]) -> Option<SystemTime> { todo!() }

/// Formats `t` (truncated to whole seconds) as IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn fmt_http_date(t: SystemTime) -> String { todo!() }

/// Truncates to whole seconds since the epoch (times before the epoch become the epoch).
pub fn truncate_to_secs(t: SystemTime) -> SystemTime { todo!() }

/// The Last-Modified value to send: `min(mtime, now)` truncated to seconds (§8.8.2.1).
pub fn clamp_last_modified(mtime: SystemTime, now: SystemTime) -> SystemTime { todo!() }

/// A parsed `If-Modified-Since` value, including Django's legacy `; length=N` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfModifiedSince {
    /// The date (whole seconds).
    pub date: SystemTime,
    /// The `length=N` parameter, when present and valid.
    pub length: Option<u64>,
}

/// Parses an If-Modified-Since value: an HTTP-date optionally followed by `; length=N`.
pub fn parse_if_modified_since(value: &[u8]) -> Option<IfModifiedSince> { todo!() }
