//! A bounded in-memory cache of coded variants, so that a hot file is
//! compressed once and not per request.
//!
//! Keyed by the store key, then the coding; each slot remembers which version
//! of the file it was made from (the identity ETag, length and modification
//! time), so a changed file misses and its new variant replaces the old. The
//! bound counts the variants' bytes and what each entry holds besides
//! ([`cost`]); when a new one would pass it, the least
//! recently used variants go first (an exact LRU: an index in use order,
//! updated on each hit and insert, whose first entry is evicted, in O(log n)).
use bytes::Bytes;
use ferry_proto::{ContentCoding, EntityTag};
use http::HeaderValue;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
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

/// What every entry holds besides its key and tags: the key's slot array and
/// the entry's place in the use order.
const ENTRY: usize =
    std::mem::size_of::<[Option<Slot>; 3]>() + std::mem::size_of::<(u64, (Arc<str>, usize))>();

/// What keeping `variant` of `version` under `key` costs: its bytes, and
/// what holds them (the key's slot array and use order entry, the key, the identity's tag and
/// both copies of the variant's), which every entry has, a refused one too,
/// so that the bound also bounds how many entries there are.
///
/// Choice: the slot array and key are charged to each coding's entry, though
/// a key's codings share them; the bound errs on the side of holding less.
fn cost(key: &str, version: &Version, variant: &Variant) -> usize {
    variant.bytes.as_ref().map_or(0, Bytes::len)
        + ENTRY
        + key.len()
        + version.etag.opaque().len()
        + variant.etag.opaque().len()
        + variant.etag_value.len()
}

#[derive(Debug)]
struct Slot {
    version: Version,
    variant: Variant,
    /// [`cost`], as charged when the slot was filled.
    cost: usize,
    /// When it was last used: its key in [`State::lru`].
    used: u64,
}

#[derive(Debug, Default)]
struct State {
    /// By key, then by coding in [`ContentCoding::ALL`] order.
    map: HashMap<Arc<str>, [Option<Slot>; 3]>,
    /// Use order: [`Slot::used`] → key and coding index; the first is the
    /// least recently used. One entry per filled slot.
    lru: BTreeMap<u64, (Arc<str>, usize)>,
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
        let State {
            map, lru, clock, ..
        } = &mut *s;
        let slot = map.get_mut(key)?[coding.index()].as_mut()?;
        if slot.version != *version {
            return None;
        }
        *clock += 1;
        if let Some(entry) = lru.remove(&slot.used) {
            lru.insert(*clock, entry);
        }
        slot.used = *clock;
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
        let cost = cost(key, &version, &variant);
        if cost > self.max_bytes {
            return;
        }
        let i = coding.index();
        let mut guard = self.lock();
        let s = &mut *guard;
        // The old variant of this key and coding (another version) goes.
        if let Some(old) = s.map.get_mut(key).and_then(|slots| slots[i].take()) {
            s.bytes -= old.cost;
            s.lru.remove(&old.used);
        }
        while s.bytes + cost > self.max_bytes {
            let Some((_, (k, j))) = s.lru.pop_first() else {
                break;
            };
            if let Some(slots) = s.map.get_mut(&k) {
                if let Some(old) = slots[j].take() {
                    s.bytes -= old.cost;
                }
                if slots.iter().all(Option::is_none) {
                    s.map.remove(&k);
                }
            }
        }
        s.clock += 1;
        let now = s.clock;
        s.bytes += cost;
        let key: Arc<str> = match s.map.get_key_value(key) {
            Some((k, _)) => k.clone(),
            None => key.into(),
        };
        s.map.entry(key.clone()).or_default()[i] = Some(Slot {
            version,
            variant,
            cost,
            used: now,
        });
        s.lru.insert(now, (key, i));
    }

    /// Bytes held, for tests, after checking that the use order and the
    /// count agree with the slots.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        let s = self.lock();
        let slots: Vec<&Slot> = s.map.values().flatten().flatten().collect();
        assert_eq!(s.lru.len(), slots.len());
        for (used, (k, i)) in &s.lru {
            assert_eq!(s.map[k][*i].as_ref().map(|slot| slot.used), Some(*used));
        }
        assert!(s
            .map
            .values()
            .all(|slots| slots.iter().any(Option::is_some)));
        assert_eq!(slots.iter().map(|slot| slot.cost).sum::<usize>(), s.bytes);
        s.bytes
    }
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

    /// What `variant(len)` of `version(n)` costs under `key`.
    fn charged(key: &str, n: u64, len: usize) -> usize {
        cost(key, &version(n), &variant(len))
    }

    #[test]
    fn each_entry_is_charged_its_bytes_and_what_holds_them() {
        let c = VariantCache::new(1 << 20);
        let key = "k".repeat(1000);
        c.insert(&key, Zstd, version(1), variant(100));
        let mut refused = variant(0);
        refused.bytes = None;
        c.insert(&key, Br, version(1), refused);
        let overhead = ENTRY + 1000 + 2 + 1 + 3;
        assert_eq!(c.bytes(), 100 + 2 * overhead);
        // So a bound of a few entries holds a few entries, whatever their size.
        let c = VariantCache::new(3 * overhead);
        for i in 0..10 {
            c.insert(&key, Gzip, version(i), variant(0));
            c.insert(&format!("{key}{i}"), Gzip, version(i), variant(0));
        }
        assert!(c.bytes() <= 3 * overhead + 6, "{}", c.bytes());
        assert!(c.lock().map.len() <= 3);
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
        assert_eq!(c.bytes(), charged("a.css", 2, 300));
        assert!(c.get("a.css", Zstd, &version(1)).is_none());
        assert!(c.get("a.css", Zstd, &version(2)).is_some());
    }

    #[test]
    fn the_bound_holds_and_the_least_recently_used_go_first() {
        // Room for three of these, not four.
        let each = charged("a", 0, 300);
        let bound = 3 * each + each / 2;
        let c = VariantCache::new(bound);
        for (i, k) in ["a", "b", "c"].iter().enumerate() {
            c.insert(k, Gzip, version(i as u64), variant(300));
        }
        assert_eq!(c.bytes(), 3 * each);
        // `a` is used, so `b` is now the least recently used.
        assert!(c.get("a", Gzip, &version(0)).is_some());
        c.insert("d", Gzip, version(3), variant(300));
        assert!(c.bytes() <= bound);
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
            assert!(c.bytes() <= bound, "after {i}: {}", c.bytes());
        }
        // Larger than the bound: not kept, and nothing evicted for it.
        let before = c.bytes();
        c.insert("huge", Zstd, version(0), variant(bound));
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
