//! The `ferry` command: `ferry serve DIR`.
#![forbid(unsafe_code)]

mod args;
mod h1;
mod linger;
mod precompress;
mod proxy;
mod server;

use anyhow::{bail, Context as _};
use clap::Parser as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    raise_fd_limit();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Lifts the soft limit on open files to the hard limit, as Go and nginx's
/// `worker_rlimit_nofile` do: connections and cached files both need them.
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut lim = getrlimit(Resource::Nofile);
    if lim.current < lim.maximum {
        lim.current = lim.maximum;
        let _ = setrlimit(Resource::Nofile, lim);
    }
}

fn header_value(flag: &str, v: &str) -> anyhow::Result<http::HeaderValue> {
    http::HeaderValue::from_str(v.trim())
        .with_context(|| format!("{flag} {v:?} is not a valid header value"))
}

/// A header value, or `None` for the word `none`.
fn optional_value(flag: &str, v: &str) -> anyhow::Result<Option<http::HeaderValue>> {
    if v.trim().eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    header_value(flag, v).map(Some)
}

fn run(cli: args::Cli) -> anyhow::Result<()> {
    match cli.command {
        args::Command::Serve(a) => {
            if !a.dir.exists() {
                bail!("root directory {} does not exist", a.dir.display());
            }
            if !a.dir.is_dir() {
                bail!("root {} is not a directory", a.dir.display());
            }
            let store = ferry::FsStore::new(&a.dir)
                .with_context(|| format!("cannot serve {}", a.dir.display()))?
                .follow_symlinks(a.follow_symlinks)
                .precompressed(!a.no_precompressed);
            let mut types = ferry::mime::MimeTable::new()
                .default_type(header_value("--default-type", &a.default_type)?);
            for m in &a.mime {
                let (ext, ty) = m
                    .split_once('=')
                    .with_context(|| format!("--mime {m:?}: expected EXT=TYPE"))?;
                types = types.with(ext, header_value("--mime", ty)?);
            }
            let store = store
                .content_types(types)
                .inline_io(true)
                .cache_open_files(!a.no_file_cache);
            let mut cache = ferry::cache::CachePolicy::default()
                .default_value(optional_value("--cache-control", &a.cache_control)?)
                .fingerprinted(optional_value(
                    "--immutable-cache-control",
                    &a.immutable_cache_control,
                )?);
            for r in &a.cache_rules {
                let (glob, value) = r
                    .split_once('=')
                    .with_context(|| format!("--cache-rule {r:?}: expected GLOB=VALUE"))?;
                cache = cache.rule(glob, header_value("--cache-rule", value)?)?;
            }
            let root = store.root().to_owned();
            let hidden = if a.show_hidden {
                ferry::store::Hidden::Allow
            } else {
                ferry::store::Hidden::Deny
            };
            let svc = ferry::ServeDir::new(store)
                .hidden(hidden)
                .cache_policy(cache)
                .browse(a.browse);
            h1::run(&a.server, svc, &format!("serving {}", root.display()))
        }
        args::Command::Proxy(a) => proxy::run(a),
        args::Command::Precompress(a) => precompress::run(&a),
    }
}
