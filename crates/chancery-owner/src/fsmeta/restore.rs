//! Recreating filesystem entries and their metadata from [`Node`]s.

use super::sparse::SparseWriter;
use super::xattrs::is_unsupported;
use chancery_format::tree::{Node, NodeKind};
use chancery_store::fs::direct;
use filetime::FileTime;
use nix::sys::stat::{mknod, Mode, SFlag};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of files and specials while they are being restored: private to the restoring user
/// until [`Restorer::apply_metadata`] sets the real mode.
const WORKING_FILE_MODE: u32 = 0o600;
/// Mode of directories while their children are restored: writable by us whatever the final
/// mode will be.
const WORKING_DIR_MODE: u32 = 0o700;

/// How a regular file's restore goes on after [`Restorer::begin_file`].
pub enum FileStart {
    /// A new empty file: write its content, then call [`SparseWriter::finish`].
    Write(SparseWriter),
    /// A hard link to a file already restored in this run: its content is already there.
    Linked,
}

/// Recreates entries and applies their metadata, remembering hard-linked files of this run.
///
/// The caller drives the walk; for each entry it creates it ([`begin_file`](Self::begin_file),
/// [`create_dir`](Self::create_dir) or [`create_special`](Self::create_special)), then calls
/// [`apply_metadata`](Self::apply_metadata) — for a directory only after all its children.
pub struct Restorer {
    is_root: bool,
    /// (dev, inode) of the original, to the path restored for it, for files with nlink > 1.
    links: HashMap<(u64, u64), PathBuf>,
    /// Whether large files are opened `O_DIRECT`: until the file system refuses.
    direct_writes: bool,
}

impl Restorer {
    /// A restorer for this run. `is_root_user` enables what only root may do: setting
    /// ownership and creating device nodes. See [`running_as_root`](Self::running_as_root).
    pub fn new(is_root_user: bool) -> Self {
        Self { is_root: is_root_user, links: HashMap::new(), direct_writes: true }
    }

    /// Whether this process runs with effective uid 0.
    pub fn running_as_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    /// Starts restoring the regular file `node` at `path`.
    ///
    /// If the original was hard-linked (nlink > 1) and another name of the same original
    /// (same dev and inode) was already restored by this restorer, `path` becomes a hard link
    /// to it and [`FileStart::Linked`] is returned. If that link cannot be made (e.g. the
    /// target spans filesystems), the file is written as a separate copy instead: the content
    /// is still right, only the sharing is lost.
    ///
    /// Otherwise a new file is created with mode 0o600. Any non-directory already at `path` is
    /// removed first rather than truncated: truncating would write through a symlink or into
    /// the other names of a hard-linked file.
    pub fn begin_file(&mut self, path: &Path, node: &Node) -> io::Result<FileStart> {
        let key = (node.dev, node.inode);
        if node.nlink > 1 {
            if let Some(first) = self.links.get(&key) {
                remove_existing(path)?;
                if fs::hard_link(first, path).is_ok() {
                    return Ok(FileStart::Linked);
                }
            }
        }
        let writer = self.create_writer(path, node.size)?;
        if node.nlink > 1 {
            self.links.entry(key).or_insert_with(|| path.to_path_buf());
        }
        Ok(FileStart::Write(writer))
    }

    /// A new file at `path` and its writer: direct for a large file where the file system
    /// takes it (see [`SparseWriter`]).
    fn create_writer(&mut self, path: &Path, size: u64) -> io::Result<SparseWriter> {
        if self.direct_writes && size >= direct::MIN_LEN as u64 {
            match create_new_file(path, libc::O_DIRECT) {
                Ok(file) => return Ok(SparseWriter::direct(file)),
                Err(e) if direct::refused(&e) => self.direct_writes = false,
                Err(e) => return Err(e),
            }
        }
        create_new_file(path, 0).map(SparseWriter::new)
    }

    /// Creates the directory `path` (mode 0o700 until its metadata is applied); an existing
    /// directory is fine.
    pub fn create_dir(&mut self, path: &Path) -> io::Result<()> {
        match DirBuilder::new().mode(WORKING_DIR_MODE).create(path) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && is_real_dir(path) => Ok(()),
            other => other,
        }
    }

    /// Creates a symlink, fifo or device node for `node` at `path`, replacing any
    /// non-directory already there. Sockets are skipped (`Ok`, nothing created): a socket
    /// only means something to the process that listens on it.
    ///
    /// Device nodes need root; otherwise this fails with `PermissionDenied`.
    pub fn create_special(&mut self, path: &Path, node: &Node) -> io::Result<()> {
        match &node.kind {
            NodeKind::Symlink { target } => {
                remove_existing(path)?;
                std::os::unix::fs::symlink(OsStr::from_bytes(target), path)
            }
            NodeKind::Fifo => {
                remove_existing(path)?;
                Ok(nix::unistd::mkfifo(path, working_mode())?)
            }
            NodeKind::CharDevice { rdev } => self.make_device(path, SFlag::S_IFCHR, *rdev),
            NodeKind::BlockDevice { rdev } => self.make_device(path, SFlag::S_IFBLK, *rdev),
            NodeKind::Socket => Ok(()),
            NodeKind::File { .. } | NodeKind::Dir { .. } => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: not a special file (use begin_file or create_dir)", path.display()),
            )),
        }
    }

    /// Applies `node`'s metadata to the restored entry at `path`, in the order that keeps
    /// each step from undoing or blocking the next:
    ///
    /// 1. ownership (root only; `lchown`, never following a symlink);
    /// 2. extended attributes (not following symlinks) — after chown, which clears
    ///    `security.capability`, and before chmod, because a non-root user needs write
    ///    permission to set `user.*` attributes;
    /// 3. permissions `mode & 0o7777` (not on symlinks, which have none) — after chown,
    ///    which clears the set-uid and set-gid bits;
    /// 4. modification time to the nanosecond (atime is set to the same), last because
    ///    every step above may touch the entry.
    ///
    /// Call it on a directory only after all its children are restored: creating children
    /// changes the directory's mtime, and a read-only final mode would block creating them.
    ///
    /// Returns warnings for what could not be restored but does not make the entry wrong:
    /// extended attributes refused with EPERM/EACCES (e.g. `trusted.*` or `security.*` as
    /// non-root, `user.*` on a symlink) or unsupported by the target filesystem. Sockets are
    /// skipped, as in [`create_special`](Self::create_special).
    pub fn apply_metadata(&self, path: &Path, node: &Node) -> io::Result<Vec<String>> {
        if matches!(node.kind, NodeKind::Socket) {
            return Ok(Vec::new());
        }
        if self.is_root {
            std::os::unix::fs::lchown(path, Some(node.uid), Some(node.gid))?;
        }
        let warnings = restore_xattrs(path, node)?;
        if !matches!(node.kind, NodeKind::Symlink { .. }) {
            fs::set_permissions(path, Permissions::from_mode(node.mode & 0o7777))?;
        }
        let mtime = FileTime::from_unix_time(node.mtime_sec, node.mtime_nsec);
        // The symlink variant uses AT_SYMLINK_NOFOLLOW, which is right for every kind.
        filetime::set_symlink_file_times(path, mtime, mtime)?;
        Ok(warnings)
    }

    /// [`apply_metadata`](Self::apply_metadata) for a regular file just written, through its
    /// open descriptor: no path lookup for owner, mode and times (a restore of many small
    /// files spends much of its time looking names up otherwise).
    pub fn apply_file_metadata(&self, file: &fs::File, path: &Path, node: &Node) -> io::Result<Vec<String>> {
        if self.is_root {
            std::os::unix::fs::fchown(file, Some(node.uid), Some(node.gid))?;
        }
        let warnings = if node.xattrs.is_empty() { Vec::new() } else { restore_xattrs(path, node)? };
        file.set_permissions(Permissions::from_mode(node.mode & 0o7777))?;
        let mtime = FileTime::from_unix_time(node.mtime_sec, node.mtime_nsec);
        filetime::set_file_handle_times(file, Some(mtime), Some(mtime))?;
        Ok(warnings)
    }

    fn make_device(&self, path: &Path, kind: SFlag, rdev: u64) -> io::Result<()> {
        if !self.is_root {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{}: creating a device node requires root", path.display()),
            ));
        }
        remove_existing(path)?;
        Ok(mknod(path, kind, working_mode(), rdev as libc::dev_t)?)
    }
}

/// Sets each xattr of `node` on `path`; refusals that only lose the attribute become warnings.
fn restore_xattrs(path: &Path, node: &Node) -> io::Result<Vec<String>> {
    let mut warnings = Vec::new();
    for x in &node.xattrs {
        let name = OsStr::from_bytes(&x.name);
        match xattr::set(path, name, &x.value) {
            Ok(()) => {}
            Err(e) if is_refused(&e) => warnings.push(format!(
                "{}: extended attribute {} not restored: {e}",
                path.display(),
                String::from_utf8_lossy(&x.name)
            )),
            Err(e) => return Err(e),
        }
    }
    Ok(warnings)
}

/// Errors that mean "not allowed or not supported here", as opposed to an I/O failure.
fn is_refused(e: &io::Error) -> bool {
    is_unsupported(e) || matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES))
}

fn working_mode() -> Mode {
    Mode::from_bits_truncate(WORKING_FILE_MODE as libc::mode_t)
}

/// Removes a non-directory entry at `path`, if any, so that a new one can take its place.
/// A directory is left alone: the create that follows then fails with `AlreadyExists`.
/// Creates `path` as a new, empty file, replacing any non-directory there. It tries to create
/// first and looks at what is in the way only when something is: a restore into a new folder
/// (the common case) then costs no lookup per file.
fn create_new_file(path: &Path, flags: i32) -> io::Result<fs::File> {
    let create = || {
        OpenOptions::new().write(true).create_new(true).mode(WORKING_FILE_MODE).custom_flags(flags).open(path)
    };
    match create() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            remove_existing(path)?;
            create()
        }
        other => other,
    }
}

fn remove_existing(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if !meta.is_dir() => fs::remove_file(path),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// A directory itself, not a symlink to one.
fn is_real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}
