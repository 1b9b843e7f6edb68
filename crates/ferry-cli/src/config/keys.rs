//! Every `ferry serve` setting, listed once: whether a `[[site]]` table may set
//! it and how a site's value replaces the inherited one, and whether a SIGHUP
//! reload applies it or the listener must restart.
//!
//! The `[[site]]` key checks, the per-site merge ([`super::SiteSpec::args`])
//! and the restart warnings of a reload ([`restart_only_changes`]) all read
//! [`SETTINGS`]; a test checks that it names each of `ferry serve`'s flags
//! exactly once, so a new flag cannot be left out.
use crate::args::ServeArgs;

/// One `ferry serve` setting, by its config-file key (the flag's long name;
/// `root` for the directory).
pub(crate) struct Setting {
    pub(crate) key: &'static str,
    pub(crate) site: Site,
    pub(crate) reload: Reload,
}

/// Whether a `[[site]]` table may hold a setting.
pub(crate) enum Site {
    /// The listener's or the store client's: the file's top level only.
    No,
    /// What a site serves and how: a site's own value replaces the top
    /// level's, which it inherits otherwise (as nginx's `server` inherits from
    /// `http`).
    Inherits(fn(&mut ServeArgs, &ServeArgs)),
    /// The site's alone, never inherited: its root, its certificate.
    Own(fn(&mut ServeArgs, &ServeArgs)),
}

/// What a SIGHUP reload does with a changed value.
pub(crate) enum Reload {
    /// Applies it: it shapes the sites (or the bucket's store), rebuilt whole.
    Applies,
    /// The listener was built with it: the change waits for a restart. The
    /// function says whether the value differs between two parses.
    Restart(fn(&ServeArgs, &ServeArgs) -> bool),
}

/// `own`'s value of a field replaces `a`'s.
macro_rules! take {
    ($($f:ident).+) => {
        |a: &mut ServeArgs, own: &ServeArgs| a.$($f).+.clone_from(&own.$($f).+)
    };
}

/// Whether a field differs between the old and the new settings.
macro_rules! differs {
    ($($f:ident).+) => {
        Reload::Restart(|old: &ServeArgs, new: &ServeArgs| old.$($f).+ != new.$($f).+)
    };
}

const fn setting(key: &'static str, site: Site, reload: Reload) -> Setting {
    Setting { key, site, reload }
}

/// Every `ferry serve` setting. The per-site ones come first, in the order a
/// `[[site]]` error message lists them.
pub(crate) const SETTINGS: &[Setting] = &[
    // What a site serves and how.
    setting("root", Site::Own(take!(dir)), Reload::Applies),
    setting("browse", Site::Inherits(take!(browse)), Reload::Applies),
    setting(
        "show-hidden",
        Site::Inherits(take!(show_hidden)),
        Reload::Applies,
    ),
    setting(
        "follow-symlinks",
        Site::Inherits(take!(follow_symlinks)),
        Reload::Applies,
    ),
    setting(
        "no-precompressed",
        Site::Inherits(take!(no_precompressed)),
        Reload::Applies,
    ),
    setting(
        "no-compress",
        Site::Inherits(take!(no_compress)),
        Reload::Applies,
    ),
    setting(
        "compress-level",
        Site::Inherits(take!(compress_levels)),
        Reload::Applies,
    ),
    setting(
        "compress-cache-size",
        Site::Inherits(take!(compress_cache_size)),
        Reload::Applies,
    ),
    setting(
        "compress-max-size",
        Site::Inherits(take!(compress_max_size)),
        Reload::Applies,
    ),
    setting(
        "no-file-cache",
        Site::Inherits(take!(no_file_cache)),
        Reload::Applies,
    ),
    setting(
        "cache-control",
        Site::Inherits(take!(cache_control)),
        Reload::Applies,
    ),
    setting(
        "immutable-cache-control",
        Site::Inherits(take!(immutable_cache_control)),
        Reload::Applies,
    ),
    setting(
        "cache-rule",
        Site::Inherits(take!(cache_rules)),
        Reload::Applies,
    ),
    setting("mime", Site::Inherits(take!(mime)), Reload::Applies),
    setting(
        "default-type",
        Site::Inherits(take!(default_type)),
        Reload::Applies,
    ),
    // The site policy (`crate::policy`): rebuilt with the site on reload.
    setting(
        "fallback",
        Site::Inherits(take!(site.fallback)),
        Reload::Applies,
    ),
    setting(
        "fallback-on",
        Site::Inherits(take!(site.fallback_on)),
        Reload::Applies,
    ),
    setting(
        "error-page",
        Site::Inherits(take!(site.error_pages)),
        Reload::Applies,
    ),
    setting(
        "header-rule",
        Site::Inherits(take!(site.header_rules)),
        Reload::Applies,
    ),
    setting(
        "redirect",
        Site::Inherits(take!(site.redirects)),
        Reload::Applies,
    ),
    setting(
        "rewrite",
        Site::Inherits(take!(site.rewrites)),
        Reload::Applies,
    ),
    setting(
        "cors-allow-origin",
        Site::Inherits(take!(site.cors_allow_origin)),
        Reload::Applies,
    ),
    setting(
        "cors-allow-methods",
        Site::Inherits(take!(site.cors_allow_methods)),
        Reload::Applies,
    ),
    setting(
        "cors-allow-headers",
        Site::Inherits(take!(site.cors_allow_headers)),
        Reload::Applies,
    ),
    setting(
        "cors-max-age",
        Site::Inherits(take!(site.cors_max_age)),
        Reload::Applies,
    ),
    setting(
        "basic-auth",
        Site::Inherits(take!(site.basic_auth)),
        Reload::Applies,
    ),
    setting(
        "maintenance",
        Site::Inherits(take!(site.maintenance)),
        Reload::Applies,
    ),
    setting(
        "maintenance-file",
        Site::Inherits(take!(site.maintenance_file)),
        Reload::Applies,
    ),
    setting(
        "maintenance-retry-after",
        Site::Inherits(take!(site.maintenance_retry_after)),
        Reload::Applies,
    ),
    // Whether the listener may carry passwords in clear: checked against the
    // listener at start and on every reload.
    setting("auth-allow-insecure", Site::No, Reload::Applies),
    // A site's certificate is its own, never the top level's; the top level's
    // is the listener's fallback, loaded at start.
    setting(
        "tls-cert",
        Site::Own(take!(tls.tls_cert)),
        differs!(tls.tls_cert),
    ),
    setting(
        "tls-key",
        Site::Own(take!(tls.tls_key)),
        differs!(tls.tls_key),
    ),
    // Object storage (`root = "s3://…"`): the store is rebuilt on reload.
    setting("metadata-ttl", Site::No, Reload::Applies),
    setting("s3-endpoint", Site::No, Reload::Applies),
    setting("s3-region", Site::No, Reload::Applies),
    setting("s3-allow-http", Site::No, Reload::Applies),
    setting("store-timeout", Site::No, Reload::Applies),
    // The disk cache is opened once, at start (its index, its lock).
    setting("cache-dir", Site::No, differs!(cache_dir)),
    setting("cache-size", Site::No, differs!(cache_size)),
    setting("cache-max-object", Site::No, differs!(cache_max_object)),
    setting("stale-if-error", Site::No, differs!(stale_if_error)),
    // Read anew on every reload; it cannot name itself.
    setting("config", Site::No, Reload::Applies),
    // The listener.
    setting("listen", Site::No, differs!(server.listen)),
    setting("access-log", Site::No, differs!(server.access_log)),
    setting(
        "access-log-format",
        Site::No,
        differs!(server.access_log_format),
    ),
    setting("no-access-log", Site::No, differs!(server.no_access_log)),
    setting("metrics", Site::No, differs!(server.metrics)),
    setting("header-timeout", Site::No, differs!(server.header_timeout)),
    setting("idle-timeout", Site::No, differs!(server.idle_timeout)),
    setting("write-timeout", Site::No, differs!(server.write_timeout)),
    setting("drain-timeout", Site::No, differs!(server.drain_timeout)),
    setting(
        "max-header-bytes",
        Site::No,
        differs!(server.max_header_bytes),
    ),
    setting(
        "max-connections",
        Site::No,
        differs!(server.max_connections),
    ),
    setting("health-check", Site::No, differs!(server.health_check)),
    // The listener's TLS and its ACME manager, started once.
    setting("h2c", Site::No, differs!(tls.h2c)),
    setting("redirect-http", Site::No, differs!(tls.redirect_http)),
    setting("hsts", Site::No, differs!(tls.hsts)),
    setting("no-http3", Site::No, differs!(tls.no_http3)),
    setting("alt-svc-max-age", Site::No, differs!(tls.alt_svc_max_age)),
    setting("quic-retry", Site::No, differs!(tls.quic_retry)),
    setting(
        "http3-max-streams",
        Site::No,
        differs!(tls.http3_max_streams),
    ),
    setting("acme-domain", Site::No, differs!(tls.acme_domain)),
    setting("acme-cache", Site::No, differs!(tls.acme_cache)),
    setting("acme-directory", Site::No, differs!(tls.acme_directory)),
    setting("acme-email", Site::No, differs!(tls.acme_email)),
    setting("acme-ca-root", Site::No, differs!(tls.acme_ca_root)),
];

impl Setting {
    /// Whether a `[[site]]` table may set it.
    pub(crate) fn per_site(&self) -> bool {
        !matches!(self.site, Site::No)
    }
}

/// The setting a config-file key names, if any.
pub(crate) fn find(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// The keys a `[[site]]` table may hold besides `host` and `default`.
pub(crate) fn site_keys() -> impl Iterator<Item = &'static str> {
    SETTINGS.iter().filter(|s| s.per_site()).map(|s| s.key)
}

/// The settings that differ between `old` and `new` and that a reload cannot
/// apply: a reload rebuilds the sites (roots, their options and
/// certificates); the listener keeps what it started with until a restart.
pub(crate) fn restart_only_changes(old: &ServeArgs, new: &ServeArgs) -> Vec<&'static str> {
    SETTINGS
        .iter()
        .filter(|s| matches!(s.reload, Reload::Restart(changed) if changed(old, new)))
        .map(|s| s.key)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{push_flag, serve_without_env, sites};
    use clap::{CommandFactory as _, FromArgMatches as _};
    use std::ffi::OsString;
    use std::path::Path;

    /// A value other than the default for each setting (with what its flag
    /// requires), as config-file TOML.
    const SAMPLES: &[(&str, &str)] = &[
        ("root", r#"root = "/srv/other""#),
        ("browse", "browse = true"),
        ("show-hidden", "show-hidden = true"),
        ("follow-symlinks", "follow-symlinks = true"),
        ("no-precompressed", "no-precompressed = true"),
        ("no-compress", "no-compress = true"),
        ("compress-level", r#"compress-level = ["br=4", "zstd=3"]"#),
        ("compress-cache-size", r#"compress-cache-size = "64m""#),
        ("compress-max-size", r#"compress-max-size = "1m""#),
        ("no-file-cache", "no-file-cache = true"),
        ("cache-control", r#"cache-control = "max-age=9""#),
        (
            "immutable-cache-control",
            r#"immutable-cache-control = "none""#,
        ),
        ("cache-rule", r#"cache-rule = ["*.txt=no-store"]"#),
        ("mime", r#"mime = ["md=text/plain"]"#),
        ("default-type", r#"default-type = "text/plain""#),
        ("fallback", r#"fallback = "/index.html""#),
        ("fallback-on", r#"fallback-on = "any""#),
        ("error-page", r#"error-page = ["404=/404.html"]"#),
        (
            "header-rule",
            r#"header-rule = ["**=X-Frame-Options: DENY"]"#,
        ),
        ("redirect", r#"redirect = ["old/**=301:/new$path"]"#),
        ("rewrite", r#"rewrite = ["app/**=/app.html"]"#),
        ("cors-allow-origin", r#"cors-allow-origin = ["*"]"#),
        (
            "cors-allow-methods",
            r#"cors-allow-methods = ["GET", "POST"]"#,
        ),
        ("cors-allow-headers", r#"cors-allow-headers = ["x-token"]"#),
        ("cors-max-age", "cors-max-age = 600"),
        (
            "basic-auth",
            r#"basic-auth = ["admin/**=ann:$2b$04$abcdefghijklmnopqrstuu5KjtJIYnS1nLHLN4mUfFUKq7Xe3PqLS"]"#,
        ),
        ("auth-allow-insecure", "auth-allow-insecure = true"),
        ("maintenance", "maintenance = true"),
        (
            "maintenance-file",
            r#"maintenance-file = "/run/ferry/down""#,
        ),
        ("maintenance-retry-after", "maintenance-retry-after = 30"),
        ("tls-cert", "tls-cert = \"c.pem\"\ntls-key = \"k.pem\""),
        ("tls-key", "tls-cert = \"c.pem\"\ntls-key = \"k2.pem\""),
        ("metadata-ttl", "metadata-ttl = 60"),
        ("s3-endpoint", r#"s3-endpoint = "http://127.0.0.1:9000""#),
        ("s3-region", r#"s3-region = "eu-west-1""#),
        ("s3-allow-http", "s3-allow-http = true"),
        ("store-timeout", "store-timeout = 5"),
        ("cache-dir", r#"cache-dir = "/var/cache/ferry""#),
        ("cache-size", r#"cache-size = "2g""#),
        ("cache-max-object", r#"cache-max-object = "1m""#),
        ("stale-if-error", "stale-if-error = 300"),
        ("config", r#"config = "/etc/ferry/ferry.toml""#),
        ("listen", r#"listen = "127.0.0.1:1""#),
        ("access-log", r#"access-log = "/var/log/ferry.log""#),
        ("access-log-format", r#"access-log-format = "json""#),
        ("no-access-log", "no-access-log = true"),
        ("metrics", r#"metrics = "127.0.0.1:9090""#),
        ("header-timeout", "header-timeout = 3"),
        ("idle-timeout", "idle-timeout = 3"),
        ("write-timeout", "write-timeout = 3"),
        ("drain-timeout", "drain-timeout = 3"),
        ("max-header-bytes", "max-header-bytes = 4096"),
        ("max-connections", "max-connections = 3"),
        ("health-check", r#"health-check = "/healthz""#),
        ("h2c", "h2c = true"),
        ("redirect-http", r#"redirect-http = "127.0.0.1:80""#),
        ("hsts", r#"hsts = "max-age=1""#),
        ("no-http3", "no-http3 = true"),
        ("alt-svc-max-age", "alt-svc-max-age = 60"),
        ("quic-retry", "quic-retry = true"),
        ("http3-max-streams", "http3-max-streams = 8"),
        ("acme-domain", r#"acme-domain = ["a.test"]"#),
        (
            "acme-cache",
            "acme-domain = [\"a.test\"]\nacme-cache = \"/var/lib/acme\"",
        ),
        (
            "acme-directory",
            r#"acme-directory = "https://ca.test/dir""#,
        ),
        (
            "acme-email",
            "acme-domain = [\"a.test\"]\nacme-email = \"ops@a.test\"",
        ),
        (
            "acme-ca-root",
            "acme-domain = [\"a.test\"]\nacme-ca-root = \"/etc/ca.pem\"",
        ),
    ];

    fn sample(key: &str) -> &'static str {
        SAMPLES
            .iter()
            .find(|(k, _)| *k == key)
            .unwrap_or_else(|| panic!("no sample value for `{key}`: add one to SAMPLES"))
            .1
    }

    /// `ferry serve` with the settings of `toml`, as if flags, over the root
    /// /srv/top.
    fn parse(toml: &str) -> ServeArgs {
        let table: toml::Table = toml.parse().expect("a sample is TOML");
        let cmd = serve_without_env();
        let serve = cmd.find_subcommand("serve").expect("ferry serve");
        let mut argv: Vec<OsString> = vec!["ferry".into(), "serve".into()];
        let mut dir = "/srv/top".to_owned();
        for (k, v) in &table {
            if k == "root" {
                dir = v.as_str().expect("a string root").to_owned();
                continue;
            }
            let arg = serve
                .get_arguments()
                .find(|a| a.get_long() == Some(k.as_str()))
                .unwrap_or_else(|| panic!("`{k}` is no flag of ferry serve"));
            push_flag(&mut argv, arg, Path::new("t.toml"), k, v).expect("a sample's type");
        }
        argv.extend(["--".into(), dir.into()]);
        let m = cmd
            .try_get_matches_from(&argv)
            .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        let (_, sm) = m.subcommand().expect("serve");
        ServeArgs::from_arg_matches(sm).expect("serve's args")
    }

    /// One `[[site]]` for the host `t`, root /srv/top unless `toml` sets one.
    fn site(toml: &str) -> crate::config::SiteSpec {
        let root = if toml.contains("root =") {
            ""
        } else {
            "root = \"/srv/top\"\n"
        };
        let text = format!("[[site]]\nhost = \"t\"\n{root}{toml}\n");
        let table: toml::Table = text.parse().expect("TOML");
        let mut sites = sites(Path::new("t.toml"), &table).expect("a valid site");
        sites.pop().expect("one site")
    }

    /// Every field, for comparing whole settings.
    fn all(a: &ServeArgs) -> String {
        format!("{a:?}")
    }

    #[test]
    fn the_table_names_each_serve_flag_once() {
        let cmd = crate::args::Cli::command();
        let serve = cmd.find_subcommand("serve").expect("ferry serve");
        let mut flags: Vec<&str> = serve
            .get_arguments()
            .filter_map(|a| match a.get_long() {
                Some("help" | "version") => None,
                Some(long) => Some(long),
                None if a.get_id() == "dir" => Some("root"),
                None => panic!("{}: a positional argument with no key", a.get_id()),
            })
            .collect();
        let mut keys: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
        flags.sort_unstable();
        keys.sort_unstable();
        assert_eq!(keys, flags);
    }

    #[test]
    fn every_per_site_key_is_applied_by_the_merge() {
        let default = parse("");
        let mut n = 0;
        for s in SETTINGS.iter().filter(|s| s.per_site()) {
            let text = sample(s.key);
            let set = parse(text);
            assert_ne!(
                all(&set),
                all(&default),
                "{}: the sample is the default",
                s.key
            );
            // A site's own value replaces the top level's.
            let merged = site(text).args(&default).unwrap();
            assert_eq!(
                all(&merged),
                all(&set),
                "`{}` in a [[site]] is not applied",
                s.key
            );
            // Without it, a site inherits the top level's value, unless the
            // value is each site's own.
            let merged = site("").args(&set).unwrap();
            let want = if let Site::Own(_) = s.site {
                &default
            } else {
                &set
            };
            assert_eq!(all(&merged), all(want), "`{}` inherited wrongly", s.key);
            n += 1;
        }
        assert_eq!(n, site_keys().count());
        assert!(n > 10);
    }

    #[test]
    fn a_reload_names_exactly_the_changes_it_cannot_apply() {
        let default = parse("");
        for s in SETTINGS {
            let text = sample(s.key);
            let table: toml::Table = text.parse().unwrap();
            let mut want: Vec<&str> = table
                .keys()
                .filter_map(|k| find(k))
                .filter(|s| matches!(s.reload, Reload::Restart(_)))
                .map(|s| s.key)
                .collect();
            let mut got = restart_only_changes(&default, &parse(text));
            want.sort_unstable();
            got.sort_unstable();
            assert_eq!(got, want, "changing `{}`", s.key);
        }
        assert!(restart_only_changes(&default, &parse("")).is_empty());
    }
}
