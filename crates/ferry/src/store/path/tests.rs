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
    ] {
        let k = Key::from_uri_path(path, Hidden::Deny).unwrap();
        assert_eq!((k.as_str(), k.is_dir()), (want, dir), "{path}");
    }
}

#[test]
fn hostile_paths_never_become_keys() {
    use ErrorKind::{InvalidPath as Bad, NotFound as Nf};
    let long = format!("/{}", "a".repeat(5000));
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
