//! Before data moves: receipts lost by an interrupted run are asked for again, every reachable
//! site gets the key files it lacks, packs left by an interrupted backup are indexed from
//! their own headers (so they are not sent again), and each site is brought up to date with
//! the packs and index files the others hold, so that deduplication against the merged index
//! is valid at every site written to.

use crate::archive::{read_key_files, Archive};
use crate::index::Index;
use crate::objects::list_ids;
use crate::receipts::recover_receipts;
use crate::site::Site;
use crate::sync::catch_up;
use anyhow::{Context, Result};
use chancery_format::index::{IndexFile, IndexPack};
use chancery_format::pack::{header_len, read_header, PACK_PREFIX_LEN};
use chancery_format::ObjectId;
use chancery_store::ObjectKind;
use std::collections::{BTreeMap, HashSet};

/// Returns the sites fit to write to; the others are added to `lagging`.
pub fn bring_up_to_date(
    archive: &Archive,
    lagging: &mut BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Site>> {
    let mut ready = Vec::new();
    for site in &archive.sites {
        let prepared = recover_receipts(site)
            .map(|recovered| warnings.extend(recovered))
            .and_then(|()| push_keys(archive, site))
            .and_then(|()| index_orphans(archive, site, warnings));
        match prepared {
            Ok(()) => ready.push(site.clone()),
            Err(e) => {
                lagging.insert(site.name().to_string(), format!("{e:#}"));
            }
        }
    }
    let sources: Vec<Site> = ready.clone();
    let source_refs: Vec<&Site> = sources.iter().collect();
    let doomed = crate::governance::book::doomed(archive)?;
    let kinds = [ObjectKind::Pack, ObjectKind::Index];
    ready.retain(|site| match catch_up(site, &source_refs, &kinds, &doomed) {
        Ok(stats) => {
            warnings.extend(stats.warnings);
            true
        }
        Err(e) => {
            lagging.insert(site.name().to_string(), format!("{e:#}"));
            false
        }
    });
    if ready.is_empty() {
        anyhow::bail!(
            "no site can be written to: {}",
            lagging.iter().map(|(n, w)| format!("{n}: {w}")).collect::<Vec<_>>().join("; ")
        );
    }
    Ok(ready)
}

/// Copies to a site the local key files it lacks, so that it alone is enough for recovery.
/// Those it lists are not sent again.
pub fn push_keys(archive: &Archive, site: &Site) -> Result<()> {
    let held: HashSet<ObjectId> = list_ids(site, ObjectKind::Key)?.into_iter().collect();
    for (id, bytes) in read_key_files(&archive.keys_dir())?.into_iter().filter(|(id, _)| !held.contains(id)) {
        site.backend
            .put(ObjectKind::Key, &id.to_hex(), &bytes)
            .with_context(|| format!("storing key file {} at site {}", id.short(), site.name()))?;
    }
    Ok(())
}

/// Packs present at the site but in no index file are what an interrupted backup left; their
/// headers say what they hold, so an index file is written for them.
fn index_orphans(archive: &Archive, site: &Site, warnings: &mut Vec<String>) -> Result<()> {
    let (index, index_warnings) = Index::load_union_cached(&[site], &archive.keys, &archive.index_cache())?;
    warnings.extend(index_warnings);
    // A pack a proposal deletes may have lost its index file already (the site deletes index
    // files first): it is no orphan, and indexing it again would let backups build on it.
    let doomed = crate::governance::book::doomed(archive)?;
    let mut found = Vec::new();
    let orphans = list_ids(site, ObjectKind::Pack)?.into_iter().filter(|p| !index.has_pack(p));
    for pack in orphans.filter(|p| !doomed.packs.contains(p)) {
        match read_pack_header(archive, site, &pack) {
            Ok(entries) => found.push(IndexPack { pack, entries }),
            Err(e) => warnings.push(format!(
                "site {}: unindexed pack {} unreadable, ignored: {e:#}",
                site.name(),
                pack.short()
            )),
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    let bytes = IndexFile::new(found).seal(&archive.keys);
    site.backend.put(ObjectKind::Index, &ObjectId::of(&bytes).to_hex(), &bytes)?;
    site.backend.sync()?;
    Ok(())
}

/// Reads and decrypts one pack's header by range, without fetching the pack.
pub fn read_pack_header(
    archive: &Archive,
    site: &Site,
    pack: &ObjectId,
) -> Result<Vec<chancery_format::pack::PackEntry>> {
    let name = pack.to_hex();
    let prefix = site.backend.get_range(ObjectKind::Pack, &name, 0, PACK_PREFIX_LEN as u64)?;
    let len = header_len(&prefix)?;
    let head = site.backend.get_range(ObjectKind::Pack, &name, 0, PACK_PREFIX_LEN as u64 + len as u64)?;
    Ok(read_header(&archive.keys, &head)?)
}
