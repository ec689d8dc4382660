//! `check`: the structure and integrity of each site on its own, without falling back to
//! other sites: every index file and snapshot opens, every indexed pack is present, every tree
//! of every snapshot decrypts, every blob is indexed; with read-data, every (or a sample of)
//! pack is read whole and checked against its name, its header and each of its blobs. The
//! site's ledger must verify, and its snapshots must be exactly those the ledger says it holds.

use crate::archive::Archive;
use crate::index::{read_index_file, Index};
use crate::objects::list_ids;
use crate::reader::BlobReader;
use crate::site::Site;
use crate::snapshots::{ledger_problems, load_snapshot};
use anyhow::Result;
use chancery_format::blob::verify_blob_in_place;
use chancery_format::keys::Keys;
use chancery_format::pack::PackEntry;
use chancery_format::pack_walk::walk_pack;
use chancery_format::tree::NodeKind;
use chancery_format::{BlobId, ObjectId};
use chancery_store::ObjectKind;
use rand::seq::SliceRandom;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// How much pack data to read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ReadData {
    /// Structure only.
    None,
    /// Every pack.
    All,
    /// A random sample of this percentage of packs.
    Subset(f64),
}

/// One problem found at one site.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Problem {
    /// The site.
    pub site: String,
    /// The object, kind and id.
    pub object: String,
    /// What is wrong.
    pub detail: String,
    /// Snapshots that need the object (short ids).
    pub snapshots: Vec<String>,
    #[serde(skip)]
    pack: Option<ObjectId>,
}

/// The result for one site.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SiteCheck {
    /// The site.
    pub site: String,
    /// Snapshots found.
    pub snapshots: usize,
    /// Packs found.
    pub packs: usize,
    /// Packs read whole.
    pub packs_read: usize,
    /// Bytes read.
    pub bytes_read: u64,
    /// Problems.
    pub problems: Vec<Problem>,
}

/// Checks one site (or all reachable ones).
pub fn check(archive: &Archive, site: Option<&str>, read_data: ReadData) -> Result<Vec<SiteCheck>> {
    let sites: Vec<&Site> = match site {
        Some(name) => vec![archive.site(name)?],
        None => archive.sites.iter().collect(),
    };
    sites.into_iter().map(|s| check_site(archive, s, read_data)).collect()
}

struct SiteRun<'a> {
    archive: &'a Archive,
    site: &'a Site,
    out: SiteCheck,
    uses: Vec<(ObjectId, HashSet<ObjectId>)>,
}

fn check_site(archive: &Archive, site: &Site, read_data: ReadData) -> Result<SiteCheck> {
    let mut run = SiteRun {
        archive,
        site,
        out: SiteCheck { site: site.name().into(), ..Default::default() },
        uses: Vec::new(),
    };
    if let Some(problem) = archive.ledger()?.problem(site.name()) {
        run.problem(None, problem.object, problem.detail);
    }
    let listed: HashSet<ObjectId> = list_ids(site, ObjectKind::Pack)?.into_iter().collect();
    run.out.packs = listed.len();
    let index = run.load_index()?;
    for pack in index.packs().iter().filter(|p| !listed.contains(p)) {
        run.problem(
            Some(*pack),
            format!("pack {}", pack.to_hex()),
            "missing: listed in an index file but not at the site",
        );
    }
    run.walk_snapshots(&index)?;
    run.read_packs(&index, &listed, read_data);
    run.attribute();
    Ok(run.out)
}

impl SiteRun<'_> {
    fn problem(&mut self, pack: Option<ObjectId>, object: String, detail: impl ToString) {
        let (site, detail) = (self.site.name().to_string(), detail.to_string());
        self.out.problems.push(Problem { site, object, detail, snapshots: Vec::new(), pack });
    }

    fn load_index(&mut self) -> Result<Index> {
        let mut index = Index::default();
        for id in list_ids(self.site, ObjectKind::Index)? {
            match read_index_file(self.site, &self.archive.keys, &id) {
                Ok(file) => index.add_file(id, &file),
                Err(e) => self.problem(None, format!("index {}", id.to_hex()), format!("{e:#}")),
            }
        }
        Ok(index)
    }

    fn walk_snapshots(&mut self, index: &Index) -> Result<()> {
        let reader = BlobReader::new(vec![self.site], &self.archive.keys, index);
        let ids = list_ids(self.site, ObjectKind::Snapshot)?;
        // Remarks that are no sign of tampering (a snapshot not yet recorded) are not problems.
        let forgotten = crate::governance::book::doomed(self.archive)?.snapshots;
        for p in ledger_problems(self.archive.ledger()?, &forgotten, self.site, &ids, &mut Vec::new()) {
            self.problem(None, p.object, p.detail);
        }
        for id in ids {
            self.out.snapshots += 1;
            match load_snapshot(self.archive, self.site, &id) {
                Ok(snap) => {
                    let mut packs = HashSet::new();
                    self.walk_tree(&reader, &snap.tree, &mut packs, &mut HashSet::new(), &id);
                    self.uses.push((id, packs));
                }
                Err(e) => self.problem(None, format!("snapshot {}", id.to_hex()), format!("{e:#}")),
            }
        }
        Ok(())
    }

    fn walk_tree(
        &mut self,
        reader: &BlobReader,
        tree_id: &BlobId,
        packs: &mut HashSet<ObjectId>,
        seen: &mut HashSet<BlobId>,
        snap: &ObjectId,
    ) {
        if !seen.insert(*tree_id) {
            return;
        }
        let Some(loc) = reader.index().get(tree_id) else {
            let what = format!("tree {}", tree_id.to_hex());
            return self.problem(
                None,
                what,
                format!("not in any index file (needed by snapshot {})", snap.short()),
            );
        };
        packs.insert(loc.pack);
        let tree = match reader.read_tree(tree_id) {
            Ok(tree) => tree,
            Err(e) => {
                return self.problem(
                    Some(loc.pack),
                    format!("pack {}", loc.pack.to_hex()),
                    format!("tree unreadable: {e:#}"),
                )
            }
        };
        for node in &tree.nodes {
            match &node.kind {
                NodeKind::Dir { subtree } => self.walk_tree(reader, subtree, packs, seen, snap),
                NodeKind::File { content } => self.note_content(reader.index(), content, packs, snap),
                _ => {}
            }
        }
    }

    fn note_content(
        &mut self,
        index: &Index,
        content: &[BlobId],
        packs: &mut HashSet<ObjectId>,
        snap: &ObjectId,
    ) {
        for id in content {
            match index.get(id) {
                Some(loc) => {
                    packs.insert(loc.pack);
                }
                None => self.problem(
                    None,
                    format!("blob {}", id.to_hex()),
                    format!("not in any index file (needed by snapshot {})", snap.short()),
                ),
            }
        }
    }

    fn read_packs(&mut self, index: &Index, listed: &HashSet<ObjectId>, read_data: ReadData) {
        let mut packs: Vec<ObjectId> = listed.iter().copied().collect();
        packs.sort();
        match read_data {
            ReadData::None => return,
            ReadData::All => {}
            ReadData::Subset(pct) => {
                let n = ((packs.len() as f64) * pct / 100.0).ceil() as usize;
                packs.shuffle(&mut rand::thread_rng());
                packs.truncate(n.min(packs.len()));
            }
        }
        let keys = &self.archive.keys;
        let outcomes = in_parallel(&packs, |buffers, pack| read_pack(self.site, keys, index, pack, buffers));
        for (pack, (read, verdict)) in packs.iter().zip(outcomes) {
            if let Some(len) = read {
                self.out.packs_read += 1;
                self.out.bytes_read += len;
            }
            if let Err(detail) = verdict {
                self.problem(Some(*pack), format!("pack {}", pack.to_hex()), detail);
            }
        }
    }

    /// Names, for each problem with a pack, the snapshots that need that pack.
    fn attribute(&mut self) {
        let uses: BTreeMap<ObjectId, Vec<String>> =
            self.uses.iter().fold(BTreeMap::new(), |mut acc, (snap, packs)| {
                for p in packs {
                    acc.entry(*p).or_default().push(snap.short());
                }
                acc
            });
        for problem in &mut self.out.problems {
            if let Some(snaps) = problem.pack.and_then(|p| uses.get(&p)) {
                problem.snapshots = snaps.clone();
            }
        }
    }
}

/// Packs read and verified at once: fetching one overlaps with verifying another (a site
/// server's round trip, a disk's read), and hashing and opening use every core. Measured on a
/// 4 GiB random file's packs: one at a time, 3.8 s from a local folder and 10-12 s from a site
/// server on loopback, one core busy.
const PACKS_AT_ONCE: usize = 4;

/// What one thread of `check` reuses from pack to pack: the window a pack is read through
/// (`walk_pack`), and the buffer its blobs are decompressed into. A pack is not held whole: a
/// thread holds a 1 MiB window (or the largest sealed blob) and the largest blob opened, and the
/// store's reader what it buffers (S3: a batch of about 1 MiB).
/// Check's own memory (RSS sampled once the key is open, without Argon2id's memory), 4 GiB of
/// random data, 3 runs each: each 16 MiB pack read whole into a fresh `Vec`, 68-69 MiB from a
/// folder and 93-100 MiB through a site server (as glibc kept or returned freed packs); into
/// one buffer kept per thread, 44 and 52 MiB; streamed, 15-16 and 21-22 MiB.
#[derive(Default)]
struct PackBuffers {
    window: Vec<u8>,
    blob: Vec<u8>,
}

/// `f` of each item on up to [`PACKS_AT_ONCE`] threads (fewer on fewer cores), each with its
/// own [`PackBuffers`]; the results in the items' order. Each thread holds one pack at a time.
fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&mut PackBuffers, &T) -> R + Sync) -> Vec<R> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = PACKS_AT_ONCE.min(cores).min(items.len());
    if threads <= 1 {
        let mut buffers = PackBuffers::default();
        return items.iter().map(|item| f(&mut buffers, item)).collect();
    }
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut buffers = PackBuffers::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let result = f(&mut buffers, item);
                    done.lock().expect("check results").push((i, result));
                }
            });
        }
    });
    let mut done = done.into_inner().expect("check results");
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, result)| result).collect()
}

/// Reads `pack` front to back and checks it against its name, its header and each of its
/// blobs (and the index's word on where they lie): the bytes read, if it could be read to its
/// end, and what is wrong with it, if anything. A pack that does not match its name is
/// reported as such, whatever else the walk found in it.
fn read_pack(
    site: &Site,
    keys: &Keys,
    index: &Index,
    pack: &ObjectId,
    buffers: &mut PackBuffers,
) -> (Option<u64>, Result<(), String>) {
    let PackBuffers { window, blob } = buffers;
    let walked =
        site.backend.get_reader(ObjectKind::Pack, &pack.to_hex()).map_err(|e| e.to_string()).and_then(
            |source| {
                let check_blob =
                    |e: &PackEntry, sealed: &mut [u8]| verify_blob(keys, index, pack, e, sealed, blob);
                walk_pack(keys, source, window, check_blob)
                    .map_err(|e| format!("could not be read to its end: {e}"))
            },
        );
    match walked {
        Ok(walked) if walked.id != *pack => (
            Some(walked.len),
            Err("content does not match its name (corrupted, truncated or altered)".into()),
        ),
        Ok(walked) => (Some(walked.len), walked.verdict.map_err(|e| e.to_string())),
        Err(e) => (None, Err(e)),
    }
}

/// Verifies one blob of `pack`: opened where it lies (`sealed`, not needed afterwards),
/// decompressed into `spare`, and where the index places it.
fn verify_blob(
    keys: &Keys,
    index: &Index,
    pack: &ObjectId,
    e: &PackEntry,
    sealed: &mut [u8],
    spare: &mut Vec<u8>,
) -> Result<(), String> {
    verify_blob_in_place(keys, e.kind, &e.id, sealed, spare)
        .map_err(|err| format!("blob {}: {err}", e.id.short()))?;
    if index.get(&e.id).is_some_and(|l| l.pack == *pack && (l.offset, l.length) != (e.offset, e.length)) {
        return Err(format!("blob {} lies elsewhere than its index file says", e.id.short()));
    }
    Ok(())
}
