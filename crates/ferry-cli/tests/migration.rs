//! The README's "Migrating from nginx" table names only flags, TOML keys and
//! commands the `ferry` binary has: every `--flag` in its ferry column is in
//! `ferry serve --help` or `ferry proxy --help`, every `key = …` is one of
//! those flags' long names (or a `[[site]]` key), every `ferry SUB` a command.
use std::collections::BTreeSet;
use std::process::Command;

/// The text `ferry ARGS` prints.
fn ferry(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .output()
        .expect("ferry runs");
    assert!(out.status.success(), "ferry {args:?} failed");
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

/// The `--long` names in `text`, without the dashes.
fn long_flags(text: &str) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    for (i, _) in text.match_indices("--") {
        let name: String = text[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if name.starts_with(|c: char| c.is_ascii_lowercase()) {
            flags.insert(name);
        }
    }
    flags
}

/// The second cell of each row of the README table under `## Migrating from nginx`.
fn ferry_column() -> Vec<String> {
    let readme = include_str!("../../../README.md");
    let section = readme
        .split_once("\n## Migrating from nginx\n")
        .expect("README has a \"Migrating from nginx\" section")
        .1;
    let section = section.split("\n## ").next().unwrap_or(section);
    let rows: Vec<String> = section
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
        .skip(1) // the header row
        .map(|l| {
            // Cells split on `|` outside backticks (`a | b` would be one cell).
            let mut cells = vec![String::new()];
            let mut code = false;
            for c in l.trim_matches('|').chars() {
                match c {
                    '`' => code = !code,
                    '|' if !code => cells.push(String::new()),
                    _ => {}
                }
                cells.last_mut().expect("one cell").push(c);
            }
            assert_eq!(cells.len(), 2, "a row of two cells: {l}");
            cells.pop().expect("two cells")
        })
        .collect();
    assert!(rows.len() >= 20, "the table has its rows: {}", rows.len());
    rows
}

/// The `code spans` of a cell.
fn code_spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

#[test]
fn every_flag_key_and_command_of_the_migration_table_exists() {
    let flags: BTreeSet<String> = ["serve", "proxy"]
        .iter()
        .flat_map(|sub| long_flags(&ferry(&[sub, "--help"])))
        .collect();
    let commands = ferry(&["--help"]);
    // Keys of the config file that are not flags: the root, and [[site]]'s.
    let keys_not_flags = ["root", "host", "default"];
    let mut checked = 0;
    for cell in ferry_column() {
        for span in code_spans(&cell) {
            for flag in long_flags(span) {
                assert!(
                    flags.contains(&flag),
                    "--{flag} (in `{span}`): no such flag"
                );
                checked += 1;
            }
            if let Some((key, _)) = span.split_once(" = ") {
                let key = key.trim();
                assert!(
                    flags.contains(key) || keys_not_flags.contains(&key),
                    "`{key}` (in `{span}`): no such key"
                );
                checked += 1;
            }
            if let Some(rest) = span.strip_prefix("ferry ") {
                let sub = rest.split_whitespace().next().unwrap_or("");
                if !sub.starts_with('-') {
                    assert!(
                        commands.contains(&format!("\n  {sub} ")),
                        "`ferry {sub}` (in `{span}`): no such command"
                    );
                    checked += 1;
                }
            }
        }
        // A row ferry has no answer for says so.
        assert!(
            !code_spans(&cell).is_empty() || cell.contains("not yet"),
            "a row names a flag, a key or says \"not yet\": {cell}"
        );
    }
    assert!(
        checked >= 40,
        "the table names its flags: {checked} checked"
    );
}

#[test]
fn the_checker_catches_a_missing_flag() {
    let flags = long_flags(&ferry(&["serve", "--help"]));
    assert!(flags.contains("browse") && flags.contains("cache-rule"));
    assert!(!flags.contains("try-files"), "no SPA fallback flag yet");
}
