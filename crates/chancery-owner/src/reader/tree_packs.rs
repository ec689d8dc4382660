//! Tree packs read whole from a site server. A walk of a snapshot's trees (a backup's parent, a
//! restore, a check, `ls`) otherwise costs a signed round trip per folder: a no-change backup
//! of a toolchain (1,459 folders) made 1,459 range requests of one tree pack, and took 1.1 s
//! against 0.5 s to a local folder. The trees of one folder's subtrees lie together (the writer
//! packs them as their walk ends), so a walk reads its tree packs about one at a time.
//!
//! The first tree wanted from a pack is read alone, so that reading one folder (`restore
//! --include`, one tree of `check`) does not fetch a whole pack; the second reads the pack
//! whole and keeps it. A pack whose whole read fails or comes back short (a site that lost its
//! end) has its trees read one by one from then on, each with the reader's fall-back to the
//! next site, rather than fetched whole again for every tree.

use crate::index::BlobLoc;
use crate::site::Site;
use chancery_format::ObjectId;
use chancery_store::ObjectKind;
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

/// Tree packs up to this many bytes (their blobs' end) are read whole. The writer closes tree
/// packs once they pass 4 MiB (`TREE_PACK_TARGET`), so nearly all are shorter; a longer one
/// (after a folder of a great many entries) has its trees read one by one.
pub const TREE_PACK_READ: u64 = 8 << 20;

/// Tree packs kept whole: a walk reads them about one at a time, and each is at most
/// [`TREE_PACK_READ`] (4 MiB for most).
pub const TREE_PACKS_KEPT: usize = 2;

/// The tree packs of one reader's first site.
#[derive(Default)]
pub struct TreePacks {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Packs read whole, oldest first, at most [`TREE_PACKS_KEPT`].
    kept: VecDeque<(ObjectId, Arc<Vec<u8>>)>,
    /// Packs one tree was read from alone.
    seen: HashSet<ObjectId>,
    /// Packs whose whole read failed or was short.
    one_by_one: HashSet<ObjectId>,
}

impl TreePacks {
    /// The sealed bytes of the tree at `loc` out of its whole pack, whose blobs end at `end`,
    /// read from `site`; `None` when the tree is to be read alone (the first wanted from its
    /// pack, a pack too long or that could not be read whole).
    pub fn sealed(&self, site: &Site, loc: &BlobLoc, end: u64) -> Option<Vec<u8>> {
        let range = loc.offset as usize..loc.offset as usize + loc.length as usize;
        {
            let mut state = self.state.lock().expect("tree packs");
            if let Some((_, bytes)) = state.kept.iter().find(|(pack, _)| *pack == loc.pack) {
                return bytes.get(range).map(<[u8]>::to_vec);
            }
            if end > TREE_PACK_READ || state.one_by_one.contains(&loc.pack) || state.seen.insert(loc.pack) {
                return None;
            }
        }
        let whole = site.backend.get_range(ObjectKind::Pack, &loc.pack.to_hex(), 0, end);
        let mut state = self.state.lock().expect("tree packs");
        match whole {
            Ok(bytes) if bytes.len() as u64 == end => {
                let sealed = bytes.get(range).map(<[u8]>::to_vec);
                if state.kept.len() == TREE_PACKS_KEPT {
                    state.kept.pop_front();
                }
                state.kept.push_back((loc.pack, Arc::new(bytes)));
                sealed
            }
            _ => {
                state.one_by_one.insert(loc.pack);
                None
            }
        }
    }
}
