//! The `ferry` command: `ferry serve DIR`, `ferry proxy`, and the rest.
//!
//! A library only so that the fuzz targets can reach its parsers
//! ([`fuzz`], feature `fuzzing`); the binary (`src/bin.rs`) calls [`main`].
#![forbid(unsafe_code)]

mod accesslog;
mod acme;
mod answer;
mod args;
mod bucket;
mod certs;
mod config;
mod framing;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz;
mod h1;
mod h2;
mod host;
mod hpack;
mod hyper_wire;
mod linger;
mod listeners;
mod metrics;
mod net;
mod observe;
mod pipeline;
mod policy;
mod precompress;
mod proxy;
#[cfg(feature = "http3")]
mod quic;
mod reqbody;
mod settings;
mod sites;
mod tls;

use anyhow::{bail, Context as _};
use clap::Parser as _;
use std::process::ExitCode;

/// Runs the command line of this process; what the `ferry` binary does.
pub fn main() -> ExitCode {
    main_with(|| {})
}

/// As [`main`], calling `after_startup` once on the main thread when the
/// server is set up and before it serves its first connection: the binary
/// passes its allocator's call to give freed memory back (the command line's
/// parser and the configuration's text are gone by then).
pub fn main_with(after_startup: fn()) -> ExitCode {
    let _ = net::AFTER_STARTUP.set(after_startup);
    let (argv, provenance) = match config::argv() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("ferry: error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let cli = args::Cli::parse_from(argv);
    // Debugging output (spans per connection and request, the decisions),
    // e.g. FERRY_LOG=debug or FERRY_LOG=ferry=trace; by default warnings only
    // (a cached copy served while object storage fails).
    let filter = std::env::var_os("FERRY_LOG")
        .map_or_else(|| "ferry=warn".into(), |f| f.to_string_lossy().into_owned());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
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

/// Serves `sites` with `a`'s listener settings until SIGINT or SIGTERM;
/// SIGHUP replaces them with what `reload` builds.
pub(crate) fn run_sites<S: ferry::Store>(
    a: &args::ServeArgs,
    sites: sites::Sites<S>,
    reload: impl Fn() -> anyhow::Result<sites::Sites<S>> + Send + Sync + 'static,
    what: &str,
) -> anyhow::Result<()> {
    use std::sync::Arc;
    let settings = settings::Settings::from_args(&a.server)?;
    let live = Arc::new(sites::Live::new(sites));
    // TLS (files, ACME, or sites' own certificates), or plaintext HTTP/1.1
    // (and h2c with prior knowledge, --h2c).
    let https = tls::Https::new(&a.tls, |certs| {
        if a.tls.h2c || (certs.is_none() && !live.load().has_certs()) {
            return None;
        }
        Some(tls::by_site(live.clone(), certs))
    })?
    .map(Arc::new);
    let app = sites::SitesApp {
        live: live.clone(),
        observer: listeners::observer(&settings),
    };
    listeners::run(&settings, app, https, a.tls.h2c, what, move || async move {
        sites::reload_on_hup(live, reload);
        Ok(())
    })
}

/// The settings again, as at start (flags, FERRY_* variables, the config
/// file read anew), for a reload.
pub(crate) fn reparse() -> anyhow::Result<(args::ServeArgs, config::Provenance)> {
    use clap::Parser as _;
    let (argv, provenance) = config::argv()?;
    let cli = args::Cli::try_parse_from(argv)
        .map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))?;
    match cli.command {
        args::Command::Serve(a) => Ok((*a, provenance)),
        _ => bail!("not `ferry serve`"),
    }
}

pub(crate) fn hidden(a: &args::ServeArgs) -> ferry::store::Hidden {
    if a.show_hidden {
        ferry::store::Hidden::Allow
    } else {
        ferry::store::Hidden::Deny
    }
}

pub(crate) fn mime_table(a: &args::ServeArgs) -> anyhow::Result<ferry::mime::MimeTable> {
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

pub(crate) fn cache_policy(a: &args::ServeArgs) -> anyhow::Result<ferry::cache::CachePolicy> {
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
        args::Command::Precompress(_) | args::Command::HashPassword(_) => None,
    };
    if server.and_then(|s| s.metrics).is_some() {
        metrics::install()?;
    }
    match cli.command {
        args::Command::CheckConfig(a) => serve(&a, provenance, true),
        args::Command::Serve(a) => serve(&a, provenance, false),
        args::Command::Proxy(a) => proxy::run(*a),
        args::Command::Precompress(a) => precompress::run(&a),
        args::Command::HashPassword(a) => policy::password::run(&a),
    }
}

/// `ferry serve`, or with `check` only its settings' checks.
fn serve(a: &args::ServeArgs, provenance: &config::Provenance, check: bool) -> anyhow::Result<()> {
    if let Some(url) = a
        .dir
        .as_deref()
        .and_then(|d| d.to_str())
        .filter(|d| bucket::is_url(d))
    {
        if check {
            bail!("check-config checks directories; for {url}, `ferry serve` checks the bucket at start");
        }
        return bucket::serve(a, url, provenance);
    }
    if let Some(d) = &a.cache_dir {
        bail!(
            "--cache-dir {}: the disk cache is for object storage roots (s3://, az://); a directory is served from disk already",
            d.display()
        );
    }
    let sites = fs_sites(a, provenance)?;
    // What sites without a certificate of their own fall back on, as started:
    // a reload cannot add or remove it.
    let fallback = a.tls.has_certificate();
    let tls = fallback || sites.has_certs();
    tls::check_https_flags(&a.tls, tls)?;
    check_site_certs(fallback, &sites, tls)?;
    check_auth_transport(a, &sites, tls)?;
    let what = match (&a.dir, provenance.sites.len()) {
        (Some(d), 0) => format!("serving {}", d.display()),
        (_, n) => format!("serving {n} site{} by Host", if n == 1 { "" } else { "s" }),
    };
    if check {
        if let (Some(cert), Some(key)) = (&a.tls.tls_cert, &a.tls.tls_key) {
            certs::check(cert, key)?;
        }
        if !a.tls.acme_domain.is_empty() {
            acme::check(&a.tls)?;
        }
        let root = match &a.dir {
            Some(d) => format!(
                "root {} (from {})",
                d.display(),
                provenance.of("dir", "DIR", "FERRY_ROOT")
            ),
            None => "no default root".to_owned(),
        };
        let n = provenance.sites.len();
        let sites = match n {
            0 => String::new(),
            _ => format!(", {n} site{} by Host", if n == 1 { "" } else { "s" }),
        };
        println!(
            "ferry: configuration OK: {root}{sites}, listen {} (from {})",
            a.server.listen,
            provenance.of("listen", "--listen", "FERRY_LISTEN"),
        );
        return Ok(());
    }
    let running = a.clone();
    let reload = move || -> anyhow::Result<_> {
        let (a, provenance) = reparse()?;
        for key in config::keys::restart_only_changes(&running, &a) {
            eprintln!("ferry: `{key}` changed: it applies after a restart");
        }
        if a.dir
            .as_deref()
            .and_then(|d| d.to_str())
            .is_some_and(bucket::is_url)
        {
            bail!("the root changed from a directory to a bucket: restart to apply");
        }
        let sites = fs_sites(&a, &provenance)?;
        check_site_certs(fallback, &sites, tls)?;
        check_auth_transport(&a, &sites, tls)?;
        if (a.tls.has_certificate() || sites.has_certs()) != tls {
            eprintln!("ferry: HTTPS turned on or off: it applies after a restart");
        }
        Ok(sites)
    };
    run_sites(a, sites, reload, &what)
}

/// Over HTTPS, a site without a certificate of its own needs one to fall back
/// on (--tls-cert or ACME), or its handshakes would all fail.
fn check_site_certs(
    fallback: bool,
    sites: &sites::Sites<ferry::FsStore>,
    tls: bool,
) -> anyhow::Result<()> {
    if tls && !fallback && sites.lacks_certs() {
        bail!(
            "a site has no tls-cert, and there is no --tls-cert or --acme-domain to fall back on: \
             its HTTPS handshakes would fail"
        );
    }
    Ok(())
}

/// `--basic-auth` on a listener without TLS (plain HTTP/1.1 or h2c) sends
/// passwords in clear: refused (the configuration check fails, so ferry does
/// not start, or a reload keeps the old sites) unless `--auth-allow-insecure`.
pub(crate) fn check_auth_transport<S: ferry::Store>(
    a: &args::ServeArgs,
    sites: &sites::Sites<S>,
    tls: bool,
) -> anyhow::Result<()> {
    if sites.uses_auth() && !tls && !a.site.auth_allow_insecure {
        bail!(
            "--basic-auth on a plain-HTTP listener would send passwords in clear: serve HTTPS \
             (--tls-cert or --acme-domain), or allow it with --auth-allow-insecure (e.g. behind \
             a TLS-terminating proxy)"
        );
    }
    Ok(())
}

/// Every site of `ferry serve` on directories: the top-level root (the
/// default site when there are `[[site]]` tables) and each `[[site]]`.
fn fs_sites(
    a: &args::ServeArgs,
    provenance: &config::Provenance,
) -> anyhow::Result<sites::Sites<ferry::FsStore>> {
    let mut out = sites::Sites::empty();
    if let Some(dir) = &a.dir {
        let from = format!("root from {}", provenance.of("dir", "DIR", "FERRY_ROOT"));
        let svc = fs_service(a, dir, &from)?;
        let policy = site_policy(a, dir).with_context(|| from.clone())?;
        out.add(
            sites::Site {
                svc,
                cert: None,
                policy,
            },
            &[],
            true,
        )?;
    }
    for spec in &provenance.sites {
        let sa = spec.args(a)?;
        let dir = sa.dir.as_ref().context("a site without root")?;
        let svc = fs_service(&sa, dir, &format!("`root` in {}", spec.name))?;
        let cert = match (&sa.tls.tls_cert, &sa.tls.tls_key) {
            (Some(c), Some(k)) => Some(certs::load(c, k).with_context(|| spec.name.clone())?),
            (None, None) => None,
            _ => bail!("{}: `tls-cert` and `tls-key` go together", spec.name),
        };
        let policy = site_policy(&sa, dir).with_context(|| spec.name.clone())?;
        out.add(sites::Site { svc, cert, policy }, &spec.hosts, spec.default)
            .with_context(|| {
                if a.dir.is_some() && spec.default {
                    format!(
                        "{}: the top-level root is already the default site",
                        spec.name
                    )
                } else {
                    spec.name.clone()
                }
            })?;
    }
    if out.is_empty() {
        bail!(
            "no root: give DIR, FERRY_ROOT, `root` in the --config file, or [[site]] tables there"
        );
    }
    Ok(out)
}

/// A directory site's policy, with the files it names checked in `dir`.
fn site_policy(
    a: &args::ServeArgs,
    dir: &std::path::Path,
) -> anyhow::Result<Option<std::sync::Arc<policy::Policy>>> {
    let Some(p) = policy::Policy::new(&a.site)? else {
        return Ok(None);
    };
    p.check_files(dir, hidden(a))?;
    Ok(Some(std::sync::Arc::new(p)))
}

/// One directory's service with `a`'s settings; `from` says where `dir` came
/// from, for errors.
fn fs_service(
    a: &args::ServeArgs,
    dir: &std::path::Path,
    from: &str,
) -> anyhow::Result<ferry::ServeDir<ferry::FsStore>> {
    if !dir.exists() {
        bail!("{from}: {} does not exist", dir.display());
    }
    if !dir.is_dir() {
        bail!("{from}: {} is not a directory", dir.display());
    }
    let store = ferry::FsStore::new(dir)
        .with_context(|| format!("cannot serve {}", dir.display()))?
        .follow_symlinks(a.follow_symlinks)
        .precompressed(!a.no_precompressed)
        .content_types(mime_table(a)?)
        .inline_io(true)
        .cache_open_files(!a.no_file_cache);
    if !a.no_file_cache && !store.caches_open_files() {
        // Still correct, only slower: every request opens its file.
        eprintln!(
            "ferry: {}: no open-file cache (inotify unavailable: fs.inotify.max_user_instances?)",
            dir.display()
        );
    }
    Ok(ferry::ServeDir::new(store)
        .hidden(hidden(a))
        .cache_policy(cache_policy(a)?)
        .browse(a.browse)
        .compress(compress(a)?))
}

/// On-the-fly compression as the flags set it; `None` with --no-compress.
pub(crate) fn compress(a: &args::ServeArgs) -> anyhow::Result<Option<ferry::compress::Compress>> {
    if a.no_compress {
        return Ok(None);
    }
    let mut c = ferry::compress::Compress::new()
        .cache_size(usize::try_from(a.compress_cache_size).unwrap_or(usize::MAX))
        .max_size(a.compress_max_size);
    for &(format, level) in &a.compress_levels {
        let coding = format.coding();
        let name = coding.as_str();
        let range = ferry::compress::Compress::levels(coding);
        if !range.contains(&level) {
            bail!(
                "--compress-level {name}={level}: {name}'s levels are {}-{}",
                range.start(),
                range.end()
            );
        }
        c = c.level(coding, level);
    }
    Ok(Some(c))
}
