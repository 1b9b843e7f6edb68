//! The site policy's settings: what the configuration check refuses and
//! why, the TOML keys (per `[[site]]`), `ferry hash-password`, and what a
//! reload or the maintenance file changes without a restart.
use super::common::hash_password;
use super::{ferry, header, site, Ferry};
use std::process::Command;
use std::time::Duration;

#[test]
fn the_configuration_check_says_why_a_policy_is_refused() {
    let d = site();
    std::fs::write(d.path().join("404.html"), "gone").unwrap();
    // There, but a name the site does not serve.
    std::fs::create_dir(d.path().join(".errors")).unwrap();
    std::fs::write(d.path().join(".errors/404.html"), "gone").unwrap();
    let root = d.path().to_str().unwrap();
    let (_, bcrypt, _) = hash_password("pw\n", "bcrypt");
    let auth = format!("--basic-auth=admin/**=ann:{bcrypt}");
    for (flags, why) in [
        (
            vec!["--basic-auth=admin/**=ann:hunter2"],
            "plaintext passwords are refused",
        ),
        (
            vec!["--header-rule=**=Content-Length: 5"],
            "cannot set content-length: framing: the body's exact length (RFC 9110 §8.6)",
        ),
        (
            vec!["--header-rule=**=Transfer-Encoding: chunked"],
            "cannot set transfer-encoding",
        ),
        (vec!["--header-rule=**=Connection: close"], "hop-by-hop"),
        (vec![&auth], "plain-HTTP listener"),
        (vec![&auth, "--h2c"], "plain-HTTP listener"),
        (vec!["--error-page=304=/404.html"], "never for 304"),
        (vec!["--error-page=404=/nope.html"], "is not a file"),
        (vec!["--fallback=index.html"], "starting with /"),
        (vec!["--fallback=/missing.html"], "is not a file"),
        (
            vec!["--redirect=old/**=303:/new"],
            "not 301, 302, 307 or 308",
        ),
        (vec!["--rewrite=a/**=/gone.html"], "is not a file"),
        (vec!["--error-page=404=/.errors/404.html"], "a hidden name"),
        (vec!["--cors-allow-origin=app.test"], "scheme://host"),
    ] {
        let mut args = vec!["check-config", root];
        args.extend(&flags);
        let (code, _, err) = ferry(&args, &[]);
        assert_eq!(code, 2, "{flags:?}: {err}");
        assert!(err.contains(why), "{flags:?}: want {why:?} in {err}");
    }
    // A name with a space, percent-encoded as a request names it.
    std::fs::write(d.path().join("my page.html"), "page").unwrap();
    let (code, _, err) = ferry(&["check-config", root, "--fallback=/my%20page.html"], &[]);
    assert_eq!(code, 0, "{err}");
    // Allowed explicitly, the same auth passes.
    let (code, out, err) = ferry(&["check-config", root, &auth, "--auth-allow-insecure"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("configuration OK"), "{out}");
}

#[test]
fn hash_password_prints_hashes_the_configuration_accepts() {
    let d = site();
    let root = d.path().to_str().unwrap();
    for (algorithm, prefix) in [("bcrypt", "$2b$10$"), ("argon2", "$argon2id$")] {
        let (code, hash, err) = hash_password("correct horse\n", algorithm);
        assert_eq!(code, 0, "{err}");
        assert!(hash.starts_with(prefix), "{hash}");
        assert!(!hash.contains("correct horse"));
        let auth = format!("--basic-auth=**=ann:{hash}");
        let (code, _, err) = ferry(&["check-config", root, &auth, "--auth-allow-insecure"], &[]);
        assert_eq!(code, 0, "{algorithm}: {err}");
    }
    let (code, _, err) = hash_password("\n", "bcrypt");
    assert_eq!(code, 2);
    assert!(err.contains("empty password"), "{err}");
}

#[test]
fn policy_keys_work_per_site_in_the_config_file() {
    let d = site();
    let spa = d.path().join("spa");
    std::fs::create_dir(&spa).unwrap();
    std::fs::write(spa.join("index.html"), "<p>spa</p>").unwrap();
    std::fs::write(spa.join("404.html"), "<p>gone</p>").unwrap();
    let cfg = d.path().join("ferry.toml");
    let (_, hash, _) = hash_password("pw\n", "argon2");
    std::fs::write(
        &cfg,
        format!(
            r#"root = {root:?}
header-rule = ["**=X-Site: top"]
auth-allow-insecure = true

[[site]]
host = "spa.test"
root = {spa:?}
fallback = "/index.html"
fallback-on = "no-extension"
error-page = ["404=/404.html"]
header-rule = ["**=X-Site: spa"]
redirect = ["old/**=308:/new$path"]
rewrite = ["shell/**=/index.html"]
cors-allow-origin = ["https://app.test"]
cors-allow-methods = ["GET", "HEAD"]
cors-allow-headers = ["authorization"]
cors-max-age = 60
basic-auth = ["private/**=ann:{hash}"]
maintenance = false
maintenance-retry-after = 60
"#,
            root = d.path().to_str().unwrap(),
            spa = spa.to_str().unwrap(),
        ),
    )
    .unwrap();
    let f = Ferry::start(&["serve", "--config", cfg.to_str().unwrap()]);
    let get = |host: &str, path: &str| {
        f.raw(
            format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n").as_bytes(),
        )
    };
    let r = get("spa.test", "/deep/link");
    assert!(
        r.starts_with("HTTP/1.1 200 ") && r.ends_with("<p>spa</p>"),
        "{r}"
    );
    assert_eq!(header(&r, "x-site"), Some("spa"), "{r}");
    let r = get("spa.test", "/x.js");
    assert!(
        r.starts_with("HTTP/1.1 404 ") && r.ends_with("<p>gone</p>"),
        "{r}"
    );
    let r = get("spa.test", "/old/a?b=1");
    assert_eq!(header(&r, "location"), Some("/new/old/a?b=1"), "{r}");
    let r = get("spa.test", "/private/x");
    assert!(r.starts_with("HTTP/1.1 401 "), "{r}");
    // The top-level site has only its own rule: no fallback there.
    let r = get("other.test", "/deep/link");
    assert!(r.starts_with("HTTP/1.1 404 "), "{r}");
    assert_eq!(header(&r, "x-site"), Some("top"), "{r}");
}

#[test]
fn maintenance_follows_its_file_and_a_reload_applies_rules() {
    let d = site();
    let down = d.path().join("down");
    let cfg = d.path().join("ferry.toml");
    std::fs::write(&cfg, "header-rule = [\"**=X-Rule: one\"]\n").unwrap();
    let f = Ferry::serve(
        d.path(),
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--maintenance-file",
            down.to_str().unwrap(),
            "--maintenance-retry-after=7",
        ],
    );
    let r = f.get("/a.txt");
    assert!(r.starts_with("HTTP/1.1 200 "), "{r}");
    assert_eq!(header(&r, "x-rule"), Some("one"), "{r}");
    std::fs::write(&down, "").unwrap();
    // The file is looked at no more than once a second.
    std::thread::sleep(Duration::from_millis(1200));
    let r = f.get("/a.txt");
    assert!(r.starts_with("HTTP/1.1 503 "), "{r}");
    assert_eq!(header(&r, "retry-after"), Some("7"), "{r}");
    std::fs::remove_file(&down).unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    assert!(f.get("/a.txt").starts_with("HTTP/1.1 200 "));
    // SIGHUP: the rules are rebuilt from the file.
    std::fs::write(&cfg, "header-rule = [\"**=X-Rule: two\"]\n").unwrap();
    Command::new("kill")
        .args(["-HUP", &f.child.id().to_string()])
        .status()
        .unwrap();
    f.wait_log("configuration reloaded");
    assert_eq!(header(&f.get("/a.txt"), "x-rule"), Some("two"));
}

/// The fallback file under a `--basic-auth` glob is served only with that
/// glob's credentials: a missing public path must not show it to anyone
/// (nginx's `try_files` passes the access checks of the file it lands on).
#[test]
fn a_protected_fallback_file_asks_for_its_credentials() {
    let d = site();
    std::fs::create_dir(d.path().join("admin")).unwrap();
    std::fs::write(d.path().join("admin/app.html"), "<p>admin app</p>").unwrap();
    let (_, hash, _) = hash_password("pw\n", "bcrypt");
    let f = Ferry::serve(
        d.path(),
        &[
            "--fallback=/admin/app.html",
            &format!("--basic-auth=admin/**=ann:{hash}"),
            "--auth-allow-insecure",
        ],
    );
    let get = |path: &str, auth: &str| {
        f.raw(
            format!("GET {path} HTTP/1.1\r\nhost: x\r\n{auth}connection: close\r\n\r\n").as_bytes(),
        )
    };
    let r = get("/deep/link", "");
    assert!(r.starts_with("HTTP/1.1 401 "), "{r}");
    assert!(!r.contains("admin app"), "{r}");
    assert!(header(&r, "www-authenticate").is_some(), "{r}");
    // "ann:pw" and "ann:no" in base64.
    let r = get("/deep/link", "authorization: Basic YW5uOnB3\r\n");
    assert!(
        r.starts_with("HTTP/1.1 200 ") && r.ends_with("<p>admin app</p>"),
        "{r}"
    );
    let r = get("/deep/link", "authorization: Basic YW5uOm5v\r\n");
    assert!(r.starts_with("HTTP/1.1 401 "), "{r}");
    // Public files stay public.
    let r = get("/a.txt", "");
    assert!(
        r.starts_with("HTTP/1.1 200 ") && r.ends_with("hello"),
        "{r}"
    );
}
