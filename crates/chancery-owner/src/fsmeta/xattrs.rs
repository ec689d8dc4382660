//! An entry's own extended attributes (never a symlink's target's), sorted by name: from the
//! open descriptor of a folder or of a file being read; for any other entry, relative to its
//! open folder with `listxattrat`/`getxattrat` (Linux 6.13 and later), else by path.
//!
//! A filesystem without extended attribute support yields none, not an error.

use super::at::EntryAt;
use chancery_format::tree::Xattr;
use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Of the entry, read relative to its folder when the kernel can.
pub fn of_entry(entry: &EntryAt<'_>) -> io::Result<Vec<Xattr>> {
    if xattrat_available() {
        of_entry_at(entry)
    } else {
        of_entry_by_path(entry)
    }
}

/// With `listxattrat`/`getxattrat` relative to the entry's open folder.
pub(crate) fn of_entry_at(entry: &EntryAt<'_>) -> io::Result<Vec<Xattr>> {
    read_all(
        |buf| with_c_str(entry.name, |name| sys::listxattrat(entry.dir, name, buf)),
        |attr, buf| with_c_str(entry.name, |name| sys::getxattrat(entry.dir, name, attr, buf)),
    )
}

/// Without the `*xattrat` calls (kernels before 6.13): by full path, as `llistxattr` and
/// `lgetxattr` take it; a folder above the entry swapped for a symlink meanwhile would be
/// followed there. When the path no longer leads to the entry (a folder above it renamed),
/// by `/proc/self/fd/<folder>/<name>`, which reaches it through its open folder. Not that way
/// first: a lookup through `/proc`'s magic links costs about twice a full path's.
pub(crate) fn of_entry_by_path(entry: &EntryAt<'_>) -> io::Result<Vec<Xattr>> {
    match by_path(entry.path) {
        Err(e) if path_gone(&e) => match through_proc(entry) {
            Some(path) => by_path(&path),
            None => Err(e),
        },
        read => read,
    }
}

fn by_path(path: &Path) -> io::Result<Vec<Xattr>> {
    read_all(
        |buf| rustix::fs::llistxattr(path, buf).map_err(io::Error::from),
        |attr, buf| rustix::fs::lgetxattr(path, attr, buf).map_err(io::Error::from),
    )
}

fn path_gone(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP))
}

/// `/proc/self/fd/<folder>/<name>`, unless the entry is a source or `/proc` is not mounted.
pub(crate) fn through_proc(entry: &EntryAt<'_>) -> Option<PathBuf> {
    static PROC: OnceLock<bool> = OnceLock::new();
    let folder = entry.dir.as_raw_fd();
    let mounted = *PROC.get_or_init(|| std::fs::symlink_metadata("/proc/self/fd").is_ok());
    (mounted && folder != rustix::fs::CWD.as_raw_fd())
        .then(|| Path::new(&format!("/proc/self/fd/{folder}")).join(OsStr::from_bytes(entry.name)))
}

/// Of an open file or folder.
pub fn of_open(fd: impl AsFd) -> io::Result<Vec<Xattr>> {
    let fd = fd.as_fd();
    read_all(
        |buf| rustix::fs::flistxattr(fd, buf).map_err(io::Error::from),
        |attr, buf| rustix::fs::fgetxattr(fd, attr, buf).map_err(io::Error::from),
    )
}

/// ENOTSUP (== EOPNOTSUPP on Linux): the filesystem has no extended attributes at all.
pub(super) fn is_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(code) if code == libc::ENOTSUP || code == libc::EOPNOTSUPP)
}

/// Calls `f` with `bytes` NUL-terminated, on the stack when short (names almost always are).
fn with_c_str<T>(bytes: &[u8], f: impl FnOnce(&CStr) -> io::Result<T>) -> io::Result<T> {
    let mut stack = [0u8; 256];
    if bytes.len() < stack.len() {
        stack[..bytes.len()].copy_from_slice(bytes);
        let name = CStr::from_bytes_with_nul(&stack[..=bytes.len()]).map_err(io::Error::other)?;
        return f(name);
    }
    f(&CString::new(bytes)?)
}

type Call<'a> = dyn Fn(&mut [u8]) -> io::Result<usize> + 'a;

/// Lists the names with `list`, then reads each value with `get`.
fn read_all(
    list: impl Fn(&mut [u8]) -> io::Result<usize>,
    get: impl Fn(&CStr, &mut [u8]) -> io::Result<usize>,
) -> io::Result<Vec<Xattr>> {
    let names = match sized(&list) {
        Ok(names) => names,
        Err(e) if is_unsupported(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for name in names.split(|&b| b == 0).filter(|name| !name.is_empty()) {
        let value = with_c_str(name, |attr| match sized(&|buf: &mut [u8]| get(attr, buf)) {
            Ok(value) => Ok(Some(value)),
            // Removed between the list and the get: nothing to record.
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => Ok(None),
            Err(e) => Err(e),
        })?;
        if let Some(value) = value {
            out.push(Xattr { name: name.to_vec(), value });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The answer of `call`, given a buffer big enough: most entries have no extended
/// attributes, so a small stack buffer answers in one call without allocating; ERANGE
/// (the answer grew past the buffer) asks for the size with an empty buffer and tries again.
fn sized(call: &Call<'_>) -> io::Result<Vec<u8>> {
    let mut first = [0u8; 256];
    let mut buf = match call(&mut first) {
        Ok(n) => return Ok(first[..n].to_vec()),
        Err(e) if e.raw_os_error() == Some(libc::ERANGE) => Vec::new(),
        Err(e) => return Err(e),
    };
    loop {
        let needed = call(&mut [])?;
        buf.resize(needed.max(buf.len() * 2).max(first.len() * 2), 0);
        match call(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(e) if e.raw_os_error() == Some(libc::ERANGE) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Whether this kernel has the `*xattrat` calls (Linux 6.13+). Any error but those a real
/// call gives means "no": a sandbox that filters system calls it does not know may answer
/// EPERM, EACCES or anything else instead of ENOSYS.
pub(crate) fn xattrat_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| XATTRAT_NUMBERED && probe_xattrat())
}

/// Both calls on `/`: a list, and an attribute no one sets (ENODATA, or ENOTSUP where `/` has
/// no user attributes, are answers of a kernel that has the call).
fn probe_xattrat() -> bool {
    let listed = sys::listxattrat(rustix::fs::CWD, c"/", &mut []).is_ok();
    let got = match sys::getxattrat(rustix::fs::CWD, c"/", c"user.chancery.probe", &mut []) {
        Ok(_) => true,
        Err(e) => matches!(e.raw_os_error(), Some(libc::ENODATA)) || is_unsupported(&e),
    };
    listed && got
}

/// Where the numbers below are those of the `*xattrat` calls: every Linux architecture that
/// numbers new system calls alike (not alpha, MIPS or ia64, which offset them). Elsewhere the
/// calls are taken as missing and never made.
const XATTRAT_NUMBERED: bool = cfg!(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64",
        target_arch = "loongarch64",
        target_arch = "powerpc64",
        target_arch = "s390x"
    )
));

/// The raw `*xattrat` system calls; the `libc` crate does not name them yet for most targets.
/// Only called once [`xattrat_available`] said yes.
mod sys {
    use std::ffi::{c_uint, CStr};
    use std::io;
    use std::os::fd::{AsRawFd, BorrowedFd};

    const SYS_GETXATTRAT: libc::c_long = 464;
    const SYS_LISTXATTRAT: libc::c_long = 465;
    /// `struct xattr_args` of `getxattrat(2)`.
    #[repr(C)]
    struct XattrArgs {
        value: u64,
        size: u32,
        flags: u32,
    }

    /// `listxattrat(dir, name, AT_SYMLINK_NOFOLLOW, buf, buf.len())`.
    #[allow(unsafe_code)]
    pub fn listxattrat(dir: BorrowedFd<'_>, name: &CStr, buf: &mut [u8]) -> io::Result<usize> {
        let flags = libc::AT_SYMLINK_NOFOLLOW as c_uint;
        // SAFETY: `name` is a NUL-terminated string that outlives the call; the kernel writes
        // at most `buf.len()` bytes into `buf`, which is valid and exclusively borrowed for
        // that long (an empty slice's dangling pointer is never written: the size is 0).
        let n = unsafe {
            libc::syscall(SYS_LISTXATTRAT, dir.as_raw_fd(), name.as_ptr(), flags, buf.as_mut_ptr(), buf.len())
        };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }

    /// `getxattrat(dir, name, AT_SYMLINK_NOFOLLOW, attr, {buf, buf.len()}, sizeof args)`.
    #[allow(unsafe_code)]
    pub fn getxattrat(dir: BorrowedFd<'_>, name: &CStr, attr: &CStr, buf: &mut [u8]) -> io::Result<usize> {
        let flags = libc::AT_SYMLINK_NOFOLLOW as c_uint;
        let size = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        let mut args = XattrArgs { value: buf.as_mut_ptr() as u64, size, flags: 0 };
        // SAFETY: `name` and `attr` are NUL-terminated strings that outlive the call; `args` is
        // a valid `struct xattr_args` whose `size` is at most `buf.len()`, so the kernel writes
        // only into `buf`, which is valid and exclusively borrowed for the call.
        let n = unsafe {
            libc::syscall(
                SYS_GETXATTRAT,
                dir.as_raw_fd(),
                name.as_ptr(),
                flags,
                attr.as_ptr(),
                &mut args as *mut XattrArgs,
                std::mem::size_of::<XattrArgs>(),
            )
        };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }
}
