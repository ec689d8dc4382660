//! Writing large objects past the page cache (`O_DIRECT`).
//!
//! Why: a pack is written once, fsynced at once, and read again only by a restore or a check,
//! usually much later. A buffered write first copies it into fresh page-cache pages, and that
//! copy is most of what storing costs the CPU: 1 GiB written in 16 MiB pieces with an fsync
//! took 2.3-3.3 s of system time buffered (0.4 s once, when it reused the pages of a file just
//! removed) and 0.17-0.20 s with `O_DIRECT` (`dd bs=16M count=64 conv=fsync`, with and without
//! `oflag=direct`, on the 2-core reference machine, a virtual one). A backup to a local site
//! and a site server receiving packs both spent that time on every byte.
//!
//! How: `O_DIRECT` wants the buffer's address, the file offset and the length aligned to the
//! device's block size. The bytes go through a bounce buffer of [`BOUNCE_LEN`] aligned to
//! [`BLOCK`] (4096, a multiple of every block size Linux file systems use); the last block is
//! padded with zeros and the file then truncated to the object's length. The bounce buffer is
//! one per writing thread and reused, so its pages stay mapped.
//!
//! A file system that refuses `O_DIRECT` (`EINVAL`: tmpfs before Linux 6.6, some FUSE and
//! network file systems) is written buffered, as before, from then on. Durability does not
//! change: the caller still fsyncs the file (`O_DIRECT` does not flush the device's cache or
//! the file's metadata) before giving it its name.

use std::cell::RefCell;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Objects at least this long are written direct; smaller ones (index, snapshots, keys)
/// gain little and are often read back soon.
pub const MIN_LEN: usize = 1 << 20;

/// The alignment `O_DIRECT` asks for, on every file system we meet.
pub const BLOCK: usize = 4096;

/// How much is handed to the kernel per write: large enough that the device sees long
/// requests (1 GiB in 1 MiB direct writes: 0.67 s, as fast as 4 MiB ones), small enough
/// that a writer thread keeps only this much extra memory.
pub const BOUNCE_LEN: usize = 1 << 20;

/// A buffer of [`BOUNCE_LEN`] bytes whose first byte lies on a [`BLOCK`] boundary, as
/// `O_DIRECT` needs of the memory it writes from.
#[derive(Debug)]
pub struct AlignedBuffer {
    bytes: Vec<u8>,
    start: usize,
}

impl AlignedBuffer {
    /// A zeroed buffer; `None` if the allocation's alignment cannot be found out (then write
    /// buffered).
    pub fn new() -> Option<Self> {
        let bytes = vec![0u8; BOUNCE_LEN + BLOCK];
        // `align_offset` may decline to answer (`usize::MAX`).
        let start = bytes.as_ptr().align_offset(BLOCK);
        (start < BLOCK).then_some(Self { bytes, start })
    }

    /// The aligned bytes.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.bytes[self.start..self.start + BOUNCE_LEN]
    }
}

thread_local! {
    /// This thread's bounce buffer, allocated on its first direct write.
    static BOUNCE: RefCell<Option<AlignedBuffer>> = const { RefCell::new(None) };
}

/// Creates `path` (it must not exist) for direct writes.
pub(super) fn create_new(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new().write(true).create_new(true).custom_flags(libc::O_DIRECT).open(path)
}

/// Whether an error means "this file system (or device) does not take direct writes as we
/// issue them", after which the object is written buffered instead.
pub fn refused(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::EINVAL)
}

/// An object's parts as the direct writer takes them: each may be freed once it is copied
/// into the bounce buffer.
pub(super) trait Parts {
    /// How many parts.
    fn count(&self) -> usize;
    /// Part `i`.
    fn part(&self, i: usize) -> &[u8];
    /// Part `i` is copied and no longer needed (the device took a direct write already, so
    /// the object will not be written again buffered). Borrowed parts stay as they are.
    fn release(&mut self, _i: usize) {}
}

impl Parts for &[&[u8]] {
    fn count(&self) -> usize {
        self.len()
    }
    fn part(&self, i: usize) -> &[u8] {
        self[i]
    }
}

/// Parts the writer owns: each is freed once copied, so a 16 MiB pack being written holds
/// less and less memory instead of all of it until the end.
impl Parts for Vec<Vec<u8>> {
    fn count(&self) -> usize {
        self.len()
    }
    fn part(&self, i: usize) -> &[u8] {
        &self[i]
    }
    fn release(&mut self, i: usize) {
        self[i] = Vec::new();
    }
}

/// Writes `parts`, in order, to `file` (opened by [`create_new`], empty), and sets its
/// length to theirs. A refusal ([`refused`]) is returned as such only while every part is
/// still whole, so that the caller can write the object buffered instead; parts are released
/// only after the first direct write went through.
pub(super) fn write_all_parts(file: &mut fs::File, parts: &mut impl Parts) -> io::Result<()> {
    BOUNCE.with_borrow_mut(|bounce| {
        if bounce.is_none() {
            *bounce = AlignedBuffer::new();
        }
        let window =
            bounce.as_mut().ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?.as_mut_slice();
        // Whether every part is still whole: no direct write has gone through yet.
        let (mut filled, mut total, mut all_whole) = (0, 0u64, true);
        let mut write = |bytes: &[u8], all_whole: bool| match file.write_all(bytes) {
            Err(e) if !all_whole && refused(&e) => {
                Err(io::Error::other(format!("direct write refused after earlier ones went through: {e}")))
            }
            other => other,
        };
        for i in 0..parts.count() {
            let mut rest = parts.part(i);
            let mut wrote = false;
            while !rest.is_empty() {
                let n = rest.len().min(window.len() - filled);
                window[filled..filled + n].copy_from_slice(&rest[..n]);
                (filled, rest, total) = (filled + n, &rest[n..], total + n as u64);
                if filled == window.len() {
                    write(window, all_whole)?;
                    (filled, wrote) = (0, true);
                }
            }
            if all_whole && wrote {
                (0..i).for_each(|j| parts.release(j));
                all_whole = false;
            }
            if !all_whole {
                parts.release(i);
            }
        }
        if filled > 0 {
            // A whole block, zero-padded; the truncation below removes the padding.
            let padded = filled.next_multiple_of(BLOCK);
            window[filled..padded].fill(0);
            write(&window[..padded], all_whole)?;
        }
        file.set_len(total)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_is_aligned_and_whole() {
        let mut buffer = AlignedBuffer::new().unwrap();
        let window = buffer.as_mut_slice();
        assert_eq!(window.len(), BOUNCE_LEN);
        assert_eq!(window.as_ptr() as usize % BLOCK, 0);
    }

    #[test]
    fn owned_parts_are_freed_once_the_device_took_a_direct_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut file = match create_new(&path) {
            Err(e) if refused(&e) => return eprintln!("this file system takes no direct writes"),
            other => other.unwrap(),
        };
        let parts: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; BOUNCE_LEN / 2 + 7]).collect();
        let expected = parts.concat();
        let mut owned = parts.clone();
        write_all_parts(&mut file, &mut owned).unwrap();
        assert!(owned.iter().all(|part| part.capacity() == 0), "every part freed");
        assert!(fs::read(&path).unwrap() == expected);
        // Shorter than the bounce buffer: written at the very end, so nothing is freed
        // before the device took it (a refusal could still fall back to buffered).
        let path = dir.path().join("g");
        let mut small = vec![vec![1u8; 100], vec![2u8; 200]];
        write_all_parts(&mut create_new(&path).unwrap(), &mut small).unwrap();
        assert_eq!(small.iter().map(Vec::len).collect::<Vec<_>>(), vec![100, 200], "kept whole");
        assert_eq!(fs::read(&path).unwrap().len(), 300);
    }

    #[test]
    fn files_are_really_opened_direct() {
        // Only a direct file refuses a write that is not block-aligned: proof that the flag
        // is in effect, and that the refusal is recognised (it is what sends a file system
        // that cannot do direct writes to the buffered path).
        let dir = tempfile::tempdir().unwrap();
        let mut file = match create_new(&dir.path().join("f")) {
            Err(e) if refused(&e) => return eprintln!("this file system takes no direct writes"),
            other => other.unwrap(),
        };
        let mut buffer = AlignedBuffer::new().unwrap();
        let err = file.write_all(&buffer.as_mut_slice()[1..BLOCK + 1]).unwrap_err();
        assert!(refused(&err), "{err}");
    }
}
