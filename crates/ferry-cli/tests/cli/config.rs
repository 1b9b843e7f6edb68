//! Where settings come from (flags, `FERRY_*`, `ferry.toml`) and the errors
//! that name the source of a bad value.
use super::{ferry, header, site, Ferry};
use std::process::Command;

#[test]
fn missing_root_is_a_clear_error_with_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["serve", "/no/such/dir"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/no/such/dir") && err.contains("does not exist"),
        "{err}"
    );
}

#[test]
fn a_file_as_root_is_a_clear_error_with_exit_2() {
    let d = site();
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("serve")
        .arg(d.path().join("a.txt"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a directory"));
}

#[test]
fn help_explains_every_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--no-access-log",
        "--header-timeout",
        "--max-header-bytes",
        "--follow-symlinks",
        "--show-hidden",
        "--no-precompressed",
        "--cache-control",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn settings_come_from_flags_then_environment_then_the_config_file() {
    let d = site();
    let cfg = d.path().join("ferry.toml");
    let root = d.path().to_str().unwrap().to_owned();
    std::fs::write(
        &cfg,
        format!("root = {root:?}\nlisten = \"127.0.0.1:1111\"\ncache-control = \"max-age=60\"\n"),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    // The file alone.
    let (code, out, err) = ferry(&["check-config", "--config", cfg], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("listen 127.0.0.1:1111 (from `listen` in"),
        "{out}"
    );
    assert!(out.contains("(from `root` in"), "{out}");
    // A variable beats the file; a flag beats both.
    let (_, out, _) = ferry(
        &["check-config", "--config", cfg],
        &[("FERRY_LISTEN", "127.0.0.1:2222")],
    );
    assert!(
        out.contains("listen 127.0.0.1:2222 (from FERRY_LISTEN)"),
        "{out}"
    );
    let (_, out, _) = ferry(
        &[
            "check-config",
            "--config",
            cfg,
            "--listen",
            "127.0.0.1:3333",
        ],
        &[("FERRY_LISTEN", "127.0.0.1:2222")],
    );
    assert!(
        out.contains("listen 127.0.0.1:3333 (from the command line"),
        "{out}"
    );
    // The file's values really apply when serving.
    let f = Ferry::serve(d.path(), &["--config", cfg, "--no-access-log"]);
    assert_eq!(
        header(&f.get("/a.txt"), "cache-control"),
        Some("max-age=60")
    );
}

#[test]
fn config_errors_say_where_the_value_came_from() {
    let d = site();
    let (code, _, err) = ferry(&["serve"], &[("FERRY_ROOT", "/no/such/dir")]);
    assert_eq!(code, 2);
    assert!(
        err.contains("root from FERRY_ROOT: /no/such/dir does not exist"),
        "{err}"
    );
    let cfg = d.path().join("bad.toml");
    std::fs::write(&cfg, "root = \"/no/such/dir\"\n").unwrap();
    let (code, _, err) = ferry(&["check-config", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("root from `root` in"), "{err}");
    std::fs::write(&cfg, "lisen = \"x\"\n").unwrap();
    let (code, _, err) = ferry(&["serve", "--config", cfg.to_str().unwrap(), "."], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown key `lisen`"), "{err}");
    let (code, _, err) = ferry(
        &[
            "check-config",
            d.path().to_str().unwrap(),
            "--tls-cert",
            "/no/cert.pem",
            "--tls-key",
            "/no/key.pem",
        ],
        &[],
    );
    assert_eq!(code, 2);
    assert!(err.contains("/no/cert.pem"), "{err}");
}

#[test]
fn the_example_config_in_docs_has_only_known_keys() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/ferry.example.toml");
    let (code, _, err) = ferry(&["check-config", "--config", example], &[]);
    // Every key parses and passes its checks up to the first path that exists
    // only on a real server.
    assert_eq!(code, 2);
    assert!(
        err.contains("root from `root` in") && err.contains("/srv/www does not exist"),
        "{err}"
    );
}

#[test]
fn timeouts_and_limits_out_of_range_are_errors() {
    for (flag, v) in [
        ("--idle-timeout", "0"),
        ("--idle-timeout", "9223372036854775807"),
        ("--write-timeout", "100000"),
        ("--max-header-bytes", "10"),
        ("--max-connections", "0"),
        ("--drain-timeout", "18446744073709551615"),
    ] {
        let (code, _, err) = ferry(&["check-config", ".", flag, v], &[]);
        assert_eq!(code, 2, "{flag} {v}");
        assert!(err.contains(flag), "{flag} {v}: {err}");
    }
}

#[test]
fn compression_settings_out_of_range_are_clear_errors() {
    for (flag, v, says) in [
        ("--compress-level", "br=12", "br's levels are 0-11"),
        ("--compress-level", "zstd=0", "zstd's levels are 1-19"),
        ("--compress-level", "gzip=10", "gzip's levels are 1-9"),
        ("--compress-level", "deflate=3", "expected CODING=LEVEL"),
        ("--compress-level", "zstd", "expected CODING=LEVEL"),
        (
            "--compress-cache-size",
            "lots",
            "expected a number of bytes",
        ),
        ("--compress-max-size", "1t", "expected a number of bytes"),
    ] {
        let (code, _, err) = ferry(&["check-config", ".", flag, v], &[]);
        assert_eq!(code, 2, "{flag} {v}");
        assert!(
            err.contains(flag) && err.contains(says),
            "{flag} {v}: {err}"
        );
    }
    let (code, out, err) = ferry(
        &[
            "check-config",
            ".",
            "--compress-level",
            "br=11,zstd=19,gzip=1",
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn the_disk_cache_flags_are_checked() {
    // A directory needs no cache: saying one is a mistake, not ignored.
    let (code, _, err) = ferry(&["check-config", ".", "--cache-dir", "/tmp/c"], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--cache-dir /tmp/c") && err.contains("object storage"),
        "{err}"
    );
    for (flag, v) in [("--cache-size", "lots"), ("--cache-max-object", "1t")] {
        let (code, _, err) = ferry(&["check-config", ".", flag, v], &[]);
        assert_eq!(code, 2, "{flag} {v}");
        assert!(err.contains(flag), "{flag} {v}: {err}");
    }
}
