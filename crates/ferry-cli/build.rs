//! Build script of the `ferry` binary: the line `ferry --version` prints, and
//! the man pages and shell completions, generated from the same clap
//! definitions `ferry` parses (`src/args.rs`, included below), so they cannot
//! drift from `--help`.
//!
//! Writes only to `OUT_DIR`: `man/ferry.1` and a page per subcommand
//! (`ferry-serve.1`…), `completions/ferry.bash`, `completions/_ferry` (zsh) and
//! `completions/ferry.fish`. `packaging/build-deb.sh` copies them into the
//! Debian package. Sets `FERRY_VERSION_LINE` for `args.rs`:
//! `0.1.0 (commit 7b2480a1c3f2, features: ferry/fs ferry/object-store, release)`.
use std::path::{Path, PathBuf};
use std::process::Command;

#[allow(dead_code)]
#[path = "src/args.rs"]
mod args;

/// What args.rs names of `crate::accesslog`: only the `Format` enum (the rest
/// of accesslog.rs needs the `ferry` crate). [`check_formats`] fails the build
/// when src/accesslog.rs names other variants.
mod accesslog {
    /// How a line looks.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
    pub(crate) enum Format {
        /// `ip "METHOD target" status bytes duration`
        Short,
        /// NCSA Common Log Format.
        Common,
        /// Common plus "referer" "user-agent", as Apache and nginx write it.
        Combined,
        /// One JSON object per line.
        Json,
    }
}

/// Packed relative relocations (DT_RELR, glibc 2.36+) for the binary: the
/// position-independent executable's ~21,000 relative relocations take a few
/// KiB instead of ~500 KiB that the dynamic loader reads (and keeps resident)
/// at every start. rust-lld (the toolchain's linker on x86_64 Linux since
/// Rust 1.90) and GNU ld 2.38+ know the option; older GNU ld ignores it with
/// a warning.
fn relr() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// For a release build linked by rust-lld: `link-order.txt` (written by
/// `bench/link-order.sh`) as the symbol ordering, so the functions that start
/// the server and answer its requests lie together. Executable pages become
/// resident 64 KiB at a time around each first touch (fault-around); spread
/// over the whole text they made ~3.5 MiB of it resident at start. Names the
/// linker does not find (after a toolchain or dependency upgrade) are skipped
/// quietly. Left out where another linker may be in use: GNU ld has no such
/// option.
fn link_order() {
    println!("cargo:rerun-if-changed=link-order.txt");
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let target_is_lld_default = var("TARGET") == "x86_64-unknown-linux-gnu" && rustc_minor() >= 90;
    let linker_chosen = std::env::var_os("RUSTC_LINKER").is_some()
        || ["linker", "link-self-contained", "fuse-ld"]
            .iter()
            .any(|f| var("CARGO_ENCODED_RUSTFLAGS").contains(f));
    let file = Path::new(&env("CARGO_MANIFEST_DIR")).join("link-order.txt");
    if var("PROFILE") == "release" && target_is_lld_default && !linker_chosen && file.exists() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            file.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// The minor version of the Rust compiler building this (`1.95.0` -> 95).
fn rustc_minor() -> u32 {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            let v = String::from_utf8(o.stdout).ok()?;
            v.split_whitespace().nth(1)?.split('.').nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

fn main() {
    println!("cargo:rerun-if-changed=src/args.rs");
    println!("cargo:rerun-if-changed=src/accesslog.rs");
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-env-changed=FERRY_BUILD_COMMIT");

    let version = format!(
        "{} (commit {}, features: {}, {})",
        env("CARGO_PKG_VERSION"),
        commit(),
        features(),
        env("PROFILE"),
    );
    println!("cargo:rustc-env=FERRY_VERSION_LINE={version}");
    relr();
    link_order();

    check_formats();
    let out = PathBuf::from(env("OUT_DIR"));
    if let Err(e) = generate(&out) {
        // A failed write must not pass silently: the package would miss them.
        panic!(
            "writing the man pages and completions to {}: {e}",
            out.display()
        );
    }
}

/// Writes the man pages and the bash, zsh and fish completions under `out`.
fn generate(out: &Path) -> std::io::Result<()> {
    use clap::CommandFactory as _;
    use clap_complete::Shell;
    let man = out.join("man");
    let completions = out.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;
    // One page for `ferry`, one per subcommand (`man ferry-serve`).
    clap_mangen::generate_to(args::Cli::command(), &man)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut args::Cli::command(), "ferry", &completions)?;
    }
    Ok(())
}

/// Panics unless `accesslog::Format` above has the variants, in order, of
/// the `enum Format` in src/accesslog.rs.
fn check_formats() {
    use clap::ValueEnum as _;
    let src = std::fs::read_to_string("src/accesslog.rs").expect("src/accesslog.rs is readable");
    let body = src
        .split_once("enum Format {")
        .and_then(|(_, rest)| rest.split_once('}'))
        .map(|(body, _)| body)
        .expect("src/accesslog.rs has `enum Format { … }`");
    let theirs: Vec<String> = body
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//") && !l.starts_with("#["))
        .map(|l| l.trim_end_matches(',').to_ascii_lowercase())
        .collect();
    let ours: Vec<String> = accesslog::Format::value_variants()
        .iter()
        .filter_map(|v| v.to_possible_value())
        .map(|v| v.get_name().to_owned())
        .collect();
    assert_eq!(
        ours, theirs,
        "build.rs's copy of accesslog::Format differs from src/accesslog.rs: update it"
    );
}

/// An environment variable cargo always sets for build scripts.
fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name} for build scripts"))
}

/// The commit being built: `FERRY_BUILD_COMMIT` when set (a build from a
/// tarball), else `git rev-parse`, else `unknown` (no git, not a checkout).
fn commit() -> String {
    if let Ok(c) = std::env::var("FERRY_BUILD_COMMIT") {
        return c;
    }
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).output().ok()?;
        let s = String::from_utf8(out.stdout).ok()?;
        (out.status.success() && !s.trim().is_empty()).then(|| s.trim().to_owned())
    };
    let Some(hash) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return "unknown".to_owned();
    };
    // Run again when HEAD moves: HEAD itself (checkout), the branch it points
    // to (commit), and packed-refs (gc). Paths as git resolves them, so
    // worktrees work too. Only files that exist: cargo reruns the script on
    // every build for a missing one (and so relinks ferry).
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    for name in ["HEAD", "packed-refs"].into_iter().chain(branch.as_deref()) {
        if let Some(p) = git(&["rev-parse", "--git-path", name]) {
            if Path::new(&p).exists() {
                println!("cargo:rerun-if-changed={p}");
            }
        }
    }
    hash
}

/// The Cargo features this binary is built with: its own (`CARGO_FEATURE_*`)
/// and those it turns on in the `ferry` library, read from the
/// `ferry = { … features = [...] }` line of this crate's `[dependencies]`.
fn features() -> String {
    let mut list: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| k.strip_prefix("CARGO_FEATURE_").map(str::to_owned))
        .map(|f| f.to_ascii_lowercase().replace('_', "-"))
        .collect();
    list.sort();
    let manifest = std::fs::read_to_string("Cargo.toml").unwrap_or_default();
    let mut in_deps = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
        } else if in_deps && line.starts_with("ferry ") {
            if let Some(rest) = line.split("features").nth(1) {
                let inner = rest.split(['[', ']']).nth(1).unwrap_or("");
                list.extend(
                    inner
                        .split(',')
                        .map(|f| f.trim().trim_matches('"'))
                        .filter(|f| !f.is_empty())
                        .map(|f| format!("ferry/{f}")),
                );
            }
        }
    }
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(" ")
    }
}
