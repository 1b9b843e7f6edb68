//! A bounded in-memory cache of coded variants, so that a hot file is
//! compressed once and not per request.
//!
//! Keyed by the store key, then the coding; each slot remembers which version
//! of the file it was made from (the identity ETag, length and modification
//! time), so a changed file misses and its new variant replaces the old. The
//! bound counts the variants' bytes; when a new one would pass it, the least
//! recently used variants go first (an exact LRU: a scan over the entries on
//! insert, which is rare next to a compression, never on a hit).
use bytes::Bytes;
use ferry_proto::{ContentCoding, EntityTag};
use http::HeaderValue;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

/// The version of the identity representation a variant was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    pub(crate) etag: EntityTag,
    pub(crate) len: u64,
    pub(crate) modified: Option<SystemTime>,
}

/// A variant as served: its bytes (`None`: coding did not make it smaller,
/// send identity), its ETag and the ETag's header value, formatted once.
#[derive(Debug, Clone)]
pub(crate) struct Variant {
    pub(crate) bytes: Option<Bytes>,
    pub(crate) etag: EntityTag,
    pub(crate) etag_value: HeaderValue,
}

impl Variant {
    /// What the variant costs in the cache: its bytes, and a little for a
    /// refused one so that the bound also bounds their number.
    fn cost(&self) -> usize {
        self.bytes.as_ref().map_or(64, |b| b.len().max(64))
    }
}

#[derive(Debug)]
struct Slot {
    version: Version,
    variant: Variant,
    used: u64,
}

#[derive(Debug, Default)]
struct State {
    /// By key, then by coding in [`ContentCoding::ALL`] order.
    map: HashMap<Box<str>, [Option<Slot>; 3]>,
    bytes: usize,
    clock: u64,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct VariantCache {
    max_bytes: usize,
    state: Mutex<State>,
}

impl VariantCache {
    /// A cache holding at most `max_bytes` of variants (0: nothing is kept).
    pub(crate) fn new(max_bytes: usize) -> Self {
        VariantCache {
            max_bytes,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The variant of `key` in `coding`, if it was made from `version`.
    pub(crate) fn get(
        &self,
        key: &str,
        coding: ContentCoding,
        version: &Version,
    ) -> Option<Variant> {
        let mut s = self.lock();
        s.clock += 1;
        let now = s.clock;
        let slot = s.map.get_mut(key)?[coding.index()].as_mut()?;
        if slot.version != *version {
            return None;
        }
        slot.used = now;
        Some(slot.variant.clone())
    }

    /// Keeps `variant`, evicting the least recently used ones to stay within
    /// the bound; a variant larger than the whole bound is not kept.
    pub(crate) fn insert(
        &self,
        key: &str,
        coding: ContentCoding,
        version: Version,
        variant: Variant,
    ) {
        let cost = variant.cost();
        if cost > self.max_bytes {
            return;
        }
        let mut s = self.lock();
        s.clock += 1;
        let now = s.clock;
        // The old variant of this key and coding (another version) goes.
        if let Some(old) = s
            .map
            .get_mut(key)
            .and_then(|slots| slots[coding.index()].take())
        {
            s.bytes -= old.variant.cost();
        }
        while s.bytes + cost > self.max_bytes {
            if !evict_oldest(&mut s) {
                break;
            }
        }
        s.bytes += cost;
        let slots = s.map.entry(key.into()).or_default();
        slots[coding.index()] = Some(Slot {
            version,
            variant,
            used: now,
        });
    }

    /// Bytes held, for tests.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

/// Drops the least recently used variant; `false` when there is none.
fn evict_oldest(s: &mut State) -> bool {
    let oldest = s
        .map
        .iter()
        .flat_map(|(k, slots)| {
            slots
                .iter()
                .enumerate()
                .filter_map(move |(i, slot)| slot.as_ref().map(|slot| (slot.used, k, i)))
        })
        .min_by_key(|(used, _, _)| *used)
        .map(|(_, k, i)| (k.clone(), i));
    let Some((key, i)) = oldest else {
        return false;
    };
    if let Some(slots) = s.map.get_mut(&key) {
        if let Some(old) = slots[i].take() {
            s.bytes -= old.variant.cost();
        }
        if slots.iter().all(Option::is_none) {
            s.map.remove(&key);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use ContentCoding::{Br, Gzip, Zstd};

    fn version(n: u64) -> Version {
        Version {
            etag: EntityTag::strong(&format!("v{n}")).unwrap(),
            len: n,
            modified: None,
        }
    }

    fn variant(len: usize) -> Variant {
        Variant {
            bytes: Some(Bytes::from(vec![b'x'; len])),
            etag: EntityTag::strong("t").unwrap(),
            etag_value: HeaderValue::from_static("\"t\""),
        }
    }

    #[test]
    fn hits_only_the_same_version_and_coding() {
        let c = VariantCache::new(10_000);
        c.insert("a.css", Zstd, version(1), variant(100));
        assert!(c.get("a.css", Zstd, &version(1)).is_some());
        assert!(c.get("a.css", Br, &version(1)).is_none());
        assert!(c.get("a.css", Zstd, &version(2)).is_none());
        assert!(c.get("b.css", Zstd, &version(1)).is_none());
        // A new version replaces the old one, not adds to it.
        c.insert("a.css", Zstd, version(2), variant(300));
        assert_eq!(c.bytes(), 300);
        assert!(c.get("a.css", Zstd, &version(1)).is_none());
        assert!(c.get("a.css", Zstd, &version(2)).is_some());
    }

    #[test]
    fn the_bound_holds_and_the_least_recently_used_go_first() {
        let c = VariantCache::new(1000);
        for (i, k) in ["a", "b", "c"].iter().enumerate() {
            c.insert(k, Gzip, version(i as u64), variant(300));
        }
        assert_eq!(c.bytes(), 900);
        // `a` is used, so `b` is now the least recently used.
        assert!(c.get("a", Gzip, &version(0)).is_some());
        c.insert("d", Gzip, version(3), variant(300));
        assert!(c.bytes() <= 1000);
        assert!(c.get("b", Gzip, &version(1)).is_none());
        for (k, n) in [("a", 0), ("c", 2), ("d", 3)] {
            assert!(c.get(k, Gzip, &version(n)).is_some(), "{k}");
        }
        // Many inserts never pass the bound.
        for i in 0..100 {
            c.insert(
                &format!("f{i}"),
                Br,
                version(i),
                variant(10 + i as usize * 7),
            );
            assert!(c.bytes() <= 1000, "after {i}: {}", c.bytes());
        }
        // Larger than the bound: not kept, and nothing evicted for it.
        let before = c.bytes();
        c.insert("huge", Zstd, version(0), variant(1001));
        assert!(c.get("huge", Zstd, &version(0)).is_none());
        assert_eq!(c.bytes(), before);
    }

    #[test]
    fn a_zero_bound_keeps_nothing() {
        let c = VariantCache::new(0);
        c.insert("a", Zstd, version(1), variant(1));
        assert!(c.get("a", Zstd, &version(1)).is_none());
        assert_eq!(c.bytes(), 0);
    }
}
