//! Byte ranges ([RFC 9110 §14]).
use std::ops::Range;

/// Most ranges one request may ask for; more and the header is ignored (200).
pub const MAX_RANGES: usize = 100;

/// A non-empty set of satisfiable byte ranges, sorted, coalesced, inside the length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeSet { ranges: Vec<Range<u64>> }

impl RangeSet {
    pub fn as_slice(&self) -> &[Range<u64>] { &self.ranges }
    /// Sum of the ranges' lengths.
    pub fn total_len(&self) -> u64 { todo!() }
}

/// What a Range header means for a representation of `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Invalid, other unit, abusive, etc.: serve 200 as if absent (§14.2).
    Ignore,
    /// 206 with these ranges.
    Satisfiable(RangeSet),
    /// 416.
    Unsatisfiable,
}

/// Parses and resolves a Range value against `len` (§14.1.1, §14.1.2). Checked arithmetic.
pub fn resolve(value: &[u8], len: u64) -> Resolved { todo!() }

/// `bytes first-last/len` for a half-open range.
pub fn content_range(r: &Range<u64>, len: u64) -> String { todo!() }

/// `bytes */len` (§15.5.17).
pub fn unsatisfied_content_range(len: u64) -> String { todo!() }
