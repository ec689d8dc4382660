//! Filesystem metadata: reading an entry into a tree [`Node`] on backup, and writing it back
//! on restore.
//!
//! Symlinks are never followed, in either direction: a backup records the link itself, and a
//! restore must not write through a link it finds in the target directory.
//!
//! [`Node`]: chancery_format::tree::Node

pub mod at;
mod capture;
mod restore;
mod sparse;
pub(crate) mod xattrs;

#[cfg(test)]
mod tests;

pub use capture::{capture, capture_at, capture_open, listed_file, same_file_unchanged, EntryStat};
pub use restore::{FileStart, Restorer};
pub use sparse::SparseWriter;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `dir/name` for a raw-bytes entry name, so that names that are not UTF-8 survive.
pub fn join_name(dir: &Path, name: &[u8]) -> PathBuf {
    dir.join(OsStr::from_bytes(name))
}
