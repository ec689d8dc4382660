//! Entries reached through their open parent folder (the `*at` calls), not by a full path.
//!
//! Why: a backup walks millions of entries. By full path, every `lstat`, `llistxattr` and
//! `open` walks the path again from the root in the kernel (a quarter of a no-change backup's
//! CPU), and a folder or file swapped for a symlink between the listing and the open is
//! followed. Here each folder is opened once (`O_DIRECTORY|O_NOFOLLOW`) and its entries are
//! looked at relative to it. What is opened (folders, and files to be read) is described by
//! its own `fstat` and extended attributes, so the node is always of what was read: a symlink
//! swapped in is never followed, a FIFO or device swapped in is never read or waited on, and a
//! file replaced since the listing is recorded as the one read.
//!
//! Only the sources named on the command line are reached by path (`EntryAt::path`).

use super::capture::EntryStat;
use rustix::fs::{AtFlags, Mode, OFlags, CWD};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
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

/// Opens a folder, without following a symlink; its `fstat` describes it from then on.
pub fn open_dir(entry: &EntryAt<'_>) -> io::Result<(OwnedFd, EntryStat)> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(entry.dir, entry.name, flags, Mode::empty()).map_err(|e| match e {
        // For a name in an open folder (not a source's path), ENOTDIR means the entry itself
        // is no folder any more: `O_DIRECTORY|O_NOFOLLOW` on a symlink answers that.
        rustix::io::Errno::NOTDIR if entry.dir.as_raw_fd() != CWD.as_raw_fd() => {
            io::Error::other("no longer a folder: replaced while being backed up")
        }
        e => swapped(e),
    })?;
    let stat = stat_open(&fd)?;
    Ok((fd, stat))
}

/// Opens a regular file for reading, without following a symlink; its `fstat` describes it
/// from then on. `O_NONBLOCK` keeps a FIFO or device swapped in since the listing from
/// blocking the open (it is closed unread); it is cleared once `fstat` shows a regular file.
pub fn open_file(entry: &EntryAt<'_>) -> io::Result<(File, EntryStat)> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(entry.dir, entry.name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::WOULDBLOCK) => return open_file_under_lease(entry),
        Err(e) => return Err(swapped(e)),
    };
    let stat = regular_file(&fd)?;
    rustix::fs::fcntl_setfl(&fd, OFlags::empty())?;
    Ok((File::from(fd), stat))
}

/// A file another process holds a write lease on (Samba's oplocks, an NFS server's
/// delegations) refuses a non-blocking open while the lease is being broken. It is opened
/// again blocking, through a descriptor that can only ever be this regular file: `O_PATH`
/// pins the inode without opening it, `fstat` checks its kind, and `/proc/self/fd/N` opens
/// that inode (waiting for the lease to be given back, at most the kernel's lease-break time).
fn open_file_under_lease(entry: &EntryAt<'_>) -> io::Result<(File, EntryStat)> {
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let pinned = rustix::fs::openat(entry.dir, entry.name, flags, Mode::empty()).map_err(swapped)?;
    regular_file(&pinned)?;
    let reopened = File::open(format!("/proc/self/fd/{}", pinned.as_raw_fd()));
    let file = reopened.map_err(|e| io::Error::other(format!("under a lease, and {e} reopening it")))?;
    // Described after the lease was given back: its holder may have written on the way.
    let stat = regular_file(&file)?;
    Ok((file, stat))
}

fn regular_file(fd: impl AsFd) -> io::Result<EntryStat> {
    let stat = stat_open(fd)?;
    if !stat.is_file() {
        return Err(io::Error::other("no longer a regular file: replaced while being backed up"));
    }
    Ok(stat)
}

/// ELOOP from an `O_NOFOLLOW` open: the entry listed became a symlink.
fn swapped(e: rustix::io::Errno) -> io::Error {
    if e == rustix::io::Errno::LOOP {
        return io::Error::other("replaced by a symlink while being backed up");
    }
    e.into()
}

/// The names in an open folder, sorted, without `.` and `..`, read from its own descriptor
/// (which must not have been read from yet).
pub fn sorted_names(dir: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    // Far more than one entry (at most 280 bytes), so the buffer never needs to grow.
    let mut buf = Vec::with_capacity(32 * 1024);
    let mut listing = rustix::fs::RawDir::new(dir, buf.spare_capacity_mut());
    let mut names = Vec::new();
    while let Some(entry) = listing.next() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(name.to_vec());
        }
    }
    names.sort_unstable();
    Ok(names)
}

/// `fstat` of an open entry.
fn stat_open(fd: impl AsFd) -> io::Result<EntryStat> {
    Ok(EntryStat::from(&rustix::fs::fstat(fd)?))
}

/// Raises the soft limit of open files to the hard one, and says how deep a walk may hold
/// folders open: one descriptor per level, and half the limit kept for everything else (site
/// files, sockets, the pipeline's threads). With the usual hard limit (524,288) `PATH_MAX`
/// bounds the depth first; with a hard limit of 1,024 a walk goes 512 levels deep.
pub fn raise_open_file_limit() -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        // Only a help for deep trees: without it a walk stops at a shallower depth.
        let _ = setrlimit(Resource::Nofile, limit);
    }
    let open_files = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    usize::try_from(open_files / 2).unwrap_or(usize::MAX)
}
