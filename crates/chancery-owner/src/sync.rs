//! Bringing a lagging site up to date by copying, verified, what other sites hold and it
//! lacks. Kinds are copied in dependency order, with a durability barrier after each, so that
//! a site never holds a snapshot whose packs or index files it does not durably hold:
//! packs, then index files, then snapshots. Key files are not copied between sites: the
//! owner's local key folder is the authority (a removed key must not come back from a site
//! that was away), and it is pushed to every site; key files it no longer holds are removed
//! there. The receipts of what a site server takes are kept as for a backup, so that a
//! snapshot written while it was away counts as receipted there once it has been synced.

use crate::governance::book::Doomed;
use crate::ledger::{LedgerView, Verdict};
use crate::objects::{get_verified, list_ids};
use crate::receipts::recover_receipts;
use crate::site::Site;
use anyhow::{Context, Result};
use chancery_format::ObjectId;
use chancery_store::ObjectKind;
use std::collections::{BTreeSet, HashSet};

/// The order in which kinds are copied.
pub const SYNC_ORDER: [ObjectKind; 3] = [ObjectKind::Pack, ObjectKind::Index, ObjectKind::Snapshot];

/// What one sync of one site did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct SyncStats {
    /// Objects copied.
    pub objects: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// Objects that no source held intact.
    pub missing: u64,
    /// The packs among those: what the target lacks, though the index may list it.
    #[serde(skip)]
    pub missing_packs: Vec<ObjectId>,
    /// Bad copies met at source sites (each served by another source instead, or left missing).
    pub warnings: Vec<String>,
}

/// Copies to `target` every object of `kinds` that some source has and it lacks, except what
/// a governance proposal deletes (`doomed`): a site that executed it must not get it back
/// from one that has not yet; and except snapshots the ledger does not record, which would
/// spread one site's injected object, and its alarm, to every site.
pub fn catch_up(
    target: &Site,
    sources: &[&Site],
    kinds: &[ObjectKind],
    (doomed, ledger): (&Doomed, &LedgerView),
) -> Result<SyncStats> {
    let mut stats = SyncStats::default();
    for kind in kinds {
        if *kind == ObjectKind::Snapshot && stats.missing > 0 {
            // Copying the snapshot objects now would claim the site holds them whole.
            stats.warnings.push(format!(
                "snapshots not copied to site {}: some packs or indexes have no intact copy",
                target.name()
            ));
            continue;
        }
        let have: HashSet<ObjectId> = list_ids(target, *kind)?.into_iter().collect();
        let mut wanted = BTreeSet::new();
        let mut holders = Vec::new();
        for source in sources.iter().filter(|s| s.name() != target.name()) {
            let ids = list_ids(source, *kind)?;
            // A snapshot the ledger does not record (injected at a source) is not spread.
            let unrecorded =
                |id: &ObjectId| *kind == ObjectKind::Snapshot && ledger.verdict(id) == Verdict::Missing;
            wanted.extend(
                ids.iter()
                    .copied()
                    .filter(|id| !have.contains(id) && !doomed.contains(*kind, id) && !unrecorded(id)),
            );
            holders.push((*source, ids.into_iter().collect::<HashSet<_>>()));
        }
        for id in wanted {
            copy_one(target, &holders, *kind, &id, &mut stats)?;
        }
        target.backend.sync().with_context(|| format!("making site {} durable", target.name()))?;
    }
    Ok(stats)
}

fn copy_one(
    target: &Site,
    holders: &[(&Site, HashSet<ObjectId>)],
    kind: ObjectKind,
    id: &ObjectId,
    stats: &mut SyncStats,
) -> Result<()> {
    for (source, _) in holders.iter().filter(|(_, ids)| ids.contains(id)) {
        match get_verified(source, kind, id) {
            Ok(bytes) => {
                target.backend.put(kind, &id.to_hex(), &bytes).with_context(|| {
                    format!("writing {} {} to site {}", kind.dir_name(), id.short(), target.name())
                })?;
                stats.objects += 1;
                stats.bytes += bytes.len() as u64;
                return Ok(());
            }
            Err(e) => stats.warnings.push(format!("{e:#}")),
        }
    }
    stats.missing += 1;
    if kind == ObjectKind::Pack {
        stats.missing_packs.push(*id);
    }
    stats.warnings.push(format!("{} {} has no intact copy at any source site", kind.dir_name(), id.to_hex()));
    Ok(())
}

/// `sync`: brings one site (or every reachable site) up to date from all the others, key
/// files included.
pub fn sync_sites(archive: &crate::archive::Archive, only: Option<&str>) -> Result<Vec<(String, SyncStats)>> {
    let targets: Vec<&Site> = match only {
        Some(name) => vec![archive.site(name)?],
        None => archive.sites.iter().collect(),
    };
    // What governors had site servers delete, local folders delete too (and no longer copy).
    let has_servers = archive.sites.iter().any(|s| s.server.is_some());
    if has_servers {
        crate::governance::review::list(archive).context("following governance proposals")?;
    }
    // A site whose ledger failed verification is no source: what it holds is not trusted.
    let ledger = archive.ledger()?;
    let sources: Vec<&Site> = archive.sites.iter().filter(|s| ledger.problem(s.name()).is_none()).collect();
    let mut out = Vec::new();
    for target in targets {
        let mut stats = sync_one(archive, target, &sources)?;
        if stats.missing == 0 {
            witness(archive, target, &mut stats)?;
        }
        if let Some(log) = &target.receipts {
            // The ledger's objects went out after `sync_one` emptied the sending file.
            if let Err(e) = log.clear_sent_if_answered() {
                stats.warnings.push(format!("{e:#}"));
            }
            stats.warnings.extend(log.take_problems());
        }
        out.push((target.name().to_string(), stats));
    }
    Ok(out)
}

/// Once a site holds everything, it gets the ledger's entries and witnesses its checkpoint.
fn witness(archive: &crate::archive::Archive, target: &Site, stats: &mut SyncStats) -> Result<()> {
    let published = crate::ledger::republish(archive, &[target])?;
    for (site, why) in published.failed {
        stats.warnings.push(format!("site {site} did not witness the ledger: {why}"));
    }
    Ok(())
}

/// Receipts lost by an interrupted run first, then key files, then every kind in order.
fn sync_one(archive: &crate::archive::Archive, target: &Site, sources: &[&Site]) -> Result<SyncStats> {
    let recovered = recover_receipts(target)?;
    crate::backup::prepare::push_keys(archive, target)?;
    remove_old_keys(archive, target)?;
    let doomed = crate::governance::book::doomed(archive)?;
    let mut stats = catch_up(target, sources, &SYNC_ORDER, (&doomed, archive.ledger()?))?;
    stats.warnings.splice(0..0, recovered);
    if let Some(log) = &target.receipts {
        stats.warnings.extend(log.take_problems());
        // Every object sent has its receipt now, unless a put's answer or a receipt's line was
        // lost; left unemptied, the file only makes the next run ask about objects that have
        // receipts already.
        let _ = log.clear_sent_if_answered();
    }
    Ok(stats)
}

/// Removes from a site the key files removed here (`key remove`) while it was away, and the
/// recovery keys of their passwords, so that a removed password opens nothing there either. The local key folder is the authority; it
/// holds at least the key file that opened the archive.
fn remove_old_keys(archive: &crate::archive::Archive, target: &Site) -> Result<()> {
    let local: HashSet<ObjectId> =
        crate::archive::read_key_files(&archive.keys_dir())?.into_iter().map(|(id, _)| id).collect();
    if local.is_empty() {
        return Ok(());
    }
    for id in list_ids(target, ObjectKind::Key)?.into_iter().filter(|id| !local.contains(id)) {
        crate::governance::keys::remove_or_keep(target, ObjectKind::Key, &id.to_hex())
            .with_context(|| format!("removing old key file {} at site {}", id.short(), target.name()))?;
    }
    target.backend.sync()?;
    let live = local.iter().map(|id| id.to_hex()).collect();
    crate::recovery_keys::prune(target, &live)
        .with_context(|| format!("removing old recovery keys at site {}", target.name()))?;
    Ok(())
}
