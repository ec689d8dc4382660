//! Finding snapshots: which exist, and which sites hold each, checked against the ledger: a
//! snapshot the ledger does not record is refused, a site that lacks one it vouched for is
//! reported, and a site whose ledger failed verification is not used at all.
//!
//! Invariant relied on: a site receives a snapshot object only after every pack and index file
//! the snapshot needs is durable there (backup and sync both keep this order), so a snapshot
//! object at a site means the whole snapshot is there, unless it was damaged since (`check`).

use crate::archive::Archive;
use crate::config::Endpoint;
use crate::error::IntegrityError;
use crate::ledger::{LedgerView, Verdict};
use crate::object_cache::{ObjectCache, SiteCopies};
use crate::objects::{get_verified, list_ids, tampered};
use crate::site::Site;
use anyhow::{bail, Result};
use chancery_format::snapshot::Snapshot;
use chancery_format::ObjectId;
use chancery_store::ObjectKind;
use std::collections::{BTreeMap, HashSet};

/// The warning for an archive made before the ledger existed (a backup starts the ledger, and
/// does not repeat this).
pub const NO_LEDGER_YET: &str = "this archive has no ledger yet (its snapshots were made by an earlier \
     release), so they cannot be checked against one; the next backup starts it";

/// Part of the warning for a snapshot this machine was committing when a run stopped (a
/// backup records it, and does not repeat this).
pub const PENDING_MARK: &str = "is not in the ledger yet";

/// A snapshot and where it is stored.
#[derive(Clone, Debug)]
pub struct SnapshotEntry {
    /// Its id.
    pub id: ObjectId,
    /// Its content.
    pub snapshot: Snapshot,
    /// Names of the sites holding a verified copy, in configuration order: a local folder's
    /// copy is read at every listing, a site server's once (then it counts while the site
    /// lists it; `check` and `audit` read every site's copies).
    pub sites: Vec<String>,
}

/// How a listing reads the site servers' copies of snapshots (a local folder's copy is read
/// at every listing: as fast as a kept copy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopiesRead {
    /// Each once, then remembered ([`SiteCopies`]): for the commands run every few minutes.
    Once,
    /// Every copy at every site, now: for planning a deletion, which cannot be undone (a
    /// `forget` keeps the newest snapshot every site holds).
    Every,
}

/// Every snapshot at every reachable site, oldest first; bad copies and tampered sites are
/// reported in `warnings`. Each site server's copy is read once ([`CopiesRead::Once`]).
pub fn list_snapshots(archive: &Archive, warnings: &mut Vec<String>) -> Result<Vec<SnapshotEntry>> {
    list_snapshots_reading(archive, warnings, CopiesRead::Once)
}

/// [`list_snapshots`], reading the site servers' copies as `read` says.
pub fn list_snapshots_reading(
    archive: &Archive,
    warnings: &mut Vec<String>,
    read: CopiesRead,
) -> Result<Vec<SnapshotEntry>> {
    let (list, problems) = list_checked(archive, warnings, read)?;
    warnings.extend(problems.iter().map(|p| p.to_string()));
    Ok(list)
}

/// Every snapshot that the ledger records at every reachable, untampered site, oldest first,
/// and the integrity problems found (a tampered site, a snapshot missing from the ledger or
/// from a site that vouched for it).
pub fn list_checked(
    archive: &Archive,
    warnings: &mut Vec<String>,
    read: CopiesRead,
) -> Result<(Vec<SnapshotEntry>, Vec<IntegrityError>)> {
    let ledger = archive.ledger()?;
    let forgotten = crate::governance::book::doomed(archive)?.snapshots;
    let cache = archive.snapshot_cache();
    let mut problems = Vec::new();
    let mut found: BTreeMap<ObjectId, SnapshotEntry> = BTreeMap::new();
    let mut listed = HashSet::new();
    let mut every_site_listed = archive.unreachable.is_empty();
    for site in &archive.sites {
        if let Some(problem) = ledger.problem(site.name()) {
            problems.push(problem);
            every_site_listed = false;
            continue;
        }
        let ids = list_ids(site, ObjectKind::Snapshot)?;
        problems.extend(ledger_problems(ledger, &forgotten, site, &ids, warnings));
        let ids: Vec<ObjectId> =
            ids.into_iter().filter(|id| ledger.verdict(id) != Verdict::Missing).collect();
        let mut copies = site_copies(archive, site, read);
        for id in &ids {
            let copy = match found.get_mut(id) {
                Some(entry) => another_copy(site, &cache, copies.as_mut(), id).map(|()| entry),
                None => load_listed(archive, &cache, copies.as_mut(), site, (id, ledger.verdict(id))).map(
                    |snapshot| {
                        found.entry(*id).or_insert(SnapshotEntry { id: *id, snapshot, sites: Vec::new() })
                    },
                ),
            };
            match copy {
                Ok(entry) => entry.sites.push(site.name().to_string()),
                Err(e) => warnings.push(format!("{e:#}")),
            }
        }
        let held: HashSet<ObjectId> = ids.into_iter().collect();
        if let Some(copies) = &mut copies {
            copies.save(&held);
        }
        listed.extend(held);
    }
    // Kept copies of snapshots no site lists any more (deleted by governance) go, once every
    // site was listed: a site out of reach or refused would take its snapshots with it, to be
    // fetched again, one round trip each, when it is back.
    if every_site_listed {
        cache.retain(&listed);
    }
    let mut list: Vec<SnapshotEntry> = found.into_values().collect();
    list.sort_by_key(|e| (e.snapshot.time_sec, e.snapshot.time_nsec, e.id));
    if !ledger.started() && !list.is_empty() {
        warnings.push(NO_LEDGER_YET.into());
    }
    Ok((list, problems))
}

/// What is wrong at `site`, which holds the snapshots `ids`, against the ledger: snapshots it
/// holds that the ledger does not record, and snapshots the ledger records below the size the
/// site vouched for that it does not hold, unless a recorded governance proposal deletes
/// them (`forgotten`). Remarks that are no sign of tampering go to `warnings`.
pub fn ledger_problems(
    ledger: &LedgerView,
    forgotten: &std::collections::HashSet<ObjectId>,
    site: &Site,
    ids: &[ObjectId],
    warnings: &mut Vec<String>,
) -> Vec<IntegrityError> {
    let mut problems = Vec::new();
    let problem = |id: &ObjectId, detail: String| IntegrityError {
        site: site.name().to_string(),
        object: format!("snapshot {}", id.to_hex()),
        detail,
    };
    for id in ids {
        match ledger.verdict(id) {
            Verdict::InLedger => {}
            Verdict::Pending => warnings.push(format!(
                "snapshot {} at site {} {PENDING_MARK}: a backup stopped before recording it; \
                 the next backup records it",
                id.short(),
                site.name()
            )),
            Verdict::NotStarted => {}
            Verdict::Missing => problems.push(problem(
                id,
                format!(
                    "not recorded in the ledger ({} entries): injected or replayed by the site, or written \
                     with a stolen key; it is not used",
                    ledger.size
                ),
            )),
        }
    }
    let held: std::collections::HashSet<&ObjectId> = ids.iter().collect();
    for (id, index) in ledger.owed_by(site.name()) {
        if !held.contains(&id) && !forgotten.contains(&id) {
            problems.push(problem(
                &id,
                format!("recorded in ledger entry {index}, which the site vouched for, but missing there: deleted"),
            ));
        }
    }
    problems
}

/// A snapshot `site` lists, read and verified: from a local folder, its own copy; from a site
/// server, the copy kept in the owner's cache ([`ObjectCache`]) when the site's copy was
/// verified before ([`SiteCopies`]), else the site's, then kept. Fetching every snapshot from
/// abroad at every command was one round trip per snapshot, and an archive backed up every
/// five minutes holds about 100,000 in a year.
fn load_listed(
    archive: &Archive,
    cache: &ObjectCache,
    copies: Option<&mut SiteCopies>,
    site: &Site,
    (id, verdict): (&ObjectId, Verdict),
) -> Result<Snapshot> {
    let open = |bytes: &[u8]| {
        // The trusted ledger records the BLAKE3 hash of the bytes the owner signed, and these
        // bytes have it: their signature holds, and checking it again cost 45 µs a snapshot,
        // seconds for a year of them. Local files alone (the cache, the record of copies)
        // are no such evidence, nor is a snapshot pending or made before the ledger.
        let open = match verdict {
            Verdict::InLedger => Snapshot::open_verified_before,
            _ => Snapshot::open,
        };
        open(&archive.keys, &archive.repo_id, bytes).map_err(|e| tampered(site, "snapshot", id, e))
    };
    let Some(copies) = copies else {
        return open(&get_verified(site, ObjectKind::Snapshot, id)?);
    };
    if let Some(bytes) = copies.verified(id).then(|| cache.cached(id)).flatten() {
        return open(&bytes);
    }
    let bytes = get_verified(site, ObjectKind::Snapshot, id)?;
    let snapshot = open(&bytes)?;
    cache.keep(id, &bytes);
    copies.record(*id);
    Ok(snapshot)
}

/// Checks `site`'s copy of a snapshot already read from another site: it is read and must
/// hash to its name (same name, so same bytes: no need to decrypt again), unless it is a site
/// server's copy verified before ([`SiteCopies`]). A site server's copy is then kept, for when
/// the site read first is out of reach.
fn another_copy(
    site: &Site,
    cache: &ObjectCache,
    copies: Option<&mut SiteCopies>,
    id: &ObjectId,
) -> Result<()> {
    if copies.as_ref().is_some_and(|c| c.verified(id)) {
        return Ok(());
    }
    let bytes = get_verified(site, ObjectKind::Snapshot, id)?;
    if let Some(copies) = copies {
        cache.keep(id, &bytes);
        copies.record(*id);
    }
    Ok(())
}

/// What is remembered of `site`'s copies, when it is a site server and `read` is
/// [`CopiesRead::Once`].
fn site_copies(archive: &Archive, site: &Site, read: CopiesRead) -> Option<SiteCopies> {
    let Endpoint::Server { site_key, tenant, .. } = &site.config.endpoint else { return None };
    let state_dir = archive.state_dir();
    (read == CopiesRead::Once).then(|| SiteCopies::load(&state_dir, site.name(), site_key, tenant))
}

/// Reads and verifies one snapshot from one site.
pub fn load_snapshot(archive: &Archive, site: &Site, id: &ObjectId) -> Result<Snapshot> {
    let bytes = get_verified(site, ObjectKind::Snapshot, id)?;
    open_snapshot(archive, site, id, &bytes)
}

/// Decrypts and parses a snapshot's verified bytes; a failure is the site's (the bytes hash to
/// the name it lists).
fn open_snapshot(archive: &Archive, site: &Site, id: &ObjectId, bytes: &[u8]) -> Result<Snapshot> {
    Snapshot::open(&archive.keys, &archive.repo_id, bytes).map_err(|e| tampered(site, "snapshot", id, e))
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
