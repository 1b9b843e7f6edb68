//! `[[site]]` tables chosen by Host, and a configuration reloaded on SIGHUP.
use super::{ferry, header, site, Ferry};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

/// A GET with a Host, read to the end.
fn get_host(f: &Ferry, host: &str, path: &str) -> String {
    f.raw(format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n").as_bytes())
}

fn status(resp: &str) -> &str {
    resp.get(9..12).unwrap_or(resp)
}

#[test]
fn sites_are_chosen_by_host_with_421_or_a_default_site() {
    let (a, b, d) = (site(), site(), site());
    std::fs::write(a.path().join("who.txt"), "site a").unwrap();
    std::fs::write(b.path().join("who.txt"), "site b").unwrap();
    std::fs::write(d.path().join("who.txt"), "default").unwrap();
    let cfg = d.path().join("sites.toml");
    let sites = format!(
        "health-check = \"/healthz\"\ncache-control = \"max-age=1\"\n\
         [[site]]\nhost = [\"a.test\", \"www.a.test\"]\nroot = {:?}\n\
         [[site]]\nhost = \"b.test\"\nroot = {:?}\ncache-control = \"max-age=5\"\n",
        a.path(),
        b.path()
    );
    std::fs::write(&cfg, &sites).unwrap();
    let f = Ferry::start(&["serve", "--config", cfg.to_str().unwrap()]);
    let r = get_host(&f, "a.test", "/who.txt");
    assert!(r.ends_with("\r\n\r\nsite a"), "{r}");
    // Inherited from the file's top level.
    assert_eq!(header(&r, "cache-control"), Some("max-age=1"));
    let r = get_host(&f, "WWW.A.TEST:8080", "/who.txt");
    assert!(r.ends_with("site a"), "{r}");
    let r = get_host(&f, "b.test", "/who.txt");
    assert!(r.ends_with("site b"), "{r}");
    assert_eq!(header(&r, "cache-control"), Some("max-age=5"));
    // RFC 9110 §15.5.20: no site for this host, and no default site.
    let r = get_host(&f, "c.test", "/who.txt");
    assert_eq!(status(&r), "421", "{r}");
    // The absolute form's authority names the site (RFC 9112 §3.2.2).
    let r =
        f.raw(b"GET http://b.test/who.txt HTTP/1.1\r\nhost: b.test\r\nconnection: close\r\n\r\n");
    assert!(r.ends_with("site b"), "{r}");
    // The health check answers for any host.
    let r = get_host(&f, "c.test", "/healthz");
    assert_eq!(status(&r), "200", "{r}");
    assert!(r.ends_with("\r\n\r\nok\n"), "{r}");
    drop(f);

    // Sites inherit the top level's effective settings: a flag's too.
    let f = Ferry::start(&[
        "serve",
        "--config",
        cfg.to_str().unwrap(),
        "--cache-control",
        "max-age=7",
    ]);
    assert_eq!(
        header(&get_host(&f, "a.test", "/who.txt"), "cache-control"),
        Some("max-age=7")
    );
    assert_eq!(
        header(&get_host(&f, "b.test", "/who.txt"), "cache-control"),
        Some("max-age=5")
    );
    drop(f);

    // With a top-level root, it is the default site.
    std::fs::write(&cfg, format!("root = {:?}\n{sites}", d.path())).unwrap();
    let f = Ferry::start(&["serve", "--config", cfg.to_str().unwrap()]);
    assert!(get_host(&f, "c.test", "/who.txt").ends_with("default"));
    assert!(get_host(&f, "b.test", "/who.txt").ends_with("site b"));
    drop(f);

    // A value of the wrong type is an error naming its key, never a root.
    std::fs::write(&cfg, format!("browse = {:?}\n", a.path())).unwrap();
    let (code, _, err) = ferry(&["check-config", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("`browse` must be true or false"), "{err}");
    // A value starting with `-` is a value, not a flag.
    std::fs::write(
        &cfg,
        format!("root = {:?}\ncache-control = \"--browse\"\n", a.path()),
    )
    .unwrap();
    let (code, _, err) = ferry(&["check-config", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
    // A listener setting inside a site is an error naming the table.
    std::fs::write(
        &cfg,
        format!(
            "[[site]]\nhost = \"a.test\"\nroot = {:?}\nlisten = \"127.0.0.1:1\"\n",
            a.path()
        ),
    )
    .unwrap();
    let (code, _, err) = ferry(&["check-config", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("[[site]] #1: `listen` cannot be set per site"),
        "{err}"
    );
    // Two sites for one host.
    std::fs::write(
        &cfg,
        format!(
            "[[site]]\nhost = \"a.test\"\nroot = {:?}\n[[site]]\nhost = \"A.test\"\nroot = {:?}\n",
            a.path(),
            b.path()
        ),
    )
    .unwrap();
    let (code, _, err) = ferry(&["check-config", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("named by two sites"), "{err}");
}

#[test]
fn sighup_reloads_the_configuration_atomically_without_dropping_a_download() {
    let d = site();
    let big = vec![7u8; 32 << 20];
    std::fs::write(d.path().join("big.bin"), &big).unwrap();
    let cfg = d.path().join("ferry.toml");
    let root = format!("root = {:?}\n", d.path());
    std::fs::write(&cfg, format!("{root}cache-control = \"max-age=60\"\n")).unwrap();
    let f = Ferry::start(&["serve", "--config", cfg.to_str().unwrap()]);
    let hup = || {
        Command::new("kill")
            .args(["-HUP", &f.child.id().to_string()])
            .status()
            .unwrap();
    };
    // A download in flight across every reload below.
    let mut dl = TcpStream::connect(f.addr).unwrap();
    dl.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    dl.write_all(b"GET /big.bin HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut first = vec![0u8; 1 << 20];
    dl.read_exact(&mut first).unwrap();

    std::fs::write(&cfg, format!("{root}cache-control = \"max-age=120\"\n")).unwrap();
    hup();
    f.wait_log("configuration reloaded");
    assert_eq!(
        header(&f.get("/a.txt"), "cache-control"),
        Some("max-age=120")
    );

    // A bad file is refused whole: the old settings keep serving.
    std::fs::write(
        &cfg,
        format!("{root}cache-control = \"max-age=1\"\nbrowse = 3\nfoo = 1\n"),
    )
    .unwrap();
    hup();
    let l = f.wait_log("configuration not reloaded");
    assert!(l.contains("`browse` must be true or false"), "{l}");
    std::fs::write(&cfg, "root = \"/no/such/dir\"\n").unwrap();
    hup();
    f.wait_log("/no/such/dir does not exist");
    assert_eq!(
        header(&f.get("/a.txt"), "cache-control"),
        Some("max-age=120")
    );

    // The download finishes whole.
    let mut rest = Vec::new();
    dl.read_to_end(&mut rest).unwrap();
    let all = [first, rest].concat();
    let body_at = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(all.len() - body_at, big.len());

    // A listener setting waits for a restart, and says so; the sites' apply.
    std::fs::write(
        &cfg,
        format!("{root}cache-control = \"max-age=240\"\nidle-timeout = 5\n"),
    )
    .unwrap();
    hup();
    let l = f.wait_log("`idle-timeout` changed");
    assert!(l.contains("applies after a restart"), "{l}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while header(&f.get("/a.txt"), "cache-control") != Some("max-age=240") {
        assert!(Instant::now() < deadline, "the sites were not reloaded");
        std::thread::sleep(Duration::from_millis(20));
    }
}
