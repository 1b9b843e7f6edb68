//! Settings from three places, in this order of precedence: flags, `FERRY_*`
//! environment variables, a TOML file (`--config FILE` or `FERRY_CONFIG`).
//!
//! The file's keys are the flags' long names (`listen`, `cache-control`,
//! `tls-cert`…) and `root` for the served directory. Its values become flags
//! for every setting that neither a flag nor a variable already gives, so
//! there is one parser and one set of checks; each value remembers where it
//! came from, for error messages ("root from FERRY_ROOT: …").
//!
//! `[[site]]` tables add sites chosen by Host, each with `host` (a name or a
//! list), optionally `default = true`, a `root` and any site setting
//! ([`SITE_KEYS`]); a site inherits the file's top-level site settings.
use anyhow::{bail, Context as _};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory as _};
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Where each setting came from, by clap argument id.
#[derive(Debug, Default, Clone)]
pub(crate) struct Provenance {
    from_file: HashMap<String, PathBuf>,
    matches: Option<ArgMatches>,
    /// The config file's `[[site]]` tables, in order.
    pub(crate) sites: Vec<SiteSpec>,
}

/// One `[[site]]` table: its hosts, and its settings as `ferry serve` arguments.
#[derive(Debug, Clone)]
pub(crate) struct SiteSpec {
    pub(crate) hosts: Vec<String>,
    pub(crate) default: bool,
    argv: Vec<OsString>,
    /// "ferry.toml [[site]] #2", for messages.
    pub(crate) name: String,
}

/// The settings a `[[site]]` table may hold (besides `host` and `default`):
/// what a site serves and how. Listener settings are the file's alone.
pub(crate) const SITE_KEYS: &[&str] = &[
    "root",
    "browse",
    "show-hidden",
    "follow-symlinks",
    "no-precompressed",
    "no-file-cache",
    "cache-control",
    "immutable-cache-control",
    "cache-rule",
    "mime",
    "default-type",
    "tls-cert",
    "tls-key",
];

impl SiteSpec {
    /// The site's settings, parsed by the same flags as `ferry serve`'s (but
    /// not from FERRY_* variables, which set the top-level site).
    pub(crate) fn args(&self) -> anyhow::Result<crate::args::ServeArgs> {
        use clap::FromArgMatches as _;
        let cmd = crate::args::Cli::command().mut_subcommand("serve", |mut c| {
            let ids: Vec<String> = c
                .get_arguments()
                .map(|a| a.get_id().as_str().to_owned())
                .collect();
            for id in ids {
                c = c.mut_arg(id, |a| a.env(None::<&str>));
            }
            c
        });
        let m = cmd.try_get_matches_from(&self.argv).map_err(|e| {
            let e = e.to_string();
            let first = e.lines().next().unwrap_or_default();
            anyhow::anyhow!("{}: {}", self.name, first.trim_start_matches("error: "))
        })?;
        let (_, sm) = m.subcommand().context("no subcommand")?;
        Ok(crate::args::ServeArgs::from_arg_matches(sm)?)
    }
}

impl Provenance {
    /// "the DIR argument", "FERRY_ROOT", "ferry.toml", "the default"…
    pub(crate) fn of(&self, id: &str, flag: &str, env: &str) -> String {
        if let Some(p) = self.from_file.get(id) {
            let key = if id == "dir" {
                "root"
            } else {
                flag.trim_start_matches('-')
            };
            return format!("`{key}` in {}", p.display());
        }
        match self.matches.as_ref().and_then(|m| m.value_source(id)) {
            Some(ValueSource::EnvVariable) => env.to_owned(),
            Some(ValueSource::CommandLine) => format!("the command line ({flag})"),
            _ => "the default".to_owned(),
        }
    }
}

/// The command line with the config file's settings added, and where each
/// setting came from.
pub(crate) fn argv() -> anyhow::Result<(Vec<OsString>, Provenance)> {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let (out, from_file, sites) = merge(argv)?;
    let matches = crate::args::Cli::command()
        .try_get_matches_from(&out)
        .ok()
        .and_then(|m| m.subcommand().map(|(_, m)| m.clone()));
    Ok((
        out,
        Provenance {
            from_file,
            matches,
            sites,
        },
    ))
}

type FromFile = HashMap<String, PathBuf>;

fn merge(argv: Vec<OsString>) -> anyhow::Result<(Vec<OsString>, FromFile, Vec<SiteSpec>)> {
    // A first pass that does not insist on DIR: the file may give `root`.
    let lenient = crate::args::Cli::command()
        .mut_subcommand("serve", |c| c.mut_arg("dir", |a| a.required(false)))
        .mut_subcommand("check-config", |c| c.mut_arg("dir", |a| a.required(false)));
    let Ok(first) = lenient.clone().try_get_matches_from(&argv) else {
        // Let the real parse report the error.
        return Ok((argv, FromFile::new(), Vec::new()));
    };
    let Some((sub, sm)) = first.subcommand() else {
        return Ok((argv, FromFile::new(), Vec::new()));
    };
    let Some(path) = sm.try_get_one::<PathBuf>("config").ok().flatten().cloned() else {
        return Ok((argv, FromFile::new(), Vec::new()));
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    let cmd = lenient
        .find_subcommand(sub)
        .expect("the subcommand just parsed")
        .clone();
    let mut extra: Vec<OsString> = Vec::new();
    let mut root: Option<OsString> = None;
    let mut from_file = HashMap::new();
    let serve = sub == "serve" || sub == "check-config";
    for (key, value) in &table {
        if key == "site" && serve {
            continue; // Below.
        }
        // A key is a flag's long name (`cache-rule`, whose field is
        // `cache_rules`), or `root` for the directory.
        let root_key = key == "root" && serve;
        let Some(arg) = cmd.get_arguments().find(|a| {
            if root_key {
                a.get_id().as_str() == "dir"
            } else {
                a.get_long() == Some(key.as_str())
            }
        }) else {
            bail!(
                "{}: unknown key `{key}` (keys are `ferry {sub}` flags' long names)",
                path.display()
            );
        };
        let id = arg.get_id().as_str().to_owned();
        if id == "config" {
            bail!(
                "{}: `config` cannot be set in a config file",
                path.display()
            );
        }
        if matches!(
            sm.value_source(&id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue; // A flag or a variable wins.
        }
        from_file.insert(id.clone(), path.clone());
        if id == "dir" {
            root = Some(scalar(&path, key, value)?.into());
            continue;
        }
        let flag = format!("--{}", arg.get_long().expect("checked above"));
        push_flag(&mut extra, &flag, &path, key, value)?;
    }
    let sites = if serve {
        sites(&path, &table)?
    } else {
        Vec::new()
    };
    // argv: program, subcommand, the file's settings, then the user's own.
    let at = argv
        .iter()
        .position(|a| a.to_str() == Some(sub))
        .map_or(argv.len(), |i| i + 1);
    let mut out: Vec<OsString> = argv[..at].to_vec();
    out.extend(extra);
    out.extend(argv[at..].iter().cloned());
    if let Some(r) = root {
        out.push(r);
    }
    Ok((out, from_file, sites))
}

/// A setting as flags: `--flag value`, a bare `--flag` for `true`, the flag
/// repeated for each item of a list.
fn push_flag(
    out: &mut Vec<OsString>,
    flag: &str,
    path: &Path,
    key: &str,
    value: &toml::Value,
) -> anyhow::Result<()> {
    match value {
        toml::Value::Boolean(true) => out.push(flag.into()),
        toml::Value::Boolean(false) => {}
        toml::Value::Array(items) => {
            for v in items {
                out.push(flag.into());
                out.push(scalar(path, key, v)?.into());
            }
        }
        v => {
            out.push(flag.into());
            out.push(scalar(path, key, v)?.into());
        }
    }
    Ok(())
}

/// The `[[site]]` tables of the file at `path`.
fn sites(path: &Path, table: &toml::Table) -> anyhow::Result<Vec<SiteSpec>> {
    let Some(v) = table.get("site") else {
        return Ok(Vec::new());
    };
    let toml::Value::Array(items) = v else {
        bail!("{}: `site` must be [[site]] tables", path.display());
    };
    let mut out = Vec::new();
    for (n, item) in items.iter().enumerate() {
        let name = format!("{} [[site]] #{}", path.display(), n + 1);
        let toml::Value::Table(t) = item else {
            bail!("{name}: expected a table");
        };
        // The file's top-level site settings, overridden by the site's own.
        let mut merged: toml::Table = table
            .iter()
            .filter(|(k, _)| SITE_KEYS.contains(&k.as_str()) && *k != "root")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let (mut hosts, mut default) = (Vec::new(), false);
        for (k, v) in t {
            match (k.as_str(), v) {
                ("host", toml::Value::String(h)) => hosts.push(h.clone()),
                ("host", toml::Value::Array(list)) => {
                    for h in list {
                        let toml::Value::String(h) = h else {
                            bail!("{name}: `host` must be a name or a list of names");
                        };
                        hosts.push(h.clone());
                    }
                }
                ("host", _) => bail!("{name}: `host` must be a name or a list of names"),
                ("default", toml::Value::Boolean(b)) => default = *b,
                ("default", _) => bail!("{name}: `default` must be true or false"),
                (k, v) if SITE_KEYS.contains(&k) => {
                    merged.insert(k.to_owned(), v.clone());
                }
                (k, _) => bail!(
                    "{name}: `{k}` cannot be set per site (a site has `host`, `default`, {})",
                    SITE_KEYS
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
        if hosts.is_empty() && !default {
            bail!("{name}: give `host` (a name or a list), or `default = true`");
        }
        let root = merged
            .remove("root")
            .with_context(|| format!("{name}: no `root`"))?;
        let mut argv: Vec<OsString> = vec!["ferry".into(), "serve".into()];
        for (k, v) in &merged {
            push_flag(&mut argv, &format!("--{k}"), path, k, v)?;
        }
        argv.push(scalar(path, "root", &root)?.into());
        out.push(SiteSpec {
            hosts,
            default,
            argv,
            name,
        });
    }
    Ok(out)
}

fn scalar(path: &Path, key: &str, v: &toml::Value) -> anyhow::Result<String> {
    Ok(match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        _ => bail!(
            "{}: `{key}` must be a string, number or boolean",
            path.display()
        ),
    })
}
