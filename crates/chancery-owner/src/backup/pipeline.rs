//! The write pipeline: the walker thread hashes each chunk and drops the ones already stored;
//! worker threads compress and encrypt the rest; a packer thread gathers sealed blobs into
//! packs; uploader threads per site (two for a folder or a server) store each pack. Bounded channels between the stages
//! bound memory whatever the size of the tree, and let a slow site hold back only its own queue
//! up to that bound.

use crate::config::Endpoint;
use crate::index::Index;
use crate::progress::Progress;
use crate::site::Site;
use anyhow::{bail, Result};
use chancery_format::blob::{seal_blob, BlobKind};
use chancery_format::index::IndexPack;
use chancery_format::keys::Keys;
use chancery_format::pack::{build_pack_in, fits_in_padding, SealedBlob};
use chancery_format::{BlobId, ObjectId};
use chancery_store::ObjectKind;
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
/// Packs queued per local folder before the packer waits for its uploaders: none, the packer
/// hands each over as it is taken. With two writers (which free a pack once written, before
/// the fsync) a queue only held memory: first backup of a 1 GiB random file, 3 runs each,
/// queue of 1: 133-145 MiB peak RSS, queue of 0: 122-130 MiB, the same 2.4-2.7 s.
const UPLOAD_QUEUE: usize = 0;
/// Packs queued per site server: a round trip's latency varies with the network and the
/// site's fsync, and a deeper queue keeps its uploaders busy through it.
const UPLOAD_QUEUE_SERVER: usize = 2;
/// Uploads in flight per site server: one request's round trip (the site hashes, stores and
/// fsyncs before it answers) overlaps with the next one's transfer.
const UPLOADS_PER_SERVER: usize = 2;
/// Writers per local folder: one pack's fsync overlaps with the next one's write. Measured on
/// a 512 MiB first backup to one folder: 2.62-2.68 s with one writer, 2.23-2.35 s with two.
const UPLOADS_PER_FOLDER: usize = 2;

struct Job {
    kind: BlobKind,
    id: BlobId,
    plaintext: Vec<u8>,
}

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
    jobs: Option<Sender<Job>>,
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
        let (job_tx, job_rx) = bounded::<Job>(threads * 2);
        let (sealed_tx, sealed_rx) = bounded::<SealedBlob>(threads * 2);
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
            let queue = if server { UPLOAD_QUEUE_SERVER } else { UPLOAD_QUEUE };
            let (tx, rx) = bounded::<SealedPack>(queue);
            let timeout = Duration::from_secs(site.config.upload_timeout_secs);
            let count = if server { UPLOADS_PER_SERVER } else { UPLOADS_PER_FOLDER };
            senders.push(SiteQueue {
                name: site.name().to_string(),
                tx: Some(tx),
                timeout,
                live: live_sites.clone(),
                slow: false,
                in_flight: queue + count + 1,
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
            self.send(Job { kind, id, plaintext: plaintext.to_vec() })?;
        }
        Ok(id)
    }

    /// [`Self::store`] for a chunk the caller owns: a new one is not copied.
    pub fn store_owned(&mut self, kind: BlobKind, plaintext: Vec<u8>) -> Result<BlobId> {
        let id = self.keys.blob_id(&plaintext);
        if self.is_new(&id, plaintext.len())? {
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

    fn send(&self, job: Job) -> Result<()> {
        if self.jobs.as_ref().expect("pipeline open").send(job).is_err() {
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

fn seal_worker(keys: &Keys, jobs: Receiver<Job>, out: Sender<SealedBlob>) {
    for job in jobs {
        let sealed = seal_blob(keys, job.kind, &job.id, &job.plaintext);
        let blob = SealedBlob { kind: job.kind, id: job.id, raw_length: job.plaintext.len() as u32, sealed };
        if out.send(blob).is_err() {
            return;
        }
    }
}

#[derive(Default)]
struct PackBuffer {
    blobs: Vec<SealedBlob>,
    bytes: usize,
}

impl PackBuffer {
    fn push(&mut self, blob: SealedBlob) {
        self.bytes += blob.sealed.len();
        self.blobs.push(blob);
    }

    /// Whether `blob` fits in the padding this pack gets anyway.
    fn fits(&self, blob: &SealedBlob) -> bool {
        fits_in_padding(self.blobs.len(), self.bytes, blob.sealed.len())
    }
}

/// Bytes of blobs the next pack of a kind gathers while the full one before it still takes
/// what fits in its padding.
const TOPPING_WINDOW: usize = 2 << 20;

/// The packs of one kind being filled. A pack that reached its target is not closed at once:
/// while the next one gathers its first [`TOPPING_WINDOW`] bytes, each blob that fits in the
/// full pack's padding (up to one Padmé step, 512 KiB at 16 MiB) goes there instead, so that
/// random padding bytes become data. (Random blob order within a pack makes this free.)
struct Filling {
    target: usize,
    open: PackBuffer,
    full: Option<PackBuffer>,
}

impl Filling {
    fn new(target: usize) -> Self {
        Self { target, open: PackBuffer::default(), full: None }
    }

    /// Adds a blob; returns a pack that is done, if any.
    fn add(&mut self, blob: SealedBlob) -> Option<PackBuffer> {
        if let Some(full) = self.full.as_mut().filter(|full| full.fits(&blob)) {
            full.push(blob);
            return None;
        }
        self.open.push(blob);
        if self.open.bytes >= self.target {
            return self.full.replace(std::mem::take(&mut self.open));
        }
        if self.open.bytes >= TOPPING_WINDOW {
            return self.full.take();
        }
        None
    }

    /// The packs still held, full one first.
    fn finish(self) -> impl Iterator<Item = PackBuffer> {
        self.full.into_iter().chain(Some(self.open)).filter(|p| !p.blobs.is_empty())
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
    /// The most packs it can hold at once: queued, uploading, and the one being handed over.
    in_flight: usize,
}

/// Index entries of the packs written, and the sites dropped for being too slow.
type Packed = (Vec<IndexPack>, BTreeMap<String, String>);

/// A built pack on its way to a site's uploaders: its name and bytes, shared by the sites.
type SealedPack = (ObjectId, Arc<Vec<u8>>);

/// Packs lent to the uploaders, kept so that their buffers can be used again once every
/// site is done with them (only our reference left), and so that no more buffers exist than
/// packs can be in flight.
///
/// Why: each pack was a new 16 MiB buffer, freed by another thread; glibc's arenas kept that
/// memory in pieces that later packs could not use, and a first backup of a 1 GiB random file
/// peaked at 128-133 MiB RSS for a 70 MiB heap (113-119 MiB with reuse alone).
struct PackBuffers {
    lent: std::collections::VecDeque<Arc<Vec<u8>>>,
    /// The most packs in flight to one site: its queue, its uploaders, and one being handed.
    most: usize,
}

/// How long the packer waits for a lent buffer to come back before it makes a new one, when
/// `most` are out: a site slower than that is not waited for (the pipeline holds it back by
/// its queue and `upload_timeout_secs` instead).
const PACK_BUFFER_WAIT: Duration = Duration::from_secs(1);

impl PackBuffers {
    fn new(most: usize) -> Self {
        Self { lent: std::collections::VecDeque::new(), most }
    }

    /// A buffer no upload holds any more; else a new one, if fewer than `most` are out or none
    /// came back within [`PACK_BUFFER_WAIT`].
    fn take(&mut self) -> Vec<u8> {
        let deadline = std::time::Instant::now() + PACK_BUFFER_WAIT;
        loop {
            if let Some(i) = self.lent.iter().position(|pack| Arc::strong_count(pack) == 1) {
                // Only this reference is left and no other can appear: the unwrap cannot fail.
                return self.lent.remove(i).and_then(|pack| Arc::try_unwrap(pack).ok()).unwrap_or_default();
            }
            if self.lent.len() < self.most || std::time::Instant::now() >= deadline {
                return Vec::new();
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn lend(&mut self, pack: &Arc<Vec<u8>>) {
        self.lent.push_back(pack.clone());
        if self.lent.len() > self.most {
            self.lent.pop_front();
        }
    }
}

fn pack_blobs(keys: &Keys, sealed: Receiver<SealedBlob>, mut sites: Vec<SiteQueue>) -> Packed {
    let mut written = Vec::new();
    let mut buffers = PackBuffers::new(sites.iter().map(|s| s.in_flight).max().unwrap_or(1));
    let (mut data, mut trees) = (Filling::new(DATA_PACK_TARGET), Filling::new(TREE_PACK_TARGET));
    for blob in sealed {
        let filling = match blob.kind {
            BlobKind::Data => &mut data,
            BlobKind::Tree => &mut trees,
        };
        if let Some(done) = filling.add(blob) {
            written.push(dispatch(keys, done, &mut sites, &mut buffers));
        }
    }
    for done in data.finish().chain(trees.finish()) {
        written.push(dispatch(keys, done, &mut sites, &mut buffers));
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
fn dispatch(
    keys: &Keys,
    buffer: PackBuffer,
    sites: &mut [SiteQueue],
    buffers: &mut PackBuffers,
) -> IndexPack {
    let pack = build_pack_in(keys, buffer.blobs, buffers.take());
    let bytes = Arc::new(pack.bytes);
    buffers.lend(&bytes);
    for site in sites.iter_mut() {
        let Some(tx) = &site.tx else { continue };
        match tx.send_timeout((pack.id, bytes.clone()), site.timeout) {
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
    for (id, bytes) in packs {
        if failed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let len = bytes.len() as u64;
        // Handed over, so that a folder frees the pack once written, before its fsync.
        if let Err(e) = site.backend.put_shared(ObjectKind::Pack, &id.to_hex(), bytes) {
            if !failed.swap(true, Ordering::Relaxed) {
                live.fetch_sub(1, Ordering::Relaxed);
            }
            return Err(e.to_string());
        }
        Progress::add(&progress.bytes_uploaded, len);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chancery_format::pack::unpadded_len;
    use chancery_format::padding::padme;

    fn blob(len: usize) -> SealedBlob {
        SealedBlob { kind: BlobKind::Data, id: BlobId([0; 32]), raw_length: 0, sealed: vec![0; len] }
    }

    fn sizes(pack: &PackBuffer) -> Vec<usize> {
        pack.blobs.iter().map(|b| b.sealed.len()).collect()
    }

    #[test]
    fn a_full_pack_takes_what_fits_in_its_padding_while_the_next_fills() {
        let target = DATA_PACK_TARGET;
        let mut filling = Filling::new(target);
        assert!(filling.add(blob(target - 100)).is_none());
        assert!(filling.add(blob(100)).is_none(), "reaches its target: held for topping up");
        let end = unpadded_len(2, target);
        let room = padme(end as u64) as usize - end;
        assert!(filling.add(blob(room + 1)).is_none(), "too long for the padding: opens the next pack");
        assert!(filling.add(blob(room)).is_none(), "fits in the padding");
        assert!(filling.add(blob(1)).is_none(), "no room left: to the next pack");
        let done = filling.add(blob(TOPPING_WINDOW)).expect("the next pack passed the window");
        assert_eq!(sizes(&done), vec![target - 100, 100, room]);
        assert_eq!(
            padme(unpadded_len(3, target + room) as u64),
            padme(end as u64),
            "same length, no padding"
        );
        let rest: Vec<Vec<usize>> = filling.finish().map(|p| sizes(&p)).collect();
        assert_eq!(rest, vec![vec![room + 1, 1, TOPPING_WINDOW]]);
    }

    #[test]
    fn a_pack_buffer_is_used_again_once_no_upload_holds_it() {
        let mut buffers = PackBuffers::new(2);
        let first = Arc::new(Vec::with_capacity(1000));
        buffers.lend(&first);
        assert_eq!(
            buffers.take().capacity(),
            0,
            "still held by an upload, one more may be out: a new buffer"
        );
        let address = first.as_ptr();
        drop(first);
        let again = buffers.take();
        assert_eq!((again.as_ptr(), again.capacity()), (address, 1000), "the same buffer");
        assert!(buffers.lent.is_empty());
        for _ in 0..4 {
            buffers.lend(&Arc::new(Vec::new()));
        }
        assert_eq!(buffers.lent.len(), 2, "the oldest beyond the bound are let go");
    }

    #[test]
    fn with_every_buffer_out_the_packer_waits_for_one_to_come_back() {
        let mut buffers = PackBuffers::new(2);
        let held: Vec<Arc<Vec<u8>>> = (0..2).map(|_| Arc::new(Vec::with_capacity(1000))).collect();
        held.iter().for_each(|pack| buffers.lend(pack));
        let (uploading, upload, address) = (held[0].clone(), held[1].clone(), held[1].as_ptr());
        drop(held);
        let returned = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(upload);
        });
        let taken = buffers.take();
        assert_eq!(taken.as_ptr(), address, "waited for the buffer instead of making a third");
        returned.join().unwrap();
        drop(uploading);
    }

    #[test]
    fn a_pack_reaching_its_target_closes_the_full_one_before_it() {
        let mut filling = Filling::new(1000);
        assert!(filling.add(blob(1000)).is_none());
        let done = filling.add(blob(1000)).expect("the first is done when the second is full");
        assert_eq!(sizes(&done), vec![1000]);
        let rest: Vec<Vec<usize>> = filling.finish().map(|p| sizes(&p)).collect();
        assert_eq!(rest, vec![vec![1000]]);
    }
}
