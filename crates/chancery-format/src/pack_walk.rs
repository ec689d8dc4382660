//! A pack read front to back, through a window: every byte hashed once as it arrives, and each
//! sealed blob handed out (mutable, so that it can be opened in place) without the whole pack
//! ever being held. What `check --read-data` does with every pack; the memory it needs is the
//! window or the largest blob, whichever is larger, not the pack's size.
//!
//! The verdict is the one a reader of the whole pack would reach ([`read_header`] on its
//! bytes, then each blob at its offset), with one difference: blobs are visited in the order
//! of their offsets, and blobs that overlap are refused as such (a reader of the whole pack
//! that opens blobs in place fails the second of two overlapping blobs instead).

use crate::error::FormatError;
use crate::id::ObjectId;
use crate::keys::Keys;
use crate::pack::{header_len, read_header, PackEntry, PACK_PREFIX_LEN};
use std::fmt;
use std::io::{self, Read};

/// Bytes read (and hashed) at a time: large enough for BLAKE3 to hash many 1 KiB chunks side
/// by side and for few read calls, small beside a 16 MiB pack.
pub const WALK_WINDOW: usize = 1 << 20;

/// What is wrong with a pack's structure or with one of its blobs.
#[derive(Debug)]
pub enum WalkError<E> {
    /// The prefix or the sealed header does not read.
    Header(FormatError),
    /// The header places a blob (partly) past the end of the pack.
    BeyondEnd,
    /// The header places two blobs over the same bytes.
    Overlap,
    /// The visitor refused a blob.
    Blob(E),
}

impl<E: fmt::Display> fmt::Display for WalkError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalkError::Header(e) => write!(f, "header: {e}"),
            WalkError::BeyondEnd => f.write_str("blob beyond end of pack"),
            WalkError::Overlap => f.write_str("blobs overlap in the pack header"),
            WalkError::Blob(e) => e.fmt(f),
        }
    }
}

/// A pack walked to its end: its id (the BLAKE3 of every byte, to compare with its name), its
/// length, and the first thing found wrong in it, if any.
#[derive(Debug)]
pub struct WalkedPack<E> {
    /// The id of the bytes read.
    pub id: ObjectId,
    /// How many bytes were read.
    pub len: u64,
    /// `Err` at the first fault of the header or of a blob; the walk then only hashes the rest.
    pub verdict: Result<(), WalkError<E>>,
}

/// Walks the pack `source` yields: decrypts its header, hands each blob the header lists to
/// `visit` in the order of their offsets (its entry, and its sealed bytes, which the visitor
/// may overwrite), and reads on to the end for the hash. `buf` is the window, reused from pack
/// to pack by a caller that walks many. An `Err` is a failure to read `source`.
pub fn walk_pack<R: Read, E>(
    keys: &Keys,
    source: R,
    buf: &mut Vec<u8>,
    visit: impl FnMut(&PackEntry, &mut [u8]) -> Result<(), E>,
) -> io::Result<WalkedPack<E>> {
    walk_pack_windowed(keys, source, buf, WALK_WINDOW, visit)
}

/// [`walk_pack`] reading `window` bytes at a time (tests and fuzzing use small windows, to
/// put blob boundaries everywhere in them).
pub fn walk_pack_windowed<R: Read, E>(
    keys: &Keys,
    source: R,
    buf: &mut Vec<u8>,
    window: usize,
    mut visit: impl FnMut(&PackEntry, &mut [u8]) -> Result<(), E>,
) -> io::Result<WalkedPack<E>> {
    buf.clear();
    let mut w = Window {
        source,
        buf,
        window: window.max(1),
        start: 0,
        base: 0,
        hasher: blake3::Hasher::new(),
        eof: false,
    };
    let verdict = visit_blobs(keys, &mut w, &mut visit)?;
    while !w.eof {
        w.forget_buffered();
        w.read_more(w.window)?;
    }
    let len = w.base + w.buf.len() as u64;
    Ok(WalkedPack { id: ObjectId(*w.hasher.finalize().as_bytes()), len, verdict })
}

fn visit_blobs<R: Read, E>(
    keys: &Keys,
    w: &mut Window<'_, R>,
    visit: &mut impl FnMut(&PackEntry, &mut [u8]) -> Result<(), E>,
) -> io::Result<Result<(), WalkError<E>>> {
    // `header_len` and `read_header` judge a short pack as a reader of the whole one would.
    w.cover(PACK_PREFIX_LEN)?;
    let sealed_len = match header_len(w.ahead()) {
        Ok(len) => len as usize,
        Err(e) => return Ok(Err(WalkError::Header(e))),
    };
    w.cover(PACK_PREFIX_LEN + sealed_len)?;
    let mut entries = match read_header(keys, w.ahead()) {
        Ok(entries) => entries,
        Err(e) => return Ok(Err(WalkError::Header(e))),
    };
    entries.sort_by_key(|e| e.offset);
    let mut end = 0u64;
    for e in &entries {
        let (offset, len) = (u64::from(e.offset), e.length as usize);
        if offset < end {
            return Ok(Err(WalkError::Overlap));
        }
        if !w.skip_to(offset)? || !w.cover(len)? {
            return Ok(Err(WalkError::BeyondEnd));
        }
        let sealed = &mut w.buf[w.start..w.start + len];
        if let Err(e) = visit(e, sealed) {
            return Ok(Err(WalkError::Blob(e)));
        }
        end = offset + len as u64;
    }
    Ok(Ok(()))
}

/// The part of the pack in memory: `buf[start..]` lies at pack offset `base + start`, and every
/// byte read so far went through `hasher` once, as it arrived.
struct Window<'a, R> {
    source: R,
    buf: &'a mut Vec<u8>,
    window: usize,
    start: usize,
    base: u64,
    hasher: blake3::Hasher,
    eof: bool,
}

impl<R: Read> Window<'_, R> {
    /// The bytes from the current position to the end of what is in memory.
    fn ahead(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Moves the current position to pack offset `at` (never backwards), reading and hashing
    /// what lies before it; `false` if the pack ends first.
    fn skip_to(&mut self, at: u64) -> io::Result<bool> {
        loop {
            let end = self.base + self.buf.len() as u64;
            if at <= end {
                self.start = (at - self.base) as usize;
                return Ok(true);
            }
            self.forget_buffered();
            if self.eof {
                return Ok(false);
            }
            self.read_more(self.window)?;
        }
    }

    /// Makes `len` bytes from the current position be in memory; `false` if the pack ends first.
    fn cover(&mut self, len: usize) -> io::Result<bool> {
        while self.ahead().len() < len {
            if self.eof {
                return Ok(false);
            }
            // What lies before the current position is done with: moved out once per window
            // (or per blob larger than one), not once per blob.
            self.buf.copy_within(self.start.., 0);
            self.buf.truncate(self.buf.len() - self.start);
            self.base += self.start as u64;
            self.start = 0;
            self.read_more(len.max(self.window) - self.buf.len())?;
        }
        Ok(true)
    }

    /// Drops every byte in memory (all of them already hashed).
    fn forget_buffered(&mut self) {
        self.base += self.buf.len() as u64;
        self.buf.clear();
        self.start = 0;
    }

    /// Appends up to `n` bytes from the source and hashes them; fewer means the source ended.
    fn read_more(&mut self, n: usize) -> io::Result<()> {
        let old = self.buf.len();
        // Room for one window at most: a length from a header (or a prefix not yet
        // authenticated) reserves nothing before its bytes arrive.
        self.buf.reserve(n.min(self.window));
        let got = (&mut self.source).take(n as u64).read_to_end(self.buf)?;
        self.eof = got < n;
        self.hasher.update(&self.buf[old..]);
        Ok(())
    }
}

#[cfg(test)]
#[path = "pack_walk_tests.rs"]
mod tests;
