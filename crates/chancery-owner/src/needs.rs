//! What a snapshot needs at a site to be restored from that site alone: the snapshot object,
//! every pack that holds a blob it references, and for each of those packs an index file that
//! lists it. A blob's pack is the one the merged index names, which is the copy restore
//! reads. Snapshots never change, so this is worked out once per snapshot (by the backup that
//! makes it, or else by walking its trees) and cached in
//! `<state>/cache/snapshot-needs/<id>.json` (FORMAT.md §14.2).

use crate::index::Index;
use crate::reader::BlobReader;
use crate::receipts::Held;
use anyhow::{anyhow, Context, Result};
use chancery_format::snapshot::Snapshot;
use chancery_format::tree::NodeKind;
use chancery_format::{BlobId, ObjectId};
use chancery_store::ObjectKind;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// Version of a cached needs file.
pub const NEEDS_VERSION: u32 = 1;
/// Where the needs files are, inside the owner's state folder.
pub const NEEDS_CACHE_DIR: &str = "cache/snapshot-needs";

/// The objects a snapshot needs at a site, besides the snapshot object itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotNeeds {
    /// Each pack holding one of its blobs, with the index files that list that pack.
    pub packs: BTreeMap<ObjectId, Vec<ObjectId>>,
}

impl SnapshotNeeds {
    /// The needs of a snapshot whose blobs lie in `packs`, each listed where `index` says.
    pub fn of_packs(packs: impl IntoIterator<Item = ObjectId>, index: &Index) -> Self {
        let mut needs = SnapshotNeeds::default();
        for pack in packs {
            needs.add(pack, index.listed_in(&pack));
        }
        needs
    }

    /// Adds a pack and index files that list it.
    pub fn add(&mut self, pack: ObjectId, listed_in: &[ObjectId]) {
        let files = self.packs.entry(pack).or_default();
        for id in listed_in {
            if !files.contains(id) {
                files.push(*id);
            }
        }
    }

    /// Whether a site's receipts cover snapshot `id`: the snapshot object, every pack, and
    /// for every pack an index file that lists it.
    pub fn met_by(&self, id: &ObjectId, held: &Held) -> bool {
        held.has(ObjectKind::Snapshot, id)
            && self.packs.iter().all(|(pack, files)| {
                held.has(ObjectKind::Pack, pack) && files.iter().any(|f| held.has(ObjectKind::Index, f))
            })
    }
}

/// Works out a snapshot's needs by walking its trees; fails if a tree cannot be read or a
/// blob is in no index file (then no site can be said to hold the snapshot whole).
pub fn walk(reader: &BlobReader, snapshot: &Snapshot) -> Result<SnapshotNeeds> {
    let index = reader.index();
    let pack_of = |id: &BlobId| {
        index.get(id).map(|loc| loc.pack).ok_or_else(|| anyhow!("blob {} is in no index file", id.to_hex()))
    };
    let mut packs = HashSet::new();
    let (mut seen, mut stack) = (HashSet::new(), vec![snapshot.tree]);
    while let Some(tree_id) = stack.pop() {
        if !seen.insert(tree_id) {
            continue;
        }
        packs.insert(pack_of(&tree_id)?);
        for node in &reader.read_tree(&tree_id)?.nodes {
            match &node.kind {
                NodeKind::Dir { subtree } => stack.push(*subtree),
                NodeKind::File { content } => {
                    for id in content {
                        packs.insert(pack_of(id)?);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(SnapshotNeeds::of_packs(packs, index))
}

/// The needs files, one per snapshot.
#[derive(Clone, Debug)]
pub struct NeedsCache {
    dir: PathBuf,
}

/// A needs file: hex ids, so that it can be read by eye.
#[derive(Serialize, Deserialize)]
struct NeedsFile {
    v: u32,
    snapshot: String,
    packs: BTreeMap<String, Vec<String>>,
}

impl NeedsCache {
    /// The cache in an owner's state folder.
    pub fn new(state_dir: &Path) -> Self {
        Self { dir: state_dir.join(NEEDS_CACHE_DIR) }
    }

    fn path(&self, id: &ObjectId) -> PathBuf {
        self.dir.join(format!("{}.json", id.to_hex()))
    }

    /// The cached needs of a snapshot; `None` when absent or unreadable (then they are worked
    /// out again: this is a cache, never the only copy of anything).
    pub fn load(&self, id: &ObjectId) -> Option<SnapshotNeeds> {
        let bytes = std::fs::read(self.path(id)).ok()?;
        let file: NeedsFile = serde_json::from_slice(&bytes).ok()?;
        if file.v != NEEDS_VERSION || file.snapshot != id.to_hex() {
            return None;
        }
        let mut needs = SnapshotNeeds::default();
        for (pack, files) in &file.packs {
            let files: Option<Vec<ObjectId>> = files.iter().map(|f| ObjectId::from_hex(f)).collect();
            needs.add(ObjectId::from_hex(pack)?, &files?);
        }
        Some(needs)
    }

    /// Caches a snapshot's needs (atomically, so that a crash leaves no half file).
    pub fn store(&self, id: &ObjectId, needs: &SnapshotNeeds) -> Result<()> {
        let file = NeedsFile {
            v: NEEDS_VERSION,
            snapshot: id.to_hex(),
            packs: needs
                .packs
                .iter()
                .map(|(pack, files)| (pack.to_hex(), files.iter().map(ObjectId::to_hex).collect()))
                .collect(),
        };
        let bytes = serde_json::to_vec(&file).context("encoding snapshot needs")?;
        let path = self.path(id);
        crate::fsutil::write_atomic(&path, &bytes).with_context(|| format!("writing {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId([n; 32])
    }

    #[test]
    fn needs_are_met_only_with_the_snapshot_every_pack_and_an_index_for_each() {
        let mut needs = SnapshotNeeds::default();
        needs.add(id(1), &[id(10), id(11)]);
        needs.add(id(2), &[id(12)]);
        let mut held = Held::default();
        let snap = id(9);
        for (kind, n) in [(ObjectKind::Pack, 1), (ObjectKind::Pack, 2), (ObjectKind::Index, 11)] {
            held.insert(kind, id(n));
        }
        assert!(!needs.met_by(&snap, &held), "no receipt for the snapshot object");
        held.insert(ObjectKind::Snapshot, snap);
        assert!(!needs.met_by(&snap, &held), "pack 2 has no index file receipted");
        held.insert(ObjectKind::Index, id(12));
        assert!(needs.met_by(&snap, &held));
        held.insert(ObjectKind::Snapshot, id(8));
        assert!(!needs.met_by(&id(7), &held), "another snapshot");
    }

    #[test]
    fn the_cache_round_trips_and_refuses_what_it_cannot_trust() {
        let dir = tempfile::tempdir().unwrap();
        let cache = NeedsCache::new(dir.path());
        let mut needs = SnapshotNeeds::default();
        needs.add(id(1), &[id(10)]);
        assert_eq!(cache.load(&id(9)), None);
        cache.store(&id(9), &needs).unwrap();
        assert_eq!(cache.load(&id(9)), Some(needs.clone()));
        // A file copied under another snapshot's name, or of another version, is not used.
        let path = |n: u8| dir.path().join(NEEDS_CACHE_DIR).join(format!("{}.json", id(n).to_hex()));
        std::fs::copy(path(9), path(8)).unwrap();
        assert_eq!(cache.load(&id(8)), None);
        let text = std::fs::read_to_string(path(9)).unwrap().replace("\"v\":1", "\"v\":2");
        std::fs::write(path(9), text).unwrap();
        assert_eq!(cache.load(&id(9)), None);
    }
}
