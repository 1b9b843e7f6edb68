//! The decision: method, headers, metadata and time in; what to send out.
use crate::{EntityTag, RangeSet};
use http::{HeaderMap, Method};
use std::ops::Range;
use std::time::SystemTime;

/// Metadata of the selected representation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub len: u64,
    pub etag: Option<EntityTag>,
    /// Raw modification time (sub-second allowed).
    pub last_modified: Option<SystemTime>,
}

/// What to send, decided without touching the body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Plan {
    Full,
    Partial(Range<u64>),
    Multipart(RangeSet),
    NotModified,
    PreconditionFailed,
    RangeNotSatisfiable,
    MethodNotAllowed,
}

/// GET/HEAD only (others MethodNotAllowed); preconditions §13.2.2 steps 1-4, then
/// step 5: Range (GET and HEAD; HEAD gets the same status/headers as GET) gated by If-Range.
pub fn plan(method: &Method, headers: &HeaderMap, meta: &Meta, now: SystemTime) -> Plan { todo!() }
