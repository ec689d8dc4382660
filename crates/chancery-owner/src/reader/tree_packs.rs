//! Tree packs read whole from a site server. A walk of a snapshot's trees (a backup's parent, a
//! restore, a check, `ls`) otherwise costs a signed round trip per folder: a no-change backup
//! of a toolchain (1,459 folders) made 1,459 range requests of one tree pack, and took 1.1 s
//! against 0.5 s to a local folder. The trees of one folder's subtrees lie together (the writer
//! packs them as their walk ends), so a walk reads its tree packs about one at a time.
//!
//! The first tree wanted from a pack is read alone, so that a pack a walk wants one tree from
//! (the root of a snapshot whose other trees lie in older packs) is not fetched whole; the
//! second reads the pack whole and keeps it, the packs used last kept up to
//! [`TREE_PACK_BYTES`]. A pack whose whole read comes back short (a site that lost its end)
//! has its trees read one by one from then on, each with the reader's fall-back to the next
//! site, rather than fetched whole again for every tree.

use crate::index::BlobLoc;
use chancery_format::ObjectId;
use chancery_store::{Backend, ObjectKind};
use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// Tree packs up to this many bytes (their blobs' end) are read whole. The writer closes tree
/// packs once they pass 4 MiB (`TREE_PACK_TARGET`), so nearly all are shorter; a longer one
/// (after a folder of a great many entries) has its trees read one by one.
pub const TREE_PACK_READ: u64 = 8 << 20;

/// Bytes of tree packs kept whole, those used last: a walk of a snapshot made by many backups
/// goes back and forth between the newest pack (the root, the folders that changed) and the
/// older ones of unchanged subtrees. At least the pack just read is kept.
pub const TREE_PACK_BYTES: usize = 16 << 20;

/// The tree packs of one reader's first site.
#[derive(Default)]
pub struct TreePacks {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Packs read whole, the one used last at the back.
    kept: VecDeque<(ObjectId, Vec<u8>)>,
    /// Packs one tree was read from alone.
    seen: HashSet<ObjectId>,
    /// Packs whose whole read was short.
    one_by_one: HashSet<ObjectId>,
}

impl State {
    /// The sealed bytes at `loc` in a kept pack, which becomes the one used last.
    fn take(&mut self, loc: &BlobLoc) -> Option<Option<Vec<u8>>> {
        let at = self.kept.iter().position(|(pack, _)| *pack == loc.pack)?;
        let kept = self.kept.remove(at)?;
        let sealed = slice(&kept.1, loc);
        self.kept.push_back(kept);
        Some(sealed)
    }

    /// Keeps a pack read whole (unless another thread did meanwhile), dropping those used
    /// least lately beyond [`TREE_PACK_BYTES`].
    fn keep(&mut self, pack: ObjectId, bytes: Vec<u8>) {
        if self.kept.iter().any(|(kept, _)| *kept == pack) {
            return;
        }
        self.kept.push_back((pack, bytes));
        while self.kept.len() > 1 && self.kept.iter().map(|(_, b)| b.len()).sum::<usize>() > TREE_PACK_BYTES {
            self.kept.pop_front();
        }
    }
}

/// The bytes of the blob at `loc` in its pack's `bytes`, if they reach that far.
fn slice(bytes: &[u8], loc: &BlobLoc) -> Option<Vec<u8>> {
    let start = usize::try_from(loc.offset).ok()?;
    let end = start.checked_add(usize::try_from(loc.length).ok()?)?;
    bytes.get(start..end).map(<[u8]>::to_vec)
}

impl TreePacks {
    /// The sealed bytes of the tree at `loc`, out of its whole pack (whose blobs end at `end`)
    /// as `site` holds it: `None` when the tree is to be read alone (the first wanted from its
    /// pack; a pack too long, or whose whole read was short); an error when the site failed to
    /// answer (it is not asked for the tree again).
    pub fn sealed(&self, site: &dyn Backend, loc: &BlobLoc, end: u64) -> Option<Result<Vec<u8>, String>> {
        {
            let mut state = self.state.lock().expect("tree packs");
            if let Some(sealed) = state.take(loc) {
                return sealed.map(Ok);
            }
            if end > TREE_PACK_READ || state.one_by_one.contains(&loc.pack) || state.seen.insert(loc.pack) {
                return None;
            }
        }
        let whole = site.get_range(ObjectKind::Pack, &loc.pack.to_hex(), 0, end);
        let mut state = self.state.lock().expect("tree packs");
        match whole {
            Ok(bytes) if bytes.len() as u64 == end => {
                let sealed = slice(&bytes, loc);
                state.keep(loc.pack, bytes);
                sealed.map(Ok)
            }
            Ok(_) => {
                state.one_by_one.insert(loc.pack);
                None
            }
            Err(e) => Some(Err(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chancery_format::blob::BlobKind;
    use chancery_store::MemoryBackend;

    /// The blob of `length` bytes at `offset` of pack `n`.
    fn loc(n: u8, offset: u32, length: u32) -> BlobLoc {
        BlobLoc { kind: BlobKind::Tree, pack: ObjectId([n; 32]), offset, length, raw_length: length }
    }

    fn store(site: &MemoryBackend, n: u8, bytes: &[u8]) {
        let name = ObjectId([n; 32]).to_hex();
        let _ = site.delete(ObjectKind::Pack, &name);
        site.put(ObjectKind::Pack, &name, bytes).unwrap();
    }

    #[test]
    fn the_first_tree_is_read_alone_then_the_pack_whole_and_kept() {
        let (site, packs) = (MemoryBackend::new(), TreePacks::default());
        let pack: Vec<u8> = (0..100u8).collect();
        store(&site, 1, &pack);
        assert!(packs.sealed(&site, &loc(1, 0, 10), 100).is_none(), "the first tree: read alone");
        assert_eq!(packs.sealed(&site, &loc(1, 10, 5), 100).unwrap().unwrap(), pack[10..15]);
        site.delete(ObjectKind::Pack, &ObjectId([1; 32]).to_hex()).unwrap();
        assert_eq!(packs.sealed(&site, &loc(1, 90, 10), 100).unwrap().unwrap(), pack[90..], "kept");
        assert!(packs.sealed(&site, &loc(2, 0, 1), TREE_PACK_READ + 1).is_none(), "too long: alone");
        assert!(packs.sealed(&site, &loc(2, 0, 1), TREE_PACK_READ + 1).is_none());
    }

    #[test]
    fn a_pack_cut_short_is_read_one_tree_at_a_time_and_a_failure_is_the_sites() {
        let (site, packs) = (MemoryBackend::new(), TreePacks::default());
        store(&site, 1, &[7; 60]);
        assert!(packs.sealed(&site, &loc(1, 0, 10), 100).is_none());
        assert!(packs.sealed(&site, &loc(1, 10, 10), 100).is_none(), "short: read alone");
        store(&site, 1, &[7; 100]);
        assert!(packs.sealed(&site, &loc(1, 20, 10), 100).is_none(), "not fetched whole again");
        assert!(packs.sealed(&site, &loc(3, 0, 10), 100).is_none());
        assert!(packs.sealed(&site, &loc(3, 10, 10), 100).unwrap().is_err(), "no such pack");
    }

    #[test]
    fn packs_used_last_are_kept_within_their_bytes() {
        let (site, packs) = (MemoryBackend::new(), TreePacks::default());
        let len = TREE_PACK_BYTES / 2 - 1;
        for n in 1..=3 {
            store(&site, n, &vec![n; len]);
            assert!(packs.sealed(&site, &loc(n, 0, 1), len as u64).is_none());
            assert!(packs.sealed(&site, &loc(n, 1, 1), len as u64).is_some());
            if n == 2 {
                assert!(packs.sealed(&site, &loc(1, 2, 1), len as u64).is_some(), "pack 1 used last");
            }
        }
        let kept: Vec<u8> = packs.state.lock().unwrap().kept.iter().map(|(p, _)| p.0[0]).collect();
        assert_eq!(kept, vec![1, 3], "pack 2, used least lately, made room");
    }
}
