//! Restore: the snapshot's tree is walked on one thread, which creates every entry in order
//! (so hard links find their first name), while worker threads fetch, verify and write file
//! contents. Directory metadata is applied last, deepest first, so that writing children does
//! not change a directory's restored mtime and a read-only mode does not block its children.

use crate::archive::Archive;
use crate::fsmeta::{join_name, FileStart, Restorer, SparseWriter};
use crate::index::Index;
use crate::progress::Progress;
use crate::reader::{BlobReader, Prefetched, SiteProblem};
use crate::site::Site;
use crate::snapshots::{find_snapshot, list_snapshots};
use anyhow::{bail, Context, Result};
use chancery_format::blob::BlobKind;
use chancery_format::chunker::ChunkerParams;
use chancery_format::tree::{Node, NodeKind, Tree};
use chancery_format::BlobId;
use crossbeam_channel::{bounded, Receiver};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What to restore, and where.
#[derive(Clone, Debug)]
pub struct RestoreRequest {
    /// `latest` or an id prefix.
    pub snapshot: String,
    /// Folder to restore into (created if missing).
    pub target: PathBuf,
    /// Read from this site first.
    pub site: Option<String>,
    /// Only this path inside the snapshot.
    pub include: Option<PathBuf>,
}

/// What a restore did.
#[derive(Debug, Default, serde::Serialize)]
pub struct RestoreReport {
    /// The snapshot restored.
    pub snapshot: String,
    /// Files written.
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Bad copies met, each served from another site instead.
    pub bad_copies: Vec<String>,
    /// Metadata that could not be applied (e.g. ownership when not root).
    pub warnings: Vec<String>,
}

struct FileJob {
    path: PathBuf,
    node: Node,
    writer: SparseWriter,
}

/// Restores a snapshot, verifying every blob, falling back to the next site on a bad copy.
pub fn restore(archive: &Archive, request: &RestoreRequest, progress: &Progress) -> Result<RestoreReport> {
    let sites = read_order(archive, request.site.as_deref())?;
    let mut warnings = Vec::new();
    let list = list_snapshots(archive, &mut warnings)?;
    let entry = find_snapshot(&list, &request.snapshot)?;
    let (index, index_warnings) = Index::load_union_cached(&sites, &archive.keys, &archive.index_cache())?;
    warnings.extend(index_warnings);
    let reader = BlobReader::new(sites, &archive.keys, &index);
    let root = reader.read_tree(&entry.snapshot.tree)?;
    let (nodes, base) = select(&reader, &root, request.include.as_deref())?;
    let target = request.target.join(&base);
    std::fs::create_dir_all(&target).with_context(|| format!("creating {}", target.display()))?;
    let mut report = RestoreReport { snapshot: entry.id.to_hex(), ..Default::default() };
    run(&reader, &target, &nodes, progress, &mut report)?;
    report.bad_copies = reader.problems().iter().map(describe_problem).collect();
    report.warnings.extend(warnings);
    Ok(report)
}

fn describe_problem(p: &SiteProblem) -> String {
    format!("site {}: pack {}: {} (served from another site)", p.site, p.pack, p.detail)
}

/// Sites to read from: the requested one first, then the others in configuration order. A
/// site whose ledger failed verification is left out, and refused when asked for by name.
pub fn read_order<'a>(archive: &'a Archive, first: Option<&str>) -> Result<Vec<&'a Site>> {
    let ledger = archive.ledger()?;
    let mut sites: Vec<&Site> = archive.sites.iter().filter(|s| ledger.problem(s.name()).is_none()).collect();
    if let Some(name) = first {
        if let Some(problem) = ledger.problem(name) {
            return Err(problem.into());
        }
        let chosen = archive.site(name)?;
        sites.retain(|s| s.name() != name);
        sites.insert(0, chosen);
    }
    if sites.is_empty() {
        bail!("no site is reachable");
    }
    Ok(sites)
}

/// The nodes to restore and the folder (relative to the target) to put them in.
fn select(reader: &BlobReader, root: &Tree, include: Option<&Path>) -> Result<(Vec<Node>, PathBuf)> {
    let Some(include) = include else {
        return Ok((root.nodes.clone(), PathBuf::new()));
    };
    let parts: Vec<&[u8]> = include
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p.as_bytes()),
            _ => None,
        })
        .collect();
    let Some((last, dirs)) = parts.split_last() else {
        return Ok((root.nodes.clone(), PathBuf::new()));
    };
    let mut tree = Arc::new(root.clone());
    let mut base = PathBuf::new();
    for part in dirs {
        let node =
            tree.find(part).with_context(|| format!("{} is not in the snapshot", include.display()))?;
        let NodeKind::Dir { subtree } = &node.kind else {
            bail!("{} is not a folder in the snapshot", join_name(&base, part).display())
        };
        base = join_name(&base, part);
        tree = reader.read_tree(subtree)?;
    }
    let node = tree.find(last).with_context(|| format!("{} is not in the snapshot", include.display()))?;
    Ok((vec![node.clone()], base))
}

fn run(
    reader: &BlobReader,
    target: &Path,
    nodes: &[Node],
    progress: &Progress,
    report: &mut RestoreReport,
) -> Result<()> {
    let mut restorer = Restorer::new(Restorer::running_as_root());
    let errors: Mutex<Vec<anyhow::Error>> = Mutex::default();
    let meta_warnings: Mutex<Vec<String>> = Mutex::default();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let walked = std::thread::scope(|scope| -> Result<Vec<(PathBuf, Node)>> {
        let (tx, rx) = bounded::<Vec<FileJob>>(threads * 2);
        for _ in 0..threads {
            let rx: Receiver<Vec<FileJob>> = rx.clone();
            let (errors, meta_warnings) = (&errors, &meta_warnings);
            scope.spawn(move || write_files(reader, rx, progress, errors, meta_warnings));
        }
        let mut walk = Walk {
            reader,
            restorer: &mut restorer,
            jobs: tx,
            batch: Batch::default(),
            dirs: Vec::new(),
            report,
        };
        for node in nodes {
            walk.node(&join_name(target, &node.name), node)?;
        }
        walk.flush()?;
        Ok(walk.dirs)
    });
    let dirs = walked?;
    let mut errors = errors.into_inner().expect("errors");
    if let Some(first) = errors.drain(..).next() {
        return Err(first.context("restore incomplete"));
    }
    for (path, node) in dirs {
        report.warnings.extend(
            restorer
                .apply_metadata(&path, &node)
                .with_context(|| format!("setting metadata of {}", path.display()))?,
        );
    }
    report.warnings.extend(meta_warnings.into_inner().expect("warnings"));
    Ok(())
}

struct Walk<'r, 'a> {
    reader: &'r BlobReader<'a>,
    restorer: &'r mut Restorer,
    jobs: crossbeam_channel::Sender<Vec<FileJob>>,
    batch: Batch,
    dirs: Vec<(PathBuf, Node)>,
    report: &'r mut RestoreReport,
}

/// Files handed to one worker together.
#[derive(Default)]
struct Batch {
    jobs: Vec<FileJob>,
    bytes: u64,
}

impl Walk<'_, '_> {
    /// Hands the files gathered so far to a worker.
    fn flush(&mut self) -> Result<()> {
        let batch = std::mem::take(&mut self.batch);
        if batch.jobs.is_empty() {
            return Ok(());
        }
        self.jobs.send(batch.jobs).map_err(|_| anyhow::anyhow!("restore workers stopped"))
    }

    fn node(&mut self, path: &Path, node: &Node) -> Result<()> {
        let context = || format!("restoring {}", path.display());
        match &node.kind {
            NodeKind::Dir { subtree } => {
                self.restorer.create_dir(path).with_context(context)?;
                let tree = self.reader.read_tree(subtree)?;
                for child in &tree.nodes {
                    self.node(&join_name(path, &child.name), child)?;
                }
                self.dirs.push((path.to_path_buf(), node.clone()));
            }
            NodeKind::File { .. } => {
                self.report.files += 1;
                match self.restorer.begin_file(path, node).with_context(context)? {
                    FileStart::Linked => {}
                    FileStart::Write(writer) => {
                        self.report.bytes += node.size;
                        let job = FileJob { path: path.to_path_buf(), node: node.clone(), writer };
                        self.batch.bytes += node.size;
                        self.batch.jobs.push(job);
                        if self.batch.bytes >= BATCH_BYTES || self.batch.jobs.len() >= BATCH_FILES {
                            self.flush()?;
                        }
                    }
                }
            }
            _ => {
                match self.restorer.create_special(path, node) {
                    Ok(()) => {}
                    Err(e) => {
                        self.report.warnings.push(format!("{}: {e}", path.display()));
                        return Ok(());
                    }
                }
                let warnings = self.restorer.apply_metadata(path, node).with_context(context)?;
                self.report.warnings.extend(warnings);
            }
        }
        Ok(())
    }
}

/// The walk hands files to the workers in batches of about this many bytes of content. The
/// blobs of a batch's files up to this size are fetched together from a site server: few
/// requests per pack, bounded memory. A larger file's chunks (about 1 MiB each) are read one
/// request each: measured as fast, with half the memory.
const BATCH_BYTES: u64 = 16 << 20;
/// ... and of at most this many files (each holds an open file descriptor until written).
const BATCH_FILES: usize = 64;

fn write_files(
    reader: &BlobReader,
    jobs: Receiver<Vec<FileJob>>,
    progress: &Progress,
    errors: &Mutex<Vec<anyhow::Error>>,
    warnings: &Mutex<Vec<String>>,
) {
    let restorer = Restorer::new(Restorer::running_as_root());
    let prefetching = reader.prefetches();
    for batch in jobs {
        let ids: Vec<BlobId> = batch
            .iter()
            .filter(|j| j.node.size <= BATCH_BYTES)
            .flat_map(|j| content(&j.node))
            .copied()
            .collect();
        let fetched = if prefetching { reader.prefetch(&ids) } else { Prefetched::default() };
        for job in batch {
            let path = job.path.clone();
            match write_file(reader, &restorer, job, progress, &fetched) {
                Ok(w) => warnings.lock().expect("warnings").extend(w),
                Err(e) => {
                    errors.lock().expect("errors").push(e.context(format!("restoring {}", path.display())))
                }
            }
        }
    }
}

fn content(node: &Node) -> &[BlobId] {
    match &node.kind {
        NodeKind::File { content } => content,
        _ => &[],
    }
}

fn write_file(
    reader: &BlobReader,
    restorer: &Restorer,
    job: FileJob,
    progress: &Progress,
    fetched: &Prefetched,
) -> Result<Vec<String>> {
    let FileJob { path, node, mut writer } = job;
    let ids = content(&node);
    let mut write = |data: &[u8]| -> Result<()> {
        writer.write_chunk(data)?;
        Progress::add(&progress.bytes_read, data.len() as u64);
        Ok(())
    };
    if ids.len() >= DECODED_FILE_CHUNKS && !ids.iter().any(|id| fetched.contains(id)) {
        decode_ahead(reader, ids, write)?;
    } else {
        for id in ids {
            write(&reader.open_prefetched(fetched, id)?)?;
        }
    }
    let file = writer.finish_file(node.size)?;
    Progress::add(&progress.entries, 1);
    Ok(restorer.apply_file_metadata(&file, &path, &node)?)
}

/// A file of at least this many chunks (about 1 MiB each) is decoded by [`DECODERS`] threads
/// while it is written: one worker alone, reading, decrypting and verifying chunk after chunk,
/// used one core for a 512 MiB file (1.58 CPU s in 1.60 s).
const DECODED_FILE_CHUNKS: usize = 4;
/// Threads decoding one large file's chunks.
const DECODERS: usize = 2;
/// Decoded chunks each decoder may hold ahead of the writer.
const DECODED_AHEAD: usize = 2;

/// Chunk buffers of one large file's restore: one being decoded per decoder, those queued,
/// and the writer's. A buffer is only made when none is spare, so no more ever exist.
const CHUNK_BUFFERS: usize = DECODERS * (DECODED_AHEAD + 1) + 1;

/// Hands `write` the verified plaintext of `ids`, in order. Decoder `k` reads chunks `k`,
/// `k + DECODERS`, ... into its own bounded channel, and the writer takes from the channels in
/// turn: order needs no reordering buffer. The writer hands each buffer back once written and
/// decoders decompress the next chunks into those (see
/// [`chancery_format::compress::unpack_payload_reusing`]): memory is at most
/// [`CHUNK_BUFFERS`] buffers of the largest chunk size, and pages are not given back to the
/// kernel and faulted in again for every chunk. The first error stops it: the writer returns,
/// its channels close, and the decoders' next send fails.
fn decode_ahead(
    reader: &BlobReader,
    ids: &[BlobId],
    mut write: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    std::thread::scope(|scope| {
        let (written, spares) = bounded::<Vec<u8>>(CHUNK_BUFFERS);
        let decoded: Vec<Receiver<Result<Vec<u8>>>> = (0..DECODERS)
            .map(|k| {
                let (tx, rx) = bounded(DECODED_AHEAD);
                let spares = spares.clone();
                scope.spawn(move || {
                    for id in ids.iter().skip(k).step_by(DECODERS) {
                        let spare = spares.try_recv().unwrap_or_else(|_| new_chunk_buffer());
                        let data = reader.read_reusing(BlobKind::Data, id, spare);
                        let failed = data.is_err();
                        if tx.send(data).is_err() || failed {
                            return;
                        }
                    }
                });
                rx
            })
            .collect();
        for i in 0..ids.len() {
            let data =
                decoded[i % DECODERS].recv().map_err(|_| anyhow::anyhow!("a restore decoder stopped"))??;
            write(&data)?;
            // Never full (it holds every buffer there is), but a buffer that did not fit would
            // only be freed.
            let _ = written.try_send(data);
        }
        Ok(())
    })
}

/// Room for the largest data chunk, so that a buffer handed back is never too small to reuse
/// (only the pages written are ever backed by memory).
fn new_chunk_buffer() -> Vec<u8> {
    Vec::with_capacity(ChunkerParams::default().max)
}
