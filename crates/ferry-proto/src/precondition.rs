//! Preconditions ([RFC 9110 §13.1]) evaluated in the order of §13.2.2.
use crate::EntityTag;
use http::{HeaderMap, Method};
use std::time::SystemTime;

/// Tri-state condition (as Go's `fs.go`): `Absent` also covers "the RFC says ignore this field".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition { Absent, True, False }

/// What the preconditions decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Go on (to Range processing and then 200/206).
    Proceed,
    /// 304 (only for GET/HEAD).
    NotModified,
    /// 412.
    PreconditionFailed,
}

/// The validators of the selected representation.
#[derive(Debug, Clone, Copy)]
pub struct Validators<'a> {
    pub etag: Option<&'a EntityTag>,
    /// Raw modification time (sub-second precision allowed; compared at second precision).
    pub last_modified: Option<SystemTime>,
    /// Current length (for Django's `If-Modified-Since: <date>; length=N`).
    pub len: u64,
}

/// §13.1.1 If-Match (strong comparison; `*` true when a representation exists).
pub fn if_match(headers: &HeaderMap, v: &Validators<'_>) -> Condition { todo!() }
/// §13.1.4 If-Unmodified-Since (ignored when If-Match present or date invalid).
pub fn if_unmodified_since(headers: &HeaderMap, v: &Validators<'_>) -> Condition { todo!() }
/// §13.1.2 If-None-Match (weak comparison). True = no tag matched.
pub fn if_none_match(headers: &HeaderMap, v: &Validators<'_>) -> Condition { todo!() }
/// §13.1.3 If-Modified-Since (GET/HEAD only; ignored when If-None-Match present or invalid).
/// True = modified since. Django length param: differing length counts as modified.
pub fn if_modified_since(method: &Method, headers: &HeaderMap, v: &Validators<'_>) -> Condition { todo!() }
/// §13.1.5 If-Range. True = send the range. Weak tag never matches; date only matches when it
/// equals Last-Modified exactly and Last-Modified is strong (§8.8.2.2: at least 1 s before `now`).
/// `Absent` when no If-Range (or invalid).
pub fn if_range(headers: &HeaderMap, v: &Validators<'_>, now: SystemTime) -> Condition { todo!() }

/// Steps 1–4 of §13.2.2.
pub fn evaluate(method: &Method, headers: &HeaderMap, v: &Validators<'_>) -> Outcome { todo!() }
