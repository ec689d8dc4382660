//! `put` for [`FsBackend`]: temporary file (large ones written direct), fsync, link into place.

use std::fs;
use std::io::{self, IoSlice, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::direct::{self, Parts};
use super::FsBackend;
use crate::{ObjectKind, SharedParts, StoreError};

/// An object's bytes as a put hands them over.
pub(super) enum Content<'a> {
    /// Borrowed, in order.
    Parts(&'a [&'a [u8]]),
    /// Shared: our reference is dropped once written, before the fsync, so that a writer
    /// waiting on the disk holds no memory (a backup's 16 MiB packs, two writers per folder).
    Shared(Arc<SharedParts>),
}

impl FsBackend {
    /// Stores `content` as an object; `name` is already validated. See the module docs for
    /// why each step.
    pub(super) fn put_object(
        &self,
        kind: ObjectKind,
        name: &str,
        content: Content<'_>,
    ) -> Result<(), StoreError> {
        let dest = self.object_path(kind, name);
        if fs::symlink_metadata(&dest).is_ok() {
            // Already stored (names are content hashes): skip writing the bytes again. Its
            // folder is marked anyway: the earlier put may have been by a process killed
            // before its sync, and our caller's sync must cover the name it relies on.
            self.mark_dirty(dest.parent().unwrap_or(&self.root));
            return Ok(());
        }
        let temp = self.write_temp(content)?;
        self.link_into_place(&temp.0, &dest)
        // `temp` is dropped here, removing the temporary name; the object keeps its own.
    }

    /// Writes `content` to a new, fsynced file under `tmp/`.
    fn write_temp(&self, content: Content<'_>) -> Result<TempFile, StoreError> {
        let (temp, file) = match content {
            Content::Parts(mut parts) => self.write_unsynced(&mut parts)?,
            // Ours alone (one site): each part is freed as soon as it is written.
            Content::Shared(object) => match Arc::try_unwrap(object) {
                Ok(object) => self.write_unsynced(&mut object.into_parts())?,
                Err(object) => self.write_unsynced(&mut object.slices().as_slice())?,
            },
            // A shared object is released here, before the fsync (see `Content::Shared`).
        };
        // Durable bytes before a durable name: otherwise a crash could leave a name that
        // points at an empty or partial file.
        file.sync_all().map_err(|e| self.fail(e, &temp.0, "flushing to disk"))?;
        Ok(temp)
    }

    /// Writes `parts` to a new file under `tmp/`: direct when large and the file system takes
    /// it (see [`direct`]), else buffered.
    fn write_unsynced(&self, parts: &mut impl Parts) -> Result<(TempFile, fs::File), StoreError> {
        let len: usize = (0..parts.count()).map(|i| parts.part(i).len()).sum();
        if len >= direct::MIN_LEN && self.direct_writes.load(Ordering::Relaxed) {
            if let Some(written) = self.write_direct(parts)? {
                return Ok(written);
            }
            // Refused by this file system: every later object is written buffered.
            self.direct_writes.store(false, Ordering::Relaxed);
        }
        let (temp, mut file) = self.create_temp(create_new)?;
        write_all_parts(&mut file, parts).map_err(|e| self.fail(e, &temp.0, "writing"))?;
        Ok((temp, file))
    }

    /// Writes `parts` past the page cache; `None` when the file system refuses.
    fn write_direct(&self, parts: &mut impl Parts) -> Result<Option<(TempFile, fs::File)>, StoreError> {
        let (temp, mut file) = match self.create_temp(direct::create_new) {
            Err(StoreError::Io { source, .. }) if direct::refused(&source) => return Ok(None),
            other => other?,
        };
        match direct::write_all_parts(&mut file, parts) {
            Ok(()) => Ok(Some((temp, file))),
            Err(e) if direct::refused(&e) => Ok(None), // `temp` is removed as it drops
            Err(e) => Err(self.fail(e, &temp.0, "writing")),
        }
    }

    /// Creates a new, empty file under `tmp/` with `create`, making `tmp/` if it is missing.
    fn create_temp(
        &self,
        create: fn(&Path) -> io::Result<fs::File>,
    ) -> Result<(TempFile, fs::File), StoreError> {
        let path = self.tmp_dir().join(format!("{}.tmp", hex::encode(rand::random::<[u8; 16]>())));
        let file = match create(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.ensure_dir(&self.tmp_dir())?;
                create(&path)
            }
            other => other,
        }
        .map_err(|e| self.fail(e, &path, "creating a temporary file"))?;
        Ok((TempFile(path), file))
    }

    /// Gives the complete temporary file its final name, unless that name exists.
    fn link_into_place(&self, temp: &Path, dest: &Path) -> Result<(), StoreError> {
        let dest_dir = dest.parent().unwrap_or(&self.root);
        let linked = match link_create_only(temp, dest) {
            // Kind or fan-out folder not there yet: create it lazily, once.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.ensure_dir(dest_dir)?;
                link_create_only(temp, dest)
            }
            other => other,
        };
        match linked {
            Ok(()) => {}
            // Someone stored this name first; by the contract we leave theirs in place.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(self.fail(e, dest, "moving a written object into place")),
        }
        self.mark_dirty(dest_dir);
        Ok(())
    }
}

/// Writes every part, in order, with as few `writev` calls as the kernel allows.
fn write_all_parts(file: &mut fs::File, parts: &impl Parts) -> io::Result<()> {
    /// Linux's `IOV_MAX`: more slices per call are refused (EINVAL).
    const MAX_SLICES: usize = 1024;
    let mut slices: Vec<IoSlice<'_>> =
        (0..parts.count()).map(|i| parts.part(i)).filter(|p| !p.is_empty()).map(IoSlice::new).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        let batch = rest.len().min(MAX_SLICES);
        match file.write_vectored(&rest[..batch]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => IoSlice::advance_slices(&mut rest, written),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn create_new(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new().write(true).create_new(true).open(path)
}

/// Publishes `temp` as `dest` atomically, failing with `AlreadyExists` rather than replacing.
fn link_create_only(temp: &Path, dest: &Path) -> io::Result<()> {
    match fs::hard_link(temp, dest) {
        Err(e) if links_unsupported(&e) => rename_unless_exists(temp, dest),
        other => other,
    }
}

/// `link(2)` reports a file system without hard links as EPERM (Linux) or ENOTSUP/EOPNOTSUPP
/// (equal on Linux, distinct elsewhere, hence comparisons rather than patterns).
fn links_unsupported(err: &io::Error) -> bool {
    err.raw_os_error()
        .is_some_and(|code| code == libc::EPERM || code == libc::ENOTSUP || code == libc::EOPNOTSUPP)
}

/// The fallback for file systems without hard links; see the module docs for its one race.
/// If the refusal was really about permissions, `rename` fails the same way and that error
/// is what the caller reports.
fn rename_unless_exists(temp: &Path, dest: &Path) -> io::Result<()> {
    if fs::symlink_metadata(dest).is_ok() {
        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
    }
    fs::rename(temp, dest)
}

/// A temporary file, removed when dropped: on success (the object has its own link by then)
/// and on every error path alike.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        // Best effort: a leftover is invisible to readers, and `remove_stale_temp` sweeps it.
        let _ = fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use crate::{Backend, FsBackend, ObjectKind};

    #[test]
    fn large_objects_are_written_buffered_where_direct_writes_were_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBackend::create(dir.path().join("site")).unwrap();
        store.direct_writes.store(false, Ordering::Relaxed); // as after a refusal
        let bytes: Vec<u8> = (0..(3 << 20) + 5).map(|i: usize| (i % 253) as u8).collect();
        store.put(ObjectKind::Pack, "ab", &bytes).unwrap();
        assert!(store.get(ObjectKind::Pack, "ab").unwrap() == bytes);
    }
}
