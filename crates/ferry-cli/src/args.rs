//! Command-line flags, as typed: parsed by clap, with each number's bounds as
//! a clap value range. [`crate::config`] adds the file's settings and
//! [`crate::settings`] turns the listener's into durations and limits.
//!
//! This module imports no other ferry module but `accesslog`'s `Format`: the
//! flags are the bottom layer every other module reads. build.rs includes it
//! to generate the man pages and completions (with a checked copy of
//! `Format`), so it names nothing else of the crate.
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;

/// `ferry --version`: the version, the git commit and the Cargo features,
/// from build.rs; the crate version alone where build.rs did not set it (as
/// when build.rs includes this file to write the man pages and completions).
const VERSION: &str = match option_env!("FERRY_VERSION_LINE") {
    Some(v) => v,
    None => env!("CARGO_PKG_VERSION"),
};

/// ferry: serve files over HTTP exactly right and fast.
#[derive(Debug, Parser)]
#[command(name = "ferry", version = VERSION, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve the files of a directory (or a bucket) over HTTP/1.1, or HTTPS
    /// with HTTP/2 (GET and HEAD).
    ///
    /// Conditional requests (304/412), byte ranges, precompressed siblings
    /// (`x.css.br`, `x.css.zst`, `x.css.gz`) and `index.html` for directories.
    Serve(Box<ServeArgs>),
    /// Run in front of an application (Django, Rails, Laravel…): proxy every
    /// request to it and serve the files it hands off with X-Accel-Redirect,
    /// X-Sendfile or X-LIGHTTPD-send-file, as nginx does.
    Proxy(Box<ProxyArgs>),
    /// Write `.br`, `.zst` and `.gz` siblings of a directory's compressible files,
    /// for `ferry serve` to pick by Accept-Encoding.
    ///
    /// A sibling is kept only when it is meaningfully smaller; files whose
    /// siblings are up to date are skipped, so re-running changes nothing.
    Precompress(PrecompressArgs),
    /// Check `ferry serve`'s settings (flags, FERRY_* variables, --config
    /// file) without starting: the root, types, cache rules, certificates.
    /// Exit 0 when they are good, 2 with the reason otherwise.
    CheckConfig(Box<ServeArgs>),
    /// Read a password (from the terminal without echo, or stdin) and print
    /// a hash of it for `--basic-auth GLOB=USER:HASH`.
    HashPassword(HashPasswordArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PrecompressArgs {
    /// The directory to precompress, recursively.
    pub(crate) dir: PathBuf,

    /// Leave files smaller than this alone.
    #[arg(long, value_name = "BYTES", default_value_t = 256)]
    pub(crate) min_size: u64,

    /// The codings to write, comma-separated.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "br,zstd,gzip"
    )]
    pub(crate) formats: Vec<Format>,

    /// Files compressed at once (default: the number of CPUs).
    #[arg(short, long, value_name = "N")]
    pub(crate) jobs: Option<NonZeroUsize>,

    /// Rewrite siblings even when they are up to date.
    #[arg(long)]
    pub(crate) force: bool,

    /// Print neither progress nor the summary (warnings still go to stderr).
    #[arg(short, long)]
    pub(crate) quiet: bool,

    /// Also precompress names starting with `.` (by default only /.well-known/).
    #[arg(long)]
    pub(crate) show_hidden: bool,
}

/// A precompressed sibling's coding, as `--formats` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Brotli, `x.br`.
    Br,
    /// Zstandard, `x.zst`.
    #[value(alias = "zst")]
    Zstd,
    /// gzip, `x.gz`.
    #[value(alias = "gz")]
    Gzip,
}

#[derive(Debug, Args)]
pub(crate) struct ProxyArgs {
    #[command(flatten)]
    pub(crate) server: ServerArgs,

    #[command(flatten)]
    pub(crate) tls: TlsArgs,

    /// The application, e.g. http://127.0.0.1:8000.
    #[arg(long, value_name = "URL", env = "FERRY_UPSTREAM")]
    pub(crate) upstream: String,

    /// Honour `X-Accel-Redirect: PREFIX…` by serving from DIR; clients asking for
    /// PREFIX directly get 404 (nginx's `internal`). Repeatable (in
    /// FERRY_ACCEL, comma-separated).
    #[arg(
        long,
        value_name = "PREFIX=DIR",
        value_delimiter = ',',
        env = "FERRY_ACCEL"
    )]
    pub(crate) accel: Vec<String>,

    /// Honour `X-Sendfile` / `X-LIGHTTPD-send-file` paths inside DIR.
    /// Repeatable (in FERRY_SENDFILE_ROOT, comma-separated).
    #[arg(
        long,
        value_name = "DIR",
        value_delimiter = ',',
        env = "FERRY_SENDFILE_ROOT"
    )]
    pub(crate) sendfile_root: Vec<PathBuf>,

    /// Never compress on the fly: by default `--static` files and handed-off
    /// files of a compressible type (by the application's Content-Type) with
    /// no precompressed sibling the client accepts are sent as zstd, br or
    /// gzip, as `ferry serve` does.
    #[arg(long, env = "FERRY_NO_COMPRESS")]
    pub(crate) no_compress: bool,

    /// Serve PREFIX from DIR directly, without the upstream (collected static
    /// files; precompressed siblings and immutable caching for fingerprinted
    /// names). Repeatable (in FERRY_STATIC, comma-separated).
    #[arg(
        long = "static",
        value_name = "PREFIX=DIR",
        value_delimiter = ',',
        env = "FERRY_STATIC"
    )]
    pub(crate) statics: Vec<String>,

    /// Seconds to wait for the upstream's response head before answering 504.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..=86_400),
        env = "FERRY_UPSTREAM_TIMEOUT"
    )]
    pub(crate) upstream_timeout: u64,

    /// Largest request body accepted (`k`, `m`, `g` suffixes, as nginx's
    /// client_max_body_size); larger ones get 413. 0: no limit.
    #[arg(
        long,
        value_name = "SIZE",
        default_value = "100m",
        value_parser = parse_size,
        env = "FERRY_MAX_BODY_SIZE"
    )]
    pub(crate) max_body_size: u64,

    /// Stream request bodies to the upstream as they arrive instead of
    /// reading them whole first (nginx's `proxy_request_buffering off`): for
    /// apps that take streaming uploads; a slow client then holds a worker.
    #[arg(long, env = "FERRY_NO_REQUEST_BUFFERING")]
    pub(crate) no_request_buffering: bool,

    /// Pass response bodies to clients as the upstream sends them instead of
    /// reading them off the upstream at once (nginx's `proxy_buffering off`);
    /// per response, the upstream's `X-Accel-Buffering: no` does the same.
    #[arg(long, env = "FERRY_NO_RESPONSE_BUFFERING")]
    pub(crate) no_response_buffering: bool,
}

/// `zstd=9`: a coding (as `--formats` names it) and a level; the level's
/// range per coding is checked where the server is built.
pub(crate) fn parse_coding_level(v: &str) -> Result<(Format, i32), String> {
    let err = || format!("{v:?}: expected CODING=LEVEL, e.g. zstd=9 (zstd, br or gzip)");
    let (coding, level) = v.split_once('=').ok_or_else(err)?;
    let coding = Format::from_str(coding.trim(), true).map_err(|_| err())?;
    let level = level.trim().parse().map_err(|_| err())?;
    Ok((coding, level))
}

/// `1048576`, `512k`, `1m`, `2g` (binary multiples, as nginx reads them).
pub(crate) fn parse_size(v: &str) -> Result<u64, String> {
    let v = v.trim();
    let (digits, unit) = match v.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => v.split_at(i),
        None => (v, ""),
    };
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        _ => return Err(format!("{v:?}: expected a number of bytes, with k, m or g")),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("{v:?}: expected a number of bytes, with k, m or g"))
}

#[derive(Debug, Clone, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) tls: TlsArgs,

    /// The directory to serve, or `s3://BUCKET/PREFIX` for object storage
    /// (configured from AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_ALLOW_HTTP and the other usual variables),
    /// or `az://CONTAINER/PREFIX` for Azure Blob Storage (AZURE_STORAGE_ACCOUNT_NAME,
    /// AZURE_STORAGE_ACCOUNT_KEY; AZURE_STORAGE_USE_EMULATOR=true and
    /// AZURITE_BLOB_STORAGE_URL for the emulator).
    /// Optional only when the --config file has `[[site]]` tables.
    #[arg(env = "FERRY_ROOT")]
    pub(crate) dir: Option<PathBuf>,

    /// Object storage: seconds to keep object metadata, so revalidations are
    /// answered without a round trip (0: always ask the store).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 0,
        value_parser = clap::value_parser!(u64).range(0..=86_400),
        env = "FERRY_METADATA_TTL"
    )]
    pub(crate) metadata_ttl: u64,

    /// Object storage: keep object bodies in this directory and serve them
    /// from local disk (fresh for --metadata-ttl seconds, then revalidated
    /// with one conditional request). One ferry per directory.
    #[arg(long, value_name = "DIR", env = "FERRY_CACHE_DIR")]
    pub(crate) cache_dir: Option<PathBuf>,

    /// Object storage: the most bytes --cache-dir holds (k, m, g); the least
    /// recently used objects are removed to make room.
    #[arg(
        long,
        value_name = "SIZE",
        default_value = "1g",
        value_parser = parse_size,
        env = "FERRY_CACHE_SIZE"
    )]
    pub(crate) cache_size: u64,

    /// Object storage: larger objects are not cached (streamed from the
    /// store, ranges fetched as ranges).
    #[arg(
        long,
        value_name = "SIZE",
        default_value = "64m",
        value_parser = parse_size,
        env = "FERRY_CACHE_MAX_OBJECT"
    )]
    pub(crate) cache_max_object: u64,

    /// Object storage: seconds past its freshness a cached copy is still
    /// served while the store fails (RFC 5861 stale-if-error; logged);
    /// after that, 502.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 0,
        value_parser = clap::value_parser!(u64).range(0..=31_536_000),
        env = "FERRY_STALE_IF_ERROR"
    )]
    pub(crate) stale_if_error: u64,

    /// Object storage: the endpoint URL (default: AWS_ENDPOINT_URL, else AWS).
    #[arg(long, value_name = "URL", env = "FERRY_S3_ENDPOINT")]
    pub(crate) s3_endpoint: Option<String>,

    /// Object storage: the region (default: AWS_REGION).
    #[arg(long, value_name = "REGION", env = "FERRY_S3_REGION")]
    pub(crate) s3_region: Option<String>,

    /// Object storage: allow a plain-HTTP endpoint (default: AWS_ALLOW_HTTP).
    #[arg(long, env = "FERRY_S3_ALLOW_HTTP")]
    pub(crate) s3_allow_http: bool,

    /// Object storage: seconds the store may take to answer a request (else
    /// the client gets 502), or stay silent in the middle of a body (else the
    /// response is aborted); a body that keeps flowing is not cut.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=86_400),
        env = "FERRY_STORE_TIMEOUT"
    )]
    pub(crate) store_timeout: u64,

    #[command(flatten)]
    pub(crate) server: ServerArgs,

    /// Serve files whose symlinks resolve outside DIR (by default they are 404).
    #[arg(long, env = "FERRY_FOLLOW_SYMLINKS")]
    pub(crate) follow_symlinks: bool,

    /// Serve names starting with `.` (by default 404, except /.well-known/).
    #[arg(long, env = "FERRY_SHOW_HIDDEN")]
    pub(crate) show_hidden: bool,

    /// Never serve precompressed siblings (.br, .zst, .gz), even when accepted.
    #[arg(long, env = "FERRY_NO_PRECOMPRESSED")]
    pub(crate) no_precompressed: bool,

    /// Never compress on the fly. By default a compressible file (text, JSON,
    /// SVG…; 1 KiB to --compress-max-size) that has no precompressed sibling
    /// the client accepts is sent as zstd, br or gzip, by Accept-Encoding;
    /// range requests always get the file as it is.
    #[arg(long, env = "FERRY_NO_COMPRESS")]
    pub(crate) no_compress: bool,

    /// Level of on-the-fly compression, `CODING=LEVEL` (zstd 1-19, br 0-11,
    /// gzip 1-9; defaults zstd=9, br=5, gzip=6); repeatable (in
    /// FERRY_COMPRESS_LEVEL, comma-separated).
    #[arg(
        long = "compress-level",
        value_name = "CODING=LEVEL",
        value_delimiter = ',',
        value_parser = parse_coding_level,
        env = "FERRY_COMPRESS_LEVEL"
    )]
    pub(crate) compress_levels: Vec<(Format, i32)>,

    /// Memory for compressed variants kept for reuse, per site (`k`, `m`, `g`
    /// suffixes), so a hot file is compressed once; 0 compresses every time.
    #[arg(
        long,
        value_name = "SIZE",
        default_value = "32m",
        value_parser = parse_size,
        env = "FERRY_COMPRESS_CACHE_SIZE"
    )]
    pub(crate) compress_cache_size: u64,

    /// Largest file compressed on the fly (`k`, `m`, `g` suffixes); larger
    /// ones are sent as they are.
    #[arg(
        long,
        value_name = "SIZE",
        default_value = "8m",
        value_parser = parse_size,
        env = "FERRY_COMPRESS_MAX_SIZE"
    )]
    pub(crate) compress_max_size: u64,

    /// Open and stat every file on every request instead of keeping recently
    /// served files open (the cache is invalidated by inotify, so changes are
    /// seen immediately either way).
    #[arg(long, env = "FERRY_NO_FILE_CACHE")]
    pub(crate) no_file_cache: bool,

    /// Cache-Control for files no --cache-rule matches and whose names are not
    /// fingerprinted; `none` sends no Cache-Control.
    #[arg(
        long,
        value_name = "VALUE",
        default_value = "no-cache",
        env = "FERRY_CACHE_CONTROL"
    )]
    pub(crate) cache_control: String,

    /// Cache-Control for fingerprinted names such as `app.3f9c2b1a.js`;
    /// `none` treats them like other files.
    #[arg(
        long,
        value_name = "VALUE",
        default_value = "public, max-age=31536000, immutable",
        env = "FERRY_IMMUTABLE_CACHE_CONTROL"
    )]
    pub(crate) immutable_cache_control: String,

    /// Cache-Control by path pattern, `GLOB=VALUE` (`*`, `**`, `?`; relative to
    /// DIR); repeatable, the first match wins.
    #[arg(long = "cache-rule", value_name = "GLOB=VALUE")]
    pub(crate) cache_rules: Vec<String>,

    /// List directories that have no index.html (HTML, or JSON for clients that
    /// prefer application/json).
    #[arg(long, env = "FERRY_BROWSE")]
    pub(crate) browse: bool,

    /// Content-Type for an extension, `EXT=TYPE` (e.g. `md=text/plain`);
    /// repeatable (in FERRY_MIME, comma-separated).
    #[arg(
        long = "mime",
        value_name = "EXT=TYPE",
        value_delimiter = ',',
        env = "FERRY_MIME"
    )]
    pub(crate) mime: Vec<String>,

    /// Content-Type for files with an unknown extension.
    #[arg(
        long,
        value_name = "TYPE",
        default_value = "application/octet-stream",
        env = "FERRY_DEFAULT_TYPE"
    )]
    pub(crate) default_type: String,

    #[command(flatten)]
    pub(crate) site: SiteArgs,
}

/// `ferry serve`'s site policy: SPA fallback, error pages, header, redirect
/// and rewrite rules, CORS, basic auth, maintenance (`crate::policy`).
#[derive(Debug, Clone, Args)]
pub(crate) struct SiteArgs {
    /// Single-page apps: answer GET/HEAD of a missing path with this file of
    /// the root (e.g. /index.html), 200 with its own validators.
    #[arg(long, value_name = "PATH", env = "FERRY_FALLBACK")]
    pub(crate) fallback: Option<String>,

    /// Which missing paths get --fallback: `no-extension` (the last segment
    /// has no `.`, so /app/users/7 but not /app.js) or `any`.
    #[arg(
        long,
        value_name = "WHICH",
        default_value = "no-extension",
        env = "FERRY_FALLBACK_ON"
    )]
    pub(crate) fallback_on: FallbackOn,

    /// The body of an error, `CODE=PATH` (400, 401, 403, 404, 500-599 or
    /// `5xx`; PATH a file of the root), sent with the error status and
    /// `Cache-Control: no-store`; repeatable.
    #[arg(long = "error-page", value_name = "CODE=PATH")]
    pub(crate) error_pages: Vec<String>,

    /// A response header by path, `GLOB=Name: value` (an empty value removes
    /// it); repeatable, the first matching GLOB wins (repeat it for several
    /// headers). Framing, hop-by-hop and validator headers cannot be set.
    #[arg(long = "header-rule", value_name = "GLOB=NAME: VALUE")]
    pub(crate) header_rules: Vec<String>,

    /// Redirect by path, `GLOB=CODE:TARGET` (301, 302, 307, 308; `$path` in
    /// TARGET is the request path; the query is kept); repeatable, first
    /// match wins.
    #[arg(long = "redirect", value_name = "GLOB=CODE:TARGET")]
    pub(crate) redirects: Vec<String>,

    /// Serve another file of the root for a path, `GLOB=/other/file`;
    /// repeatable, first match wins.
    #[arg(long = "rewrite", value_name = "GLOB=PATH")]
    pub(crate) rewrites: Vec<String>,

    /// CORS: an origin allowed to read responses (`https://app.example`, or
    /// `*` for any); repeatable (in FERRY_CORS_ALLOW_ORIGIN, comma-separated).
    #[arg(
        long,
        value_name = "ORIGIN",
        value_delimiter = ',',
        env = "FERRY_CORS_ALLOW_ORIGIN"
    )]
    pub(crate) cors_allow_origin: Vec<String>,

    /// CORS: methods a preflight may ask for, comma-separated.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "GET,HEAD",
        env = "FERRY_CORS_ALLOW_METHODS"
    )]
    pub(crate) cors_allow_methods: Vec<String>,

    /// CORS: request headers a preflight may ask for, comma-separated.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        env = "FERRY_CORS_ALLOW_HEADERS"
    )]
    pub(crate) cors_allow_headers: Vec<String>,

    /// CORS: seconds a browser may cache a preflight answer.
    #[arg(
        long,
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(0..=86_400),
        env = "FERRY_CORS_MAX_AGE"
    )]
    pub(crate) cors_max_age: Option<u64>,

    /// HTTP basic auth by path, `GLOB=USER:HASH` with a bcrypt or argon2 hash
    /// from `ferry hash-password` (never a plaintext password); repeatable,
    /// the first matching GLOB wins (repeat it for several users).
    #[arg(long = "basic-auth", value_name = "GLOB=USER:HASH")]
    pub(crate) basic_auth: Vec<String>,

    /// Allow --basic-auth on a plain-HTTP listener (passwords in clear on
    /// the wire); without it such a configuration is refused at start.
    #[arg(long, env = "FERRY_AUTH_ALLOW_INSECURE")]
    pub(crate) auth_allow_insecure: bool,

    /// Answer every request with 503 and Retry-After (and the 503
    /// --error-page, if any).
    #[arg(long, env = "FERRY_MAINTENANCE")]
    pub(crate) maintenance: bool,

    /// Maintenance while this file exists (checked at most once a second).
    #[arg(long, value_name = "FILE", env = "FERRY_MAINTENANCE_FILE")]
    pub(crate) maintenance_file: Option<PathBuf>,

    /// Maintenance: the Retry-After seconds.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 120,
        value_parser = clap::value_parser!(u64).range(0..=31_536_000),
        env = "FERRY_MAINTENANCE_RETRY_AFTER"
    )]
    pub(crate) maintenance_retry_after: u64,
}

/// Which missing paths `--fallback` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FallbackOn {
    /// Paths whose last segment has no extension (`/app/users/7`).
    NoExtension,
    /// Every missing path.
    Any,
}

/// `ferry hash-password`.
#[derive(Debug, Args)]
pub(crate) struct HashPasswordArgs {
    /// The hash to write.
    #[arg(long, value_name = "ALGORITHM", default_value = "bcrypt")]
    pub(crate) algorithm: HashAlgorithm,
}

/// A password hash `--basic-auth` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum HashAlgorithm {
    /// bcrypt, cost 10 (`$2b$10$…`).
    Bcrypt,
    /// Argon2id, m=19 MiB, t=2, p=1 (a PHC string, `$argon2id$…`).
    Argon2,
}

/// Flags every server command shares.
#[derive(Debug, Clone, Args)]
pub(crate) struct ServerArgs {
    /// A TOML file of settings: keys are these flags' long names (`listen`,
    /// `cache-control`, `tls-cert`…; `root` for the directory). Flags win over
    /// FERRY_* environment variables, which win over the file.
    #[arg(long, value_name = "FILE", env = "FERRY_CONFIG")]
    pub(crate) config: Option<PathBuf>,

    /// Address to listen on; port 0 picks a free port.
    #[arg(
        short,
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8080",
        env = "FERRY_LISTEN"
    )]
    pub(crate) listen: SocketAddr,

    /// Do not write an access log line per request to stderr.
    #[arg(long, env = "FERRY_NO_ACCESS_LOG")]
    pub(crate) no_access_log: bool,

    /// Access log format: `short` (ip "METHOD target" status bytes duration),
    /// `common`, `combined` (NCSA, as Apache and nginx), or `json`.
    #[arg(
        long,
        value_name = "FORMAT",
        default_value = "short",
        env = "FERRY_ACCESS_LOG_FORMAT"
    )]
    pub(crate) access_log_format: crate::accesslog::Format,

    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9090), at any
    /// path: requests by method and status, bytes by sendfile or copy, a
    /// latency histogram, open connections, upstream errors.
    #[arg(long, value_name = "ADDR", env = "FERRY_METRICS")]
    pub(crate) metrics: Option<SocketAddr>,

    /// Write the access log to this file instead of stderr; SIGHUP reopens it
    /// (for logrotate).
    #[arg(long, value_name = "FILE", env = "FERRY_ACCESS_LOG")]
    pub(crate) access_log: Option<PathBuf>,

    /// Seconds a client has to send a complete request head before the
    /// connection is closed.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=86_400),
        env = "FERRY_HEADER_TIMEOUT"
    )]
    pub(crate) header_timeout: u64,

    /// On SIGINT/SIGTERM, seconds to let in-flight responses finish before
    /// exiting anyway.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(0..=86_400),
        env = "FERRY_DRAIN_TIMEOUT"
    )]
    pub(crate) drain_timeout: u64,

    /// Largest request head accepted, in bytes; larger heads get 431.
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = 32 * 1024,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1024..=1 << 20),
        env = "FERRY_MAX_HEADER_BYTES"
    )]
    pub(crate) max_header_bytes: usize,

    /// Most connections open at once; beyond it, new ones wait in the
    /// listen queue until one closes (as nginx's worker_connections).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10_000,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000),
        env = "FERRY_MAX_CONNECTIONS"
    )]
    pub(crate) max_connections: usize,

    /// Seconds an idle keep-alive connection stays open.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 75,
        value_parser = clap::value_parser!(u64).range(1..=86_400),
        env = "FERRY_IDLE_TIMEOUT"
    )]
    pub(crate) idle_timeout: u64,

    /// Seconds a client may take to accept more of a response before the
    /// connection is closed.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..=86_400),
        env = "FERRY_WRITE_TIMEOUT"
    )]
    pub(crate) write_timeout: u64,

    /// Answer GET/HEAD of this path with `200 ok` for load balancers and
    /// orchestrators, whatever the Host (e.g. /healthz).
    #[arg(
        long,
        visible_alias = "check",
        value_name = "PATH",
        env = "FERRY_HEALTH_CHECK"
    )]
    pub(crate) health_check: Option<String>,
}

impl TlsArgs {
    /// Whether the flags give a certificate: files, or ACME names.
    pub(crate) fn has_certificate(&self) -> bool {
        self.tls_cert.is_some() || !self.acme_domain.is_empty()
    }
}

/// Let's Encrypt's production directory, the default `--acme-directory`.
pub(crate) const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// HTTPS and HTTP/2 for `ferry serve` and `ferry proxy`.
#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("https").args(["tls_cert", "acme_domain"]).multiple(true)))]
pub(crate) struct TlsArgs {
    /// Serve HTTPS (HTTP/2 and HTTP/1.1) with this PEM certificate chain;
    /// SIGHUP reloads it (and the key) without dropping connections.
    #[arg(long, value_name = "PEM", requires = "tls_key", env = "FERRY_TLS_CERT")]
    pub(crate) tls_cert: Option<PathBuf>,

    /// Without TLS: serve HTTP/2 with prior knowledge (h2c) beside HTTP/1.1,
    /// through hyper instead of the HTTP/1.1 fast path.
    #[arg(long, conflicts_with = "https", env = "FERRY_H2C")]
    pub(crate) h2c: bool,

    /// With TLS: do not serve HTTP/3 (QUIC on the same UDP port) nor
    /// advertise it with Alt-Svc.
    #[arg(long, env = "FERRY_NO_HTTP3")]
    pub(crate) no_http3: bool,

    /// With HTTP/3: how long browsers may remember it (`Alt-Svc: h3=":PORT";
    /// ma=SECS` on every HTTPS response); 0 sends no Alt-Svc.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 86_400,
        value_parser = clap::value_parser!(u64).range(0..=31_536_000),
        env = "FERRY_ALT_SVC_MAX_AGE"
    )]
    pub(crate) alt_svc_max_age: u64,

    /// With HTTP/3: validate clients' addresses with a QUIC Retry before any
    /// handshake work (against floods from spoofed addresses; one more
    /// round trip per new connection).
    #[arg(long, env = "FERRY_QUIC_RETRY")]
    pub(crate) quic_retry: bool,

    /// With HTTP/3: most requests in flight at once on one connection
    /// (concurrent QUIC streams).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 100,
        value_parser = clap::value_parser!(u32).range(1..=10_000),
        env = "FERRY_HTTP3_MAX_STREAMS"
    )]
    pub(crate) http3_max_streams: u32,

    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert", env = "FERRY_TLS_KEY")]
    pub(crate) tls_key: Option<PathBuf>,

    /// With TLS: also listen on this plain-HTTP address and redirect every
    /// request there to HTTPS (308); with ACME it also answers HTTP-01.
    #[arg(long, value_name = "ADDR", env = "FERRY_REDIRECT_HTTP")]
    pub(crate) redirect_http: Option<SocketAddr>,

    /// With TLS: send `Strict-Transport-Security: VALUE`
    /// (e.g. `max-age=31536000`).
    #[arg(long, value_name = "VALUE", env = "FERRY_HSTS")]
    pub(crate) hsts: Option<String>,

    /// Serve HTTPS with a certificate for NAME obtained and renewed
    /// automatically with ACME (Let's Encrypt by default); repeatable, one
    /// certificate covers every name.
    #[arg(
        long,
        value_name = "NAME",
        conflicts_with = "tls_cert",
        value_delimiter = ',',
        env = "FERRY_ACME_DOMAIN"
    )]
    pub(crate) acme_domain: Vec<String>,

    /// ACME: where the account, certificates and keys are kept (created
    /// 0700). Default: `$STATE_DIRECTORY/acme` under systemd, else `./ferry-acme`.
    #[arg(
        long,
        value_name = "DIR",
        requires = "acme_domain",
        env = "FERRY_ACME_CACHE"
    )]
    pub(crate) acme_cache: Option<PathBuf>,

    /// ACME: the CA's directory URL.
    #[arg(
        long,
        value_name = "URL",
        default_value = LETS_ENCRYPT,
        env = "FERRY_ACME_DIRECTORY"
    )]
    pub(crate) acme_directory: String,

    /// ACME: a contact address for the account (expiry notices, if the CA sends any).
    #[arg(
        long,
        value_name = "ADDR",
        requires = "acme_domain",
        env = "FERRY_ACME_EMAIL"
    )]
    pub(crate) acme_email: Option<String>,

    /// ACME: also trust this PEM root for the CA's own HTTPS (a test CA such
    /// as Pebble's).
    #[arg(
        long,
        value_name = "PEM",
        requires = "acme_domain",
        env = "FERRY_ACME_CA_ROOT"
    )]
    pub(crate) acme_ca_root: Option<PathBuf>,
}
