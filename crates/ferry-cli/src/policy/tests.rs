//! The order of [`Policy::decide`]'s steps and the fallback and error-page
//! choices, without a store.
use super::*;
use crate::args::Cli;
use clap::Parser as _;

/// A policy from `ferry serve` flags.
fn policy(flags: &[&str]) -> Policy {
    let mut argv = vec!["ferry", "serve", "/srv"];
    argv.extend_from_slice(flags);
    let cli = Cli::try_parse_from(argv).unwrap();
    let crate::args::Command::Serve(a) = cli.command else {
        panic!("serve")
    };
    Policy::new(&a.site).unwrap().expect("a policy")
}

fn decide(p: &Policy, method: Method, target: &str, h: &[(&str, &str)], down: bool) -> Decision {
    let headers: HeaderMap = h
        .iter()
        .map(|(k, v)| {
            (
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            )
        })
        .collect();
    p.decide(&method, &target.parse().unwrap(), &headers, down)
}

const HASH: &str = "$2b$04$Yn7dWZKq2a5J3lHk3m0lP.9b5kUqkT7fZpJx8o6b3cJ2u8U5e0xvW";

#[test]
fn no_flags_no_policy() {
    let cli = Cli::try_parse_from(["ferry", "serve", "/srv"]).unwrap();
    let crate::args::Command::Serve(a) = cli.command else {
        panic!("serve")
    };
    assert!(Policy::new(&a.site).unwrap().is_none());
}

#[test]
fn maintenance_then_preflight_then_auth_then_redirect_or_rewrite() {
    let auth = format!("admin/**=ann:{HASH}");
    let p = policy(&[
        "--basic-auth",
        &auth,
        "--cors-allow-origin",
        "https://app.test",
        "--redirect",
        "admin/old=308:/admin/new",
        "--redirect",
        "old/**=301:/new$path",
        "--rewrite",
        "app/**=/app.html",
        "--rewrite",
        "open/**=/admin/secret.html",
    ]);
    let d = decide(&p, Method::GET, "/admin/x", &[], true);
    assert_eq!((d.action, d.auth), (Action::Maintenance, None));
    // A preflight on an auth path needs no credentials.
    let pre = [
        ("origin", "https://app.test"),
        ("access-control-request-method", "GET"),
    ];
    let d = decide(&p, Method::OPTIONS, "/admin/x", &pre, false);
    assert!(matches!(
        d.action,
        Action::Preflight(cors::Preflight::Allowed(_))
    ));
    assert_eq!(d.auth, None);
    // Auth before a redirect of a protected path; on the directory itself;
    // on a percent-encoded or dotted spelling of it.
    let d = decide(&p, Method::GET, "/admin/old", &[], false);
    assert_eq!(d.auth, Some(0));
    assert!(matches!(d.action, Action::Redirect(s, _) if s == 308));
    // (`/x/../admin/y` never reaches a file: the store answers 400.)
    for path in ["/admin/", "/%61dmin/x", "/./admin/y", "//admin//y"] {
        assert_eq!(
            decide(&p, Method::GET, path, &[], false).auth,
            Some(0),
            "{path}"
        );
    }
    // A rewrite into a protected path is protected.
    let d = decide(&p, Method::GET, "/open/a", &[], false);
    assert_eq!(d.action, Action::Serve(Some("/admin/secret.html".into())));
    assert_eq!(d.auth, Some(0));
    let d = decide(&p, Method::GET, "/old/a?q=1", &[], false);
    assert_eq!(
        d.action,
        Action::Redirect(
            StatusCode::MOVED_PERMANENTLY,
            HeaderValue::from_static("/new/old/a?q=1")
        )
    );
    let d = decide(&p, Method::GET, "/app/users/7", &[], false);
    assert_eq!(
        (d.action, d.auth),
        (Action::Serve(Some("/app.html".into())), None)
    );
    let d = decide(&p, Method::GET, "/a.txt", &[], false);
    assert_eq!((d.action, d.auth), (Action::Serve(None), None));
}

#[test]
fn fallback_for_missing_paths_without_extension_never_dotfiles() {
    let p = policy(&["--fallback", "/index.html"]);
    let fb = |m: Method, key: &str| p.fallback_for(&m, key);
    assert_eq!(fb(Method::GET, "app/users/7"), Some("/index.html"));
    assert_eq!(fb(Method::HEAD, "app/users/"), Some("/index.html"));
    assert_eq!(fb(Method::GET, "app.js"), None);
    assert_eq!(fb(Method::POST, "app/users"), None);
    assert_eq!(fb(Method::GET, ".well-known/acme-challenge/x"), None);
    assert_eq!(fb(Method::GET, "a/.git/config"), None);
    let any = policy(&["--fallback", "/index.html", "--fallback-on", "any"]);
    assert_eq!(
        any.fallback_for(&Method::GET, "app.js"),
        Some("/index.html")
    );
}

#[test]
fn error_pages_never_for_conditional_answers() {
    let p = policy(&[
        "--error-page",
        "404=/404.html",
        "--error-page",
        "5xx=/50x.html",
    ]);
    assert_eq!(p.error_page(StatusCode::NOT_FOUND), Some("/404.html"));
    assert_eq!(p.error_page(StatusCode::BAD_GATEWAY), Some("/50x.html"));
    assert_eq!(p.error_page(StatusCode::FORBIDDEN), None);
    for bad in [
        "304=/x.html",
        "412=/x.html",
        "416=/x.html",
        "200=/x.html",
        "404",
        "404=x.html",
        "404=/",
    ] {
        let cli = Cli::try_parse_from(["ferry", "serve", "/srv", "--error-page", bad]).unwrap();
        let crate::args::Command::Serve(a) = cli.command else {
            panic!("serve")
        };
        assert!(Policy::new(&a.site).is_err(), "{bad}");
    }
}

#[test]
fn a_backslash_in_the_path_never_redirects_off_site() {
    // Browsers read `/\evil.test` as `//evil.test` (WHATWG URL).
    let p = policy(&["--redirect", "**=302:$path"]);
    let d = decide(&p, Method::GET, "/\\evil.test", &[], false);
    assert_eq!(
        d.action,
        Action::Redirect(StatusCode::FOUND, HeaderValue::from_static("/%5Cevil.test"))
    );
}

#[test]
fn match_keys_are_store_keys() {
    assert_eq!(match_key("/a/b.txt"), "a/b.txt");
    assert_eq!(match_key("/a/"), "a/");
    assert_eq!(match_key("/"), "");
    assert_eq!(match_key("/a%20b"), "a b");
}

#[test]
fn maintenance_file_presence_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("down");
    let p = policy(&["--maintenance-file", file.to_str().unwrap()]);
    assert!(!p.in_maintenance());
    std::fs::write(&file, "").unwrap();
    // Looked at no more than once a second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(p.in_maintenance());
    assert_eq!(p.retry_after(), "120");
}

#[test]
fn the_example_config_policies_are_valid() {
    let text = include_str!("../../../../docs/ferry.example.toml");
    let table: toml::Table = text.parse().unwrap();
    // The policy's keys: the flags of `SiteArgs`.
    let site = <crate::args::SiteArgs as clap::Args>::augment_args(clap::Command::new("x"));
    let keys: Vec<&str> = site.get_arguments().filter_map(|a| a.get_long()).collect();
    let mut tables = vec![table.clone()];
    if let Some(toml::Value::Array(sites)) = table.get("site") {
        tables.extend(sites.iter().filter_map(|s| s.as_table().cloned()));
    }
    let mut n = 0;
    for t in &tables {
        let mut argv = vec!["ferry".to_owned(), "serve".to_owned(), "/srv".to_owned()];
        for (k, v) in t.iter().filter(|(k, _)| keys.contains(&k.as_str())) {
            let items = match v {
                toml::Value::Array(items) => items.clone(),
                v => vec![v.clone()],
            };
            for v in items {
                match v {
                    toml::Value::Boolean(true) => argv.push(format!("--{k}")),
                    toml::Value::Boolean(false) => {}
                    toml::Value::String(s) => argv.push(format!("--{k}={s}")),
                    v => argv.push(format!("--{k}={v}")),
                }
            }
            n += 1;
        }
        let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        let crate::args::Command::Serve(a) = cli.command else {
            panic!("serve")
        };
        Policy::new(&a.site).unwrap_or_else(|e| panic!("{argv:?}: {e:#}"));
    }
    assert!(n >= 15, "the example covers the policy keys ({n})");
}

proptest::proptest! {
    /// Any Authorization value parses or not without a panic, and what
    /// parses has no control character in the user.
    #[test]
    fn credentials_never_panic(v in "[ -~]{0,80}") {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(http::header::AUTHORIZATION, v);
        }
        if let Some(c) = auth::credentials(&h) {
            proptest::prop_assert!(!c.user.chars().any(char::is_control));
        }
    }

    /// Whatever the request path, a redirect's Location is never a
    /// network-path reference (`//host`, or `/\\host` as browsers read it)
    /// when its target is a path.
    #[test]
    fn redirect_locations_stay_on_this_host(path in "/[a-z/\\\\%.]{0,30}", q in "[a-z=&\\\\]{0,10}") {
        let rules = [rules::parse_redirect("**=302:$path").unwrap()];
        let key = match_key(&path);
        if let Some((_, loc)) = rules::redirect(&rules, &key, &path, Some(&q)) {
            let loc = loc.to_str().unwrap();
            proptest::prop_assert!(!loc.starts_with("//") && !loc.contains('\\'), "{loc:?}");
        }
    }
}
