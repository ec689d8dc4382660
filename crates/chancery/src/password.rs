//! Where passwords come from: CHANCERY_PASSWORD, --password-file, or a prompt on a terminal.

use anyhow::{bail, Context, Result};
use std::io::IsTerminal;
use std::path::Path;
use zeroize::Zeroizing;

/// The password to open the keys.
pub fn password(file: Option<&Path>) -> Result<Zeroizing<Vec<u8>>> {
    if let Some(path) = file {
        return read_password_file(path);
    }
    if let Ok(pw) = std::env::var("CHANCERY_PASSWORD") {
        return Ok(Zeroizing::new(pw.into_bytes()));
    }
    prompt("Password: ", false)
}

/// A new password (init, key add): from a file, CHANCERY_NEW_PASSWORD, or typed twice.
pub fn new_password(file: Option<&Path>, env: &str) -> Result<Zeroizing<Vec<u8>>> {
    if let Some(path) = file {
        return read_password_file(path);
    }
    if let Ok(pw) = std::env::var(env) {
        return Ok(Zeroizing::new(pw.into_bytes()));
    }
    prompt("New password: ", true)
}

fn read_password_file(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let text = Zeroizing::new(
        std::fs::read(path).with_context(|| format!("reading password file {}", path.display()))?,
    );
    let line = text.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Ok(Zeroizing::new(line.to_vec()))
}

fn prompt(label: &str, confirm: bool) -> Result<Zeroizing<Vec<u8>>> {
    if !std::io::stdin().is_terminal() {
        bail!("no password given: set CHANCERY_PASSWORD, or pass --password-file FILE");
    }
    let first = Zeroizing::new(rpassword::prompt_password(label).context("reading the password")?);
    if confirm {
        let again =
            Zeroizing::new(rpassword::prompt_password("Repeat it: ").context("reading the password")?);
        if *first != *again {
            bail!("the two passwords differ");
        }
    }
    Ok(Zeroizing::new(first.as_bytes().to_vec()))
}
