//! The in-memory index: where every known blob lies, merged from the index files of every
//! reachable site (their names are content hashes, so each is read once whichever site has it).

use crate::object_cache::ObjectCache;
use crate::objects::list_ids;
use crate::site::Site;
use anyhow::Result;
use chancery_format::blob::BlobKind;
use chancery_format::index::{IndexFile, IndexPack};
use chancery_format::keys::Keys;
use chancery_format::{BlobId, ObjectId};
use chancery_store::ObjectKind;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Where one blob lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobLoc {
    /// Data or tree.
    pub kind: BlobKind,
    /// The pack holding it.
    pub pack: ObjectId,
    /// Offset of the sealed blob in the pack.
    pub offset: u32,
    /// Length of the sealed blob.
    pub length: u32,
    /// Plaintext length.
    pub raw_length: u32,
}

/// A [`BlobLoc`] as the index keeps it: the pack by its number in [`Index::pack_ids`]. A
/// 32-byte pack id in every entry made the index of 200,000 blobs 21 MiB instead of 14.
#[derive(Clone, Copy, Debug)]
struct Entry {
    pack: u32,
    offset: u32,
    length: u32,
    raw_length: u32,
    kind: BlobKind,
}

/// An index loaded from the index files that some site holds intact.
#[derive(Default)]
pub struct Loaded {
    /// The index.
    pub index: Index,
    /// Bad copies met, naming their sites.
    pub warnings: Vec<String>,
    /// Index files no site holds intact, and why.
    pub unreadable: Vec<(ObjectId, anyhow::Error)>,
    /// The sites that list one of those, each with the first such file's error.
    pub listed_by: BTreeMap<String, String>,
    /// The sites whose own copy of an index file was read and found bad, each with the first.
    pub bad_copies: BTreeMap<String, String>,
}

/// Blob locations and the packs and index files they came from.
#[derive(Default, Debug)]
pub struct Index {
    blobs: HashMap<BlobId, Entry>,
    /// Other packs a blob is in, for a read whose first pack is lost or damaged everywhere
    /// (a backup stores again a blob whose pack a site lacks; empty in a healthy archive).
    others: HashMap<BlobId, Vec<Entry>>,
    /// Every pack met, by the number entries use.
    pack_ids: Vec<ObjectId>,
    pack_numbers: HashMap<ObjectId, u32>,
    packs: HashSet<ObjectId>,
    files: HashSet<ObjectId>,
    /// For each pack, the index files that list it (a site needs one of them to use it).
    listed_in: HashMap<ObjectId, Vec<ObjectId>>,
    /// For each pack, where its last blob ends (its length is the Padmé of that, FORMAT.md §6).
    pack_ends: HashMap<ObjectId, u64>,
}

impl Index {
    /// Adds one pack's entries.
    pub fn add_pack(&mut self, pack: &IndexPack) {
        self.packs.insert(pack.pack);
        let end = pack.entries.iter().map(|e| u64::from(e.offset) + u64::from(e.length)).max();
        let known = self.pack_ends.entry(pack.pack).or_default();
        *known = (*known).max(end.unwrap_or(0));
        let number = self.pack_number(pack.pack);
        for e in &pack.entries {
            let entry = Entry {
                pack: number,
                offset: e.offset,
                length: e.length,
                raw_length: e.raw_length,
                kind: e.kind,
            };
            match self.blobs.entry(e.id) {
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(entry);
                }
                std::collections::hash_map::Entry::Occupied(first) if first.get().pack != number => {
                    let others = self.others.entry(e.id).or_default();
                    if !others.iter().any(|o| o.pack == number) {
                        others.push(entry);
                    }
                }
                std::collections::hash_map::Entry::Occupied(_) => {}
            }
        }
    }

    /// The number entries use for `pack`, given on first sight.
    fn pack_number(&mut self, pack: ObjectId) -> u32 {
        *self.pack_numbers.entry(pack).or_insert_with(|| {
            self.pack_ids.push(pack);
            u32::try_from(self.pack_ids.len() - 1).expect("fewer than 2^32 packs")
        })
    }

    /// Loads every index file found at any of `sites`, each from the first site whose copy
    /// verifies. Bad copies are returned as warnings naming the site; a file no site holds
    /// intact is an error. Every copy read is a site's: for `audit`, which reports them.
    pub fn load_union(sites: &[&Site], keys: &Keys) -> Result<(Index, Vec<String>)> {
        Self::load_listed(sites, keys, None)
    }

    /// [`Self::load_union`], with each index file a site lists read from `cache` when it holds
    /// it intact, and kept there when fetched from a site server.
    pub fn load_union_cached(
        sites: &[&Site],
        keys: &Keys,
        cache: &ObjectCache,
    ) -> Result<(Index, Vec<String>)> {
        Self::load_listed(sites, keys, Some(cache))
    }

    fn load_listed(
        sites: &[&Site],
        keys: &Keys,
        cache: Option<&ObjectCache>,
    ) -> Result<(Index, Vec<String>)> {
        let loaded = Self::load_intact(sites, keys, cache)?;
        match loaded.unreadable.into_iter().next() {
            Some((_, error)) => Err(error),
            None => Ok((loaded.index, loaded.warnings)),
        }
    }

    /// [`Self::load_union_cached`], leaving out the index files that no site holds intact
    /// (returned with the sites that list them), for a caller that can leave those sites out.
    pub fn load_intact(sites: &[&Site], keys: &Keys, cache: Option<&ObjectCache>) -> Result<Loaded> {
        let mut holders: BTreeMap<ObjectId, Vec<&Site>> = BTreeMap::new();
        for site in sites {
            for id in list_ids(site, ObjectKind::Index)? {
                holders.entry(id).or_default().push(site);
            }
        }
        let mut loaded = Loaded::default();
        for (id, holders) in holders {
            let warned = loaded.warnings.len();
            let file = first_good(&holders, &mut loaded.warnings, |site| match cache {
                Some(cache) => open_index_file(site, keys, &id, &cache.get(site, &id)?),
                None => read_index_file(site, keys, &id),
            });
            // `first_good` tried the holders in order, one warning for each copy that failed.
            for (site, warning) in holders.iter().zip(&loaded.warnings[warned..]) {
                loaded.bad_copies.entry(site.name().to_string()).or_insert_with(|| warning.clone());
            }
            match file {
                Ok(file) => loaded.index.add_file(id, &file),
                Err(e) => {
                    for site in &holders {
                        loaded.listed_by.entry(site.name().to_string()).or_insert_with(|| format!("{e:#}"));
                    }
                    loaded.unreadable.push((id, e));
                }
            }
        }
        Ok(loaded)
    }

    /// Keeps only the packs that one of `files` lists: a blob elsewhere counts as absent, so
    /// no new snapshot builds on it (it is stored again).
    pub fn keep_listed_by(&mut self, files: &HashSet<ObjectId>) {
        let unlisted: HashSet<ObjectId> = (self.packs.iter())
            .filter(|pack| !self.listed_in(pack).iter().any(|file| files.contains(file)))
            .copied()
            .collect();
        self.drop_packs(&unlisted);
    }

    /// Forgets the packs a governance proposal deletes: a blob held only there counts as
    /// absent, so no new snapshot builds on it (it is stored again).
    pub fn drop_packs(&mut self, doomed: &HashSet<ObjectId>) {
        if doomed.is_empty() {
            return;
        }
        let pack_ids = &self.pack_ids;
        let kept = |entry: &Entry| !doomed.contains(&pack_ids[entry.pack as usize]);
        self.others.retain(|_, others| {
            others.retain(kept);
            !others.is_empty()
        });
        // A blob whose first pack goes is found in another, if it is in one.
        let others = &mut self.others;
        self.blobs.retain(|id, entry| {
            if kept(entry) {
                return true;
            }
            let Some(alternatives) = others.get_mut(id) else { return false };
            *entry = alternatives.remove(0);
            if alternatives.is_empty() {
                others.remove(id);
            }
            true
        });
        self.packs.retain(|p| !doomed.contains(p));
    }

    /// Adds an index file's packs.
    pub fn add_file(&mut self, id: ObjectId, file: &IndexFile) {
        if !self.files.insert(id) {
            return;
        }
        for pack in &file.packs {
            self.add_pack(pack);
            self.listed_in.entry(pack.pack).or_default().push(id);
        }
    }

    /// The index files that list a pack.
    pub fn listed_in(&self, pack: &ObjectId) -> &[ObjectId] {
        self.listed_in.get(pack).map_or(&[], Vec::as_slice)
    }

    /// The index files loaded.
    pub fn files(&self) -> &HashSet<ObjectId> {
        &self.files
    }

    /// Whether an index file is loaded.
    pub fn has_file(&self, id: &ObjectId) -> bool {
        self.files.contains(id)
    }

    /// Where a blob lies, if known: the first pack an index file listed it in.
    pub fn get(&self, id: &BlobId) -> Option<BlobLoc> {
        self.blobs.get(id).map(|e| self.loc(e))
    }

    /// Every place a blob lies, [`Self::get`]'s first.
    pub fn locations(&self, id: &BlobId) -> Vec<BlobLoc> {
        let others = self.others.get(id).map_or(&[][..], Vec::as_slice);
        self.blobs.get(id).into_iter().chain(others).map(|e| self.loc(e)).collect()
    }

    fn loc(&self, e: &Entry) -> BlobLoc {
        BlobLoc {
            kind: e.kind,
            pack: self.pack_ids[e.pack as usize],
            offset: e.offset,
            length: e.length,
            raw_length: e.raw_length,
        }
    }

    /// Whether a blob is known.
    pub fn contains(&self, id: &BlobId) -> bool {
        self.blobs.contains_key(id)
    }

    /// Whether a pack is described by some index file.
    pub fn has_pack(&self, pack: &ObjectId) -> bool {
        self.packs.contains(pack)
    }

    /// Every indexed pack.
    pub fn packs(&self) -> &HashSet<ObjectId> {
        &self.packs
    }

    /// A pack's length in bytes, as its index entries fix it: the writer pads a pack whose
    /// last blob ends at `E` to `padme(E)` bytes (FORMAT.md §6). Unlike a site's listing, this
    /// comes from the owner's own encrypted index, so a site cannot make it up.
    pub fn pack_len(&self, pack: &ObjectId) -> Option<u64> {
        self.pack_ends.get(pack).map(|end| chancery_format::padding::padme(*end))
    }

    /// Where a pack's last known blob ends: the bytes to read for all its blobs.
    pub fn blobs_end(&self, pack: &ObjectId) -> Option<u64> {
        self.pack_ends.get(pack).copied()
    }

    /// Number of known blobs.
    pub fn len(&self) -> usize {
        self.blobs.len()
    }

    /// True when no blob is known.
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }
}

/// Reads and verifies one index file from one site.
pub fn read_index_file(site: &Site, keys: &Keys, id: &ObjectId) -> Result<IndexFile> {
    let bytes = crate::objects::get_verified(site, ObjectKind::Index, id)?;
    open_index_file(site, keys, id, &bytes)
}

/// Decrypts index file `id`, whose bytes (already checked against its name) `site` lists.
fn open_index_file(site: &Site, keys: &Keys, id: &ObjectId, bytes: &[u8]) -> Result<IndexFile> {
    IndexFile::open(keys, bytes).map_err(|e| crate::objects::tampered(site, "index", id, e))
}

/// Runs `read` on each holder until one succeeds; failures become warnings.
pub fn first_good<T>(
    holders: &[&Site],
    warnings: &mut Vec<String>,
    read: impl Fn(&Site) -> Result<T>,
) -> Result<T> {
    let mut last = None;
    for site in holders {
        match read(site) {
            Ok(value) => return Ok(value),
            Err(e) => {
                warnings.push(format!("{e:#}"));
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no site holds the object")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chancery_format::pack::PackEntry;

    fn pack(n: u8, blobs: &[u8]) -> IndexPack {
        let entry = |(i, b): (usize, &u8)| PackEntry {
            kind: if *b == 0 { BlobKind::Tree } else { BlobKind::Data },
            id: BlobId([*b; 32]),
            offset: 4148 + 100 * i as u32,
            length: 100,
            raw_length: 59 + u32::from(*b),
        };
        IndexPack { pack: ObjectId([n; 32]), entries: blobs.iter().enumerate().map(entry).collect() }
    }

    #[test]
    fn entries_name_their_pack_and_the_first_pack_listing_a_blob_wins() {
        let mut index = Index::default();
        index.add_pack(&pack(1, &[0, 1, 2]));
        index.add_pack(&pack(2, &[2, 3]));
        let loc = index.get(&BlobId([2; 32])).unwrap();
        let want = BlobLoc {
            kind: BlobKind::Data,
            pack: ObjectId([1; 32]),
            offset: 4348,
            length: 100,
            raw_length: 61,
        };
        assert_eq!(loc, want);
        assert_eq!(index.get(&BlobId([3; 32])).unwrap().pack, ObjectId([2; 32]));
        assert_eq!(index.get(&BlobId([0; 32])).unwrap().kind, BlobKind::Tree);
        assert!(index.get(&BlobId([9; 32])).is_none());
        assert_eq!((index.len(), index.packs().len()), (4, 2));
        assert_eq!(index.pack_len(&ObjectId([2; 32])), Some(chancery_format::padding::padme(4348)));

        index.drop_packs(&HashSet::from([ObjectId([1; 32])]));
        assert_eq!(index.len(), 2, "blobs 2 and 3 lie outside the dropped pack");
        assert!(index.get(&BlobId([0; 32])).is_none());
        index.add_pack(&pack(1, &[0]));
        assert_eq!(
            index.get(&BlobId([0; 32])).unwrap().pack,
            ObjectId([1; 32]),
            "a pack seen again keeps its number"
        );
    }

    #[test]
    fn a_blob_in_several_packs_is_found_in_each_and_outlives_the_loss_of_one() {
        let mut index = Index::default();
        index.add_pack(&pack(1, &[5, 6]));
        index.add_pack(&pack(2, &[6]));
        index.add_pack(&pack(3, &[6]));
        index.add_pack(&pack(2, &[6]));
        let packs = |index: &Index, n| {
            index.locations(&BlobId([n; 32])).iter().map(|l| l.pack.0[0]).collect::<Vec<_>>()
        };
        assert_eq!(packs(&index, 6), [1, 2, 3], "the first listed first, each pack once");
        assert_eq!(packs(&index, 5), [1]);

        index.drop_packs(&HashSet::from([ObjectId([1; 32])]));
        assert_eq!(index.get(&BlobId([6; 32])).unwrap().pack, ObjectId([2; 32]), "found in the next pack");
        assert_eq!(packs(&index, 6), [2, 3]);
        assert!(index.get(&BlobId([5; 32])).is_none());
        index.keep_listed_by(&HashSet::new());
        assert!(index.locations(&BlobId([6; 32])).is_empty(), "no file lists a pack: every blob is absent");
    }
}
