//! The `ferry` command: `ferry serve DIR`.
#![forbid(unsafe_code)]

mod args;
mod server;

use anyhow::{bail, Context as _};
use clap::Parser as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry: error: {e:#}");
            ExitCode::from(2)
        }
    }
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
            let cache_control = a
                .cache_control
                .as_deref()
                .map(http::HeaderValue::from_str)
                .transpose()
                .context("--cache-control is not a valid header value")?;
            let root = store.root().to_owned();
            let hidden = if a.show_hidden {
                ferry::store::Hidden::Allow
            } else {
                ferry::store::Hidden::Deny
            };
            let svc = ferry::ServeDir::new(store)
                .hidden(hidden)
                .cache_control(cache_control);
            server::run(&a.server, svc, &format!("serving {}", root.display()))
        }
    }
}
