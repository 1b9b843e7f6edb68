//! RFC 9110 logic for serving files: HTTP-dates, entity tags, preconditions,
//! byte ranges, multipart/byteranges framing and content-coding negotiation.
//!
//! Every function here is pure: it never performs I/O and never reads the clock
//! (the current time is always an argument).
//!
//! # Deviations and choices
//!
//! - HEAD takes the GET path, ranges included ([`plan()`]).
//! - Multipart parts keep the request's order; overlapping or touching ranges
//!   are merged where the earliest of them stood ([`range::resolve`]).
//! - Several ranges of a content-coded representation ([`Meta::coded`]), or
//!   whose multipart body could not be counted in a `u64`, get 200 ([`plan()`]).
//! - More than [`range::MAX_RANGES`] range-specs, or more bytes than the
//!   representation, are ignored (200), against CVE-2011-3192.
//!
//! # Features
//!
//! - `fuzzing`: the bodies of the fuzz targets in `fuzz/`; no part of the API.
#![forbid(unsafe_code)]

pub mod date;
pub mod etag;
/// Fuzz target bodies; see `fuzz/`. Not part of the API.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzz;
pub mod list;
pub mod multipart;
pub mod negotiate;
pub mod plan;
pub mod precondition;
pub mod range;

pub use date::{fmt_http_date, parse_http_date, IfModifiedSince};
pub use etag::EntityTag;
pub use negotiate::{AcceptEncoding, ContentCoding};
pub use plan::{plan, Meta, Plan};
pub use precondition::{Condition, Outcome};
pub use range::{RangeSet, Resolved};

/// A value that could not be parsed. Returned by `FromStr` impls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub(crate) &'static str);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for ParseError {}
