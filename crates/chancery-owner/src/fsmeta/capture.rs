//! Reading one filesystem entry into a [`Node`].

use chancery_format::tree::{Node, NodeKind, Xattr};
use chancery_format::BlobId;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Builds the [`Node`] for the entry at `path`, named `name` in its directory.
///
/// `meta` must come from [`fs::symlink_metadata`] (or `DirEntry::metadata`), never from a call
/// that follows symlinks. Nothing here follows a symlink: the link target is read as bytes and
/// the link's own extended attributes are recorded.
///
/// A file's `content` is left empty and a directory's `subtree` is a zero placeholder: the
/// caller fills them once it has stored the content. A directory's `size` is recorded as 0,
/// because `st_size` of a directory is a filesystem detail (a block count on ext4, an entry
/// count on tmpfs) that a restore cannot reproduce and that would make trees differ for
/// nothing. A filesystem without extended attribute support yields no xattrs, not an error.
pub fn capture(path: &Path, name: &[u8], meta: &Metadata) -> io::Result<Node> {
    let kind = kind_of(path, meta)?;
    let size = if matches!(kind, NodeKind::Dir { .. }) { 0 } else { meta.size() };
    Ok(Node {
        name: name.to_vec(),
        kind,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        size,
        mtime_sec: meta.mtime(),
        mtime_nsec: nsec(meta.mtime_nsec()),
        ctime_sec: meta.ctime(),
        ctime_nsec: nsec(meta.ctime_nsec()),
        inode: meta.ino(),
        dev: meta.dev(),
        nlink: meta.nlink(),
        xattrs: read_xattrs(path)?,
    })
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

/// The node kind; reads the link target for symlinks.
fn kind_of(path: &Path, meta: &Metadata) -> io::Result<NodeKind> {
    let ft = meta.file_type();
    let kind = if ft.is_file() {
        NodeKind::File { content: Vec::new() }
    } else if ft.is_dir() {
        NodeKind::Dir { subtree: BlobId([0u8; 32]) }
    } else if ft.is_symlink() {
        NodeKind::Symlink { target: fs::read_link(path)?.into_os_string().into_vec() }
    } else if ft.is_fifo() {
        NodeKind::Fifo
    } else if ft.is_char_device() {
        NodeKind::CharDevice { rdev: meta.rdev() }
    } else if ft.is_block_device() {
        NodeKind::BlockDevice { rdev: meta.rdev() }
    } else if ft.is_socket() {
        NodeKind::Socket
    } else {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{}: unknown file type", path.display()),
        ));
    };
    Ok(kind)
}

/// Nanoseconds are always in 0..1e9; the fallback only guards against a corrupt stat.
fn nsec(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

/// The entry's own extended attributes (the `xattr` crate's non-`_deref` calls use
/// `llistxattr`/`lgetxattr`), sorted by name.
fn read_xattrs(path: &Path) -> io::Result<Vec<Xattr>> {
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) if is_unsupported(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for name in names {
        // `None`: removed between list and get; nothing to record.
        if let Some(value) = xattr::get(path, &name)? {
            out.push(Xattr { name: name.as_bytes().to_vec(), value });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// ENOTSUP (== EOPNOTSUPP on Linux): the filesystem has no extended attributes at all.
pub(super) fn is_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(code) if code == libc::ENOTSUP || code == libc::EOPNOTSUPP)
}
