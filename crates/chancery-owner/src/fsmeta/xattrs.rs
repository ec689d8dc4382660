//! An entry's own extended attributes (never a symlink's target's), sorted by name: relative to
//! its open folder with `listxattrat`/`getxattrat` (Linux 6.13 and later), from an open
//! descriptor, or by path where the kernel lacks the `*xattrat` calls.
//!
//! A filesystem without extended attribute support yields none, not an error.

use super::at::EntryAt;
use chancery_format::tree::Xattr;
use std::ffi::{c_uint, CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::OnceLock;

/// Of the entry, read relative to its folder when the kernel can.
pub fn of_entry(entry: &EntryAt<'_>) -> io::Result<Vec<Xattr>> {
    if xattrat_available() {
        read_all(
            |buf| with_c_str(entry.name, |name| listxattrat(entry.dir, name, buf)),
            |attr, buf| with_c_str(entry.name, |name| getxattrat(entry.dir, name, attr, buf)),
        )
    } else {
        read_all(
            |buf| rustix::fs::llistxattr(entry.path, buf).map_err(io::Error::from),
            |attr, buf| rustix::fs::lgetxattr(entry.path, attr, buf).map_err(io::Error::from),
        )
    }
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

/// Whether this kernel has the `*xattrat` calls (Linux 6.13+). A sandbox that filters
/// system calls it does not know may answer EPERM instead of ENOSYS; either means "no".
pub(crate) fn xattrat_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| match listxattrat(rustix::fs::CWD, c"/", &mut []) {
        Ok(_) => true,
        Err(e) => !matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)),
    })
}

// The same numbers on every architecture (system calls added since Linux 5.1 share them).
// The `libc` crate does not name them yet for most targets.
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
fn listxattrat(dir: BorrowedFd<'_>, name: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    let flags = libc::AT_SYMLINK_NOFOLLOW as c_uint;
    // SAFETY: `name` is a NUL-terminated string that outlives the call; the kernel writes at
    // most `buf.len()` bytes into `buf`, which is valid and exclusively borrowed for that long
    // (an empty slice's dangling pointer is never written: the size is 0).
    let n = unsafe {
        libc::syscall(SYS_LISTXATTRAT, dir.as_raw_fd(), name.as_ptr(), flags, buf.as_mut_ptr(), buf.len())
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// `getxattrat(dir, name, AT_SYMLINK_NOFOLLOW, attr, {buf, buf.len()}, sizeof args)`.
#[allow(unsafe_code)]
fn getxattrat(dir: BorrowedFd<'_>, name: &CStr, attr: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    let flags = libc::AT_SYMLINK_NOFOLLOW as c_uint;
    let size = u32::try_from(buf.len()).unwrap_or(u32::MAX);
    let mut args = XattrArgs { value: buf.as_mut_ptr() as u64, size, flags: 0 };
    // SAFETY: `name` and `attr` are NUL-terminated strings that outlive the call; `args` is a
    // valid `struct xattr_args` whose `size` is at most `buf.len()`, so the kernel writes only
    // into `buf`, which is valid and exclusively borrowed for the call.
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
