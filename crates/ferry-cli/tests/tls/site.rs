//! The site policy (`--fallback`, `--error-page`, `--header-rule`,
//! `--redirect`, `--rewrite`, CORS, `--basic-auth`, maintenance) as one table
//! over every transport, as `table.rs` does for RFC 9110: each row checked on
//! the fast path, HTTPS h2 and HTTP/1.1, h2c and HTTP/1.1 on the h2c port,
//! and every transport must answer exactly what the fast path answers.
use super::client;
use super::transports::{assert_no_failures, row, Row, Servers};
use super::{pki, Ca, Ferry};
use http::{Method, StatusCode};
use std::path::Path;

const INDEX: &str = "<!doctype html><title>app</title><div id=app></div>\n";
const PAGE_404: &str = "<!doctype html><title>not here</title>\n";
const PAGE_503: &str = "<!doctype html><title>back soon</title>\n";
const SHELL: &str = "<!doctype html><title>docs shell</title>\n";
const SECRET: &str = "admins only\n";
const ORIGIN: &str = "https://app.test";

fn site(dir: &Path) -> std::path::PathBuf {
    let site = dir.join("spa");
    std::fs::create_dir_all(site.join("admin")).unwrap();
    std::fs::write(site.join("index.html"), INDEX).unwrap();
    std::fs::write(site.join("404.html"), PAGE_404).unwrap();
    std::fs::write(site.join("503.html"), PAGE_503).unwrap();
    std::fs::write(site.join("shell.html"), SHELL).unwrap();
    std::fs::write(site.join("a.txt"), "plain text\n").unwrap();
    std::fs::write(site.join("admin/secret.txt"), SECRET).unwrap();
    std::fs::write(site.join(".env"), "TOP SECRET\n").unwrap();
    site
}

/// A hash of `password` made by `ferry hash-password`.
fn hash(password: &str, algorithm: &str) -> String {
    let (code, hash, err) = super::common::hash_password(&format!("{password}\n"), algorithm);
    assert_eq!(code, 0, "hash-password failed: {err}");
    hash
}

/// The policy flags every server of the table gets.
fn flags(bcrypt: &str, argon2: &str) -> Vec<String> {
    [
        "--fallback=/index.html",
        "--error-page=404=/404.html",
        "--error-page=503=/503.html",
        "--header-rule=*.html=Content-Security-Policy: default-src 'self'",
        "--header-rule=**=X-Frame-Options: DENY",
        "--redirect=old/**=301:/new$path",
        "--rewrite=docs/**=/shell.html",
        "--cors-allow-origin=https://app.test",
        "--cors-allow-headers=authorization",
        "--cors-max-age=600",
        "--auth-allow-insecure",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        format!("--basic-auth=admin/**=ann:{bcrypt}"),
        format!("--basic-auth=admin/**=bob:{argon2}"),
    ])
    .collect()
}

/// `Authorization: Basic` for `user:password`.
fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

fn status(r: &client::Resp, want: u16) {
    assert_eq!(r.status.as_u16(), want, "status; {r:?}");
}

fn has(r: &client::Resp, name: &str, want: &str) {
    assert_eq!(r.header(name), Some(want), "{name}; {r:?}");
}

fn body(r: &client::Resp, want: &str) {
    assert_eq!(String::from_utf8_lossy(&r.body), want, "body; {r:?}");
}

/// An error page: the file's body with the error status, never cached as
/// the resource, none of the page file's validators.
fn page(r: &client::Resp, code: u16, want: &str) {
    status(r, code);
    body(r, want);
    has(r, "cache-control", "no-store");
    assert!(
        r.header("etag").is_none() && r.header("last-modified").is_none(),
        "{r:?}"
    );
}

fn servers(site: &Path, dir: &Path, root: Ca, extra: &[String]) -> Servers {
    let leaf = root.leaf("ferry site table", 1);
    let (cert, key) = pki::write_pair(dir, "site", &leaf, &[]);
    let s = site.to_str().unwrap();
    let with = |more: &[&str]| {
        let mut args = vec!["serve", s];
        args.extend(extra.iter().map(String::as_str));
        args.extend(more);
        Ferry::start(&args)
    };
    let (c, k) = (cert.to_str().unwrap(), key.to_str().unwrap());
    Servers {
        fast: with(&[]),
        tls: with(&["--tls-cert", c, "--tls-key", k]),
        h2c: with(&["--h2c"]),
        root,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn site_policy_answers_the_same_over_every_transport() {
    let dir = tempfile::tempdir().unwrap();
    let site = site(dir.path());
    let flags = flags(&hash("s3cret", "bcrypt"), &hash("hunter2", "argon2"));
    let up = servers(&site, dir.path(), Ca::root("ferry site root"), &flags);
    let mut down_flags = flags.clone();
    down_flags.extend([
        "--maintenance".into(),
        "--maintenance-retry-after=30".into(),
    ]);
    let down = servers(
        &site,
        dir.path(),
        Ca::root("ferry site root 2"),
        &down_flags,
    );

    let get = Method::GET;
    let index = up
        .send(
            super::transports::Transport::FastH1,
            &get,
            "/index.html",
            &[],
        )
        .await;
    let etag = index.header("etag").expect("an ETag").to_owned();
    let lm = index.header("last-modified").unwrap().to_owned();

    let rows = vec![
        // An SPA deep link: the fallback file, 200, with its own validators
        // and headers (its name's header rule too? no: the request's path
        // is matched, `app/users/7`, so only `**`'s).
        row(
            "fallback_deep_link_200",
            get.clone(),
            "/app/users/7",
            &[],
            {
                let (etag, lm) = (etag.clone(), lm.clone());
                move |r| {
                    status(r, 200);
                    body(r, INDEX);
                    has(r, "etag", &etag);
                    has(r, "last-modified", &lm);
                    has(r, "x-frame-options", "DENY");
                }
            },
        ),
        // RFC 9110 §13.1.2 on the fallback: its own ETag → 304, no body.
        row(
            "fallback_if_none_match_304",
            get.clone(),
            "/app/users/7",
            &[("if-none-match", &etag)],
            {
                let etag = etag.clone();
                move |r| {
                    status(r, 304);
                    has(r, "etag", &etag);
                    assert!(r.body.is_empty(), "{r:?}");
                }
            },
        ),
        // RFC 9110 §14 on the fallback: a range of it.
        row(
            "fallback_range_206",
            get.clone(),
            "/app/users/7",
            &[("range", "bytes=0-8")],
            |r| {
                status(r, 206);
                has(r, "content-range", &format!("bytes 0-8/{}", INDEX.len()));
                body(r, &INDEX[..9]);
            },
        ),
        row("fallback_head_200", Method::HEAD, "/app", &[], |r| {
            status(r, 200);
            has(r, "content-length", &INDEX.len().to_string());
            assert!(r.body.is_empty(), "{r:?}");
        }),
        // A file request (an extension) is a real 404, with its page.
        row("missing_file_404_page", get.clone(), "/app.js", &[], |r| {
            page(r, 404, PAGE_404)
        }),
        // RFC 9110 §9.3.2: HEAD of an error page has its head, no body.
        row("error_page_head", Method::HEAD, "/app.js", &[], |r| {
            status(r, 404);
            has(r, "content-length", &PAGE_404.len().to_string());
            has(r, "cache-control", "no-store");
            assert!(r.body.is_empty(), "{r:?}");
        }),
        // Dotfile rules unchanged: no fallback for /.well-known/ or a
        // hidden name, and the hidden file stays unserved.
        row(
            "well_known_no_fallback",
            get.clone(),
            "/.well-known/x",
            &[],
            |r| page(r, 404, PAGE_404),
        ),
        row("dotfile_no_fallback", get.clone(), "/.env", &[], |r| {
            page(r, 404, PAGE_404)
        }),
        // 412 answers the request's own condition: never an error page.
        row(
            "precondition_failed_no_page_412",
            get.clone(),
            "/a.txt",
            &[("if-match", "\"other\"")],
            |r| {
                status(r, 412);
                assert!(
                    !String::from_utf8_lossy(&r.body).contains("not here"),
                    "{r:?}"
                );
            },
        ),
        // Header rules: the first matching glob's fields.
        row("header_rule_html", get.clone(), "/index.html", &[], |r| {
            status(r, 200);
            has(r, "content-security-policy", "default-src 'self'");
            assert!(r.header("x-frame-options").is_none(), "{r:?}");
        }),
        row("header_rule_any", get.clone(), "/a.txt", &[], |r| {
            has(r, "x-frame-options", "DENY");
        }),
        // A redirect with `$path` and the query kept.
        row(
            "redirect_keeps_query_301",
            get.clone(),
            "/old/page?x=1&y=2",
            &[],
            |r| {
                status(r, 301);
                has(r, "location", "/new/old/page?x=1&y=2");
            },
        ),
        row(
            "rewrite_serves_another_file",
            get.clone(),
            "/docs/guide/intro",
            &[],
            |r| {
                status(r, 200);
                body(r, SHELL);
            },
        ),
        // CORS on an actual request: the origin echoed, Vary: origin.
        row(
            "cors_allowed_origin",
            get.clone(),
            "/a.txt",
            &[("origin", ORIGIN)],
            |r| {
                has(r, "access-control-allow-origin", ORIGIN);
                assert!(r.header("vary").unwrap_or("").contains("origin"), "{r:?}");
            },
        ),
        row(
            "cors_other_origin",
            get.clone(),
            "/a.txt",
            &[("origin", "https://evil.test")],
            |r| {
                status(r, 200);
                assert!(r.header("access-control-allow-origin").is_none(), "{r:?}");
                assert!(r.header("vary").unwrap_or("").contains("origin"), "{r:?}");
            },
        ),
        // A preflight on a basic-auth path is answered without credentials.
        row(
            "cors_preflight_on_auth_path_204",
            Method::OPTIONS,
            "/admin/secret.txt",
            &[
                ("origin", ORIGIN),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "authorization"),
            ],
            |r| {
                status(r, 204);
                has(r, "access-control-allow-origin", ORIGIN);
                has(r, "access-control-allow-methods", "GET, HEAD");
                has(r, "access-control-allow-headers", "authorization");
                has(r, "access-control-max-age", "600");
                has(r, "vary", "origin");
                assert!(
                    r.body.is_empty() && r.header("www-authenticate").is_none(),
                    "{r:?}"
                );
            },
        ),
        row(
            "cors_preflight_refused_403",
            Method::OPTIONS,
            "/a.txt",
            &[
                ("origin", "https://evil.test"),
                ("access-control-request-method", "GET"),
            ],
            |r| {
                status(r, 403);
                assert!(r.header("access-control-allow-origin").is_none(), "{r:?}");
            },
        ),
        row(
            "options_not_preflight_405",
            Method::OPTIONS,
            "/a.txt",
            &[],
            |r| {
                status(r, 405);
                has(r, "allow", "GET, HEAD");
            },
        ),
        // RFC 7617 §2: 401 with the challenge, charset UTF-8.
        row(
            "auth_missing_401",
            get.clone(),
            "/admin/secret.txt",
            &[],
            |r| {
                status(r, 401);
                has(
                    r,
                    "www-authenticate",
                    r#"Basic realm="ferry", charset="UTF-8""#,
                );
                assert!(!String::from_utf8_lossy(&r.body).contains(SECRET), "{r:?}");
            },
        ),
        row(
            "auth_wrong_password_401",
            get.clone(),
            "/admin/secret.txt",
            &[("authorization", &basic("ann", "hunter2"))],
            |r| status(r, 401),
        ),
        row(
            "auth_bcrypt_user_200",
            get.clone(),
            "/admin/secret.txt",
            &[("authorization", &basic("ann", "s3cret"))],
            |r| {
                status(r, 200);
                body(r, SECRET);
            },
        ),
        row(
            "auth_argon2_user_200",
            get.clone(),
            "/%61dmin/secret.txt",
            &[("authorization", &basic("bob", "hunter2"))],
            |r| {
                status(r, 200);
                body(r, SECRET);
            },
        ),
        row("auth_head_401", Method::HEAD, "/admin/", &[], |r| {
            status(r, 401);
            assert!(r.body.is_empty(), "{r:?}");
        }),
    ];
    // Sent to the servers in maintenance.
    let mut down_rows: Vec<Row<'_>> = Vec::new();
    for (name, method, path) in [
        ("maintenance_503", get.clone(), "/a.txt"),
        ("maintenance_head_503", Method::HEAD, "/app/users/7"),
    ] {
        let head = method == Method::HEAD;
        down_rows.push(row(name, method, path, &[], move |r| {
            status(r, 503);
            has(r, "retry-after", "30");
            has(r, "cache-control", "no-store");
            if head {
                assert!(r.body.is_empty(), "{r:?}");
            } else {
                body(r, PAGE_503);
            }
        }));
    }

    let mut failures = up.check_rows(&rows).await;
    failures.extend(down.check_rows(&down_rows).await);
    assert_no_failures(&failures);
    assert_eq!(StatusCode::OK, index.status);
}
