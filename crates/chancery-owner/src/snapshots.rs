//! Finding snapshots: which exist, and which sites hold each.
//!
//! Invariant relied on: a site receives a snapshot object only after every pack and index file
//! the snapshot needs is durable there (backup and sync both keep this order), so a snapshot
//! object at a site means the whole snapshot is there, unless it was damaged since (`check`).

use crate::archive::Archive;
use crate::objects::{get_verified, list_ids, tampered};
use crate::site::Site;
use anyhow::{bail, Result};
use chancery_format::snapshot::Snapshot;
use chancery_format::ObjectId;
use chancery_store::ObjectKind;
use std::collections::BTreeMap;

/// A snapshot and where it is stored.
#[derive(Clone, Debug)]
pub struct SnapshotEntry {
    /// Its id.
    pub id: ObjectId,
    /// Its content.
    pub snapshot: Snapshot,
    /// Names of the sites holding a verified copy, in configuration order.
    pub sites: Vec<String>,
}

/// Every snapshot at every reachable site, oldest first; bad copies are reported in `warnings`.
pub fn list_snapshots(archive: &Archive, warnings: &mut Vec<String>) -> Result<Vec<SnapshotEntry>> {
    let mut found: BTreeMap<ObjectId, SnapshotEntry> = BTreeMap::new();
    for site in &archive.sites {
        for id in list_ids(site, ObjectKind::Snapshot)? {
            if let Some(entry) = found.get_mut(&id) {
                // Same name, so same bytes if the hash holds: no need to decrypt again.
                match get_verified(site, ObjectKind::Snapshot, &id) {
                    Ok(_) => entry.sites.push(site.name().to_string()),
                    Err(e) => warnings.push(format!("{e:#}")),
                }
                continue;
            }
            match load_snapshot(archive, site, &id) {
                Ok(snapshot) => {
                    found.insert(id, SnapshotEntry { id, snapshot, sites: vec![site.name().to_string()] });
                }
                Err(e) => warnings.push(format!("{e:#}")),
            }
        }
    }
    let mut list: Vec<SnapshotEntry> = found.into_values().collect();
    list.sort_by_key(|e| (e.snapshot.time_sec, e.snapshot.time_nsec, e.id));
    Ok(list)
}

/// Reads and verifies one snapshot from one site.
pub fn load_snapshot(archive: &Archive, site: &Site, id: &ObjectId) -> Result<Snapshot> {
    let bytes = get_verified(site, ObjectKind::Snapshot, id)?;
    Snapshot::open(&archive.keys, &archive.repo_id, &bytes).map_err(|e| tampered(site, "snapshot", id, e))
}

/// Resolves `latest` or a unique id prefix of at least 8 hex digits.
pub fn find_snapshot<'a>(list: &'a [SnapshotEntry], spec: &str) -> Result<&'a SnapshotEntry> {
    if spec == "latest" {
        return list
            .last()
            .ok_or_else(|| anyhow::anyhow!("there is no snapshot yet; run `chancery backup` first"));
    }
    let spec = spec.to_ascii_lowercase();
    if spec.len() < 8 || !spec.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("{spec:?} is neither `latest` nor a snapshot id prefix of at least 8 hex digits");
    }
    let matches: Vec<_> = list.iter().filter(|e| e.id.to_hex().starts_with(&spec)).collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => bail!("no snapshot with id {spec}… (see `chancery snapshots`)"),
        _ => bail!("{} snapshots start with {spec}; give more digits", matches.len()),
    }
}
