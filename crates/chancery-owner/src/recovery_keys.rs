//! Recovery keys: what lets `recover --url` into a site server with nothing but the password.
//!
//! A site server admits only enrolled keys, and the owner's key is inside the key files the
//! site holds, so a new machine could not even ask for them. Each password therefore gets, at
//! each site server, a recovery key derived from it (`chancery_format::recovery`), registered
//! by the owner as `meta/recovery-key-<public key>`; the site lets that key read key files,
//! ledger and meta only. The object's body names the key file of the password, so that
//! removing the password (`key remove`, or `sync` for a site that was away) removes its
//! recovery key too:
//!
//! ```text
//! chancery-recovery-key v1
//! key-file <64 hex digits>
//! ```
//!
//! Deriving a key costs an Argon2id run, so what is registered is remembered in
//! `.chancery/recovery-keys` (one line per site: `<site key> <tenant> <key file> <public key>`)
//! and done once per password and site.

use crate::archive::Archive;
use crate::config::Endpoint;
use crate::site::Site;
use anyhow::{Context, Result};
use chancery_format::recovery::recovery_signing_key;
use chancery_format::ObjectId;
use chancery_store::ObjectKind;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub(crate) use chancery_protocol::RECOVERY_KEY_PREFIX as REGISTRATION_PREFIX;
const MEMORY_FILE: &str = "recovery-keys";
const BODY_FIRST_LINE: &str = "chancery-recovery-key v1";

/// The registration object of a recovery key.
pub fn registration_name(public_key: &[u8; 32]) -> String {
    format!("{REGISTRATION_PREFIX}{}", hex::encode(public_key))
}

fn registration_body(key_file: &ObjectId) -> String {
    format!("{BODY_FIRST_LINE}\nkey-file {}\n", key_file.to_hex())
}

/// The key file a registration names, if its body is well formed.
pub(crate) fn registered_key_file(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let mut lines = text.lines();
    (lines.next()? == BODY_FIRST_LINE).then_some(())?;
    let id = lines.next()?.strip_prefix("key-file ")?;
    (id.len() == 64).then(|| id.to_string())
}

/// The site server's key and our tenant there, or `None` for a folder.
fn server_of(site: &Site) -> Option<([u8; 32], String)> {
    let Endpoint::Server { site_key, tenant, .. } = &site.config.endpoint else { return None };
    let key = chancery_protocol::parse_public_key("site key", site_key).ok()?;
    Some((key, tenant.clone()))
}

/// Registers the recovery key of `password` (which opens `key_file`) at every reachable site
/// server that lacks it; returns the sites where it was registered now. A site that refuses
/// is reported and left for the next run.
pub fn register(archive: &Archive, password: &[u8], key_file: &ObjectId) -> Result<Vec<String>> {
    let memory = Memory::at(&archive.state_dir());
    let mut known = memory.read()?;
    let mut done = Vec::new();
    for site in &archive.sites {
        let Some((site_key, tenant)) = server_of(site) else { continue };
        let line_start = format!("{} {tenant} {}", hex::encode(site_key), key_file.to_hex());
        if known.iter().any(|l| l.starts_with(&line_start)) {
            continue;
        }
        let public = recovery_signing_key(password, &site_key, &tenant).verifying_key().to_bytes();
        let stored = site
            .backend
            .put(ObjectKind::Meta, &registration_name(&public), registration_body(key_file).as_bytes())
            .and_then(|()| site.backend.sync());
        match stored {
            Ok(()) => {
                known.insert(format!("{line_start} {}", hex::encode(public)));
                done.push(site.name().to_string());
            }
            Err(e) => {
                eprintln!("warning: site {}: the password's recovery key is not registered: {e}", site.name())
            }
        }
    }
    memory.write(&known)?;
    Ok(done)
}

/// Removes, at `site`, the recovery keys of key files not in `live` (removed passwords);
/// returns how many.
pub fn prune(site: &Site, live: &BTreeSet<String>) -> Result<usize> {
    if server_of(site).is_none() {
        return Ok(0);
    }
    let mut removed = 0;
    for object in site.backend.list(ObjectKind::Meta)? {
        if !object.name.starts_with(REGISTRATION_PREFIX) {
            continue;
        }
        let body = site.backend.get(ObjectKind::Meta, &object.name)?;
        match registered_key_file(&body) {
            Some(id) if live.contains(&id) => continue,
            _ => {
                if crate::governance::keys::remove_or_keep(site, ObjectKind::Meta, &object.name)? {
                    removed += 1;
                }
            }
        }
    }
    if removed > 0 {
        site.backend.sync()?;
    }
    Ok(removed)
}

/// Forgets what was registered for key files not in `live`.
pub fn forget_removed(state_dir: &Path, live: &BTreeSet<String>) -> Result<()> {
    let memory = Memory::at(state_dir);
    let known = memory.read()?;
    let kept =
        known.into_iter().filter(|l| l.split(' ').nth(2).is_some_and(|id| live.contains(id))).collect();
    memory.write(&kept)
}

/// `.chancery/recovery-keys`.
struct Memory {
    path: PathBuf,
}

impl Memory {
    fn at(state_dir: &Path) -> Self {
        Memory { path: state_dir.join(MEMORY_FILE) }
    }

    fn read(&self) -> Result<BTreeSet<String>> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => Ok(text.lines().filter(|l| l.split(' ').count() == 4).map(str::to_string).collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeSet::new()),
            Err(e) => Err(e).with_context(|| format!("reading {}", self.path.display())),
        }
    }

    fn write(&self, lines: &BTreeSet<String>) -> Result<()> {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        crate::fsutil::write_atomic(&self.path, text.as_bytes())
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_names_its_key_file() {
        let id = ObjectId::of(b"key file");
        assert_eq!(registered_key_file(registration_body(&id).as_bytes()), Some(id.to_hex()));
        assert_eq!(registered_key_file(b"chancery-recovery-key v1\nkey-file abc\n"), None);
        assert_eq!(registered_key_file(b"other\n"), None);
    }
}
