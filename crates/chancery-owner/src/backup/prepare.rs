//! Before data moves: receipts lost by an interrupted run are asked for again, every reachable
//! site gets the key files it lacks, packs left by an interrupted backup are indexed from
//! their own headers (so they are not sent again), and each site is brought up to date with
//! the packs, index files and snapshots the others hold, so that deduplication against the
//! merged index is valid at every site written to, and the ledger published there at the end
//! vouches only for snapshots it holds (a site that lacks one no source holds whole is given
//! no ledger).

use crate::archive::{read_key_files, Archive};
use crate::index::Index;
use crate::objects::list_ids;
use crate::receipts::recover_receipts;
use crate::site::Site;
use crate::sync::{catch_up, SYNC_ORDER};
use anyhow::{Context, Result};
use chancery_format::index::{IndexFile, IndexPack};
use chancery_format::pack::{header_len, read_header, PACK_PREFIX_LEN};
use chancery_format::ObjectId;
use chancery_store::ObjectKind;
use std::collections::{BTreeMap, HashSet};

/// The sites fit to write to, and the index merged over them; the others are added to
/// `lagging`.
pub struct Prepared {
    /// Sites that are up to date.
    pub sites: Vec<Site>,
    /// The index files of those sites, merged, with those written here for orphan packs.
    pub index: Index,
    /// Sites that lack snapshots no source holds whole (a pack or index file they need has no
    /// intact copy): the ledger is not published there, where it would vouch for them.
    pub unwitnessed: Vec<String>,
}

/// Returns the sites fit to write to and their merged index; the others are added to
/// `lagging`. The index files are read once for every site: finding orphans per site read
/// all of them again for each site.
pub fn bring_up_to_date(
    archive: &Archive,
    lagging: &mut BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<Prepared> {
    let mut listed = Vec::new();
    for site in &archive.sites {
        let prepared = recover_receipts(site)
            .map(|recovered| warnings.extend(recovered))
            .and_then(|()| push_keys(archive, site))
            .and_then(|()| list_ids(site, ObjectKind::Index));
        match prepared {
            Ok(files) => listed.push((site.clone(), files.into_iter().collect::<HashSet<_>>())),
            Err(e) => {
                lagging.insert(site.name().to_string(), format!("{e:#}"));
            }
        }
    }
    let loaded_from: Vec<&Site> = listed.iter().map(|(site, _)| site).collect();
    let cache = archive.index_cache();
    let intact = Index::load_intact(&loaded_from, &archive.keys, Some(&cache))?;
    warnings.extend(intact.warnings);
    let mut index = intact.index;
    let loaded = listed.len();
    // A site listing an index file that no site holds intact cannot be brought up to date,
    // nor can one whose own copy was read and found bad (nothing repairs a copy it lists).
    listed.retain(|(site, _)| {
        let problem = intact.listed_by.get(site.name()).or_else(|| intact.bad_copies.get(site.name()));
        match problem {
            Some(error) => {
                lagging.insert(site.name().to_string(), error.clone());
                false
            }
            None => true,
        }
    });
    let mut ready = Vec::new();
    for (site, files) in listed {
        match index_orphans(archive, &site, &files, &mut index, warnings) {
            Ok(()) => ready.push(site),
            Err(e) => {
                lagging.insert(site.name().to_string(), format!("{e:#}"));
            }
        }
    }
    // As for `sync`: a site whose ledger failed verification is no source.
    let ledger = archive.ledger()?;
    let sources: Vec<Site> = ready.iter().filter(|s| ledger.problem(s.name()).is_none()).cloned().collect();
    let source_refs: Vec<&Site> = sources.iter().collect();
    let doomed = crate::governance::book::doomed(archive)?;
    // Snapshots too: the ledger published to a site at the end vouches for every snapshot
    // recorded so far, so one the site missed while away would count as deleted there.
    let mut missing = HashSet::new();
    let mut unwitnessed = Vec::new();
    ready.retain(|site| match catch_up(site, &source_refs, &SYNC_ORDER, (&doomed, ledger)) {
        Ok(stats) => {
            warnings.extend(stats.warnings);
            if stats.missing > 0 {
                unwitnessed.push(site.name().to_string());
            }
            missing.extend(stats.missing_packs);
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
    // A pack that could not be copied to a site is no base for a snapshot written there, and
    // a site that fell behind after the load takes the packs only its index files list out.
    index.drop_packs(&missing);
    if ready.len() < loaded {
        let mut files = HashSet::new();
        // Listed already: the listing is remembered, and this cannot fail.
        for site in &ready {
            files.extend(list_ids(site, ObjectKind::Index)?);
        }
        index.keep_listed_by(&files);
    }
    Ok(Prepared { sites: ready, index, unwitnessed })
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

/// Packs present at the site but in no index file it lists (`files`) are what an interrupted
/// backup left; their headers say what they hold, so an index file is written for them, and
/// added to `index`, the index merged over the sites.
fn index_orphans(
    archive: &Archive,
    site: &Site,
    files: &HashSet<ObjectId>,
    index: &mut Index,
    warnings: &mut Vec<String>,
) -> Result<()> {
    // A pack a proposal deletes may have lost its index file already (the site deletes index
    // files first): it is no orphan, and indexing it again would let backups build on it.
    let doomed = crate::governance::book::doomed(archive)?;
    let indexed_here = |pack: &ObjectId| index.listed_in(pack).iter().any(|file| files.contains(file));
    let mut found = Vec::new();
    let orphans = list_ids(site, ObjectKind::Pack)?.into_iter().filter(|p| !indexed_here(p));
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
    let file = IndexFile::new(found);
    let bytes = file.seal(&archive.keys);
    let id = ObjectId::of(&bytes);
    site.backend.put(ObjectKind::Index, &id.to_hex(), &bytes)?;
    site.backend.sync()?;
    index.add_file(id, &file);
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
