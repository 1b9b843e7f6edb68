//! `ferry hash-password`: a password from the terminal (without echo) or
//! stdin, hashed for `--basic-auth`.
use crate::args::{HashAlgorithm, HashPasswordArgs};
use anyhow::{bail, Context as _};
use std::io::{BufRead as _, IsTerminal as _, Read as _, Write as _};

/// bcrypt's cost: 2^10 rounds, tens of milliseconds per check.
const BCRYPT_COST: u32 = 10;

/// Hashes `password` with `algorithm` and a random salt.
///
/// # Errors
/// An empty password; with bcrypt, one over 72 bytes (bcrypt would ignore
/// the rest).
pub(crate) fn hash(password: &[u8], algorithm: HashAlgorithm) -> anyhow::Result<String> {
    if password.is_empty() {
        bail!("empty password");
    }
    match algorithm {
        HashAlgorithm::Bcrypt => {
            if password.len() > 72 {
                bail!("bcrypt uses only a password's first 72 bytes: use --algorithm argon2");
            }
            bcrypt::hash(password, BCRYPT_COST).context("bcrypt")
        }
        HashAlgorithm::Argon2 => {
            use argon2::PasswordHasher as _;
            let mut salt = [0u8; 16];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
                .map_err(|_| anyhow::anyhow!("no randomness for the salt"))?;
            let salt = argon2::password_hash::SaltString::encode_b64(&salt)
                .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
            // The crate's defaults: Argon2id, m=19 MiB, t=2, p=1 (OWASP's
            // first recommendation).
            let h = argon2::Argon2::default()
                .hash_password(password, &salt)
                .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
            Ok(h.to_string())
        }
    }
}

/// Reads the password and prints its hash.
///
/// # Errors
/// No password, the two typed ones differing, or a hash error.
pub(crate) fn run(a: &HashPasswordArgs) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() {
        let first = prompt("Password: ")?;
        let again = prompt("Again: ")?;
        if first != again {
            bail!("the passwords differ");
        }
        first
    } else {
        let mut raw = Vec::new();
        stdin
            .lock()
            .read_to_end(&mut raw)
            .context("cannot read the password from stdin")?;
        // One line: the newline that ends it is not part of the password.
        if raw.ends_with(b"\n") {
            raw.pop();
            if raw.ends_with(b"\r") {
                raw.pop();
            }
        }
        raw
    };
    println!("{}", hash(&password, a.algorithm)?);
    Ok(())
}

/// One line typed on the terminal with echo off (restored afterwards).
fn prompt(what: &str) -> anyhow::Result<Vec<u8>> {
    use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
    eprint!("{what}");
    std::io::stderr().flush().ok();
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).ok();
    if let Some(t) = &saved {
        let mut quiet = t.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        quiet.local_modes.insert(LocalModes::ECHONL);
        let _ = tcsetattr(&stdin, OptionalActions::Now, &quiet);
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(t) = &saved {
        let _ = tcsetattr(&stdin, OptionalActions::Now, t);
    }
    read.context("cannot read the password")?;
    Ok(line.trim_end_matches(['\n', '\r']).as_bytes().to_vec())
}
