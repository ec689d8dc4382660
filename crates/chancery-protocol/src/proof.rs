//! Proofs of storage: a verified-streaming slice (Bao, over BLAKE3's own hash tree) of one byte
//! range of a content-addressed object.
//!
//! An object's name is the BLAKE3 hash of its bytes, and that hash is the root of BLAKE3's
//! tree of 1 KiB chunks. A slice carries the chunks that cover a range and the parent nodes on
//! their paths to the root, so an owner who knows only the name can check that the bytes of
//! the range are those of the object, without the rest of it. The site computes the slice from
//! the bytes it stores (it needs no key); [`verify_proof`] checks it.
//!
//! What a passing proof shows: the site could produce, at the time asked, the chunks of the
//! range and a hash path from them to the name. A site that recomputes the tree from what it
//! stores (what this server does) fails for any change anywhere in the object, because the
//! root then differs. A site that kept the tree but dropped some chunks passes only for
//! ranges it still holds, which is why the owner samples ranges at random (FORMAT.md §12.7).
//!
//! The bytes (version 1): an 8-byte prefix, `PROOF_MAGIC` (`CHPR`), `PROOF_VERSION`, the
//! scheme (`SCHEME_BAO`) and two reserved zero bytes, then the Bao combined slice exactly as
//! `bao::encode::SliceExtractor` writes it (the object's length as u64 LE, then parent nodes
//! and chunks in pre-order).

use std::io::{Cursor, ErrorKind, Read};

use thiserror::Error;

/// First bytes of a proof.
pub const PROOF_MAGIC: [u8; 4] = *b"CHPR";
/// Version of the proof layout.
pub const PROOF_VERSION: u8 = 1;
/// Scheme byte: a Bao slice (BLAKE3, 1024-byte chunks, combined encoding).
pub const SCHEME_BAO: u8 = 1;
/// Length of the prefix before the slice.
pub const PROOF_PREFIX_LEN: usize = 8;
/// The longest range a proof may cover (a site answers 400 beyond it).
pub const MAX_PROOF_RANGE: u64 = 1 << 20;
/// BLAKE3's chunk length: the granularity of a proof.
pub const CHUNK_LEN: u64 = 1024;

/// A proof made by a site.
#[derive(Debug)]
pub struct Proof {
    /// The bytes to send.
    pub bytes: Vec<u8>,
    /// The BLAKE3 hash of the bytes the proof was made from: a site compares it with the name
    /// to notice that its copy is damaged.
    pub root: [u8; 32],
}

/// Why a proof was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProofError {
    /// The range is empty, longer than [`MAX_PROOF_RANGE`], or ends past `u64::MAX`.
    #[error("a proof covers 1 to {MAX_PROOF_RANGE} bytes starting anywhere, not {len} bytes at {start}")]
    BadRange {
        /// First byte asked for.
        start: u64,
        /// Bytes asked for.
        len: u64,
    },
    /// The prefix is not that of a proof.
    #[error("not a proof: {0}")]
    Malformed(&'static str),
    /// A proof version this release does not read.
    #[error("proof version {0}; this release reads version {PROOF_VERSION}")]
    UnsupportedVersion(u8),
    /// A node or chunk does not hash to what its parent says, up to the object's name.
    #[error("the proof does not verify against the object's name (altered, replaced or made for another range or object)")]
    Mismatch,
    /// The slice ends early.
    #[error("the proof is truncated")]
    Truncated,
    /// Bytes follow the slice.
    #[error("the proof has {0} bytes after its slice")]
    Trailing(usize),
}

/// Checks a range against [`MAX_PROOF_RANGE`].
pub fn check_range(start: u64, len: u64) -> Result<(), ProofError> {
    if len == 0 || len > MAX_PROOF_RANGE || start.checked_add(len).is_none() {
        return Err(ProofError::BadRange { start, len });
    }
    Ok(())
}

/// The proof for bytes `start..start + len` of `object` (clipped to its end; a range past the
/// end gets the last chunk, which proves the object's length).
pub fn make_proof(object: &[u8], start: u64, len: u64) -> Result<Proof, ProofError> {
    check_range(start, len)?;
    let (outboard, root) = bao::encode::outboard(object);
    let mut extractor =
        bao::encode::SliceExtractor::new_outboard(Cursor::new(object), Cursor::new(&outboard), start, len);
    let mut bytes = prefix().to_vec();
    // Reading from memory, with a tree made from these very bytes, cannot fail; if the crate
    // ever says otherwise, the answer is an error, not a panic.
    extractor.read_to_end(&mut bytes).map_err(|_| ProofError::Malformed("could not slice the object"))?;
    Ok(Proof { bytes, root: *root.as_bytes() })
}

/// The 8-byte prefix of a version-1 proof.
pub fn prefix() -> [u8; PROOF_PREFIX_LEN] {
    let [m0, m1, m2, m3] = PROOF_MAGIC;
    [m0, m1, m2, m3, PROOF_VERSION, SCHEME_BAO, 0, 0]
}

/// Verifies a proof for bytes `start..start + len` of the object whose BLAKE3 hash is `hash`,
/// and returns those bytes. They are fewer than `len` only if the object ends before
/// `start + len`, and that end is verified too (by its last chunk).
pub fn verify_proof(proof: &[u8], hash: &[u8; 32], start: u64, len: u64) -> Result<Vec<u8>, ProofError> {
    check_range(start, len)?;
    let slice = check_prefix(proof)?;
    let mut decoder = bao::decode::SliceDecoder::new(slice, &bao::Hash::from(*hash), start, len);
    let mut out = Vec::new();
    // The decoder yields at most `len` bytes and reads only what the tree's shape asks for.
    decoder.read_to_end(&mut out).map_err(|e| match e.kind() {
        ErrorKind::UnexpectedEof => ProofError::Truncated,
        _ => ProofError::Mismatch,
    })?;
    match decoder.into_inner().len() {
        0 => Ok(out),
        rest => Err(ProofError::Trailing(rest)),
    }
}

/// The BLAKE3 hash that a content-addressed object's name spells (64 lower-case hex), if any.
pub fn name_hash(name: &str) -> Option<[u8; 32]> {
    let mut hash = [0u8; 32];
    let lower = name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (lower && hex::decode_to_slice(name, &mut hash).is_ok()).then_some(hash)
}

/// The slice after a version-1 prefix.
fn check_prefix(proof: &[u8]) -> Result<&[u8], ProofError> {
    let (head, slice) = proof.split_at_checked(PROOF_PREFIX_LEN).ok_or(ProofError::Truncated)?;
    if head[..4] != PROOF_MAGIC {
        return Err(ProofError::Malformed("no CHPR magic"));
    }
    if head[4] != PROOF_VERSION {
        return Err(ProofError::UnsupportedVersion(head[4]));
    }
    if head[5] != SCHEME_BAO {
        return Err(ProofError::Malformed("unknown proof scheme"));
    }
    if head[6..] != [0, 0] {
        return Err(ProofError::Malformed("reserved bytes are not zero"));
    }
    Ok(slice)
}

#[cfg(test)]
mod tests;
