//! The write pipeline: the walker thread hashes each chunk and drops the ones already stored;
//! worker threads compress and encrypt the rest; a packer thread gathers sealed blobs into
//! packs; uploader threads per site (two for a folder or a server) store each pack. Bounded channels between the stages
//! bound memory whatever the size of the tree, and let a slow site hold back only its own queue
//! up to that bound.

use super::filling::{Filling, PackBuffer};
use crate::config::Endpoint;
use crate::index::Index;
use crate::progress::Progress;
use crate::site::Site;
use anyhow::{bail, Result};
use chancery_format::blob::{seal_blob_buffer, BlobBuffer, BlobKind};
use chancery_format::index::IndexPack;
use chancery_format::keys::Keys;
use chancery_format::pack::{build_pack_parts, SealedBlob};
use chancery_format::{BlobId, ObjectId};
use chancery_store::{ObjectKind, SharedParts};
use crossbeam_channel::{bounded, Receiver, SendTimeoutError, Sender};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{Scope, ScopedJoinHandle};
use std::time::Duration;

/// Data packs are closed at this size (before padding).
pub const DATA_PACK_TARGET: usize = 16 * 1024 * 1024;
/// Tree packs are kept smaller: restore and check read trees first.
pub const TREE_PACK_TARGET: usize = 4 * 1024 * 1024;
/// Packs queued per site before the packer waits for its uploaders: none, the packer hands
/// each over as it is taken. With two uploaders per site a queue only held memory. To a local
/// folder (whose writers free a pack once written, before the fsync), first backup of a 1 GiB
/// random file, 3 runs each: queue of 1, 133-145 MiB peak RSS; queue of 0, 122-130 MiB; the
/// same 2.4-2.7 s. To a site server on loopback, 3 runs each: queue of 2, 155-179 MiB; queue
/// of 0, 115-140 MiB; 2.40-2.73 s against 2.57-3.00 s.
const UPLOAD_QUEUE: usize = 0;
/// Uploads in flight per site server: one request's round trip (the site hashes, stores and
/// fsyncs before it answers) overlaps with the next one's transfer.
const UPLOADS_PER_SERVER: usize = 2;
/// Writers per local folder: one pack's fsync overlaps with the next one's write. Measured on
/// a 512 MiB first backup to one folder: 2.62-2.68 s with one writer, 2.23-2.35 s with two.
const UPLOADS_PER_FOLDER: usize = 2;

struct Job {
    kind: BlobKind,
    id: BlobId,
    plaintext: BlobBuffer,
}

/// Blobs go to the seal workers, and from them to the packer, in batches of about this many
/// plaintext bytes (a larger chunk goes alone) or [`BATCH_BLOBS`] blobs. One message per blob
/// each way made the channels' spinning 3-4 % of a toolchain's first backup (`perf record`:
/// crossbeam's `send` and `recv`, `sched_yield`), mostly for files of a few KiB.
const BATCH_BYTES: usize = 256 * 1024;
/// ... and at most this many blobs in a batch.
const BATCH_BLOBS: usize = 64;

/// An uploader thread: `Err` carries why its site failed.
type Uploader<'scope> = ScopedJoinHandle<'scope, Result<(), String>>;

/// What the pipeline stored: new packs and which sites failed on the way.
#[derive(Debug, Default)]
pub struct PipelineResult {
    /// Index entries of every pack written.
    pub packs: Vec<IndexPack>,
    /// Packs stored before this backup that hold blobs of its snapshot.
    pub used_packs: HashSet<ObjectId>,
    /// Site name to the error that stopped writes to it.
    pub failed_sites: BTreeMap<String, String>,
}

/// The walker's handle on the pipeline.
pub struct Pipeline<'scope, 'env> {
    keys: &'env Keys,
    index: &'env Index,
    pending: HashSet<BlobId>,
    /// Packs already stored that hold blobs of this snapshot (its new packs come on top).
    used_packs: HashSet<ObjectId>,
    jobs: Option<Sender<Vec<Job>>>,
    /// Jobs not sent yet, and their plaintext bytes.
    batch: (Vec<Job>, usize),
    progress: &'env Progress,
    live_sites: Arc<AtomicUsize>,
    packer: Option<ScopedJoinHandle<'scope, Packed>>,
    /// Per site, its uploader threads.
    uploaders: Vec<(String, Vec<Uploader<'scope>>)>,
    workers: Vec<ScopedJoinHandle<'scope, ()>>,
}

impl<'scope, 'env> Pipeline<'scope, 'env> {
    /// Starts workers, packer and uploaders inside `scope`.
    pub fn start(
        scope: &'scope Scope<'scope, 'env>,
        keys: &'env Keys,
        index: &'env Index,
        sites: &'env [Site],
        progress: &'env Progress,
    ) -> Self {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (job_tx, job_rx) = bounded::<Vec<Job>>(threads);
        let (sealed_tx, sealed_rx) = bounded::<Vec<SealedBlob>>(threads);
        let workers = (0..threads)
            .map(|_| {
                let (rx, tx) = (job_rx.clone(), sealed_tx.clone());
                scope.spawn(move || seal_worker(keys, rx, tx))
            })
            .collect();
        drop(sealed_tx);
        let live_sites = Arc::new(AtomicUsize::new(sites.len()));
        let mut senders = Vec::new();
        let mut uploaders = Vec::new();
        for site in sites {
            let server = matches!(site.config.endpoint, Endpoint::Server { .. });
            let (tx, rx) = bounded::<SealedPack>(UPLOAD_QUEUE);
            let timeout = Duration::from_secs(site.config.upload_timeout_secs);
            let count = if server { UPLOADS_PER_SERVER } else { UPLOADS_PER_FOLDER };
            senders.push(SiteQueue {
                name: site.name().to_string(),
                tx: Some(tx),
                timeout,
                live: live_sites.clone(),
                slow: false,
            });
            let failed = Arc::new(AtomicBool::new(false));
            let threads = (0..count)
                .map(|_| {
                    let (rx, live, failed) = (rx.clone(), live_sites.clone(), failed.clone());
                    scope.spawn(move || upload(site, rx, progress, &live, &failed))
                })
                .collect();
            uploaders.push((site.name().to_string(), threads));
        }
        let packer = scope.spawn(move || pack_blobs(keys, sealed_rx, senders));
        Pipeline {
            keys,
            index,
            pending: HashSet::new(),
            used_packs: HashSet::new(),
            jobs: Some(job_tx),
            batch: (Vec::new(), 0),
            progress,
            live_sites,
            packer: Some(packer),
            uploaders,
            workers,
        }
    }

    /// Stores a blob unless the archive or this backup already has it; returns its id.
    pub fn store(&mut self, kind: BlobKind, plaintext: &[u8]) -> Result<BlobId> {
        let id = self.keys.blob_id(plaintext);
        if self.is_new(&id, plaintext.len())? {
            self.send(Job { kind, id, plaintext: BlobBuffer::copy_of(plaintext) })?;
        }
        Ok(id)
    }

    /// [`Self::store`] for a chunk the caller owns: a new one is not copied.
    pub fn store_owned(&mut self, kind: BlobKind, plaintext: BlobBuffer) -> Result<BlobId> {
        let id = self.keys.blob_id(plaintext.plaintext());
        if self.is_new(&id, plaintext.plaintext().len())? {
            self.send(Job { kind, id, plaintext })?;
        }
        Ok(id)
    }

    /// Whether `id` must be stored (then it counts as pending); an error once every site failed.
    fn is_new(&mut self, id: &BlobId, len: usize) -> Result<bool> {
        if self.reused(id) || self.pending.contains(id) {
            return Ok(false);
        }
        if self.live_sites.load(Ordering::Relaxed) == 0 {
            bail!("every site failed; nothing more can be stored");
        }
        self.pending.insert(*id);
        Progress::add(&self.progress.new_bytes, len as u64);
        Ok(true)
    }

    fn send(&mut self, job: Job) -> Result<()> {
        self.batch.1 += job.plaintext.plaintext().len();
        self.batch.0.push(job);
        if self.batch.1 >= BATCH_BYTES || self.batch.0.len() >= BATCH_BLOBS {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends the jobs batched so far to the workers.
    fn flush(&mut self) -> Result<()> {
        let (batch, _) = std::mem::take(&mut self.batch);
        if !batch.is_empty() && self.jobs.as_ref().expect("pipeline open").send(batch).is_err() {
            bail!("the backup pipeline stopped unexpectedly");
        }
        Ok(())
    }

    /// Whether a blob is stored or on its way.
    pub fn has(&self, id: &BlobId) -> bool {
        self.index.contains(id) || self.pending.contains(id)
    }

    /// Notes blobs the snapshot takes over without storing them (an unchanged file's chunks
    /// from the parent, or a hard link's), so that their packs count among its needs.
    pub fn reuse(&mut self, ids: &[BlobId]) {
        for id in ids {
            self.reused(id);
        }
    }

    /// Whether a blob is already stored; if so, its pack is one the snapshot needs.
    fn reused(&mut self, id: &BlobId) -> bool {
        let Some(loc) = self.index.get(id) else { return false };
        self.used_packs.insert(loc.pack);
        true
    }

    /// Number of new blobs sent so far.
    pub fn new_blobs(&self) -> u64 {
        self.pending.len() as u64
    }

    /// Drains every stage and reports what was written and which sites failed.
    pub fn finish(mut self) -> Result<PipelineResult> {
        self.flush()?;
        drop(self.jobs.take());
        for w in self.workers.drain(..) {
            w.join().map_err(|_| anyhow::anyhow!("a compression worker panicked"))?;
        }
        let (packs, dropped) =
            self.packer.take().expect("packer").join().map_err(|_| anyhow::anyhow!("the packer panicked"))?;
        let mut failed_sites = BTreeMap::new();
        for (name, handles) in self.uploaders.drain(..) {
            for handle in handles {
                let error = match handle.join() {
                    Ok(Ok(())) => continue,
                    Ok(Err(e)) => e,
                    Err(_) => "uploader panicked".into(),
                };
                // The first error is the cause; the other uploaders of the site stopped after it.
                failed_sites.entry(name.clone()).or_insert(error);
            }
        }
        // A site dropped for being too slow may have uploaded all it was given: still lagging.
        failed_sites.extend(dropped);
        Ok(PipelineResult { packs, used_packs: std::mem::take(&mut self.used_packs), failed_sites })
    }
}

fn seal_worker(keys: &Keys, jobs: Receiver<Vec<Job>>, out: Sender<Vec<SealedBlob>>) {
    for batch in jobs {
        let sealed = batch
            .into_iter()
            .map(|job| {
                let raw_length = job.plaintext.plaintext().len() as u32;
                let sealed = seal_blob_buffer(keys, job.kind, &job.id, job.plaintext);
                SealedBlob { kind: job.kind, id: job.id, raw_length, sealed }
            })
            .collect();
        if out.send(sealed).is_err() {
            return;
        }
    }
}

/// One site's upload queue, as the packer sees it.
struct SiteQueue {
    name: String,
    tx: Option<Sender<SealedPack>>,
    timeout: Duration,
    live: Arc<AtomicUsize>,
    /// Dropped for being too slow (not for failing: a failed uploader reports its own error).
    slow: bool,
}

/// Index entries of the packs written, and the sites dropped for being too slow.
type Packed = (Vec<IndexPack>, BTreeMap<String, String>);

/// A built pack on its way to a site's uploaders: its name and parts, shared by the sites.
type SealedPack = (ObjectId, Arc<SharedParts>);

fn pack_blobs(keys: &Keys, sealed: Receiver<Vec<SealedBlob>>, mut sites: Vec<SiteQueue>) -> Packed {
    let mut written = Vec::new();
    let (mut data, mut trees) = (Filling::new(DATA_PACK_TARGET), Filling::new(TREE_PACK_TARGET));
    for blob in sealed.into_iter().flatten() {
        let filling = match blob.kind {
            BlobKind::Data => &mut data,
            BlobKind::Tree => &mut trees,
        };
        if let Some(done) = filling.add(blob) {
            written.push(dispatch(keys, done, &mut sites));
        }
    }
    for done in data.finish().chain(trees.finish()) {
        written.push(dispatch(keys, done, &mut sites));
    }
    let dropped = sites
        .into_iter()
        .filter(|s| s.slow)
        .map(|s| (s.name, "too slow: its upload queue stayed full past upload_timeout_secs".to_string()))
        .collect();
    (written, dropped)
}

/// Hands a pack to every site still in the race. A site whose queue stays full longer than its
/// timeout is dropped (it lags, and `sync` catches it up later) so that it cannot hold back the
/// others; a site whose uploader failed has hung up and is skipped.
fn dispatch(keys: &Keys, buffer: PackBuffer, sites: &mut [SiteQueue]) -> IndexPack {
    let pack = build_pack_parts(keys, buffer.blobs);
    let mut parts = Some(Arc::new(SharedParts::new(pack.parts, pack.id.0)));
    let live = sites.iter().filter(|site| site.tx.is_some()).count();
    for (n, site) in sites.iter_mut().filter(|site| site.tx.is_some()).enumerate() {
        // The last site gets the packer's own reference: with one site, its uploader then
        // holds the only one and frees each part as it writes it.
        let shared = if n + 1 == live { parts.take() } else { parts.clone() };
        let (Some(tx), Some(shared)) = (&site.tx, shared) else { continue };
        match tx.send_timeout((pack.id, shared), site.timeout) {
            Ok(()) => {}
            Err(SendTimeoutError::Timeout(_)) => {
                site.live.fetch_sub(1, Ordering::Relaxed);
                (site.tx, site.slow) = (None, true);
            }
            Err(SendTimeoutError::Disconnected(_)) => {
                site.tx = None;
            }
        }
    }
    IndexPack { pack: pack.id, entries: pack.entries }
}

/// One of a site's uploaders. The first to fail marks the site failed (counted once in
/// `live`); the others stop at their next pack, and once all have hung up the packer skips
/// the site.
fn upload(
    site: &Site,
    packs: Receiver<SealedPack>,
    progress: &Progress,
    live: &AtomicUsize,
    failed: &AtomicBool,
) -> Result<(), String> {
    for (id, parts) in packs {
        if failed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let len = parts.len();
        // Handed over, so that a folder frees the pack once written, before its fsync.
        if let Err(e) = site.backend.put_shared(ObjectKind::Pack, &id.to_hex(), parts) {
            if !failed.swap(true, Ordering::Relaxed) {
                live.fetch_sub(1, Ordering::Relaxed);
            }
            return Err(e.to_string());
        }
        Progress::add(&progress.bytes_uploaded, len);
    }
    Ok(())
}
