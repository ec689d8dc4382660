//! Reading one filesystem entry into a [`Node`].

use super::at::{self, EntryAt};
use super::xattrs;
use chancery_format::tree::{Node, NodeKind, Xattr};
use chancery_format::BlobId;
use rustix::fs::FileType;
use std::fs::Metadata;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Builds the [`Node`] for the entry at `path`, named `name` in its directory.
///
/// `meta` must come from [`std::fs::symlink_metadata`] (or `DirEntry::metadata`), never from a call
/// that follows symlinks. Nothing here follows a symlink: the link target is read as bytes and
/// the link's own extended attributes are recorded.
pub fn capture(path: &Path, name: &[u8], meta: &Metadata) -> io::Result<Node> {
    capture_at(&EntryAt::path(path), name, &EntryStat::from(meta))
}

/// Builds the [`Node`] for `entry`, named `name`, which a `stat` without following symlinks
/// described as `stat`; its symlink target and extended attributes are read relative to its
/// folder.
///
/// A file's `content` is left empty and a directory's `subtree` is a zero placeholder: the
/// caller fills them once it has stored the content. A directory's `size` is recorded as 0,
/// because `st_size` of a directory is a filesystem detail (a block count on ext4, an entry
/// count on tmpfs) that a restore cannot reproduce and that would make trees differ for
/// nothing.
pub fn capture_at(entry: &EntryAt<'_>, name: &[u8], stat: &EntryStat) -> io::Result<Node> {
    let kind = kind_of(stat, || at::read_link(entry), entry.path)?;
    Ok(node(name, kind, stat, xattrs::of_entry(entry)?))
}

/// Builds the [`Node`] of an open file or folder, named `name`, from its `fstat` and the
/// extended attributes read from its descriptor: the node describes what was read.
pub fn capture_open(fd: impl AsFd, name: &[u8], stat: &EntryStat, path: &Path) -> io::Result<Node> {
    let no_link = || Err(io::Error::other("an open file is no symlink"));
    let kind = kind_of(stat, no_link, path)?;
    Ok(node(name, kind, stat, xattrs::of_open(fd)?))
}

/// The [`Node`] of a regular file as `stat` describes it, without its extended attributes:
/// enough to tell whether it changed since the parent snapshot before reading anything more.
pub fn listed_file(name: &[u8], stat: &EntryStat) -> Node {
    node(name, NodeKind::File { content: Vec::new() }, stat, Vec::new())
}

fn node(name: &[u8], kind: NodeKind, stat: &EntryStat, xattrs: Vec<Xattr>) -> Node {
    let size = if matches!(kind, NodeKind::Dir { .. }) { 0 } else { stat.size };
    Node {
        name: name.to_vec(),
        kind,
        mode: stat.mode & 0o7777,
        uid: stat.uid,
        gid: stat.gid,
        size,
        mtime_sec: stat.mtime_sec,
        mtime_nsec: stat.mtime_nsec,
        ctime_sec: stat.ctime_sec,
        ctime_nsec: stat.ctime_nsec,
        inode: stat.ino,
        dev: stat.dev,
        nlink: stat.nlink,
        xattrs,
    }
}

/// What a `stat` said of an entry, whichever call gave it (`std`'s metadata at a source,
/// `statat`/`fstat` during a walk).
#[derive(Clone, Copy, Debug)]
pub struct EntryStat {
    /// `st_mode`, file type bits included.
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) size: u64,
    pub(crate) mtime_sec: i64,
    pub(crate) mtime_nsec: u32,
    pub(crate) ctime_sec: i64,
    pub(crate) ctime_nsec: u32,
    pub(crate) ino: u64,
    pub(crate) dev: u64,
    pub(crate) nlink: u64,
    pub(crate) rdev: u64,
}

impl EntryStat {
    fn file_type(&self) -> FileType {
        FileType::from_raw_mode(self.mode)
    }

    /// A folder.
    pub fn is_dir(&self) -> bool {
        self.file_type() == FileType::Directory
    }

    /// A regular file.
    pub fn is_file(&self) -> bool {
        self.file_type() == FileType::RegularFile
    }
}

impl From<&Metadata> for EntryStat {
    fn from(meta: &Metadata) -> Self {
        Self {
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
            size: meta.size(),
            mtime_sec: meta.mtime(),
            mtime_nsec: nsec(meta.mtime_nsec()),
            ctime_sec: meta.ctime(),
            ctime_nsec: nsec(meta.ctime_nsec()),
            ino: meta.ino(),
            dev: meta.dev(),
            nlink: meta.nlink(),
            rdev: meta.rdev(),
        }
    }
}

// The field types of `struct stat` differ between architectures; `as` converts each to the
// width the kernel guarantees (sizes and times are never negative for a real entry).
#[allow(clippy::unnecessary_cast)]
impl From<&rustix::fs::Stat> for EntryStat {
    fn from(st: &rustix::fs::Stat) -> Self {
        Self {
            mode: st.st_mode as u32,
            uid: st.st_uid as u32,
            gid: st.st_gid as u32,
            size: st.st_size as u64,
            mtime_sec: st.st_mtime as i64,
            mtime_nsec: nsec(st.st_mtime_nsec as i64),
            ctime_sec: st.st_ctime as i64,
            ctime_nsec: nsec(st.st_ctime_nsec as i64),
            ino: st.st_ino as u64,
            dev: st.st_dev as u64,
            nlink: st.st_nlink as u64,
            rdev: st.st_rdev as u64,
        }
    }
}

/// True when `new` is the same regular file as `old`, apparently untouched since: same size,
/// mtime, ctime (both to the nanosecond) and inode. ctime catches writers that reset mtime;
/// the inode catches a file replaced by another one (e.g. an atomic rename). The device is not
/// compared because some filesystems (btrfs subvolumes, NFS) report a different one across
/// mounts, which would force a needless re-read of everything.
pub fn same_file_unchanged(old: &Node, new: &Node) -> bool {
    let both_files = matches!(old.kind, NodeKind::File { .. }) && matches!(new.kind, NodeKind::File { .. });
    both_files
        && old.size == new.size
        && old.mtime_sec == new.mtime_sec
        && old.mtime_nsec == new.mtime_nsec
        && old.ctime_sec == new.ctime_sec
        && old.ctime_nsec == new.ctime_nsec
        && old.inode == new.inode
}

/// The node kind; `read_link` gives a symlink's target.
fn kind_of(
    stat: &EntryStat,
    read_link: impl FnOnce() -> io::Result<Vec<u8>>,
    path: &Path,
) -> io::Result<NodeKind> {
    let kind = match stat.file_type() {
        FileType::RegularFile => NodeKind::File { content: Vec::new() },
        FileType::Directory => NodeKind::Dir { subtree: BlobId([0u8; 32]) },
        FileType::Symlink => NodeKind::Symlink { target: read_link()? },
        FileType::Fifo => NodeKind::Fifo,
        FileType::CharacterDevice => NodeKind::CharDevice { rdev: stat.rdev },
        FileType::BlockDevice => NodeKind::BlockDevice { rdev: stat.rdev },
        FileType::Socket => NodeKind::Socket,
        FileType::Unknown => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{}: unknown file type", path.display()),
            ))
        }
    };
    Ok(kind)
}

/// Nanoseconds are always in 0..1e9; the fallback only guards against a corrupt stat.
fn nsec(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(0)
}
