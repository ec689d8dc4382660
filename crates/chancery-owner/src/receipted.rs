//! Which snapshots each site server has receipted in full: the snapshot object and all it
//! needs (`needs`). `status` and `snapshots` show this per site. It rests only on the
//! receipts kept locally, verified again, so it holds for a site that is unreachable now, and
//! it takes no site's word for what it lists. Local folders give no receipts: they are shown
//! as such, never as receipted.

use crate::archive::Archive;
use crate::config::{Endpoint, SiteConfig};
use crate::index::Index;
use crate::needs::{walk, NeedsCache, SnapshotNeeds};
use crate::reader::BlobReader;
use crate::receipts::Held;
use crate::site::Site;
use crate::snapshots::SnapshotEntry;
use anyhow::Result;
use chancery_format::ObjectId;
use chancery_store::ObjectKind;
use std::cell::OnceCell;
use std::collections::HashMap;

/// What one site has receipted.
#[derive(Clone, Debug)]
pub struct SiteReceipted {
    /// The site.
    pub site: String,
    /// How many objects it receipted; `None` for a local folder, which gives no receipts.
    pub receipts: Option<usize>,
    /// The snapshots it receipted in full, newest first.
    pub snapshots: Vec<ObjectId>,
}

/// How many receipted snapshots to find per site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// The newest one only (`status`).
    Newest,
    /// Every one (`snapshots`).
    All,
}

/// For every configured site, the snapshots of `list` (oldest first) it receipted in full.
pub fn receipted(
    archive: &Archive,
    list: &[SnapshotEntry],
    depth: Depth,
    warnings: &mut Vec<String>,
) -> Result<Vec<SiteReceipted>> {
    // Declared apart, in this order: the reader borrows the index and is dropped first.
    let index = OnceCell::new();
    let reader = OnceCell::new();
    let mut lookup = Lookup {
        archive,
        cache: NeedsCache::new(&archive.state_dir()),
        index: &index,
        reader: &reader,
        known: HashMap::new(),
        unusable: false,
    };
    let mut out = Vec::new();
    for config in &archive.config.sites {
        let receipts = held_at(archive, config, warnings)?;
        let snapshots = match &receipts {
            Some(held) => lookup.receipted_at(held, list, depth, warnings),
            None => Vec::new(),
        };
        out.push(SiteReceipted { site: config.name.clone(), receipts: receipts.map(|h| h.len()), snapshots });
    }
    Ok(out)
}

/// What a site has receipted; `None` for a local folder. A site server whose key does not
/// parse has no receipt file, and so has receipted nothing.
fn held_at(archive: &Archive, config: &SiteConfig, warnings: &mut Vec<String>) -> Result<Option<Held>> {
    if let Endpoint::Dir { .. } = config.endpoint {
        return Ok(None);
    }
    let Some(log) = archive.receipts.get(&config.name) else { return Ok(Some(Held::default())) };
    let loaded = log.load()?;
    warnings.extend(loaded.warnings);
    Ok(Some(loaded.held))
}

/// Snapshot needs, from the cache or worked out once per run; the index and tree reader
/// are loaded only if some snapshot's needs are not cached.
struct Lookup<'a> {
    archive: &'a Archive,
    cache: NeedsCache,
    index: &'a OnceCell<Index>,
    reader: &'a OnceCell<BlobReader<'a>>,
    known: HashMap<ObjectId, Option<SnapshotNeeds>>,
    /// The merged index could not be loaded: needs not cached cannot be worked out.
    unusable: bool,
}

impl<'a> Lookup<'a> {
    fn receipted_at(
        &mut self,
        held: &Held,
        list: &[SnapshotEntry],
        depth: Depth,
        warnings: &mut Vec<String>,
    ) -> Vec<ObjectId> {
        let mut found = Vec::new();
        // A snapshot object without a receipt settles it: no need to look at its packs.
        for entry in list.iter().rev().filter(|e| held.has(ObjectKind::Snapshot, &e.id)) {
            if self.needs(entry, warnings).is_some_and(|needs| needs.met_by(&entry.id, held)) {
                found.push(entry.id);
                if depth == Depth::Newest {
                    break;
                }
            }
        }
        found
    }

    fn needs(&mut self, entry: &SnapshotEntry, warnings: &mut Vec<String>) -> Option<&SnapshotNeeds> {
        if !self.known.contains_key(&entry.id) {
            let needs = self.cache.load(&entry.id).or_else(|| self.work_out(entry, warnings));
            self.known.insert(entry.id, needs);
        }
        self.known[&entry.id].as_ref()
    }

    fn work_out(&mut self, entry: &SnapshotEntry, warnings: &mut Vec<String>) -> Option<SnapshotNeeds> {
        let reader = self.reader(warnings)?;
        match walk(reader, &entry.snapshot) {
            Ok(needs) => {
                // Only a cache: if it cannot be written, the needs are worked out again next time.
                let _ = self.cache.store(&entry.id, &needs);
                Some(needs)
            }
            Err(e) => {
                warnings.push(format!(
                    "snapshot {}: cannot tell which packs it needs, so no site counts as having \
                     receipted it: {e:#}",
                    entry.id.short()
                ));
                None
            }
        }
    }

    fn reader(&mut self, warnings: &mut Vec<String>) -> Option<&'a BlobReader<'a>> {
        if let Some(reader) = self.reader.get() {
            return Some(reader);
        }
        if self.unusable {
            return None;
        }
        let sites: Vec<&'a Site> = self.archive.sites.iter().collect();
        match Index::load_union_cached(&sites, &self.archive.keys, &self.archive.index_cache()) {
            Ok((index, index_warnings)) => {
                warnings.extend(index_warnings);
                let index = self.index.get_or_init(|| index);
                Some(self.reader.get_or_init(|| BlobReader::new(sites, &self.archive.keys, index)))
            }
            Err(e) => {
                self.unusable = true;
                warnings.push(format!("cannot load the index to tell what snapshots need: {e:#}"));
                None
            }
        }
    }
}
