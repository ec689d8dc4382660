//! What a prune may delete once snapshots are forgotten: the packs that hold no blob of a kept
//! snapshot, the index files that describe them, and the new index files that must be stored
//! first so that every blob of every kept pack stays indexed.
//!
//! No repacking in this version: a pack with one used blob is kept whole, and its unused bytes
//! are reported.
//!
//! The plan is computed from the union of the index files of every reachable site whose ledger
//! verifies (as restore reads), not from one site: sites normally hold the same objects (a
//! backup brings each up to date first), but a site may hold an index file the others lack
//! (packs it alone indexed after an interrupted backup). With the union, every pack known
//! anywhere is judged, and every index file that lists a deleted pack is replaced, wherever it
//! is. A pack or index file the plan never saw is never deleted. The plan names only objects;
//! each site deletes those it holds.
//!
//! Executing the plan, per site, in this order (each step durable before the next):
//! 1. store `new_index`;
//! 2. delete `delete_index`: from then on no index names a deleted pack;
//! 3. delete `delete_packs`.
//!
//! Until step 2 a reader loads old and new index files together. That is harmless: both
//! describe the same bytes of the same packs, and a blob listed twice is read from any of
//! them, all of which still exist until step 3.
//!
//! Not handled here, for the executor: a backup that starts after the plan was computed may
//! deduplicate against a blob of a pack the plan deletes; before executing, check that no
//! index file outside `based_on_index` exists (else plan again). A sync from a site that has
//! not executed the plan yet would copy deleted objects back.

use crate::archive::Archive;
use crate::index::{first_good, read_index_file, Index};
use crate::objects::list_ids;
use crate::reader::BlobReader;
use crate::restore::read_order;
use crate::site::Site;
use crate::snapshots::load_snapshot;
use anyhow::{anyhow, bail, Context, Result};
use chancery_format::index::{IndexFile, IndexPack};
use chancery_format::keys::Keys;
use chancery_format::tree::NodeKind;
use chancery_format::{BlobId, ObjectId};
use chancery_store::ObjectKind;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Most blob entries in one new index file. A backup writes one index file per run, whatever
/// its size; a prune can rewrite the entries of a whole archive, so they are split into files
/// of at most about 5 MiB, far below what a site server takes in one request.
pub const MAX_INDEX_ENTRIES: usize = 100_000;

/// What a prune deletes and writes.
#[derive(Clone, Debug, Default)]
pub struct PrunePlan {
    /// Packs holding no blob of a kept snapshot.
    pub delete_packs: Vec<ObjectId>,
    /// Index files that list a deleted pack.
    pub delete_index: Vec<ObjectId>,
    /// Sealed index files, named by their hash, that list the kept packs of the deleted index
    /// files (those no remaining index file lists); to be stored before anything is deleted.
    pub new_index: Vec<(ObjectId, Vec<u8>)>,
    /// Packs kept.
    pub kept_packs: usize,
    /// Kept packs that also hold blobs no kept snapshot uses.
    pub partly_used_packs: usize,
    /// Bytes of unused blobs in kept packs (sealed lengths).
    pub unused_bytes_kept: u64,
    /// Bytes of the deleted packs (padded lengths, as the index fixes them).
    pub freed_bytes: u64,
    /// Every index file the plan was computed from: another one at execution time means a
    /// backup ran since, and the plan must be computed again.
    pub based_on_index: Vec<ObjectId>,
    /// Sites left out (unreachable, or their ledger failed), which may hold objects the plan
    /// does not know of, and bad copies of index files met (read from another site instead).
    pub warnings: Vec<String>,
}

/// Every blob, tree and data, that the snapshots `keep` reference, reading snapshots and
/// trees from the first of `sites` that gives a good copy. Each tree is read once. Fails if a
/// tree cannot be read or a blob is in no index file: the index is then not the whole truth,
/// and nothing may be deleted on its word.
pub fn used_blobs(
    archive: &Archive,
    sites: &[&Site],
    index: &Index,
    keep: &[ObjectId],
) -> Result<HashSet<BlobId>> {
    let reader = BlobReader::new(sites.to_vec(), &archive.keys, index);
    let mut used = HashSet::new();
    for id in keep {
        let snapshot = first_good(sites, &mut Vec::new(), |site| load_snapshot(archive, site, id))
            .with_context(|| format!("reading kept snapshot {}", id.short()))?;
        let mut stack = vec![snapshot.tree];
        while let Some(tree_id) = stack.pop() {
            if !used.insert(tree_id) {
                continue;
            }
            let tree = reader.read_tree(&tree_id).with_context(|| format!("snapshot {}", id.short()))?;
            for node in &tree.nodes {
                match &node.kind {
                    NodeKind::Dir { subtree } => stack.push(*subtree),
                    NodeKind::File { content } => note_content(index, content, &mut used, id)?,
                    _ => {}
                }
            }
        }
    }
    Ok(used)
}

fn note_content(
    index: &Index,
    content: &[BlobId],
    used: &mut HashSet<BlobId>,
    snap: &ObjectId,
) -> Result<()> {
    for blob in content {
        if !index.contains(blob) {
            bail!(
                "blob {} of kept snapshot {} is in no index file; run `chancery check` before pruning",
                blob.to_hex(),
                snap.short()
            );
        }
        used.insert(*blob);
    }
    Ok(())
}

/// Plans a prune that keeps the snapshots `keep` (every snapshot not forgotten) and what they
/// need. Refuses an empty `keep`: that would delete every pack.
pub fn plan_prune(archive: &Archive, keep: &[ObjectId]) -> Result<PrunePlan> {
    if keep.is_empty() {
        bail!("no snapshot to keep: a prune would delete every pack; refusing");
    }
    let sites = read_order(archive, None)?;
    let mut warnings = left_out(archive, &sites);
    let files = load_index_files(&sites, archive, &mut warnings)?;
    let index = union(&files);
    let used = used_blobs(archive, &sites, &index, keep)?;
    let mut plan =
        PrunePlan { based_on_index: files.keys().copied().collect(), warnings, ..Default::default() };
    let packs = listings(&files);
    let deleted = judge_packs(&mut plan, &packs, &index, &used);
    plan.delete_index = files
        .iter()
        .filter(|(_, file)| file.packs.iter().any(|p| deleted.contains(&p.pack)))
        .map(|(id, _)| *id)
        .collect();
    let carried = carried_packs(&files, &plan.delete_index, &deleted);
    plan.new_index =
        seal_index_files(&archive.keys, carried.into_iter().map(|p| packs[&p].clone()).collect());
    Ok(plan)
}

/// Sorts packs into deleted (every entry unused) and kept, counting bytes into `plan`.
fn judge_packs(
    plan: &mut PrunePlan,
    packs: &BTreeMap<ObjectId, IndexPack>,
    index: &Index,
    used: &HashSet<BlobId>,
) -> HashSet<ObjectId> {
    let mut deleted = HashSet::new();
    for (pack, listing) in packs {
        let unused = unused_entries(index, used, listing);
        if unused.len() == listing.entries.len() {
            deleted.insert(*pack);
            plan.delete_packs.push(*pack);
            plan.freed_bytes += index.pack_len(pack).unwrap_or(0);
        } else {
            plan.kept_packs += 1;
            plan.partly_used_packs += usize::from(!unused.is_empty());
            plan.unused_bytes_kept += unused.iter().map(|e| u64::from(e.length)).sum::<u64>();
        }
    }
    deleted
}

/// Why configured sites took no part in the plan.
fn left_out(archive: &Archive, used: &[&Site]) -> Vec<String> {
    let unreachable = archive.unreachable.iter().map(|u| (u.config.name.clone(), u.reason.clone()));
    let distrusted = archive
        .sites
        .iter()
        .filter(|s| !used.iter().any(|u| u.name() == s.name()))
        .map(|s| (s.name().to_string(), "its ledger failed verification".to_string()));
    unreachable
        .chain(distrusted)
        .map(|(name, why)| {
            format!("site {name} took no part in the plan ({why}); objects only it holds are not pruned")
        })
        .collect()
}

/// Every index file at any of `sites`, each read from the first site with a good copy.
fn load_index_files(
    sites: &[&Site],
    archive: &Archive,
    warnings: &mut Vec<String>,
) -> Result<BTreeMap<ObjectId, IndexFile>> {
    let mut holders: BTreeMap<ObjectId, Vec<&Site>> = BTreeMap::new();
    for site in sites {
        for id in list_ids(site, ObjectKind::Index)? {
            holders.entry(id).or_default().push(site);
        }
    }
    let mut files = BTreeMap::new();
    for (id, holders) in holders {
        let file = first_good(&holders, warnings, |site| read_index_file(site, &archive.keys, &id))?;
        files.insert(id, file);
    }
    Ok(files)
}

/// The index of `files`, loaded in the same order as [`Index::load_union`] loads them, so
/// that a blob stored twice resolves to the same pack as for restore.
fn union(files: &BTreeMap<ObjectId, IndexFile>) -> Index {
    let mut index = Index::default();
    for (id, file) in files {
        index.add_file(*id, file);
    }
    index
}

/// Each pack's entries, from every index file that lists it. The copies normally agree (a
/// pack's name is the hash of its bytes); merging them judges every blob any of them lists,
/// as the index does, and carries them all over.
fn listings(files: &BTreeMap<ObjectId, IndexFile>) -> BTreeMap<ObjectId, IndexPack> {
    let mut packs: BTreeMap<ObjectId, IndexPack> = BTreeMap::new();
    for listing in files.values().flat_map(|f| &f.packs) {
        let Some(merged) = packs.get_mut(&listing.pack) else {
            packs.insert(listing.pack, listing.clone());
            continue;
        };
        let known: HashSet<(BlobId, u32)> = merged.entries.iter().map(|e| (e.id, e.offset)).collect();
        let extra = listing.entries.iter().filter(|e| !known.contains(&(e.id, e.offset)));
        merged.entries.extend(extra.copied().collect::<Vec<_>>());
    }
    packs
}

/// The entries of a pack that no kept snapshot reads from it: blobs not used. Every copy of
/// a used blob counts as used: a blob is stored twice when a backup found its first pack
/// lost at a site, and which copy is intact only reading them would tell (readers try each).
fn unused_entries<'a>(
    index: &Index,
    used: &HashSet<BlobId>,
    listing: &'a IndexPack,
) -> Vec<&'a chancery_format::pack::PackEntry> {
    let read_here = |id: &BlobId| index.locations(id).iter().any(|loc| loc.pack == listing.pack);
    listing.entries.iter().filter(|e| !(used.contains(&e.id) && read_here(&e.id))).collect()
}

/// Kept packs listed in a deleted index file and in no index file that stays: their entries
/// go into new index files.
fn carried_packs(
    files: &BTreeMap<ObjectId, IndexFile>,
    delete_index: &[ObjectId],
    deleted_packs: &HashSet<ObjectId>,
) -> BTreeSet<ObjectId> {
    let gone: HashSet<&ObjectId> = delete_index.iter().collect();
    let still_listed: HashSet<ObjectId> = files
        .iter()
        .filter(|(id, _)| !gone.contains(id))
        .flat_map(|(_, f)| f.packs.iter().map(|p| p.pack))
        .collect();
    delete_index
        .iter()
        .flat_map(|id| files[id].packs.iter().map(|p| p.pack))
        .filter(|p| !deleted_packs.contains(p) && !still_listed.contains(p))
        .collect()
}

/// Seals `packs` into index files of at most [`MAX_INDEX_ENTRIES`] entries each (a pack is
/// never split; a larger one gets a file of its own), sealed as a backup seals its own.
fn seal_index_files(keys: &Keys, packs: Vec<IndexPack>) -> Vec<(ObjectId, Vec<u8>)> {
    let mut groups: Vec<Vec<IndexPack>> = Vec::new();
    let mut entries = 0;
    for pack in packs {
        if groups.is_empty() || entries + pack.entries.len() > MAX_INDEX_ENTRIES {
            groups.push(Vec::new());
            entries = 0;
        }
        entries += pack.entries.len();
        groups.last_mut().expect("a group was just pushed").push(pack);
    }
    groups
        .into_iter()
        .map(|group| {
            let bytes = IndexFile::new(group).seal(keys);
            (ObjectId::of(&bytes), bytes)
        })
        .collect()
}

impl PrunePlan {
    /// True when the prune would change nothing.
    pub fn is_empty(&self) -> bool {
        self.delete_packs.is_empty() && self.delete_index.is_empty() && self.new_index.is_empty()
    }

    /// Opens this plan's new index files (they are sealed with the archive's keys).
    pub fn open_new_index(&self, archive: &Archive) -> Result<Vec<(ObjectId, IndexFile)>> {
        self.new_index
            .iter()
            .map(|(id, bytes)| {
                let file =
                    IndexFile::open(&archive.keys, bytes).map_err(|e| anyhow!("new index file: {e}"))?;
                Ok((*id, file))
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "prune_tests.rs"]
mod tests;
