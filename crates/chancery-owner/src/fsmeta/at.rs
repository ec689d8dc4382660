//! Entries reached through their open parent folder (the `*at` calls), not by a full path.
//!
//! Why: a backup walks millions of entries. By full path, every `lstat`, `llistxattr` and
//! `open` walks the path again from the root in the kernel (a quarter of a no-change backup's
//! CPU), and a folder or file swapped for a symlink between the listing and the open is
//! followed. Here each folder is opened once (`O_DIRECTORY|O_NOFOLLOW`), its entries are
//! looked at relative to it, and what is opened is checked with `fstat` against what was
//! listed: a symlink is never followed, a FIFO or device swapped in is never read or blocked
//! on, and a file replaced by another one is described by what was actually read.
//!
//! Only the sources named on the command line are reached by path (`EntryAt::path`).

use super::capture::EntryStat;
use rustix::fs::{AtFlags, Mode, OFlags, CWD};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// One entry: its name relative to an open folder (or a path relative to the working
/// directory, for a source), and its full path for messages.
#[derive(Clone, Copy)]
pub struct EntryAt<'a> {
    pub(crate) dir: BorrowedFd<'a>,
    pub(crate) name: &'a [u8],
    pub(crate) path: &'a Path,
}

impl<'a> EntryAt<'a> {
    /// A source named by its path.
    pub fn path(path: &'a Path) -> Self {
        Self { dir: CWD, name: path.as_os_str().as_bytes(), path }
    }

    /// The entry `name` of the open folder `dir`, whose full path is `path`.
    pub fn child(dir: BorrowedFd<'a>, name: &'a [u8], path: &'a Path) -> Self {
        Self { dir, name, path }
    }
}

/// `lstat` of the entry: a symlink is described, not followed.
pub fn stat(entry: &EntryAt<'_>) -> io::Result<EntryStat> {
    let stat = rustix::fs::statat(entry.dir, entry.name, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(EntryStat::from(&stat))
}

/// The target of a symlink, as bytes.
pub fn read_link(entry: &EntryAt<'_>) -> io::Result<Vec<u8>> {
    Ok(rustix::fs::readlinkat(entry.dir, entry.name, Vec::new())?.into_bytes())
}

/// What an open that was checked against the listing found.
pub enum Opened<T> {
    /// The entry that was listed.
    Listed(T),
    /// Another entry of the same kind took its name since; `EntryStat` describes it.
    Replaced(T, EntryStat),
}

/// Opens a folder that was listed as `listed`, without following a symlink.
pub fn open_dir(entry: &EntryAt<'_>, listed: &EntryStat) -> io::Result<Opened<OwnedFd>> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(entry.dir, entry.name, flags, Mode::empty())?;
    checked(fd, listed, EntryStat::is_dir, "a folder")
}

/// Opens a regular file that was listed as `listed` for reading. `O_NONBLOCK` keeps a FIFO
/// swapped in meanwhile from blocking the open; it is cleared once `fstat` shows a regular file.
pub fn open_file(entry: &EntryAt<'_>, listed: &EntryStat) -> io::Result<Opened<File>> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(entry.dir, entry.name, flags, Mode::empty())?;
    let opened = checked(fd, listed, EntryStat::is_file, "a regular file")?;
    let fd = match &opened {
        Opened::Listed(fd) | Opened::Replaced(fd, _) => fd,
    };
    rustix::fs::fcntl_setfl(fd, OFlags::empty())?;
    Ok(match opened {
        Opened::Listed(fd) => Opened::Listed(File::from(fd)),
        Opened::Replaced(fd, stat) => Opened::Replaced(File::from(fd), stat),
    })
}

fn checked(
    fd: OwnedFd,
    listed: &EntryStat,
    right_kind: fn(&EntryStat) -> bool,
    kind: &str,
) -> io::Result<Opened<OwnedFd>> {
    let now = stat_open(&fd)?;
    if !right_kind(&now) {
        return Err(io::Error::other(format!("no longer {kind}: replaced while being backed up")));
    }
    Ok(if now.same_inode(listed) { Opened::Listed(fd) } else { Opened::Replaced(fd, now) })
}

/// The names in an open folder, sorted, without `.` and `..`.
pub fn sorted_names(dir: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    let mut names = Vec::new();
    let mut listing = rustix::fs::Dir::read_from(dir)?;
    while let Some(entry) = listing.read() {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            names.push(name);
        }
    }
    names.sort_unstable();
    Ok(names)
}

/// `fstat` of an open entry.
pub fn stat_open(fd: impl AsFd) -> io::Result<EntryStat> {
    Ok(EntryStat::from(&rustix::fs::fstat(fd)?))
}

/// Raises the soft limit of open files to the hard one: a walk holds one descriptor per
/// folder level, and the usual soft limit (1,024) would cut very deep trees short.
pub fn raise_open_file_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        // Only a help for deep trees; a walk without it still works up to the soft limit.
        let _ = setrlimit(Resource::Nofile, limit);
    }
}
