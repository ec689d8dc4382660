//! [`RememberedListings`]: each kind of object a site holds is listed once per command, and
//! the listing is then kept up to date with what this process writes and deletes there.
//!
//! A backup listed each site's packs three times and its index files four times: to find the
//! packs an interrupted backup left unindexed, to bring the site up to date as a target, again
//! as a source for the other sites, and to load the index. A listing grows with every backup
//! (88 bytes per pack from a site server), so an archive backed up every five minutes paid
//! for it more every day: at 2,000 backups, 1.75 MB of listings per site and backup, 0.88 MB
//! with each kind listed once.
//!
//! Staleness: what another party changes at the site after the first listing is not seen
//! while this `Site` lives (a command), as it was not seen between a listing and its use
//! before. The parties that delete at a site are governance executions, whose doomed objects
//! commands already set aside by the recorded proposals (`governance::book::doomed`), not by
//! listings. `meta` and key files are never remembered: a site server writes `meta` objects
//! itself (its audit log and governance records), and key files are few and cheap to list.
//!
//! Kept listings: a site server's listings are kept between commands in the owner's state
//! folder (`cache/listings/<site>/<kind>`, FORMAT.md §14), as they stand when the command
//! ends (its own puts included). The next command sends the kept one to [`Backend::relist`],
//! which asks the server for the digests of its shards and fetches only the shards that
//! changed (`chancery_protocol::listing`): when this owner is the site's only writer, none
//! did, and a listing costs one request as before, of about half a byte per object where it
//! was about 88. A kept listing is only a guess: a shard is taken from it only when its
//! digest is the server's, so a damaged, stale or foreign file (a command killed before it
//! kept its listing) costs a fuller listing, never a wrong one.

use chancery_protocol::listing::parse_listing;
use chancery_store::{Backend, ObjectInfo, ObjectKind, SharedParts, StoreError};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// The folder, in an owner's state folder, of the site servers' listings kept between
/// commands (one folder per site).
pub const LISTINGS_CACHE_DIR: &str = "cache/listings";

/// Kinds whose listing is remembered.
const REMEMBERED: [ObjectKind; 4] =
    [ObjectKind::Pack, ObjectKind::Index, ObjectKind::Snapshot, ObjectKind::Ledger];

/// A backend whose listings are fetched once and then follow this process's own puts and
/// deletes.
#[derive(Debug)]
pub struct RememberedListings<B> {
    inner: B,
    listed: Mutex<HashMap<ObjectKind, Vec<ObjectInfo>>>,
    /// The folder of the listings kept between commands, if they are.
    kept: Option<PathBuf>,
    /// Kinds whose listing differs from the one kept: kept when this value is dropped.
    unkept: Mutex<HashSet<ObjectKind>>,
}

impl<B: Backend> RememberedListings<B> {
    /// Wraps `inner`; nothing is listed yet.
    pub fn new(inner: B) -> Self {
        RememberedListings { inner, listed: Mutex::default(), kept: None, unkept: Mutex::default() }
    }

    /// Wraps `inner`, keeping its listings in `dir` from one command to the next.
    pub fn keeping(inner: B, dir: PathBuf) -> Self {
        RememberedListings { inner, listed: Mutex::default(), kept: Some(dir), unkept: Mutex::default() }
    }

    /// A kind's listing at the store, from the one kept if there is one.
    fn first_listing(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>, StoreError> {
        let Some(dir) = &self.kept else { return self.inner.list(kind) };
        let known = read_kept(&dir.join(kind.dir_name()));
        let objects = if known.is_empty() {
            self.inner.list(kind)?
        } else {
            match self.inner.relist(kind, &known)? {
                None => return Ok(known),
                Some(objects) => objects,
            }
        };
        if objects != known {
            self.changed(kind);
        }
        Ok(objects)
    }

    /// Notes that a kind's listing is no longer the one kept.
    fn changed(&self, kind: ObjectKind) {
        if self.kept.is_some() {
            self.unkept.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(kind);
        }
    }

    fn listed(&self) -> MutexGuard<'_, HashMap<ObjectKind, Vec<ObjectInfo>>> {
        self.listed.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a completed put in a listing already fetched (sorted by name, as `list` is).
    fn stored(&self, kind: ObjectKind, name: &str, size: u64) {
        if let Some(objects) = self.listed().get_mut(&kind) {
            if let Err(at) = objects.binary_search_by(|o| o.name.as_str().cmp(name)) {
                objects.insert(at, ObjectInfo { name: name.to_string(), size });
                self.changed(kind);
            }
        }
    }
}

impl<B> Drop for RememberedListings<B> {
    /// Keeps the listings that changed, for the next command (best effort).
    fn drop(&mut self) {
        let Some(dir) = &self.kept else { return };
        let listed = self.listed.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        let unkept = self.unkept.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        for kind in unkept.iter() {
            if let Some(objects) = listed.get(kind) {
                keep(&dir.join(kind.dir_name()), objects);
            }
        }
    }
}

impl<B: Backend> Backend for RememberedListings<B> {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn put(&self, kind: ObjectKind, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.inner.put(kind, name, bytes)?;
        self.stored(kind, name, bytes.len() as u64);
        Ok(())
    }

    fn put_parts(&self, kind: ObjectKind, name: &str, parts: &[&[u8]]) -> Result<(), StoreError> {
        self.inner.put_parts(kind, name, parts)?;
        self.stored(kind, name, parts.iter().map(|p| p.len() as u64).sum());
        Ok(())
    }

    fn put_shared(&self, kind: ObjectKind, name: &str, object: Arc<SharedParts>) -> Result<(), StoreError> {
        let size = object.len();
        self.inner.put_shared(kind, name, object)?;
        self.stored(kind, name, size);
        Ok(())
    }

    fn get(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>, StoreError> {
        self.inner.get(kind, name)
    }

    fn get_reader(
        &self,
        kind: ObjectKind,
        name: &str,
    ) -> Result<Box<dyn std::io::Read + Send + '_>, StoreError> {
        self.inner.get_reader(kind, name)
    }

    fn get_range(&self, kind: ObjectKind, name: &str, offset: u64, len: u64) -> Result<Vec<u8>, StoreError> {
        self.inner.get_range(kind, name, offset, len)
    }

    fn get_ranges(
        &self,
        kind: ObjectKind,
        name: &str,
        ranges: &[(u64, u64)],
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        self.inner.get_ranges(kind, name, ranges)
    }

    fn stat(&self, kind: ObjectKind, name: &str) -> Result<Option<u64>, StoreError> {
        self.inner.stat(kind, name)
    }

    fn written_at(&self, kind: ObjectKind, name: &str) -> Result<Option<i64>, StoreError> {
        self.inner.written_at(kind, name)
    }

    fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>, StoreError> {
        if !REMEMBERED.contains(&kind) {
            return self.inner.list(kind);
        }
        // Held across the site's listing, the first time: a put of another thread that lands
        // meanwhile then records itself after it (or is in it, and `stored` skips it), where
        // it would otherwise record itself in no listing and be missed by the one kept.
        let mut listed = self.listed();
        if let Some(objects) = listed.get(&kind) {
            return Ok(objects.clone());
        }
        let objects = self.first_listing(kind)?;
        Ok(listed.entry(kind).or_insert(objects).clone())
    }

    fn delete(&self, kind: ObjectKind, name: &str) -> Result<(), StoreError> {
        self.inner.delete(kind, name)?;
        if let Some(objects) = self.listed().get_mut(&kind) {
            if let Ok(at) = objects.binary_search_by(|o| o.name.as_str().cmp(name)) {
                objects.remove(at);
                self.changed(kind);
            }
        }
        Ok(())
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.inner.sync()
    }
}

/// The listing kept at `path`, sorted by name; empty when there is none or it does not read
/// (it is then replaced by the next listing).
fn read_kept(path: &Path) -> Vec<ObjectInfo> {
    let Ok(bytes) = std::fs::read(path) else { return Vec::new() };
    let Ok(listed) = parse_listing(&bytes) else { return Vec::new() };
    chancery_client::sorted_listing(listed)
}

/// An entry of a kept listing as written: the JSON of `ListedObject`, names borrowed.
#[derive(serde::Serialize)]
struct ListedRef<'a> {
    name: &'a str,
    size: u64,
}

/// Keeps a listing at `path` (a temporary file renamed into place, so that a reader never sees
/// half of one; not fsynced: after a power loss it may read as damaged, which costs one whole
/// listing). Best effort: without it, the next command lists in full. Temporary files a
/// killed command left are removed first (one still being written by another command then
/// fails to land, and that command's listing is not kept: also harmless).
fn keep(path: &Path, objects: &[ObjectInfo]) {
    let _best_effort = (|| -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        for entry in std::fs::read_dir(dir)?.flatten() {
            if entry.file_name().as_encoded_bytes().starts_with(b".tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        let listed: Vec<ListedRef> =
            objects.iter().map(|o| ListedRef { name: &o.name, size: o.size }).collect();
        tmp.write_all(&serde_json::to_vec(&listed)?)?;
        tmp.persist(path)?;
        Ok(())
    })();
}

#[cfg(test)]
mod tests {
    use super::*;
    use chancery_store::MemoryBackend;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts the listings that reach the store. Given a `landed` receiver, its first listing,
    /// once taken, waits for the next put to have landed (which sends on `land`).
    #[derive(Debug, Default)]
    struct Counted {
        inner: MemoryBackend,
        lists: AtomicUsize,
        /// The length of each listing handed to `relist`.
        relisted: Mutex<Vec<usize>>,
        landed: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
        land: Mutex<Option<std::sync::mpsc::Sender<()>>>,
    }

    impl Backend for Counted {
        fn location(&self) -> String {
            self.inner.location()
        }
        fn put(&self, kind: ObjectKind, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
            self.inner.put(kind, name, bytes)?;
            if let Some(land) = self.land.lock().unwrap().take() {
                land.send(()).unwrap();
            }
            Ok(())
        }
        fn get(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>, StoreError> {
            self.inner.get(kind, name)
        }
        fn get_range(
            &self,
            kind: ObjectKind,
            name: &str,
            offset: u64,
            len: u64,
        ) -> Result<Vec<u8>, StoreError> {
            self.inner.get_range(kind, name, offset, len)
        }
        fn stat(&self, kind: ObjectKind, name: &str) -> Result<Option<u64>, StoreError> {
            self.inner.stat(kind, name)
        }
        fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>, StoreError> {
            self.lists.fetch_add(1, Ordering::Relaxed);
            let objects = self.inner.list(kind);
            let landed = self.landed.lock().unwrap().take();
            if let Some(landed) = landed {
                landed.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
            }
            objects
        }
        fn relist(
            &self,
            kind: ObjectKind,
            known: &[ObjectInfo],
        ) -> Result<Option<Vec<ObjectInfo>>, StoreError> {
            self.relisted.lock().unwrap().push(known.len());
            let objects = self.list(kind)?;
            Ok((objects != known).then_some(objects))
        }
        fn delete(&self, kind: ObjectKind, name: &str) -> Result<(), StoreError> {
            self.inner.delete(kind, name)
        }
        fn sync(&self) -> Result<(), StoreError> {
            self.inner.sync()
        }
    }

    fn names(objects: &[ObjectInfo]) -> Vec<&str> {
        objects.iter().map(|o| o.name.as_str()).collect()
    }

    #[test]
    fn a_kind_is_listed_once_and_then_follows_this_process_s_puts_and_deletes() {
        let store = RememberedListings::new(Counted::default());
        store.put(ObjectKind::Pack, "bb", b"12").unwrap();
        store.put(ObjectKind::Pack, "dd", b"1234").unwrap();
        assert_eq!(names(&store.list(ObjectKind::Pack).unwrap()), ["bb", "dd"]);

        store.put(ObjectKind::Pack, "cc", b"123").unwrap();
        store.put_parts(ObjectKind::Pack, "aa", &[b"1", b"23"]).unwrap();
        store.put(ObjectKind::Pack, "bb", b"12").unwrap();
        store.delete(ObjectKind::Pack, "dd").unwrap();
        let listed = store.list(ObjectKind::Pack).unwrap();
        assert_eq!(names(&listed), ["aa", "bb", "cc"], "sorted, each once, the deleted one gone");
        assert_eq!(listed[0].size, 3);
        assert_eq!(store.inner.lists.load(Ordering::Relaxed), 1, "the store was listed once");
        assert_eq!(listed, store.inner.list(ObjectKind::Pack).unwrap(), "as the store lists them");
    }

    #[test]
    fn meta_and_key_files_are_listed_at_the_store_every_time() {
        let store = RememberedListings::new(Counted::default());
        store.list(ObjectKind::Meta).unwrap();
        store.inner.put(ObjectKind::Meta, "audit-log-1", b"x").unwrap();
        assert_eq!(names(&store.list(ObjectKind::Meta).unwrap()), ["audit-log-1"]);
        store.list(ObjectKind::Key).unwrap();
        store.list(ObjectKind::Key).unwrap();
        assert_eq!(store.inner.lists.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn a_put_landing_while_the_site_is_first_listed_is_kept_in_the_listing() {
        let (land, landed) = std::sync::mpsc::channel();
        let inner =
            Counted { landed: Mutex::new(Some(landed)), land: Mutex::new(Some(land)), ..Default::default() };
        let store = RememberedListings::new(inner);
        std::thread::scope(|s| {
            let listing = s.spawn(|| store.list(ObjectKind::Pack).unwrap());
            // The site's listing is taken before this put lands, and kept after.
            while store.inner.landed.lock().unwrap().is_some() {
                std::thread::yield_now();
            }
            store.put(ObjectKind::Pack, "aa", b"1").unwrap();
            assert!(listing.join().unwrap().is_empty());
        });
        assert_eq!(names(&store.list(ObjectKind::Pack).unwrap()), ["aa"]);
    }

    #[test]
    fn a_failed_put_is_not_listed() {
        let store = RememberedListings::new(Counted::default());
        store.list(ObjectKind::Index).unwrap();
        assert!(store.put(ObjectKind::Index, "../escape", b"x").is_err());
        assert!(store.list(ObjectKind::Index).unwrap().is_empty());
    }

    #[test]
    fn a_listing_kept_by_one_command_is_handed_to_the_next_to_bring_up_to_date() {
        let dir = tempfile::tempdir().unwrap();
        let kept = dir.path().join("lux");
        let store = Arc::new(Counted::default());
        store.put(ObjectKind::Pack, "aa", b"1").unwrap();
        store.put(ObjectKind::Pack, "bb", b"12").unwrap();

        let first = RememberedListings::keeping(store.clone(), kept.clone());
        assert_eq!(names(&first.list(ObjectKind::Pack).unwrap()), ["aa", "bb"]);
        assert!(store.relisted.lock().unwrap().is_empty(), "nothing kept yet: listed whole");
        first.put(ObjectKind::Pack, "cc", b"123").unwrap();
        assert!(!kept.join("packs").exists(), "kept when the command ends");
        drop(first);
        assert_eq!(names(&read_kept(&kept.join("packs"))), ["aa", "bb", "cc"], "its own put included");

        store.put(ObjectKind::Pack, "dd", b"1234").unwrap(); // another party's
        let next = RememberedListings::keeping(store.clone(), kept.clone());
        assert_eq!(names(&next.list(ObjectKind::Pack).unwrap()), ["aa", "bb", "cc", "dd"]);
        assert_eq!(*store.relisted.lock().unwrap(), [3], "the listing kept was handed over");
        next.delete(ObjectKind::Pack, "aa").unwrap();
        drop(next);
        assert_eq!(names(&read_kept(&kept.join("packs"))), ["bb", "cc", "dd"]);

        std::fs::write(kept.join("packs"), b"[{\"name\": \"../x\"").unwrap();
        let damaged = RememberedListings::keeping(store.clone(), kept.clone());
        assert_eq!(names(&damaged.list(ObjectKind::Pack).unwrap()), ["bb", "cc", "dd"]);
        assert_eq!(*store.relisted.lock().unwrap(), [3], "a damaged file is not handed over");
        damaged.list(ObjectKind::Meta).unwrap();
        drop(damaged);
        assert_eq!(names(&read_kept(&kept.join("packs"))), ["bb", "cc", "dd"], "and is replaced");
        assert!(!kept.join("meta").exists(), "meta is never kept");

        // Kept in another order: the same listing, which the store finds exact.
        let reordered = br#"[{"name":"dd","size":4},{"name":"bb","size":2},{"name":"cc","size":3}]"#;
        std::fs::write(kept.join("packs"), reordered).unwrap();
        let unchanged = RememberedListings::keeping(store.clone(), kept.clone());
        assert_eq!(names(&unchanged.list(ObjectKind::Pack).unwrap()), ["bb", "cc", "dd"]);
        assert_eq!(*store.relisted.lock().unwrap(), [3, 3]);
        drop(unchanged);
        assert_eq!(
            std::fs::read(kept.join("packs")).unwrap(),
            reordered,
            "an exact listing is not rewritten"
        );
    }
}
