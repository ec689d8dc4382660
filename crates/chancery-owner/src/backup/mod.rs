//! One backup: policy check, bring every reachable site up to date, walk the sources through
//! the pipeline, then per site: index file, durability barrier, snapshot, barrier.

mod filling;
mod pipeline;
pub(crate) mod prepare;
mod stream;
mod walk;

use crate::archive::Archive;
use crate::error::PolicyError;
use crate::fsmeta::at::{self, EntryAt};
use crate::index::Index;
use crate::ledger::Published;
use crate::needs::{NeedsCache, SnapshotNeeds};
use crate::progress::Progress;
use crate::reader::BlobReader;
use crate::site::Site;
use crate::snapshots::{list_snapshots, SnapshotEntry};
use anyhow::{bail, Context, Result};
use chancery_format::chunker::{Chunker, ChunkerParams};
use chancery_format::index::IndexFile;
use chancery_format::snapshot::{Snapshot, Summary, SNAPSHOT_VERSION};
use chancery_format::tree::{Node, NodeKind, Tree};
use chancery_format::{BlobId, ObjectId};
use chancery_store::ObjectKind;
use pipeline::{Pipeline, PipelineResult};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use walk::Walker;

pub use pipeline::{DATA_PACK_TARGET, TREE_PACK_TARGET};

/// What to back up.
#[derive(Clone, Debug, Default)]
pub struct BackupRequest {
    /// Files and folders; each becomes an entry of the snapshot's root, named by its last part.
    pub paths: Vec<PathBuf>,
    /// Read one stream from stdin instead, stored under this name.
    pub stdin_name: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
}

/// What a backup did.
#[derive(Debug, serde::Serialize)]
pub struct BackupReport {
    /// The new snapshot's id.
    pub snapshot: String,
    /// Its counts.
    pub summary: SummaryView,
    /// Sites that now hold it.
    pub stored_at: Vec<String>,
    /// Sites that do not, and why.
    pub lagging: BTreeMap<String, String>,
    /// Unreadable sources and bad copies met on the way.
    pub warnings: Vec<String>,
    /// Whether at least the policy's minimum number of sites hold it.
    pub quorum_met: bool,
    /// Pack bytes written, all sites together (packs a site already had are not sent again).
    pub bytes_uploaded: u64,
    /// The ledger checkpoint that records the snapshot, and who cosigned it.
    pub ledger: Option<Published>,
    /// Tampering found at a site while publishing the ledger (the CLI exits 10).
    pub integrity: Vec<String>,
}

/// Summary counts, serialisable.
#[derive(Debug, serde::Serialize)]
pub struct SummaryView {
    /// Regular files.
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Bytes of file content.
    pub bytes: u64,
    /// Bytes actually read.
    pub bytes_read: u64,
    /// New blobs.
    pub new_blobs: u64,
    /// Plaintext bytes of new blobs.
    pub new_bytes: u64,
    /// Entries left out.
    pub errors: u64,
}

/// Runs a backup of `request` to every reachable site.
pub fn backup(archive: &Archive, request: &BackupRequest, progress: &Progress) -> Result<BackupReport> {
    let policy = crate::policy::check(&archive.config);
    if !policy.ok() {
        return Err(PolicyError { violations: policy.violations }.into());
    }
    let root_names = check_sources(request)?;
    let mut lagging: BTreeMap<String, String> =
        archive.unreachable.iter().map(|u| (u.config.name.clone(), u.reason.clone())).collect();
    if archive.sites.is_empty() {
        bail!("no site is reachable: {}", describe(&lagging));
    }
    let mut warnings = Vec::new();
    let prepare::Prepared { sites, mut index, unwitnessed } =
        prepare::bring_up_to_date(archive, &mut lagging, &mut warnings)?;
    let index_cache = archive.index_cache();
    // Cached index files no site lists any more (a deletion rewrote them) go.
    index_cache.retain(index.files());
    // What a governance proposal deletes is no base for this snapshot.
    let doomed = crate::governance::book::doomed(archive)?;
    index.drop_packs(&doomed.packs);
    let existing = list_snapshots(archive, &mut warnings)?;
    // This backup starts the ledger with every existing snapshot in it, and records the one a
    // stopped run left unrecorded: no need to warn about either.
    warnings.retain(|w| w != crate::snapshots::NO_LEDGER_YET && !w.contains(crate::snapshots::PENDING_MARK));
    let parents: Vec<SnapshotEntry> =
        existing.iter().filter(|e| !doomed.snapshots.contains(&e.id)).cloned().collect();
    let parent = find_parent(request, &parents);
    let started = std::time::SystemTime::now();
    let (tree, summary, walk_warnings, result) =
        run_pipeline(archive, &sites, &index, &parent, request, &root_names, progress)?;
    warnings.extend(walk_warnings);
    lagging.extend(result.failed_sites.clone());
    let snapshot =
        new_snapshot(archive, request, started, tree, parent.as_ref().map(|p| p.id), summary.clone());
    let snapshot_bytes = snapshot.seal(&archive.keys);
    let snapshot_id = ObjectId::of(&snapshot_bytes);
    let new_packs: Vec<ObjectId> = result.packs.iter().map(|p| p.pack).collect();
    // A backup that found everything already stored writes no index file.
    let index_bytes = (!result.packs.is_empty()).then(|| IndexFile::new(result.packs).seal(&archive.keys));
    let index_id = index_bytes.as_deref().map(ObjectId::of);
    if let Some(bytes) = &index_bytes {
        index_cache.keep_written(&sites, bytes);
    }
    archive.snapshot_cache().keep_written(&sites, &snapshot_bytes);
    crate::ledger::intend(archive, &snapshot_id)?;
    let stored_at = commit_all(&sites, &mut lagging, index_bytes.as_deref(), &snapshot_bytes);
    let mut integrity = Vec::new();
    for site in &unwitnessed {
        warnings.push(format!(
            "site {site} is not given the ledger: it lacks snapshots that no site holds whole \
             (`chancery check` names what is lost)"
        ));
    }
    let witnesses: Vec<&Site> = (sites.iter())
        .filter(|s| stored_at.iter().any(|n| n == s.name()) && !unwitnessed.iter().any(|n| n == s.name()))
        .collect();
    let ledger = match stored_at.is_empty() {
        true => None,
        false => {
            record_in_ledger(archive, &witnesses, (&existing, &snapshot_id), &mut warnings, &mut integrity)
        }
    };
    let needs = snapshot_needs(&index, &result.used_packs, &new_packs, index_id);
    // Only a cache: `status` works the needs out from the trees if it is missing.
    let _ = NeedsCache::new(&archive.state_dir()).store(&snapshot_id, &needs);
    for log in sites.iter().filter_map(|s| s.receipts.as_ref()) {
        // The ledger's objects went out after the snapshot's barrier emptied the file.
        if let Err(e) = log.clear_sent_if_answered() {
            warnings.push(format!("{e:#}"));
        }
        warnings.extend(log.take_problems());
    }
    let quorum_met = stored_at.len() >= archive.config.policy.min_sites;
    Ok(BackupReport {
        snapshot: snapshot_id.to_hex(),
        summary: view(&summary),
        stored_at,
        lagging,
        warnings,
        quorum_met,
        bytes_uploaded: Progress::get(&progress.bytes_uploaded),
        ledger,
        integrity,
    })
}

/// Records the snapshot in the ledger and publishes it to `holders`, the sites that hold it
/// and every snapshot before it; what goes wrong becomes a warning, or an integrity problem
/// when a site proves tampered with.
fn record_in_ledger(
    archive: &Archive,
    holders: &[&Site],
    (existing, snapshot): (&[SnapshotEntry], &ObjectId),
    warnings: &mut Vec<String>,
    integrity: &mut Vec<String>,
) -> Option<Published> {
    let recorded = crate::ledger::snapshot_events(archive, existing, snapshot)
        .and_then(|events| crate::ledger::record(archive, events, holders));
    let published = match recorded {
        Ok(published) => published,
        Err(e) if e.is::<crate::error::IntegrityError>() => {
            integrity.push(format!("{e:#}"));
            return None;
        }
        Err(e) => {
            warnings.push(format!("the snapshot is stored but not yet in the ledger: {e:#}"));
            return None;
        }
    };
    for (site, why) in &published.failed {
        warnings.push(format!("site {site} did not witness the ledger: {why}"));
    }
    let quorum = crate::ledger::quorum(&archive.config);
    if published.cosigned_by.len() < quorum {
        warnings.push(format!(
            "the ledger checkpoint (size {}) is cosigned by {} of the {quorum} site servers needed; \
             run `chancery sync` when the others are back",
            published.size,
            published.cosigned_by.len()
        ));
    }
    Some(published)
}

fn describe(lagging: &BTreeMap<String, String>) -> String {
    lagging.iter().map(|(n, why)| format!("{n}: {why}")).collect::<Vec<_>>().join("; ")
}

/// Every source must exist before anything moves; root names must be unique.
fn check_sources(request: &BackupRequest) -> Result<Vec<Vec<u8>>> {
    if let Some(name) = &request.stdin_name {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            bail!("--stdin-name {name:?} must be a plain file name");
        }
        return Ok(vec![name.as_bytes().to_vec()]);
    }
    if request.paths.is_empty() {
        bail!("nothing to back up: give one or more paths, or --stdin");
    }
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for path in &request.paths {
        std::fs::symlink_metadata(path).with_context(|| format!("cannot back up {}", path.display()))?;
        let name = root_name(path)?;
        if !names.insert(name.clone()) {
            bail!(
                "two sources are named {:?}; back them up in separate snapshots",
                String::from_utf8_lossy(&name)
            );
        }
        out.push(name);
    }
    Ok(out)
}

fn root_name(path: &Path) -> Result<Vec<u8>> {
    let absolute = std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))?;
    let normal: PathBuf = absolute.components().collect();
    match normal.file_name() {
        Some(name) => Ok(name.as_bytes().to_vec()),
        None => Ok(b"root".to_vec()),
    }
}

/// The newest snapshot of the same sources from this host: its unchanged files are not read.
fn find_parent(request: &BackupRequest, list: &[SnapshotEntry]) -> Option<SnapshotEntry> {
    if request.stdin_name.is_some() {
        return None;
    }
    let paths = source_paths(request);
    let host = hostname();
    list.iter().rev().find(|e| e.snapshot.hostname == host && e.snapshot.paths == paths).cloned()
}

fn source_paths(request: &BackupRequest) -> Vec<Vec<u8>> {
    if let Some(name) = &request.stdin_name {
        return vec![format!("<stdin>/{name}").into_bytes()];
    }
    request
        .paths
        .iter()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()).as_os_str().as_bytes().to_vec())
        .collect()
}

type Walked = (BlobId, Summary, Vec<String>, PipelineResult);

fn run_pipeline(
    archive: &Archive,
    sites: &[Site],
    index: &Index,
    parent: &Option<SnapshotEntry>,
    request: &BackupRequest,
    root_names: &[Vec<u8>],
    progress: &Progress,
) -> Result<Walked> {
    let site_refs: Vec<&Site> = sites.iter().collect();
    let reader = BlobReader::new(site_refs, &archive.keys, index);
    let mut warnings = Vec::new();
    let parent_root = match parent.as_ref().map(|p| reader.read_tree(&p.snapshot.tree)) {
        Some(Ok(tree)) => Some(tree),
        Some(Err(e)) => {
            warnings.push(format!("parent snapshot unreadable, reading every file again: {e:#}"));
            None
        }
        None => None,
    };
    std::thread::scope(|scope| {
        let mut pipeline = Pipeline::start(scope, &archive.keys, index, sites, progress);
        let mut walker = Walker {
            pipeline: &mut pipeline,
            parent: parent.as_ref().map(|_| &reader),
            chunker: Chunker::new(archive.keys.chunker_key(), ChunkerParams::default()),
            progress,
            buf: Vec::new(),
            summary: Summary::default(),
            warnings,
            hardlinks: HashMap::new(),
            depth: 0,
            max_depth: usize::MAX,
        };
        let walked = walk_roots(&mut walker, request, root_names, parent_root.as_deref());
        let (summary, walk_warnings) =
            (std::mem::take(&mut walker.summary), std::mem::take(&mut walker.warnings));
        let new_blobs = pipeline.new_blobs();
        let result = pipeline.finish()?;
        let tree = walked?;
        let mut summary = summary;
        summary.new_blobs = new_blobs;
        summary.new_bytes = crate::progress::Progress::get(&progress.new_bytes);
        Ok((tree, summary, walk_warnings, result))
    })
}

fn walk_roots(
    walker: &mut Walker,
    request: &BackupRequest,
    names: &[Vec<u8>],
    parent: Option<&Tree>,
) -> Result<BlobId> {
    let mut nodes = Vec::new();
    if let Some(name) = &request.stdin_name {
        nodes.push(stdin_node(walker, name)?);
    } else {
        walker.max_depth = at::raise_open_file_limit();
        for (path, name) in request.paths.iter().zip(names) {
            let parent_node = parent.and_then(|t| t.find(name));
            if let Some(node) = walker.entry(&EntryAt::path(path), name, parent_node)? {
                nodes.push(node);
            }
        }
    }
    walker.store_tree(Tree::new(nodes))
}

fn stdin_node(walker: &mut Walker, name: &str) -> Result<Node> {
    use std::os::fd::AsFd;
    stream::widen_pipe(std::io::stdin().as_fd());
    let (content, size) = walker.chunks(std::io::stdin().lock(), None)?.context("reading stdin")?;
    walker.summary.files += 1;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let (uid, gid) = (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
    Ok(Node {
        name: name.as_bytes().to_vec(),
        kind: NodeKind::File { content },
        mode: 0o600,
        uid,
        gid,
        size,
        mtime_sec: now.as_secs() as i64,
        mtime_nsec: now.subsec_nanos(),
        ctime_sec: now.as_secs() as i64,
        ctime_nsec: now.subsec_nanos(),
        inode: 0,
        dev: 0,
        nlink: 1,
        xattrs: Vec::new(),
    })
}

fn new_snapshot(
    archive: &Archive,
    request: &BackupRequest,
    started: std::time::SystemTime,
    tree: BlobId,
    parent: Option<ObjectId>,
    summary: Summary,
) -> Snapshot {
    let since = started.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Snapshot {
        version: SNAPSHOT_VERSION,
        repo_id: archive.repo_id,
        time_sec: since.as_secs() as i64,
        time_nsec: since.subsec_nanos(),
        hostname: hostname(),
        username: std::env::var("USER").unwrap_or_default(),
        paths: source_paths(request),
        tags: request.tags.clone(),
        tree,
        parent,
        summary,
    }
}

/// Commits at every site that did not fail; returns those that now hold the snapshot.
fn commit_all(
    sites: &[Site],
    lagging: &mut BTreeMap<String, String>,
    index_bytes: Option<&[u8]>,
    snapshot_bytes: &[u8],
) -> Vec<String> {
    let mut stored_at = Vec::new();
    let healthy: Vec<&Site> = sites.iter().filter(|s| !lagging.contains_key(s.name())).collect();
    for site in healthy {
        match commit(site, index_bytes, snapshot_bytes) {
            Ok(()) => stored_at.push(site.name().to_string()),
            Err(e) => {
                lagging.insert(site.name().to_string(), format!("{e:#}"));
            }
        }
    }
    stored_at
}

/// Per site: the index file, a barrier, the snapshot, a barrier. The snapshot object is the
/// commit point: it is never at a site before everything it needs is durable there, nor
/// before the receipts of those objects are durable here (a site server's barrier is also
/// the barrier of its receipt file).
fn commit(site: &Site, index_bytes: Option<&[u8]>, snapshot_bytes: &[u8]) -> Result<()> {
    let backend = &site.backend;
    backend.sync()?;
    if let Some(index_bytes) = index_bytes {
        backend.put(ObjectKind::Index, &ObjectId::of(index_bytes).to_hex(), index_bytes)?;
        backend.sync()?;
    }
    backend.put(ObjectKind::Snapshot, &ObjectId::of(snapshot_bytes).to_hex(), snapshot_bytes)?;
    backend.sync()?;
    if let Some(log) = &site.receipts {
        // Every object sent to the site in this run has its receipt now, unless a put's answer
        // or a receipt's line was lost. Left unemptied, the file only makes the next run ask
        // about objects that have receipts already.
        let _ = log.clear_sent_if_answered();
    }
    Ok(())
}

/// What the new snapshot needs at a site: the packs it shares with earlier snapshots, each
/// listed where the index says, and its new packs, listed in its new index file.
fn snapshot_needs(
    index: &Index,
    used_packs: &HashSet<ObjectId>,
    new_packs: &[ObjectId],
    index_file: Option<ObjectId>,
) -> SnapshotNeeds {
    let mut needs = SnapshotNeeds::of_packs(used_packs.iter().copied(), index);
    for pack in new_packs {
        needs.add(*pack, index_file.as_slice());
    }
    needs
}

fn view(s: &Summary) -> SummaryView {
    SummaryView {
        files: s.files,
        dirs: s.dirs,
        bytes: s.bytes,
        bytes_read: s.bytes_read,
        new_blobs: s.new_blobs,
        new_bytes: s.new_bytes,
        errors: s.errors,
    }
}

/// This machine's host name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}
