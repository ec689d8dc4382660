//! [`FsBackend`]: objects as files in a folder (the "site folder").
//!
//! # Layout
//!
//! ```text
//! <root>/packs/<first two characters of name>/<name>   packs, fanned out: there are many
//! <root>/index/<name>
//! <root>/snapshots/<name>
//! <root>/keys/<name>
//! <root>/meta/<name>
//! <root>/tmp/<random>.tmp                              writes in progress (or abandoned)
//! ```
//!
//! Packs are fanned out by the first two characters of their name (hex hashes give 256
//! folders) so that no folder grows to millions of entries, which some file systems and most
//! file managers handle badly. Names never start with `.`, so nothing a user's tools drop in
//! the folder (`.DS_Store`, ...) can be mistaken for an object, and such files are skipped.
//!
//! # How the durability contract is met
//!
//! `put` writes the bytes to a fresh file under `tmp/` (past the page cache when the object
//! is large: see `direct`), fsyncs it, then hard-links it to its
//! final name. `link(2)` fails with `EEXIST` instead of replacing, so it is both the atomic
//! publish and the no-overwrite check in one system call; a reader can only ever see a name
//! that points at a complete, fsynced file. The directory entry itself is made durable by
//! [`Backend::sync`], which fsyncs every folder that gained (or lost) an entry since the last
//! sync: a batch of 1000 puts into 256 pack folders then costs 256 directory fsyncs, not 1000.
//! A crash before `sync` may lose recent names, but never exposes a partial object.
//!
//! On file systems without hard links (FAT, exFAT, some network shares) `put` falls back to
//! "rename unless the name exists": still atomic for readers, but two writers racing on one
//! name may both rename, the second replacing the first. Names are content hashes, so both
//! carry the same bytes and nothing observable changes.

pub mod direct;
mod read;
mod write;
use write::Content;

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use crate::name::validate_name;
use crate::{Backend, ObjectInfo, ObjectKind, SharedParts, StoreError};

/// The folder under the root that holds writes in progress.
const TMP_DIR: &str = "tmp";

/// A store in a local (or mounted) folder; see the [module docs](self) for layout and
/// durability.
#[derive(Debug)]
pub struct FsBackend {
    root: PathBuf,
    /// Folders that gained or lost entries since the last `sync`; `sync` fsyncs them.
    dirty_dirs: Mutex<BTreeSet<PathBuf>>,
    /// Whether large objects are written past the page cache: until the file system refuses
    /// (see `direct`).
    direct_writes: AtomicBool,
}

impl FsBackend {
    /// Opens an existing store folder.
    ///
    /// `root` must exist and be a folder, otherwise [`StoreError::Unavailable`]: a missing
    /// root usually means an unplugged drive or an unmounted share, and silently creating a
    /// fresh, empty store in its place would hide that. Kind folders missing inside it are
    /// created when first needed.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let backend = FsBackend {
            root: root.into(),
            dirty_dirs: Mutex::new(BTreeSet::new()),
            direct_writes: AtomicBool::new(true),
        };
        backend.check_root()?;
        Ok(backend)
    }

    /// Creates the store folder (and its parents) and the kind folders, then opens it.
    /// Creating over an existing store is harmless.
    pub fn create(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        let location = root.display().to_string();
        fs::create_dir_all(&root)
            .map_err(|e| StoreError::from_io(e, &location, &location, "creating the folder"))?;
        let backend = FsBackend::open(root)?;
        for kind in ObjectKind::ALL {
            backend.ensure_dir(&backend.kind_dir(kind))?;
        }
        backend.ensure_dir(&backend.tmp_dir())?;
        // Make the new folders durable right away: a store that vanishes after `create`
        // returned would be a surprise. The root's own entry lives in its parent, which may
        // not be readable (mode --x) and is not ours: best effort there.
        backend.sync()?;
        if let Some(parent) = backend.root.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = fsync_dir(parent);
        }
        Ok(backend)
    }

    /// The store's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Removes temporary files older than `older_than`, left behind by writers that were
    /// killed mid-`put`; returns how many were removed.
    ///
    /// Such files are never visible as objects, they only waste space. Only call this with a
    /// short age when no other process (or thread) is writing to the store: a `put` in flight
    /// whose temporary file is removed fails (harmlessly, with an error) instead of storing.
    pub fn remove_stale_temp(&self, older_than: Duration) -> Result<usize, StoreError> {
        let dir = self.tmp_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.check_root()?;
                return Ok(0);
            }
            Err(e) => return Err(self.fail(e, &dir, "listing temporary files")),
        };
        let now = SystemTime::now();
        let mut removed = 0;
        for entry in entries {
            let entry = entry.map_err(|e| self.fail(e, &dir, "listing temporary files"))?;
            if self.remove_if_stale(&entry, now, older_than)? {
                removed += 1;
            }
        }
        self.mark_dirty(&dir);
        Ok(removed)
    }

    /// Removes one temporary file if it is old enough; whether it did.
    fn remove_if_stale(
        &self,
        entry: &fs::DirEntry,
        now: SystemTime,
        older_than: Duration,
    ) -> Result<bool, StoreError> {
        let path = entry.path();
        let meta = match entry.metadata() {
            Ok(meta) if meta.is_file() => meta,
            // Vanished meanwhile (its writer finished), or not ours to remove.
            _ => return Ok(false),
        };
        // A clock that went backwards makes a file look new: keep it, the safe side.
        let age = meta.modified().ok().and_then(|m| now.duration_since(m).ok());
        if age.unwrap_or(Duration::ZERO) < older_than {
            return Ok(false);
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.fail(e, &path, "removing a stale temporary file")),
        }
    }

    fn kind_dir(&self, kind: ObjectKind) -> PathBuf {
        self.root.join(kind.dir_name())
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join(TMP_DIR)
    }

    /// Where `(kind, name)` lives; `name` must already be validated.
    fn object_path(&self, kind: ObjectKind, name: &str) -> PathBuf {
        let dir = self.kind_dir(kind);
        match kind {
            ObjectKind::Pack => dir.join(fan_out(name)).join(name),
            _ => dir.join(name),
        }
    }

    /// `Ok` if the root is an existing folder, else why not, phrased for the user.
    fn check_root(&self) -> Result<(), StoreError> {
        let unavailable =
            |reason: &str| StoreError::Unavailable { location: self.location(), reason: reason.to_string() };
        match fs::metadata(&self.root) {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(unavailable("it exists but is not a folder; check the path")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(unavailable(
                "the folder does not exist (is the drive plugged in and mounted, and the path \
                 spelled right?); create a new store there only if that is what you meant",
            )),
            Err(e) => Err(StoreError::from_io(e, &self.location(), &self.location(), "checking the folder")),
        }
    }

    /// Turns an I/O error on `path` into a [`StoreError`]. A "not found" here means a folder
    /// of ours is missing, which is reported as the whole store being unavailable when the
    /// root itself is gone.
    fn fail(&self, err: io::Error, path: &Path, context: &str) -> StoreError {
        if err.kind() == io::ErrorKind::NotFound {
            if let Err(unavailable) = self.check_root() {
                return unavailable;
            }
        }
        StoreError::from_io(err, &path.display().to_string(), &self.location(), context)
    }

    /// The error for a missing object: [`StoreError::NotFound`], unless the whole store is
    /// gone, which must not be mistaken for one missing object.
    fn missing(&self, kind: ObjectKind, name: &str) -> StoreError {
        match self.check_root() {
            Err(unavailable) => unavailable,
            Ok(()) => StoreError::NotFound { location: self.location(), kind, name: name.to_string() },
        }
    }

    /// Creates `dir` (inside the root) and its missing parents, remembering that their
    /// parents gained entries. Never creates the root itself: see [`FsBackend::open`].
    fn ensure_dir(&self, dir: &Path) -> Result<(), StoreError> {
        self.check_root()?;
        let mut missing = Vec::new();
        let mut cursor = dir;
        while cursor != self.root && !cursor.is_dir() {
            missing.push(cursor.to_path_buf());
            cursor = cursor.parent().unwrap_or(&self.root);
        }
        for path in missing.iter().rev() {
            match fs::create_dir(path) {
                Ok(()) => self.mark_dirty(path.parent().unwrap_or(&self.root)),
                // Another thread or process won the race: just as good.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(self.fail(e, path, "creating a folder")),
            }
        }
        Ok(())
    }

    fn dirty(&self) -> MutexGuard<'_, BTreeSet<PathBuf>> {
        // The set is valid whatever a panicking holder was doing: ignore poisoning.
        self.dirty_dirs.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn mark_dirty(&self, dir: &Path) {
        self.dirty().insert(dir.to_path_buf());
    }
}

/// The pack sub-folder for `name`: its first two characters (the whole name if shorter).
/// Names are ASCII, so slicing by bytes is slicing by characters.
fn fan_out(name: &str) -> &str {
    &name[..name.len().min(2)]
}

/// Makes a folder's entries durable.
fn fsync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

impl Backend for FsBackend {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn put(&self, kind: ObjectKind, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        validate_name(name)?;
        self.put_object(kind, name, Content::Parts(&[bytes]))
    }

    fn put_parts(&self, kind: ObjectKind, name: &str, parts: &[&[u8]]) -> Result<(), StoreError> {
        validate_name(name)?;
        self.put_object(kind, name, Content::Parts(parts))
    }

    fn put_shared(&self, kind: ObjectKind, name: &str, object: Arc<SharedParts>) -> Result<(), StoreError> {
        validate_name(name)?;
        self.put_object(kind, name, Content::Shared(object))
    }

    fn get(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>, StoreError> {
        validate_name(name)?;
        let path = self.object_path(kind, name);
        match fs::read(&path) {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(self.missing(kind, name)),
            Err(e) => Err(self.fail(e, &path, "reading")),
        }
    }

    fn get_reader(&self, kind: ObjectKind, name: &str) -> Result<Box<dyn io::Read + Send + '_>, StoreError> {
        validate_name(name)?;
        let (file, _, _) = self.open_object(kind, name)?;
        Ok(Box::new(file))
    }

    fn get_range(&self, kind: ObjectKind, name: &str, offset: u64, len: u64) -> Result<Vec<u8>, StoreError> {
        validate_name(name)?;
        self.read_range(kind, name, offset, len)
    }

    fn get_ranges(
        &self,
        kind: ObjectKind,
        name: &str,
        ranges: &[(u64, u64)],
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        validate_name(name)?;
        self.read_ranges(kind, name, ranges)
    }

    fn stat(&self, kind: ObjectKind, name: &str) -> Result<Option<u64>, StoreError> {
        validate_name(name)?;
        let path = self.object_path(kind, name);
        match fs::metadata(&path) {
            Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.check_root().map(|()| None),
            Err(e) => Err(self.fail(e, &path, "looking up")),
        }
    }

    fn written_at(&self, kind: ObjectKind, name: &str) -> Result<Option<i64>, StoreError> {
        validate_name(name)?;
        let path = self.object_path(kind, name);
        match fs::metadata(&path) {
            // Objects are never rewritten in place, so the modification time is when it was stored.
            Ok(meta) if meta.is_file() => Ok(Some(std::os::unix::fs::MetadataExt::mtime(&meta))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.check_root().map(|()| None),
            Err(e) => Err(self.fail(e, &path, "looking up")),
        }
    }

    fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>, StoreError> {
        let mut objects = match kind {
            ObjectKind::Pack => self.list_fanned_out(&self.kind_dir(kind))?,
            _ => self.list_files(&self.kind_dir(kind), |_| true)?,
        };
        objects.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        Ok(objects)
    }

    fn delete(&self, kind: ObjectKind, name: &str) -> Result<(), StoreError> {
        validate_name(name)?;
        let path = self.object_path(kind, name);
        match fs::remove_file(&path) {
            Ok(()) => {
                self.mark_dirty(path.parent().unwrap_or(&self.root));
                Ok(())
            }
            // Missing is fine (idempotent), but a missing store is not "deleted".
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.check_root(),
            Err(e) => Err(self.fail(e, &path, "deleting")),
        }
    }

    fn sync(&self) -> Result<(), StoreError> {
        // Take the set so that puts running concurrently re-register their folders for the
        // next sync instead of being forgotten.
        let dirs = std::mem::take(&mut *self.dirty());
        for (done, dir) in dirs.iter().enumerate() {
            if let Err(e) = fsync_dir(dir) {
                // Keep every folder not yet made durable for the next attempt.
                self.dirty().extend(dirs.iter().skip(done).cloned());
                return Err(self.fail(e, dir, "flushing a folder to disk"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_put_stores_the_bytes_lets_go_of_them_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBackend::create(dir.path()).unwrap();
        let shared = |parts: &[&[u8]]| {
            let parts: Vec<Vec<u8>> = parts.iter().map(|part| part.to_vec()).collect();
            Arc::new(SharedParts::new(parts, [0; 32]))
        };
        let bytes = shared(&[b"pack ", b"", b"bytes"]);
        store.put_shared(ObjectKind::Pack, "abcd", bytes.clone()).unwrap();
        assert_eq!(Arc::strong_count(&bytes), 1, "the backend kept no reference");
        assert_eq!(store.get(ObjectKind::Pack, "abcd").unwrap(), b"pack bytes");
        store.put_shared(ObjectKind::Pack, "abcd", shared(&[b"other"])).unwrap();
        assert_eq!(store.get(ObjectKind::Pack, "abcd").unwrap(), b"pack bytes", "create-only");
        assert!(store.put_shared(ObjectKind::Pack, "../x", bytes).is_err(), "names are checked");
        assert!(store.list(ObjectKind::Pack).unwrap().len() == 1);
    }

    #[test]
    fn put_defers_folder_fsyncs_to_sync_and_sync_clears_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBackend::create(dir.path()).unwrap();
        assert!(store.dirty().is_empty(), "create syncs what it made");
        store.put(ObjectKind::Pack, "abcd", b"x").unwrap();
        store.put(ObjectKind::Index, "i1", b"y").unwrap();
        let expected: BTreeSet<PathBuf> =
            ["packs", "packs/ab", "index"].iter().map(|d| dir.path().join(d)).collect();
        assert_eq!(*store.dirty(), expected, "new fan-out folder and both parents of new names");
        store.sync().unwrap();
        assert!(store.dirty().is_empty());
        store.put(ObjectKind::Pack, "abcd", b"x").unwrap();
        assert!(store.dirty().contains(&dir.path().join("packs/ab")), "re-put covers its name");
    }
}
