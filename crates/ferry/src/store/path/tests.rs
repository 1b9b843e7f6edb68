use super::*;

fn key(p: &str) -> Result<String, ErrorKind> {
    Key::from_uri_path(p, Hidden::Deny)
        .map(|k| k.as_str().to_owned())
        .map_err(|e| e.kind())
}

#[test]
fn plain_paths_map_to_keys() {
    for (path, want, dir) in [
        ("/", "", true),
        ("/a.txt", "a.txt", false),
        ("/docs/", "docs", true),
        ("/docs/a%20b.txt", "docs/a b.txt", false),
        ("/caf%C3%A9.txt", "café.txt", false),
        ("/a//b", "a/b", false),
        ("/a/./b", "a/b", false),
        (
            "/.well-known/security.txt",
            ".well-known/security.txt",
            false,
        ),
        ("/%252e%252e/x", "%2e%2e/x", false),
        // RFC 8615's prefix is the key's first segment, however the path spells it.
        (
            "//.well-known/security.txt",
            ".well-known/security.txt",
            false,
        ),
        ("/./.well-known/x", ".well-known/x", false),
    ] {
        let k = Key::from_uri_path(path, Hidden::Deny).unwrap();
        assert_eq!((k.as_str(), k.is_dir()), (want, dir), "{path}");
    }
}

#[test]
fn hostile_paths_never_become_keys() {
    use ErrorKind::{InvalidPath as Bad, NotFound as Nf};
    let long = format!("/{}", "a".repeat(5000));
    // Each segment is short enough; together they are not.
    let long_key = format!("/{}/{}", "a".repeat(4000), "b".repeat(4000));
    let long_encoded = format!("/{}/%62{}", "a".repeat(4000), "b".repeat(100));
    let cases: &[(&str, ErrorKind)] = &[
        ("/..", Bad),
        ("/../etc/passwd", Bad),
        ("/a/../../etc/passwd", Bad),
        ("/a/..", Bad),
        ("/%2e%2e/etc/passwd", Bad),
        ("/%2E%2E/etc/passwd", Bad),
        ("/.%2e/etc/passwd", Bad),
        ("/%2e./etc/passwd", Bad),
        ("/a/%2e%2e/%2e%2e/etc/passwd", Bad),
        ("/..%2fetc%2fpasswd", Bad),
        ("/a%2f..%2f..%2fetc", Bad),
        ("/a%2F..", Bad),
        ("/..%5c..%5cwindows", Bad),
        ("/a\\..\\..\\etc", Bad),
        ("/%5c%5cserver%5cshare", Bad),
        ("/a%00.txt", Bad),
        ("/a%00/../b", Bad),
        ("/%0a", Bad),
        ("/%ff%fe", Bad),
        ("/%c0%ae%c0%ae/etc/passwd", Bad),
        ("/C:/Windows/win.ini", Bad),
        ("/c:%5cboot.ini", Bad),
        ("/file.txt::$DATA", Bad),
        ("relative/path", Bad),
        ("", Bad),
        ("/.env", Nf),
        ("/.git/config", Nf),
        ("/a/.htpasswd", Nf),
        ("/%2egit/HEAD", Nf),
        ("/a/.well-known/x", Nf),
        (&long, Nf),
        (&long_key, Nf),
        (&long_encoded, Nf),
    ];
    assert!(cases.len() >= 25);
    for (path, want) in cases {
        assert_eq!(key(path), Err(*want), "{path:?}");
    }
}

#[test]
fn hidden_allowed_still_refuses_traversal() {
    assert_eq!(
        Key::from_uri_path("/.env", Hidden::Allow).unwrap().as_str(),
        ".env"
    );
    assert!(Key::from_uri_path("/../x", Hidden::Allow).is_err());
}

#[test]
fn relative_paths_from_apps() {
    assert_eq!(
        Key::from_relative("a/100%.txt", Hidden::Deny)
            .unwrap()
            .as_str(),
        "a/100%.txt"
    );
    assert_eq!(
        Key::from_relative("/a b?.txt", Hidden::Deny)
            .unwrap()
            .as_str(),
        "a b?.txt"
    );
    assert!(Key::from_relative("../secret", Hidden::Deny).is_err());
    assert!(Key::from_relative("a/../../b", Hidden::Deny).is_err());
}

proptest::proptest! {
    #[test]
    fn keys_never_escape(path in "/[a-z./%25\\\\:0-9A-F]{0,40}") {
        if let Ok(k) = Key::from_uri_path(&path, Hidden::Allow) {
            for seg in k.as_str().split('/') {
                proptest::prop_assert!(seg != ".." && seg != "." && !seg.is_empty() || k.as_str().is_empty());
                proptest::prop_assert!(!seg.contains('\\') && !seg.contains('\0'));
            }
            proptest::prop_assert!(!k.as_str().starts_with('/'));
        }
    }
}

fn kinds(r: Result<Key, Error>) -> Result<(String, bool), ErrorKind> {
    r.map(|k| (k.key, k.dir)).map_err(|e| e.kind())
}

#[test]
fn plain_paths_take_the_fast_path() {
    let long = format!("/{}", "a".repeat(5000));
    for (path, hidden) in [
        ("/", Hidden::Deny),
        ("/1k.bin", Hidden::Deny),
        ("/docs/", Hidden::Deny),
        ("//a/./b//", Hidden::Deny),
        ("/.well-known/security.txt", Hidden::Deny),
        ("//.well-known/security.txt", Hidden::Deny),
        ("/.env", Hidden::Deny),
        ("/.env", Hidden::Allow),
        ("/a/../b", Hidden::Allow),
        ("/../%2f", Hidden::Allow),
        ("/a b~!$&'()*+,;=@", Hidden::Deny),
        (&long, Hidden::Deny),
    ] {
        let fast = Key::from_plain_path(path, hidden);
        assert!(fast.is_some(), "{path:?}");
        assert_eq!(
            fast.map(kinds),
            Some(kinds(Key::from_any_path(path, hidden))),
            "{path:?}"
        );
    }
    for path in [
        "/a%20b",
        "/a\\b",
        "/c:",
        "/a\u{7f}",
        "/a\u{1}",
        "/caf\u{e9}",
        "a",
        "",
    ] {
        assert!(
            Key::from_plain_path(path, Hidden::Deny).is_none(),
            "{path:?}"
        );
    }
}

/// Pieces of URL paths, rich in what the two parsers must agree about.
fn path_piece() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        6 => proptest::sample::select(vec![
            "/", "/", "/", ".", ".", "..", "a", "b", "Z", "0", "%", "2f", "2F", "2e", "%2e",
            "%2f", "%2F", "%5c", "%00", "%ff", "%c3%a9", "%25", "\\", ":", " ", "~",
            ".well-known", "well-known", "\u{0}", "\u{1f}", "\u{7f}", "\u{e9}", "\u{80}", "\u{fffd}",
        ])
        .prop_map(str::to_owned),
        1 => proptest::sample::select(vec![1000usize, 2048, 4095, 4096, 4097])
            .prop_map(|n| "x".repeat(n)),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

    #[test]
    fn fast_path_agrees_with_the_general_parser(
        slash in proptest::bool::weighted(0.95),
        pieces in proptest::collection::vec(path_piece(), 0..16),
        allow in proptest::bool::ANY,
    ) {
        let path = format!("{}{}", if slash { "/" } else { "" }, pieces.concat());
        let hidden = if allow { Hidden::Allow } else { Hidden::Deny };
        let slow = kinds(Key::from_any_path(&path, hidden));
        if let Some(fast) = Key::from_plain_path(&path, hidden) {
            proptest::prop_assert_eq!(kinds(fast), slow.clone(), "{:?}", path);
        }
        proptest::prop_assert_eq!(kinds(Key::from_uri_path(&path, hidden)), slow, "{:?}", path);
    }
}
