//! Reading for [`FsBackend`]: ranges and listings.

use std::fs;
use std::io;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::{fan_out, FsBackend};
use crate::name::is_valid_name;
use crate::{ObjectInfo, ObjectKind, StoreError};

impl FsBackend {
    /// Bytes `[offset, offset + len)` of an object, cut at its end; `name` is validated.
    pub(super) fn read_range(
        &self,
        kind: ObjectKind,
        name: &str,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, StoreError> {
        let mut read = self.read_ranges(kind, name, &[(offset, len)])?;
        Ok(read.pop().unwrap_or_default())
    }

    /// An object's file opened for reading, its size, and its path (for messages).
    pub(super) fn open_object(
        &self,
        kind: ObjectKind,
        name: &str,
    ) -> Result<(fs::File, u64, PathBuf), StoreError> {
        let path = self.object_path(kind, name);
        let file = match fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(self.missing(kind, name)),
            Err(e) => return Err(self.fail(e, &path, "opening")),
        };
        let size = file.metadata().map_err(|e| self.fail(e, &path, "looking up"))?.len();
        Ok((file, size, path))
    }

    /// Bytes of each `(offset, len)` range of an object, through one open file.
    pub(super) fn read_ranges(
        &self,
        kind: ObjectKind,
        name: &str,
        ranges: &[(u64, u64)],
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let (file, size, path) = self.open_object(kind, name)?;
        let read = |&(offset, len): &(u64, u64)| read_at(&file, size, offset, len);
        ranges.iter().map(read).collect::<io::Result<_>>().map_err(|e| self.fail(e, &path, "reading"))
    }

    /// Lists packs: one level of fan-out folders, each holding the packs whose name starts
    /// with the folder's name.
    pub(super) fn list_fanned_out(&self, dir: &Path) -> Result<Vec<ObjectInfo>, StoreError> {
        let mut objects = Vec::new();
        for entry in self.read_dir(dir)? {
            let entry = entry.map_err(|e| self.fail(e, dir, "listing"))?;
            let Some(prefix) = fan_out_dir_name(&entry) else {
                continue;
            };
            // A pack filed under the wrong prefix could be listed but never read: skip it.
            let found = self.list_files(&entry.path(), |name| fan_out(name) == prefix)?;
            objects.extend(found);
        }
        Ok(objects)
    }

    /// Lists the regular files in `dir` that are valid object names and pass `belongs`.
    /// Anything else (foreign files, symlinks, sub-folders) is skipped rather than reported:
    /// a stray `.DS_Store` must not make a store unreadable.
    pub(super) fn list_files(
        &self,
        dir: &Path,
        belongs: impl Fn(&str) -> bool,
    ) -> Result<Vec<ObjectInfo>, StoreError> {
        let mut objects = Vec::new();
        for entry in self.read_dir(dir)? {
            let entry = entry.map_err(|e| self.fail(e, dir, "listing"))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if !is_valid_name(&name) || !belongs(&name) {
                continue;
            }
            match entry.metadata() {
                Ok(meta) if meta.is_file() => objects.push(ObjectInfo { name, size: meta.len() }),
                Ok(_) => {}
                // Deleted between readdir and stat: it is simply no longer there.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.fail(e, &entry.path(), "looking up")),
            }
        }
        Ok(objects)
    }

    /// Entries of one of our folders; a folder not created yet lists as empty.
    fn read_dir(&self, dir: &Path) -> Result<Vec<io::Result<fs::DirEntry>>, StoreError> {
        match fs::read_dir(dir) {
            Ok(entries) => Ok(entries.collect()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.check_root().map(|()| Vec::new()),
            Err(e) => Err(self.fail(e, dir, "listing")),
        }
    }
}

/// The entry's name if it can be a fan-out folder: a valid name of at most two characters
/// that is a folder (not a symlink to one: we never create those).
fn fan_out_dir_name(entry: &fs::DirEntry) -> Option<String> {
    let name = entry.file_name().into_string().ok()?;
    let is_dir = entry.file_type().ok()?.is_dir();
    (is_dir && name.len() <= 2 && is_valid_name(&name)).then_some(name)
}

/// Bytes `[offset, offset + len)` of a file of `size` bytes, cut at its end.
fn read_at(mut file: &fs::File, size: u64, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    // Size the buffer by what exists, not by what was asked: callers may ask for
    // "everything from here" with a huge `len`.
    let available = len.min(size.saturating_sub(offset));
    // `read_to_end` fills the spare capacity without zeroing it first (a `vec![0; n]`
    // then `pread` wrote every byte twice).
    let mut buf = Vec::with_capacity(usize::try_from(available).unwrap_or(usize::MAX));
    if available == 0 {
        return Ok(buf); // and no seek to an offset past the end (past i64::MAX, EINVAL)
    }
    file.seek(SeekFrom::Start(offset))?;
    file.take(available).read_to_end(&mut buf)?;
    Ok(buf)
}
