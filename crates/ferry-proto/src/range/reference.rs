//! The reference range resolver: `resolve` as it was before it was made
//! fast, kept so the fast one is checked against it by the tests and by the
//! `range` fuzz target (a differential: both must agree on every input).
use super::*;

/// `resolve` as it was before it split the list without regard to quotes,
/// parsed numbers in one pass and coalesced in place: the reference the
/// current one must agree with on every input.
///
/// Since the parts keep request order (§14.6), its coalescing is done another
/// way than `coalesce_in_order`: the sorted, merged ranges as before, each
/// then placed by the earliest request position of the ranges it covers.
pub(crate) fn resolve_reference(value: &[u8], len: u64) -> Resolved {
    fn number(s: &[u8]) -> Option<u64> {
        if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(
            s.iter()
                .try_fold(0u64, |n, &d| {
                    n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
                })
                .unwrap_or(u64::MAX),
        )
    }
    let value = crate::list::trim(value);
    let Some(eq) = value.iter().position(|&b| b == b'=') else {
        return Resolved::Ignore;
    };
    if !value[..eq].eq_ignore_ascii_case(b"bytes") {
        return Resolved::Ignore;
    }
    let mut ranges: Vec<Range<u64>> = Vec::new();
    let (mut requested, mut count, mut saw_suffix_on_empty) = (0u64, 0usize, false);
    for item in crate::list::split(&value[eq + 1..]) {
        count += 1;
        if count > MAX_RANGES {
            return Resolved::Ignore;
        }
        let Some(dash) = item.iter().position(|&b| b == b'-') else {
            return Resolved::Ignore;
        };
        let (first, last) = (&item[..dash], &item[dash + 1..]);
        let spec = if first.is_empty() {
            number(last).map(Spec::Suffix)
        } else {
            match (number(first), last.is_empty()) {
                (Some(f), true) => Some(Spec::Int(f, None)),
                (Some(f), false) => number(last)
                    .filter(|&l| f <= l)
                    .map(|l| Spec::Int(f, Some(l))),
                (None, _) => None,
            }
        };
        let Some(spec) = spec else {
            return Resolved::Ignore;
        };
        let r = match spec {
            Spec::Int(first, _) if first >= len => continue,
            Spec::Int(first, last) => first..last.map_or(len, |l| l.saturating_add(1).min(len)),
            Spec::Suffix(0) => continue,
            Spec::Suffix(_) if len == 0 => {
                saw_suffix_on_empty = true;
                continue;
            }
            Spec::Suffix(n) => len - n.min(len)..len,
        };
        requested = requested.saturating_add(r.end - r.start);
        ranges.push(r);
    }
    if count == 0 {
        return Resolved::Ignore;
    }
    if ranges.is_empty() {
        return if saw_suffix_on_empty {
            Resolved::Ignore
        } else {
            Resolved::Unsatisfiable
        };
    }
    if ranges.len() > 1 && requested > len {
        return Resolved::Ignore;
    }
    let mut by_start: Vec<(usize, Range<u64>)> = ranges.into_iter().enumerate().collect();
    by_start.sort_unstable_by_key(|(_, r)| r.start);
    // (first request position, merged range)
    let mut merged: Vec<(usize, Range<u64>)> = Vec::with_capacity(by_start.len());
    for (at, r) in by_start {
        match merged.last_mut() {
            Some((first, last)) if r.start <= last.end => {
                last.end = last.end.max(r.end);
                *first = (*first).min(at);
            }
            _ => merged.push((at, r)),
        }
    }
    merged.sort_unstable_by_key(|(first, _)| *first);
    let merged = merged.into_iter().map(|(_, r)| r).collect();
    Resolved::Satisfiable(RangeSet { ranges: merged })
}
