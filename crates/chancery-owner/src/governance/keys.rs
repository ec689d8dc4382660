//! Key files and recovery-key registrations at governed site servers. A tenant with
//! governors lets a writer only add: removing a password's key file there (`key remove`,
//! `key rotate`, a custody re-split, `sync`) is refused, and the file stays until governors
//! approve a `remove-keys` proposal (`governance propose --remove-old-keys`). Until then the
//! removed password still opens what that site holds; `key rotate` protects new data.

use std::collections::{BTreeSet, HashSet};

use anyhow::Result;
use chancery_ledger::{Act, Deletion};
use chancery_store::{ObjectKind, StoreError};
use ed25519_dalek::SigningKey;

use super::post::Posted;
use crate::archive::{read_key_files, Archive};
use crate::objects::list_ids;
use crate::recovery_keys::{registered_key_file, REGISTRATION_PREFIX};
use crate::site::Site;

/// Deletes an object at a site; `false` when the site keeps it because the tenant is
/// governed (the removal then needs a proposal).
pub fn remove_or_keep(site: &Site, kind: ObjectKind, name: &str) -> Result<bool, StoreError> {
    match site.backend.delete(kind, name) {
        Ok(()) => Ok(true),
        Err(StoreError::PermissionDenied { source, .. }) if source.to_string().contains("is governed") => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// What governed sites keep of removed passwords: (site, `keys/<id>` or
/// `meta/recovery-key-<hex>`).
pub fn kept_at_sites(archive: &Archive) -> Result<Vec<(String, String)>> {
    let live: HashSet<String> =
        read_key_files(&archive.keys_dir())?.into_iter().map(|(id, _)| id.to_hex()).collect();
    let mut kept = Vec::new();
    for site in archive.sites.iter().filter(|s| s.server.is_some()) {
        for (kind, name) in stale(site, &live)? {
            kept.push((site.name().to_owned(), format!("{}/{name}", kind.dir_name())));
        }
    }
    Ok(kept)
}

/// Key files at `site` that are not live here, and registrations that name none that is.
fn stale(site: &Site, live: &HashSet<String>) -> Result<Vec<(ObjectKind, String)>> {
    if live.is_empty() {
        return Ok(Vec::new());
    }
    let mut out: Vec<(ObjectKind, String)> = list_ids(site, ObjectKind::Key)?
        .into_iter()
        .map(|id| id.to_hex())
        .filter(|id| !live.contains(id))
        .map(|id| (ObjectKind::Key, id))
        .collect();
    for object in site.backend.list(ObjectKind::Meta)? {
        if !object.name.starts_with(REGISTRATION_PREFIX) {
            continue;
        }
        let body = site.backend.get(ObjectKind::Meta, &object.name)?;
        if !registered_key_file(&body).is_some_and(|id| live.contains(&id)) {
            out.push((ObjectKind::Meta, object.name));
        }
    }
    Ok(out)
}

/// Proposes to delete, at every site server, what [`kept_at_sites`] finds.
pub fn propose_removal(archive: &Archive, governor: Option<&SigningKey>) -> Result<Option<Posted>> {
    let mut deletions = BTreeSet::new();
    for (_, object) in kept_at_sites(archive)? {
        let (kind, name) = object.split_once('/').expect("kind/name");
        deletions.insert(Deletion::new(kind, name)?);
    }
    if deletions.is_empty() {
        return Ok(None);
    }
    let reason = format!("remove {} key files and registrations of removed passwords", deletions.len());
    super::propose::propose_deletions(archive, Act::RemoveKeys, reason, deletions, governor).map(Some)
}

/// An approver's check of a key removal: it removes no key file this home still uses.
pub fn check_removal(archive: &Archive, deletions: &BTreeSet<Deletion>) -> Result<()> {
    let live: HashSet<String> =
        read_key_files(&archive.keys_dir())?.into_iter().map(|(id, _)| id.to_hex()).collect();
    if let Some(d) = deletions.iter().find(|d| d.kind_dir() == "keys" && live.contains(&d.name)) {
        anyhow::bail!("the proposal removes key file {}, which this home still uses; not approved", d.name);
    }
    Ok(())
}
