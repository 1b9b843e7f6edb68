//! Settings from three places, in this order of precedence: flags, `FERRY_*`
//! environment variables, a TOML file (`--config FILE` or `FERRY_CONFIG`).
//!
//! The file's keys are the flags' long names (`listen`, `cache-control`,
//! `tls-cert`…) and `root` for the served directory. Its values become flags
//! for every setting that neither a flag nor a variable already gives, so
//! there is one parser and one set of checks; each value remembers where it
//! came from, for error messages ("root from FERRY_ROOT: …").
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
    let (out, from_file) = merge(argv)?;
    let matches = crate::args::Cli::command()
        .try_get_matches_from(&out)
        .ok()
        .and_then(|m| m.subcommand().map(|(_, m)| m.clone()));
    Ok((out, Provenance { from_file, matches }))
}

type FromFile = HashMap<String, PathBuf>;

fn merge(argv: Vec<OsString>) -> anyhow::Result<(Vec<OsString>, FromFile)> {
    // A first pass that does not insist on DIR: the file may give `root`.
    let lenient = crate::args::Cli::command()
        .mut_subcommand("serve", |c| c.mut_arg("dir", |a| a.required(false)))
        .mut_subcommand("check-config", |c| c.mut_arg("dir", |a| a.required(false)));
    let Ok(first) = lenient.clone().try_get_matches_from(&argv) else {
        // Let the real parse report the error.
        return Ok((argv, FromFile::new()));
    };
    let Some((sub, sm)) = first.subcommand() else {
        return Ok((argv, FromFile::new()));
    };
    let Some(path) = sm.try_get_one::<PathBuf>("config").ok().flatten().cloned() else {
        return Ok((argv, FromFile::new()));
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
    for (key, value) in &table {
        let id = if key == "root" && (sub == "serve" || sub == "check-config") {
            "dir".to_owned()
        } else {
            key.replace('-', "_")
        };
        let Some(arg) = cmd
            .get_arguments()
            .find(|a| a.get_id().as_str() == id && (a.get_long().is_some() || id == "dir"))
        else {
            bail!(
                "{}: unknown key `{key}` (keys are `ferry {sub}` flags' long names)",
                path.display()
            );
        };
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
        match value {
            toml::Value::Boolean(true) => extra.push(flag.into()),
            toml::Value::Boolean(false) => {}
            toml::Value::Array(items) => {
                for v in items {
                    extra.push(flag.clone().into());
                    extra.push(scalar(&path, key, v)?.into());
                }
            }
            v => {
                extra.push(flag.into());
                extra.push(scalar(&path, key, v)?.into());
            }
        }
    }
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
    Ok((out, from_file))
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
