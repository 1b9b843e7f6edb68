//! The `ferry` command: `ferry serve DIR`.
#![forbid(unsafe_code)]

mod accesslog;
mod acme;
mod args;
mod config;
mod h1;
mod linger;
mod metrics;
mod precompress;
mod proxy;
mod server;
mod tls;

use anyhow::{bail, Context as _};
use clap::Parser as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let (argv, provenance) = match config::argv() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("ferry: error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let cli = args::Cli::parse_from(argv);
    raise_fd_limit();
    match run(cli, &provenance) {
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

/// `ferry serve s3://bucket/prefix`: checks the bucket before listening, so a
/// wrong name or credentials fail at start (exit 2), not on the first request.
fn serve_bucket(a: &args::ServeArgs, url: &str) -> anyhow::Result<()> {
    use object_store::aws::AmazonS3ConfigKey;
    use object_store::{ClientConfigKey, RetryConfig};
    use std::time::Duration;
    let rest = url.trim_start_matches("s3://");
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        bail!("{url}: expected s3://BUCKET[/PREFIX]");
    }
    let timeout = Duration::from_secs(a.store_timeout.max(1));
    // Built twice: the check's connections belong to a runtime that ends with it.
    let build = || -> anyhow::Result<ferry::store::bucket::BucketStore> {
        // Flags win over the environment.
        let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(e) = &a.s3_endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(r) = &a.s3_region {
            b = b.with_region(r);
        }
        if a.s3_allow_http {
            b = b.with_allow_http(true);
        }
        let s3 = b
            // Set key by key: replacing the client options would drop what
            // from_env read (AWS_ALLOW_HTTP, proxies).
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
                format!("{}s", timeout.as_secs()),
            )
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                "5s",
            )
            .with_retry(RetryConfig {
                max_retries: 2,
                retry_timeout: timeout,
                ..RetryConfig::default()
            })
            .build()
            .with_context(|| format!("cannot configure {url}"))?;
        Ok(
            ferry::store::bucket::BucketStore::new(std::sync::Arc::new(s3), prefix)
                .precompressed(!a.no_precompressed)
                .metadata_ttl(Some(Duration::from_secs(a.metadata_ttl)))
                .content_types(mime_table(a)?),
        )
    };
    let probe = build()?;
    server::runtime()?
        .block_on(probe.check())
        .with_context(|| format!("cannot list {url}"))?;
    let store = build()?;
    let svc = ferry::ServeDir::new(store)
        .hidden(hidden(a))
        .cache_policy(cache_policy(a)?)
        .browse(a.browse);
    if a.tls.tls_cert.is_some() || a.tls.h2c || !a.tls.acme_domain.is_empty() {
        return tls::run(&a.server, &a.tls, svc, &format!("serving {url}"));
    }
    h1::run(&a.server, svc, &format!("serving {url}"))
}

fn hidden(a: &args::ServeArgs) -> ferry::store::Hidden {
    if a.show_hidden {
        ferry::store::Hidden::Allow
    } else {
        ferry::store::Hidden::Deny
    }
}

fn mime_table(a: &args::ServeArgs) -> anyhow::Result<ferry::mime::MimeTable> {
    let mut types = ferry::mime::MimeTable::new()
        .default_type(header_value("--default-type", &a.default_type)?);
    for m in &a.mime {
        let (ext, ty) = m
            .split_once('=')
            .with_context(|| format!("--mime {m:?}: expected EXT=TYPE"))?;
        types = types.with(ext, header_value("--mime", ty)?);
    }
    Ok(types)
}

fn cache_policy(a: &args::ServeArgs) -> anyhow::Result<ferry::cache::CachePolicy> {
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
    Ok(cache)
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

fn run(cli: args::Cli, provenance: &config::Provenance) -> anyhow::Result<()> {
    let server = match &cli.command {
        args::Command::Serve(a) => Some(&a.server),
        args::Command::CheckConfig(_) => None,
        args::Command::Proxy(a) => Some(&a.server),
        args::Command::Precompress(_) => None,
    };
    if let Some(addr) = server.and_then(|s| s.metrics) {
        metrics::install(addr)?;
    }
    match cli.command {
        args::Command::CheckConfig(a) => serve(&a, provenance, true),
        args::Command::Serve(a) => serve(&a, provenance, false),
        args::Command::Proxy(a) => proxy::run(a),
        args::Command::Precompress(a) => precompress::run(&a),
    }
}

/// `ferry serve`, or with `check` only its settings' checks.
fn serve(a: &args::ServeArgs, provenance: &config::Provenance, check: bool) -> anyhow::Result<()> {
    let from = provenance.of("dir", "DIR", "FERRY_ROOT");
    if let Some(url) = a.dir.to_str().filter(|d| d.starts_with("s3://")) {
        if check {
            bail!("check-config checks directories; for {url}, `ferry serve` checks the bucket at start");
        }
        return serve_bucket(a, url);
    }
    if !a.dir.exists() {
        bail!("root from {from}: {} does not exist", a.dir.display());
    }
    if !a.dir.is_dir() {
        bail!("root from {from}: {} is not a directory", a.dir.display());
    }
    let store = ferry::FsStore::new(&a.dir)
        .with_context(|| format!("cannot serve {}", a.dir.display()))?
        .follow_symlinks(a.follow_symlinks)
        .precompressed(!a.no_precompressed);
    let store = store
        .content_types(mime_table(a)?)
        .inline_io(true)
        .cache_open_files(!a.no_file_cache);
    let root = store.root().to_owned();
    let svc = ferry::ServeDir::new(store)
        .hidden(hidden(a))
        .cache_policy(cache_policy(a)?)
        .browse(a.browse);
    let what = format!("serving {}", root.display());
    if check {
        if let (Some(cert), Some(key)) = (&a.tls.tls_cert, &a.tls.tls_key) {
            tls::check(cert, key)?;
        }
        if !a.tls.acme_domain.is_empty() {
            acme::check(&a.tls)?;
        }
        println!(
            "ferry: configuration OK: root {} (from {}), listen {} (from {})",
            root.display(),
            provenance.of("dir", "DIR", "FERRY_ROOT"),
            a.server.listen,
            provenance.of("listen", "--listen", "FERRY_LISTEN"),
        );
        return Ok(());
    }
    if a.tls.tls_cert.is_some() || a.tls.h2c || !a.tls.acme_domain.is_empty() {
        return tls::run(&a.server, &a.tls, svc, &what);
    }
    h1::run(&a.server, svc, &what)
}
