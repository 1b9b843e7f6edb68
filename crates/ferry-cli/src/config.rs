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
//! list), optionally `default = true`, a `root` and any per-site setting
//! ([`keys::SETTINGS`], which also says what a reload applies); a site
//! inherits the file's top-level site settings.
use anyhow::{bail, Context as _};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory as _};
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub(crate) mod keys;

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
    /// The site's own settings, as `ferry serve` arguments.
    argv: Vec<OsString>,
    /// The keys it sets; the rest it inherits.
    keys: Vec<String>,
    /// `"ferry.toml [[site]] #2"`, for messages.
    pub(crate) name: String,
}

impl SiteSpec {
    /// The site's settings: its own keys, parsed by the same flags as `ferry
    /// serve`'s, over the top level's effective settings (from flags,
    /// variables or the file), as nginx's `server` inherits from `http`.
    pub(crate) fn args(
        &self,
        top: &crate::args::ServeArgs,
    ) -> anyhow::Result<crate::args::ServeArgs> {
        let own = self.own_args()?;
        let mut a = top.clone();
        for s in keys::SETTINGS {
            match s.site {
                keys::Site::Own(apply) => apply(&mut a, &own),
                keys::Site::Inherits(apply) if self.keys.iter().any(|k| k == s.key) => {
                    apply(&mut a, &own);
                }
                keys::Site::Inherits(_) | keys::Site::No => {}
            }
        }
        Ok(a)
    }

    fn own_args(&self) -> anyhow::Result<crate::args::ServeArgs> {
        use clap::FromArgMatches as _;
        let m = serve_without_env()
            .try_get_matches_from(&self.argv)
            .map_err(|e| anyhow::anyhow!("{}: {}", self.name, clap_error(&e)))?;
        let (_, sm) = m.subcommand().context("no subcommand")?;
        Ok(crate::args::ServeArgs::from_arg_matches(sm)?)
    }
}

/// The command line with `ferry serve`'s flags reading no FERRY_* variable:
/// a site's settings are its table's alone.
fn serve_without_env() -> clap::Command {
    crate::args::Cli::command().mut_subcommand("serve", |mut c| {
        let ids: Vec<String> = c
            .get_arguments()
            .map(|a| a.get_id().as_str().to_owned())
            .collect();
        for id in ids {
            c = c.mut_arg(id, |a| a.env(None::<&str>));
        }
        c
    })
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
    let (out, from_file, sites) = merge(argv, |p| std::fs::read_to_string(p))?;
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

/// `argv` with the settings of the file its `--config` names, read by
/// `read` (the file system; the fuzz target's bytes).
pub(crate) fn merge(
    argv: Vec<OsString>,
    read: impl Fn(&Path) -> std::io::Result<String>,
) -> anyhow::Result<(Vec<OsString>, FromFile, Vec<SiteSpec>)> {
    // A first pass that does not insist on DIR: the file may give `root`.
    let lenient = crate::args::Cli::command()
        .mut_subcommand("serve", |c| c.mut_arg("dir", |a| a.required(false)))
        .mut_subcommand("check-config", |c| c.mut_arg("dir", |a| a.required(false)))
        .mut_subcommand("proxy", |c| c.mut_arg("upstream", |a| a.required(false)));
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
    let text =
        read(&path).with_context(|| format!("cannot read the config file {}", path.display()))?;
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
                "{}: unknown key `{key}` (keys are `ferry {}` flags' long names)",
                path.display(),
                if sub == "check-config" { "serve" } else { sub }
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
            let toml::Value::String(dir) = value else {
                bail!(
                    "{}: `root` must be a string (a directory or s3://…)",
                    path.display()
                );
            };
            root = Some(dir.into());
            continue;
        }
        push_flag(&mut extra, arg, &path, key, value)?;
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
        // After `--`: a root such as `-www` is a directory, not flags, and a
        // flag left without its value cannot take it.
        if !out.iter().any(|a| a == "--") {
            out.push("--".into());
        }
        out.push(r);
    }
    Ok((out, from_file, sites))
}

/// A setting as flags: a bare `--flag` for `true` on a switch, `--flag=VALUE`
/// (never taken for another flag, even when VALUE starts with `-`), repeated
/// for each item of a list. A value of the wrong type is an error naming the
/// key: a string for a switch must not turn into the root directory.
fn push_flag(
    out: &mut Vec<OsString>,
    arg: &clap::Arg,
    path: &Path,
    key: &str,
    value: &toml::Value,
) -> anyhow::Result<()> {
    let flag = format!("--{}", arg.get_long().unwrap_or(key));
    let takes_value = arg.get_action().takes_values();
    match value {
        toml::Value::Boolean(b) if !takes_value => {
            if *b {
                out.push(flag.into());
            }
        }
        _ if !takes_value => bail!("{}: `{key}` must be true or false", path.display()),
        toml::Value::Array(items) => {
            for v in items {
                out.push(format!("{flag}={}", scalar(path, key, v)?).into());
            }
        }
        toml::Value::Boolean(_) => bail!(
            "{}: `{key}` takes a value, not true or false",
            path.display()
        ),
        v => out.push(format!("{flag}={}", scalar(path, key, v)?).into()),
    }
    Ok(())
}

/// A clap error in one line, without its usage block: `the following
/// required arguments were not provided: --tls-key <PEM>`.
pub(crate) fn clap_error(e: &clap::Error) -> String {
    let text = e.to_string();
    text.lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:"))
        .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
        .map(|l| l.trim_start_matches("error: "))
        .collect::<Vec<_>>()
        .join(" ")
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
        // The site's own settings; it inherits the rest from the top level.
        let mut merged = toml::Table::new();
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
                (k, v) => match keys::find(k) {
                    Some(s) if s.per_site() => {
                        merged.insert(k.to_owned(), v.clone());
                    }
                    None => bail!("{name}: unknown key `{k}`"),
                    Some(_) => bail!(
                        "{name}: `{k}` cannot be set per site (a site has `host`, `default`, {})",
                        keys::site_keys()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
            }
        }
        if hosts.is_empty() && !default {
            bail!("{name}: give `host` (a name or a list), or `default = true`");
        }
        let Some(toml::Value::String(root)) = merged.remove("root") else {
            bail!("{name}: `root` must be given, as a string");
        };
        let keys: Vec<String> = merged.keys().cloned().collect();
        let mut argv: Vec<OsString> = vec!["ferry".into(), "serve".into()];
        let cli = crate::args::Cli::command();
        let serve = cli.find_subcommand("serve").expect("ferry serve");
        for (k, v) in &merged {
            let arg = serve
                .get_arguments()
                .find(|a| a.get_long() == Some(k.as_str()))
                .expect("site keys are serve's flags");
            push_flag(&mut argv, arg, path, k, v)?;
        }
        argv.push("--".into());
        argv.push(root.into());
        out.push(SiteSpec {
            hosts,
            default,
            argv,
            keys,
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
