//! Bodies of the cargo-fuzz targets over the library's own parsers of
//! untrusted input: URL paths to store keys, and the hand-off headers an
//! application sends (`X-Accel-Redirect`, `X-Sendfile`). Each is a plain
//! function that asserts its invariants; a proptest drives it on stable and
//! `fuzz/fuzz_targets/{store_key,handoff}.rs` are two-line shells around it.
//! Only with the `test-util` feature.
use crate::sendfile::{Honor, X_ACCEL_REDIRECT, X_SENDFILE};
use crate::store::{Hidden, Key};
use crate::FsStore;
use http::{HeaderMap, HeaderValue};
use std::path::{Component, Path};
use std::sync::OnceLock;

/// The invariants of a store key, whatever it was made from: relative, and
/// no segment that is empty, `.`, `..`, or holds `\`, NUL or `:`.
fn check_key(key: &Key, hidden: Hidden) {
    let s = key.as_str();
    assert!(!s.starts_with('/') && !s.ends_with('/'), "{s:?}");
    if s.is_empty() {
        return;
    }
    for seg in s.split('/') {
        assert!(!seg.is_empty() && seg != "." && seg != "..", "{s:?}");
        assert!(!seg.contains(['\\', '\0', ':']), "{s:?}");
        assert!(!seg.chars().any(char::is_control), "{s:?}");
    }
    if hidden == Hidden::Deny {
        for (i, seg) in s.split('/').enumerate() {
            assert!(
                !seg.starts_with('.') || (i == 0 && seg == ".well-known"),
                "hidden segment served: {s:?}"
            );
        }
    }
    // Joined to a root, a key never leaves it.
    for c in Path::new(s).components() {
        assert!(matches!(c, Component::Normal(_)), "{s:?}");
    }
}

/// A URL path (`data` as UTF-8, lossily) to a key: no panic, and every key
/// accepted keeps the invariants above; the same path gives the same answer
/// through [`Key::from_uri_path`] twice and joining a name keeps them.
pub fn store_key(data: &[u8]) {
    let (flag, rest) = data.split_first().unwrap_or((&0, &[]));
    let hidden = if flag & 1 == 0 {
        Hidden::Deny
    } else {
        Hidden::Allow
    };
    let path = String::from_utf8_lossy(rest);
    match Key::from_uri_path(&path, hidden) {
        Ok(key) => {
            check_key(&key, hidden);
            assert_eq!(Key::from_uri_path(&path, hidden).ok(), Some(key.clone()));
            if let Ok(rel) = Key::from_relative(key.as_str(), hidden) {
                assert_eq!(rel.as_str(), key.as_str());
            }
        }
        Err(e) => assert!(matches!(
            e.kind(),
            crate::ErrorKind::InvalidPath | crate::ErrorKind::NotFound
        )),
    }
    if let Ok(key) = Key::from_relative(&path, hidden) {
        check_key(&key, hidden);
    }
}

/// The store roots the hand-off target resolves into: made once, empty.
fn honor() -> &'static (Honor, std::path::PathBuf) {
    static H: OnceLock<(Honor, std::path::PathBuf)> = OnceLock::new();
    H.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("ferry-fuzz-handoff-{}", std::process::id()));
        std::fs::create_dir_all(&root).expect("a temporary directory");
        let store = || FsStore::new(&root).expect("the temporary directory");
        let h = Honor::new()
            .accel("/protected/", store())
            .sendfile_root(store());
        let root = store().root().to_path_buf();
        (h, root)
    })
}

/// An application's hand-off header (`data`'s first byte picks
/// `X-Accel-Redirect` or `X-Sendfile`, the rest is the value): no panic, and
/// a resolved target is a key inside the configured root.
pub fn handoff(data: &[u8]) {
    let (flag, value) = data.split_first().unwrap_or((&0, &[]));
    let Ok(value) = HeaderValue::from_bytes(value) else {
        return;
    };
    let mut upstream = HeaderMap::new();
    let name = if flag & 1 == 0 {
        X_ACCEL_REDIRECT
    } else {
        X_SENDFILE
    };
    upstream.insert(name, value);
    let (h, root) = honor();
    if let Ok((store, key)) = h.resolve(&upstream) {
        assert_eq!(store.root(), root.as_path());
        check_key(&key, Hidden::Deny);
        assert!(store.root().join(key.as_str()).starts_with(root));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_escapes_are_refused() {
        for p in [
            "\0/../etc/passwd",
            "\0/%2e%2e/etc/passwd",
            "\0/a/%2F../b",
            "\0/..%5c..%5cwin.ini",
            "\0/.git/config",
            // Found by the store_key target: a C1 control (U+009A) passed
            // the check, which refused only C0 controls and DEL.
            "\0/%C2%9A",
            "\x01/a\u{9a}b",
        ] {
            store_key(p.as_bytes());
            assert!(Key::from_uri_path(&p[1..], Hidden::Deny).is_err(), "{p:?}");
        }
        for v in [
            "\0/protected/../../etc/passwd",
            "\0/protected/%2e%2e/x",
            "\x01/etc/passwd",
            "\x01/tmp/../etc/passwd",
        ] {
            handoff(v.as_bytes());
        }
    }

    proptest! {
        #[test]
        fn store_keys_keep_their_invariants(
            flag in any::<u8>(),
            path in "(/|[a-z.%2eEfF5cC:\\\\]{0,3}){0,12}",
        ) {
            let mut data = vec![flag];
            data.extend_from_slice(path.as_bytes());
            store_key(&data);
        }

        #[test]
        fn handoffs_stay_inside_the_root(
            flag in any::<u8>(),
            path in "(/|protected|tmp|[a-z.%2eEfF5cC?]{0,3}){0,12}",
        ) {
            let mut data = vec![flag];
            data.extend_from_slice(path.as_bytes());
            handoff(&data);
        }
    }
}
