//! Files ferry serves itself: `X-Accel-Redirect` / `X-Sendfile` hand-offs from
//! the application (never from the client, never outside their prefix or
//! root) and `--static` prefixes.
use super::{find, response, Ferry, Reply, Upstream};
use std::path::PathBuf;

const SECRET: &str = "TOP SECRET, outside every root\n";
const FILE: &str = "protected file contents\n";

/// `private/f.txt`, `private/sub/`, `private/link.txt` -> `../secret.txt`,
/// `static/app.css`, and `secret.txt` outside them all; paths canonical.
struct Site {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(root.join("private/sub")).unwrap();
        std::fs::create_dir_all(root.join("static")).unwrap();
        std::fs::write(root.join("private/f.txt"), FILE).unwrap();
        std::fs::write(root.join("static/app.css"), "body { color: red }\n").unwrap();
        std::fs::write(root.join("secret.txt"), SECRET).unwrap();
        std::os::unix::fs::symlink(root.join("secret.txt"), root.join("private/link.txt")).unwrap();
        Site { _dir: dir, root }
    }

    fn path(&self, rel: &str) -> String {
        self.root.join(rel).to_str().unwrap().to_owned()
    }

    fn accel(&self) -> String {
        format!("/protected/={}", self.path("private"))
    }
}

fn assert_no_secret(r: &Reply, what: &str) {
    let all = r.all();
    assert!(
        !all.contains("TOP SECRET") && !all.contains(FILE.trim()),
        "{what}: {all}"
    );
}

#[test]
fn client_hand_off_headers_and_internal_paths_never_serve_a_file() {
    let site = Site::new();
    let up = Upstream::start(|_| response("200 OK", &[("content-type", "text/plain")], b"page"));
    let f = Ferry::proxy(
        &up.url(),
        &[
            "--accel",
            &site.accel(),
            "--sendfile-root",
            &site.path("private"),
        ],
    );
    let file = site.path("private/f.txt");
    let r = f.get(
        "/page",
        &format!(
            "x-accel-redirect: /protected/f.txt\r\nx-sendfile: {file}\r\n\
             x-lighttpd-send-file: {file}\r\n"
        ),
    );
    assert_eq!(
        (r.status(), r.text().as_str()),
        (200, "page"),
        "{}",
        r.all()
    );
    assert_no_secret(&r, "request headers");

    // nginx's `internal`: clients asking for the prefix itself get 404, in any spelling.
    for path in [
        "/protected/f.txt",
        "/protected/",
        "/protected",
        "/%70rotected/f.txt",
        "/protected/../protected/f.txt",
    ] {
        let r = f.get(path, "");
        assert_eq!(r.status(), 404, "{path}: {}", r.all());
        assert_no_secret(&r, path);
    }

    // A request smuggled in a body with conflicting framing is never a hand-off.
    let r = f.send(
        b"POST /page HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\n\
          transfer-encoding: chunked\r\n\r\n0\r\n\r\n\
          GET /protected/f.txt HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
    );
    assert_no_secret(&r, "smuggled request");
    for s in up.seen() {
        assert!(!s.target().contains("protected"), "{}", s.head);
        assert!(find(&s.body, b"/protected/").is_none(), "{}", s.head);
    }
}

#[test]
fn accel_hand_off_is_served_with_the_clients_range_and_validators() {
    let site = Site::new();
    let up = Upstream::start(|_| {
        response(
            "200 OK",
            &[
                ("x-accel-redirect", "/protected/f.txt"),
                ("x-accel-buffering", "no"),
                ("x-accel-expires", "0"),
                ("x-accel-limit-rate", "1024"),
                ("content-type", "text/x-app"),
                ("set-cookie", "s=1"),
            ],
            b"the app's body, dropped",
        )
    });
    let f = Ferry::proxy(&up.url(), &["--accel", &site.accel()]);
    let no_internal_headers = |r: &Reply| {
        assert!(
            !r.head.to_ascii_lowercase().contains("\nx-accel-")
                && !r.head.to_ascii_lowercase().contains("\nx-sendfile"),
            "{}",
            r.head
        );
        assert!(!r.text().contains("dropped"), "{}", r.all());
    };

    let r = f.get("/download", "");
    assert_eq!((r.status(), r.text().as_str()), (200, FILE), "{}", r.all());
    assert_eq!(r.header("content-type"), Some("text/x-app"));
    assert_eq!(r.header("set-cookie"), Some("s=1"));
    no_internal_headers(&r);
    let etag = r.header("etag").unwrap().to_owned();

    let r = f.get("/download", "range: bytes=0-8\r\n");
    assert_eq!(
        (r.status(), r.text().as_str()),
        (206, "protected"),
        "{}",
        r.all()
    );
    assert_eq!(r.header("content-range"), Some("bytes 0-8/24"));
    no_internal_headers(&r);

    let r = f.get("/download", &format!("if-none-match: {etag}\r\n"));
    assert_eq!((r.status(), r.text().as_str()), (304, ""), "{}", r.all());
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    no_internal_headers(&r);

    let r = f.send(b"HEAD /download HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n");
    assert_eq!((r.status(), r.text().as_str()), (200, ""), "{}", r.all());
    assert_eq!(r.header("content-length"), Some("24"));
    // Each request asked the application: the permission check is its own.
    assert_eq!(up.seen().len(), 4);
}

#[test]
fn accel_targets_outside_the_prefix_are_404() {
    let site = Site::new();
    let targets = [
        "/protected/../secret.txt",
        "/protected/%2e%2e/secret.txt",
        "/protected/..%2fsecret.txt",
        "/protected/sub/../../secret.txt",
        "/protected/link.txt",
        "/protected/",
        "/protected/sub",
        "/protected/missing.txt",
        "/protectedx/f.txt",
        "/elsewhere/secret.txt",
        "protected/f.txt",
    ];
    let up = Upstream::start(move |s| {
        let i: usize = s.target().trim_start_matches('/').parse().unwrap();
        response("200 OK", &[("x-accel-redirect", targets[i])], b"app body")
    });
    let f = Ferry::proxy(&up.url(), &["--accel", &site.accel()]);
    for (i, target) in targets.iter().enumerate() {
        let r = f.get(&format!("/{i}"), "");
        assert_eq!(r.status(), 404, "{target}: {}", r.all());
        assert_eq!(r.text(), "404 Not Found\n", "{target}");
        assert_no_secret(&r, target);
    }
    f.wait_log("misconfiguration");
}

#[test]
fn x_sendfile_outside_the_root_is_404_never_the_file() {
    let site = Site::new();
    let inside = site.path("private/f.txt");
    let targets: Vec<(&str, String)> = vec![
        ("x-sendfile", site.path("secret.txt")),
        (
            "x-sendfile",
            format!("{}/../secret.txt", site.path("private")),
        ),
        ("x-sendfile", site.path("private/link.txt")),
        ("x-sendfile", site.path("private")),
        ("x-sendfile", "/etc/passwd".into()),
        ("x-sendfile", "secret.txt".into()),
        ("x-lighttpd-send-file", site.path("secret.txt")),
        // Configured for X-Sendfile only: X-Accel-Redirect has no prefix to use.
        ("x-accel-redirect", "/protected/f.txt".into()),
    ];
    let answers = targets.clone();
    let ok = inside.clone();
    let up = Upstream::start(move |s| {
        let t = s.target().trim_start_matches('/');
        if t == "ok" {
            return response("200 OK", &[("x-sendfile", &ok)], b"");
        }
        let (name, value) = &answers[t.parse::<usize>().unwrap()];
        response("200 OK", &[(name, value)], b"app body")
    });
    let f = Ferry::proxy(&up.url(), &["--sendfile-root", &site.path("private")]);
    let r = f.get("/ok", "");
    assert_eq!((r.status(), r.text().as_str()), (200, FILE), "{}", r.all());
    assert_eq!(r.header("x-sendfile"), None);
    for (i, (name, value)) in targets.iter().enumerate() {
        let r = f.get(&format!("/{i}"), "");
        assert_eq!(r.status(), 404, "{name}: {value}: {}", r.all());
        assert_no_secret(&r, value);
        assert!(!r.text().contains("app body"), "{}", r.all());
        assert!(!r.all().contains(value.as_str()), "{}", r.all());
    }
}

#[test]
fn static_prefix_is_served_without_the_upstream() {
    let site = Site::new();
    let up = Upstream::start(|_| response("200 OK", &[], b"from the app"));
    let statics = format!("/static/={}", site.path("static"));
    let f = Ferry::proxy(&up.url(), &["--static", &statics]);
    let r = f.get("/static/app.css", "");
    assert_eq!(
        (r.status(), r.text().as_str()),
        (200, "body { color: red }\n"),
        "{}",
        r.all()
    );
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    let etag = r.header("etag").unwrap().to_owned();
    let r = f.get("/static/app.css", "range: bytes=0-3\r\n");
    assert_eq!((r.status(), r.text().as_str()), (206, "body"));
    let r = f.get("/static/app.css", &format!("if-none-match: {etag}\r\n"));
    assert_eq!(r.status(), 304);
    assert_eq!(f.get("/static/missing.css", "").status(), 404);
    let r = f.get("/static/../private/f.txt", "");
    assert!(matches!(r.status(), 400 | 404), "{}", r.all());
    assert_no_secret(&r, "traversal");
    assert!(up.seen().is_empty(), "{:?}", up.seen());

    // Everything else still goes to the application.
    assert_eq!(f.get("/page", "").text(), "from the app");
    assert_eq!(up.seen().len(), 1);
}

#[test]
fn static_and_handed_off_text_is_compressed_unless_no_compress() {
    let site = Site::new();
    let css: String = (0..300)
        .map(|i| format!(".c{i} {{ margin: {}px }}\n", i % 9))
        .collect();
    std::fs::write(site.root.join("static/big.css"), &css).unwrap();
    std::fs::write(site.root.join("private/report.csv"), &css).unwrap();
    let up = Upstream::start(|_| {
        response(
            "200 OK",
            &[
                ("content-type", "text/csv"),
                ("x-accel-redirect", "/protected/report.csv"),
            ],
            b"",
        )
    });
    let statics = format!("/static/={}", site.path("static"));
    let args = ["--static", &statics, "--accel", &site.accel()];
    let ae = "accept-encoding: gzip\r\n";
    let gunzip = |body: &[u8]| {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(body), &mut out).unwrap();
        out
    };
    let on = Ferry::proxy(&up.url(), &args);
    for path in ["/static/big.css", "/report"] {
        let r = on.get(path, ae);
        assert_eq!(r.status(), 200, "{path}: {}", r.head);
        assert_eq!(
            r.header("content-encoding"),
            Some("gzip"),
            "{path}: {}",
            r.head
        );
        assert_eq!(r.header("vary"), Some("accept-encoding"), "{path}");
        assert_eq!(gunzip(&r.body), css, "{path}");
    }
    let mut off_args = args.to_vec();
    off_args.push("--no-compress");
    let off = Ferry::proxy(&up.url(), &off_args);
    for path in ["/static/big.css", "/report"] {
        let r = off.get(path, ae);
        assert_eq!(r.status(), 200, "{path}: {}", r.head);
        assert_eq!(r.header("content-encoding"), None, "{path}");
        assert_eq!(r.text(), css, "{path}");
    }
}
