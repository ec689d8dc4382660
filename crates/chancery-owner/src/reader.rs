//! Reading blobs for restore, ls and check: each blob is fetched by range from the first site
//! that gives a copy that verifies (AEAD tag and keyed id), falling back to the next site and
//! remembering which site gave a bad copy.

use crate::error::IntegrityError;
use crate::index::{BlobLoc, Index};
use crate::site::Site;
use anyhow::Result;
use chancery_format::blob::{open_blob, open_blob_reusing, BlobKind};
use chancery_format::keys::Keys;
use chancery_format::tree::Tree;
use chancery_format::ObjectId;
use chancery_format::{BlobId, FormatError};
use chancery_store::ObjectKind;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

mod in_flight;
mod tree_packs;
use in_flight::{Begin, PacksInFlight};
pub use tree_packs::{TreePacks, TREE_PACK_BYTES, TREE_PACK_READ};

/// Blobs of one pack less than this far apart are read in one request, gap included.
pub const MERGE_GAP: u64 = 1 << 20;
/// The longest range one prefetch request reads. Half a pack: each restore worker holds the
/// range it is reading on top of the cache, and 8 MiB instead of 32 MiB took a toolchain
/// restore's peak memory down by about 10 MiB at the same speed.
pub const MAX_RANGE: u64 = 8 << 20;
/// Bytes of fetched ranges kept for the next batches: a pack's blobs are in random order, so
/// the small files of one batch are spread over whole packs, which the next batches need too.
/// Measured on a toolchain restore (339 MiB stored): 32 MiB kept fetched 277 MiB in ranges,
/// 24 MiB fetched 373 MiB, 16 MiB fetched 1794 MiB. Packs read whole are kept here too, two
/// at a time at most ([`WHOLE_PACK_READ`]).
pub const RANGE_CACHE_BYTES: usize = 32 << 20;

/// A pack whose blobs end within this many bytes is read whole when a batch's ranges of it
/// would cover at least half of it. Half the range cache, so that the packs of neighbouring
/// batches fit in it together: a pack evicted while a worker still wants it would be read
/// again. Nearly every data pack qualifies (a toolchain's 26 packs are 15.75 MiB at most).
/// Each worker may hold one such read beyond the cache, where a range was 8 MiB at most.
pub const WHOLE_PACK_READ: u64 = RANGE_CACHE_BYTES as u64 / 2;

/// Whether a blob read alone may be taken from the ranges kept ([`BlobReader::kept_data`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kept {
    Use,
    /// The copy taken from them did not verify.
    Skip,
}

/// Ranges of packs read lately, oldest first.
#[derive(Default)]
struct RangeCache {
    ranges: std::collections::VecDeque<(ObjectId, u64, Arc<Vec<u8>>)>,
    bytes: usize,
}

impl RangeCache {
    /// A kept range of `pack` holding `start..end`: its start and bytes.
    fn find(&self, pack: &ObjectId, start: u64, end: u64) -> Option<(u64, Arc<Vec<u8>>)> {
        self.ranges
            .iter()
            .find(|(p, s, b)| p == pack && *s <= start && end <= s + b.len() as u64)
            .map(|(_, s, b)| (*s, b.clone()))
    }

    /// Drops the oldest ranges until `len` more bytes fit, before they are fetched: evicting
    /// only after an insert held the cache and the new range at once, 8 MiB over the cap for
    /// each worker fetching.
    fn make_room(&mut self, len: usize) {
        while self.bytes + len > RANGE_CACHE_BYTES {
            let Some((_, _, old)) = self.ranges.pop_front() else { return };
            self.bytes -= old.len();
        }
    }

    fn insert(&mut self, pack: ObjectId, start: u64, bytes: Arc<Vec<u8>>) {
        self.bytes += bytes.len();
        self.ranges.push_back((pack, start, bytes));
        while self.bytes > RANGE_CACHE_BYTES && self.ranges.len() > 1 {
            if let Some((_, _, old)) = self.ranges.pop_front() {
                self.bytes -= old.len();
            }
        }
    }
}

/// Entries of the trees kept parsed for the next reads: a tree shared by snapshots or read
/// again (a parent's, a checked one) is not fetched twice while it stays. Unbounded, the trees
/// of a `check` of two snapshots of 200,000 files held 64 MiB (about 160 bytes an entry).
pub const TREE_CACHE_NODES: usize = 64 * 1024;

/// Trees read lately, oldest first, up to [`TREE_CACHE_NODES`] entries (the newest is kept
/// whatever its size).
#[derive(Default)]
struct TreeCache {
    trees: HashMap<BlobId, Arc<Tree>>,
    order: std::collections::VecDeque<BlobId>,
    nodes: usize,
}

impl TreeCache {
    fn get(&self, id: &BlobId) -> Option<Arc<Tree>> {
        self.trees.get(id).cloned()
    }

    fn insert(&mut self, id: BlobId, tree: Arc<Tree>) {
        self.nodes += tree.nodes.len();
        if self.trees.insert(id, tree).is_some() {
            return self.nodes -= self.trees[&id].nodes.len(); // raced with another reader
        }
        self.order.push_back(id);
        while self.nodes > TREE_CACHE_NODES && self.order.len() > 1 {
            if let Some(old) = self.order.pop_front().and_then(|old| self.trees.remove(&old)) {
                self.nodes -= old.nodes.len();
            }
        }
    }
}

/// Splits blobs sorted by offset into runs that one range request each covers.
fn ranges(blobs: &[(BlobLoc, BlobId)]) -> Vec<&[(BlobLoc, BlobId)]> {
    let mut runs = Vec::new();
    let mut begin = 0;
    for i in 1..blobs.len() {
        let start = u64::from(blobs[begin].0.offset);
        let prev_end = u64::from(blobs[i - 1].0.offset) + u64::from(blobs[i - 1].0.length);
        let (offset, end) =
            (u64::from(blobs[i].0.offset), u64::from(blobs[i].0.offset) + u64::from(blobs[i].0.length));
        if offset.saturating_sub(prev_end) > MERGE_GAP || end - start > MAX_RANGE {
            runs.push(&blobs[begin..i]);
            begin = i;
        }
    }
    if !blobs.is_empty() {
        runs.push(&blobs[begin..]);
    }
    runs
}

/// Sealed data blobs fetched ahead by [`BlobReader::prefetch`]. They stay sealed (compressed)
/// until used: a restore batch's opened plaintext, all held until its last file was written,
/// was 28 MiB of a toolchain restore's 78 MiB heap peak; sealed, it is about a third of that.
#[derive(Default)]
pub struct Prefetched(HashMap<BlobId, Vec<u8>>);

impl Prefetched {
    /// Whether the blob was fetched (it may still fail to open).
    pub fn contains(&self, id: &BlobId) -> bool {
        self.0.contains_key(id)
    }
}

/// A bad copy found at one site while another site's copy served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteProblem {
    /// The site.
    pub site: String,
    /// The pack.
    pub pack: String,
    /// What went wrong.
    pub detail: String,
}

/// Verified blob reads with per-site fall-back.
pub struct BlobReader<'a> {
    sites: Vec<&'a Site>,
    keys: &'a Keys,
    index: &'a Index,
    problems: Mutex<Vec<SiteProblem>>,
    trees: Mutex<TreeCache>,
    ranges: Mutex<RangeCache>,
    tree_packs: TreePacks,
    whole_reads: PacksInFlight,
}

impl<'a> BlobReader<'a> {
    /// A reader that tries `sites` in order.
    pub fn new(sites: Vec<&'a Site>, keys: &'a Keys, index: &'a Index) -> Self {
        Self {
            sites,
            keys,
            index,
            problems: Mutex::default(),
            trees: Mutex::default(),
            ranges: Mutex::default(),
            tree_packs: TreePacks::default(),
            whole_reads: PacksInFlight::default(),
        }
    }

    /// The index in use.
    pub fn index(&self) -> &Index {
        self.index
    }

    /// A blob's verified plaintext.
    pub fn read(&self, kind: BlobKind, id: &BlobId) -> Result<Vec<u8>> {
        Ok(self.read_from(kind, id, Vec::new(), Kept::Use)?.0)
    }

    /// [`Self::read`], decompressing into `spare`, a buffer the caller is done with (see
    /// [`chancery_format::blob::open_blob_reusing`]).
    pub fn read_reusing(&self, kind: BlobKind, id: &BlobId, spare: Vec<u8>) -> Result<Vec<u8>> {
        Ok(self.read_from(kind, id, spare, Kept::Use)?.0)
    }

    /// A blob's verified plaintext and the name of the site that served it.
    fn read_from(
        &self,
        kind: BlobKind,
        id: &BlobId,
        mut spare: Vec<u8>,
        kept: Kept,
    ) -> Result<(Vec<u8>, &'a str)> {
        let Some(loc) = self.index.get(id).filter(|l| l.kind == kind) else {
            let site = self.sites.first().map(|s| s.name().to_string()).unwrap_or_default();
            return Err(IntegrityError {
                site,
                object: format!("blob {}", id.to_hex()),
                detail: "not in any index".into(),
            }
            .into());
        };
        let mut failures = Vec::new();
        // Each pack it is in, at each site: a blob stored again after its pack was lost is in
        // a later one.
        for at in self.index.locations(id).iter().filter(|at| at.kind == kind) {
            for site in &self.sites {
                match self.read_at(site, at, id, std::mem::take(&mut spare), kept) {
                    Ok(plain) => return Ok((plain, site.name())),
                    Err(detail) => failures.push(self.note(site, at, detail)),
                }
            }
        }
        let detail =
            failures.iter().map(|p| format!("{}: {}", p.site, p.detail)).collect::<Vec<_>>().join("; ");
        let site = failures.first().map(|p| p.site.clone()).unwrap_or_default();
        Err(IntegrityError {
            site,
            object: format!("pack {} blob {}", loc.pack.to_hex(), id.short()),
            detail,
        }
        .into())
    }

    /// A tree, from the cache of those read lately (trees are shared between snapshots and
    /// read more than once).
    pub fn read_tree(&self, id: &BlobId) -> Result<Arc<Tree>> {
        if let Some(tree) = self.trees.lock().expect("tree cache").get(id) {
            return Ok(tree);
        }
        let (bytes, site) = self.read_from(BlobKind::Tree, id, Vec::new(), Kept::Use)?;
        let tree = Tree::from_bytes(&bytes).map_err(|e| -> anyhow::Error {
            match e {
                // Authentic but from a newer release: not a sign of tampering.
                FormatError::UnsupportedVersion { .. } => anyhow::anyhow!("tree {}: {e}", id.to_hex()),
                _ => IntegrityError {
                    site: site.into(),
                    object: format!("tree {}", id.to_hex()),
                    detail: e.to_string(),
                }
                .into(),
            }
        })?;
        let tree = Arc::new(tree);
        self.trees.lock().expect("tree cache").insert(*id, tree.clone());
        Ok(tree)
    }

    /// Whether [`Self::prefetch`] pays: it does at every kind of site. At a site server each
    /// request is a round trip; at a local folder each is an open, a stat, a read and a close,
    /// which for 20,000 small files took more time than one read per run of blobs (restore
    /// 1.13–1.23 s without prefetching, 1.00–1.08 s with it). An empty site list has nothing to
    /// prefetch from.
    pub fn prefetches(&self) -> bool {
        !self.sites.is_empty()
    }

    /// Fetches many data blobs with few requests: for each pack, the byte ranges of the blobs
    /// wanted, merged when less than [`MERGE_GAP`] apart (up to [`MAX_RANGE`] bytes), are read
    /// in one request each from the first site. One request per blob costs a signed HTTPS
    /// round trip each at a site server, which is what this saves. The blobs come back sealed
    /// and are opened by [`Self::open_prefetched`] when used.
    pub fn prefetch(&self, ids: &[BlobId]) -> Prefetched {
        let mut by_pack: HashMap<ObjectId, Vec<(BlobLoc, BlobId)>> = HashMap::new();
        for id in ids {
            if let Some(loc) = self.index.get(id).filter(|l| l.kind == BlobKind::Data) {
                by_pack.entry(loc.pack).or_default().push((loc, *id));
            }
        }
        let mut out = Prefetched::default();
        let Some(site) = self.sites.first() else { return out };
        for (pack, mut blobs) in by_pack {
            blobs.sort_by_key(|(loc, _)| loc.offset);
            blobs.dedup_by_key(|(_, id)| *id);
            if site.server.is_none() {
                self.read_blobs(site, &pack, &blobs, &mut out);
                continue;
            }
            blobs = self.left_after_cache(blobs, &mut out);
            if let Some(end) = self.whole_read_pays(&pack, &blobs) {
                blobs = self.fetch_whole(site, &pack, end, blobs, &mut out);
            }
            for run in ranges(&blobs) {
                self.fetch_run(site, &pack, run, &mut out);
            }
        }
        out
    }

    /// Reads exactly the blobs wanted from a local folder's pack, the file opened once. A
    /// read there costs a system call, not a round trip: merged ranges and the range cache
    /// would only hold memory (32 MiB of a toolchain restore's 61 MiB heap peak) to save reads
    /// the page cache serves.
    fn read_blobs(&self, site: &Site, pack: &ObjectId, blobs: &[(BlobLoc, BlobId)], out: &mut Prefetched) {
        let wanted: Vec<(u64, u64)> =
            blobs.iter().map(|(loc, _)| (u64::from(loc.offset), u64::from(loc.length))).collect();
        let Ok(sealed) = site.backend.get_ranges(ObjectKind::Pack, &pack.to_hex(), &wanted) else {
            return; // each blob is then read alone, with the fall-back to other sites
        };
        for ((_, id), bytes) in blobs.iter().zip(sealed) {
            out.0.insert(*id, bytes);
        }
    }

    /// A data blob's verified plaintext: opened from `fetched` when it holds a copy that
    /// verifies, else read alone by [`Self::read`], with its fall-back to other sites.
    pub fn open_prefetched(&self, fetched: &Prefetched, id: &BlobId) -> Result<Vec<u8>> {
        let Some(sealed) = fetched.0.get(id) else { return self.read(BlobKind::Data, id) };
        if let Ok(plain) = open_blob(self.keys, BlobKind::Data, id, sealed) {
            return Ok(plain);
        }
        // The kept range holds the same bad bytes; the site may serve good ones when asked
        // again (the damage was on the way), so it is.
        Ok(self.read_from(BlobKind::Data, id, Vec::new(), Kept::Skip)?.0)
    }

    /// Takes a blob's sealed bytes from a range read lately, if one holds it.
    fn take_cached(&self, loc: &BlobLoc, id: &BlobId, out: &mut Prefetched) -> bool {
        let Some(sealed) = self.cached_sealed(loc) else { return false };
        out.0.insert(*id, sealed);
        true
    }

    /// A blob's sealed bytes, copied out of a range read lately that holds it.
    fn cached_sealed(&self, loc: &BlobLoc) -> Option<Vec<u8>> {
        let (start, end) = (u64::from(loc.offset), u64::from(loc.offset) + u64::from(loc.length));
        let (from, bytes) = self.ranges.lock().expect("range cache").find(&loc.pack, start, end)?;
        Some(bytes[(start - from) as usize..(end - from) as usize].to_vec())
    }

    /// Where `pack`'s blobs end, when reading it whole pays for `blobs`: it is short enough to
    /// keep ([`WHOLE_PACK_READ`]) and the ranges that would read them cover half of it or more.
    fn whole_read_pays(&self, pack: &ObjectId, blobs: &[(BlobLoc, BlobId)]) -> Option<u64> {
        let end = self.index.blobs_end(pack).filter(|end| *end <= WHOLE_PACK_READ)?;
        let covered: u64 = ranges(blobs)
            .iter()
            .filter_map(|run| Some((run.first()?.0, run.last()?.0)))
            .map(|(first, last)| u64::from(last.offset) + u64::from(last.length) - u64::from(first.offset))
            .sum();
        (covered * 2 >= end).then_some(end)
    }

    /// Reads `pack` whole (its first `end` bytes) and takes `blobs` from it, unless another
    /// worker is reading it or has read it: then takes them from the range cache, once that
    /// read ended. Returns the blobs still to read (all of them when the whole read failed, or
    /// those evicted from the cache since).
    fn fetch_whole(
        &self,
        site: &Site,
        pack: &ObjectId,
        end: u64,
        blobs: Vec<(BlobLoc, BlobId)>,
        out: &mut Prefetched,
    ) -> Vec<(BlobLoc, BlobId)> {
        let claim = match self.whole_reads.begin(pack) {
            Begin::Read(claim) => claim,
            Begin::Refused => return blobs,
            Begin::Waited => return self.left_after_cache(blobs, out),
        };
        // Another worker's read may have ended between this one's look in the cache and its
        // claim.
        if self.ranges.lock().expect("range cache").find(pack, 0, end).is_some() {
            claim.succeeded();
            return self.left_after_cache(blobs, out);
        }
        self.ranges.lock().expect("range cache").make_room(end as usize);
        let whole = site.backend.get_range(ObjectKind::Pack, &pack.to_hex(), 0, end);
        let Some(bytes) = whole.ok().filter(|bytes| bytes.len() as u64 == end) else {
            return blobs; // the claim, dropped, ends the read as failed
        };
        for (loc, id) in &blobs {
            let at = loc.offset as usize..(loc.offset as usize + loc.length as usize);
            if let Some(sealed) = bytes.get(at) {
                out.0.insert(*id, sealed.to_vec());
            }
        }
        self.ranges.lock().expect("range cache").insert(*pack, 0, Arc::new(bytes));
        claim.succeeded();
        Vec::new()
    }

    /// The blobs a range read lately does not hold; those it holds go to `out`.
    fn left_after_cache(
        &self,
        blobs: Vec<(BlobLoc, BlobId)>,
        out: &mut Prefetched,
    ) -> Vec<(BlobLoc, BlobId)> {
        blobs.into_iter().filter(|(loc, id)| !self.take_cached(loc, id, out)).collect()
    }

    /// Reads one merged range and takes the sealed blobs in it.
    fn fetch_run(&self, site: &Site, pack: &ObjectId, run: &[(BlobLoc, BlobId)], out: &mut Prefetched) {
        let (Some((first, _)), Some((last, _))) = (run.first(), run.last()) else { return };
        let start = u64::from(first.offset);
        let end = u64::from(last.offset) + u64::from(last.length);
        self.ranges.lock().expect("range cache").make_room((end - start) as usize);
        let Ok(bytes) = site.backend.get_range(ObjectKind::Pack, &pack.to_hex(), start, end - start) else {
            return;
        };
        for (loc, id) in run {
            let from = (u64::from(loc.offset) - start) as usize;
            if let Some(sealed) = bytes.get(from..from + loc.length as usize) {
                out.0.insert(*id, sealed.to_vec());
            }
        }
        self.ranges.lock().expect("range cache").insert(*pack, start, Arc::new(bytes));
    }

    /// Bad copies met so far.
    pub fn problems(&self) -> Vec<SiteProblem> {
        self.problems.lock().expect("problems").clone()
    }

    fn read_at(
        &self,
        site: &Site,
        loc: &BlobLoc,
        id: &BlobId,
        spare: Vec<u8>,
        kept: Kept,
    ) -> Result<Vec<u8>, String> {
        let sealed = match self.sealed_tree(site, loc) {
            Some(sealed) => sealed?,
            None => {
                let from_kept = if kept == Kept::Use { self.kept_data(site, loc) } else { None };
                match from_kept {
                    Some(sealed) => sealed,
                    None => site
                        .backend
                        .get_range(ObjectKind::Pack, &loc.pack.to_hex(), loc.offset as u64, loc.length as u64)
                        .map_err(|e| e.to_string())?,
                }
            }
        };
        if sealed.len() != loc.length as usize {
            return Err(format!("pack truncated: blob {} cut short", id.short()));
        }
        open_blob_reusing(self.keys, loc.kind, id, sealed, spare)
            .map_err(|e| format!("blob {}: {e}", id.short()))
    }

    /// A tree blob's sealed bytes out of its whole pack ([`TreePacks`]), when `site` is a site
    /// server and the first site: its bytes are kept for the next trees, and a bad copy must be
    /// blamed on the site that gave it, not on the one tried after it. `None`, and the blob is
    /// read alone, otherwise (a read from a local folder is a system call, not a round trip).
    fn sealed_tree(&self, site: &Site, loc: &BlobLoc) -> Option<Result<Vec<u8>, String>> {
        if loc.kind != BlobKind::Tree || !self.is_first_server(site) {
            return None;
        }
        self.tree_packs.sealed(site.backend.as_ref(), loc, self.index.blobs_end(&loc.pack)?)
    }

    /// A data blob's sealed bytes from the ranges the prefetches kept, when `site` is the one
    /// they read from (the first, a site server). A large file's chunks are read one by one,
    /// and some lie in a pack read whole or in part for the small files of a batch. A stable
    /// toolchain's restore from one loopback server, three runs each on one archive: 426-435 MB
    /// fetched for 346 MB of packs before, 416-421 MB after, in 508-516 requests (was 524-548).
    fn kept_data(&self, site: &Site, loc: &BlobLoc) -> Option<Vec<u8>> {
        if loc.kind != BlobKind::Data || !self.is_first_server(site) {
            return None;
        }
        self.cached_sealed(loc)
    }

    /// Whether `site` is a site server and the first site, the one whose reads are kept.
    fn is_first_server(&self, site: &Site) -> bool {
        site.server.is_some() && self.sites.first().is_some_and(|first| std::ptr::eq(*first, site))
    }

    fn note(&self, site: &Site, loc: &BlobLoc, detail: String) -> SiteProblem {
        let problem = SiteProblem { site: site.name().to_string(), pack: loc.pack.to_hex(), detail };
        let mut problems = self.problems.lock().expect("problems");
        if !problems.contains(&problem) {
            problems.push(problem.clone());
        }
        problem
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(offset: u32, length: u32, n: u8) -> (BlobLoc, BlobId) {
        let loc =
            BlobLoc { kind: BlobKind::Data, pack: ObjectId([0; 32]), offset, length, raw_length: length };
        (loc, BlobId([n; 32]))
    }

    #[test]
    fn the_range_cache_makes_room_before_a_fetch_and_stays_within_its_bytes() {
        let mut cache = RangeCache::default();
        let quarter = RANGE_CACHE_BYTES / 4;
        for n in 0..4u8 {
            cache.insert(ObjectId([n; 32]), 0, Arc::new(vec![n; quarter]));
        }
        assert_eq!(cache.bytes, RANGE_CACHE_BYTES);
        cache.make_room(quarter + 1);
        assert_eq!(cache.bytes, RANGE_CACHE_BYTES / 2, "the two oldest dropped");
        assert!(cache.find(&ObjectId([0; 32]), 0, 1).is_none());
        assert!(cache.find(&ObjectId([3; 32]), 0, quarter as u64).is_some());
        assert!(cache.find(&ObjectId([3; 32]), 0, quarter as u64 + 1).is_none(), "past the range");
        cache.insert(ObjectId([9; 32]), 0, Arc::new(vec![9; RANGE_CACHE_BYTES + 1]));
        assert_eq!(cache.bytes, RANGE_CACHE_BYTES + 1, "one range longer than the cap is kept alone");
        cache.make_room(RANGE_CACHE_BYTES * 2);
        assert_eq!(cache.bytes, 0);
    }

    fn tree(entries: usize) -> Arc<Tree> {
        let node = |i: usize| chancery_format::tree::Node {
            name: format!("f{i}").into_bytes(),
            kind: chancery_format::tree::NodeKind::Fifo,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 0,
            mtime_sec: 0,
            mtime_nsec: 0,
            ctime_sec: 0,
            ctime_nsec: 0,
            inode: 0,
            dev: 0,
            nlink: 1,
            xattrs: Vec::new(),
        };
        Arc::new(Tree {
            version: chancery_format::tree::TREE_VERSION,
            nodes: (0..entries).map(node).collect(),
        })
    }

    #[test]
    fn the_tree_cache_keeps_the_newest_trees_within_its_entries() {
        let mut cache = TreeCache::default();
        let half = TREE_CACHE_NODES / 2;
        for n in 0..3u8 {
            cache.insert(BlobId([n; 32]), tree(half));
        }
        assert!(cache.get(&BlobId([0; 32])).is_none(), "the oldest made room");
        assert!(cache.get(&BlobId([1; 32])).is_some() && cache.get(&BlobId([2; 32])).is_some());
        assert_eq!(cache.nodes, TREE_CACHE_NODES);
        cache.insert(BlobId([2; 32]), tree(half));
        assert_eq!((cache.nodes, cache.order.len()), (TREE_CACHE_NODES, 2), "a second insert counts once");
        cache.insert(BlobId([9; 32]), tree(TREE_CACHE_NODES + 1));
        assert_eq!(cache.order.len(), 1, "a tree larger than the cache is kept alone");
        assert!(cache.get(&BlobId([9; 32])).is_some());
    }

    #[test]
    fn near_blobs_share_a_request_and_far_or_long_runs_do_not() {
        let (mib, max) = (1u32 << 20, MAX_RANGE as u32);
        let blobs = [
            blob(0, 100, 1),
            blob(200, 100, 2),
            blob(200 + mib, 100, 3),           // a gap of just under 1 MiB: merged
            blob(3 * mib, 100, 4),             // far: a new request
            blob(3 * mib + 100, max - 200, 5), // the run spans MAX_RANGE - 100 bytes: one request
            blob(3 * mib + max, 2 * mib, 6),   // the run would pass MAX_RANGE: a new request
        ];
        let runs: Vec<Vec<u8>> =
            ranges(&blobs).iter().map(|r| r.iter().map(|(_, id)| id.0[0]).collect()).collect();
        assert_eq!(runs, vec![vec![1, 2, 3], vec![4, 5], vec![6]]);
        assert!(ranges(&[]).is_empty());
    }
}
