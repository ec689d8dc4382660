//! Packs: many sealed blobs in one object, in random order, behind an encrypted header, padded.
//!
//! Layout (FORMAT.md "Pack"):
//! `magic "CHPK" | version 1 | suite u8 | key generation u8 | 0 | header_len u32 LE | sealed header | blobs | padding`
//! The sealed header's AAD is the 12 bytes before it. Its plaintext is the postcard encoding of
//! the entry list, zero-padded to a multiple of 4 KiB so that it reveals the blob count only
//! coarsely. Padding after the blobs is random and brings the whole pack to a Padmé length.
//! The pack's name is the BLAKE3 hash of all of it, so a site verifies it without a key.

use crate::blob::BlobKind;
use crate::codec::{decode_padded, encode};
use crate::error::FormatError;
use crate::id::{BlobId, ObjectId};
use crate::keys::{Keys, Suite, SEAL_OVERHEAD};
use crate::padding::padme;
use rand::seq::SliceRandom;
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// Magic bytes of a pack.
pub const PACK_MAGIC: [u8; 4] = *b"CHPK";
/// Current pack version.
pub const PACK_VERSION: u8 = 1;
/// Bytes before the sealed header.
pub const PACK_PREFIX_LEN: usize = 12;
/// Header plaintext is padded to a multiple of this.
pub const HEADER_PAD: usize = 4096;
/// Largest sealed header accepted when reading (bounds memory on hostile input).
pub const MAX_HEADER_LEN: u32 = 64 * 1024 * 1024;

/// Where one blob lies in a pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackEntry {
    /// Data or tree.
    pub kind: BlobKind,
    /// The blob's id.
    pub id: BlobId,
    /// Offset of the sealed blob from the start of the pack.
    pub offset: u32,
    /// Length of the sealed blob.
    pub length: u32,
    /// Length of the blob's plaintext.
    pub raw_length: u32,
}

/// A blob sealed and waiting for its pack.
#[derive(Debug)]
pub struct SealedBlob {
    /// Data or tree.
    pub kind: BlobKind,
    /// The blob's id.
    pub id: BlobId,
    /// Plaintext length.
    pub raw_length: u32,
    /// `nonce || ciphertext || tag`.
    pub sealed: Vec<u8>,
}

/// A finished pack: its bytes, name and entries.
#[derive(Debug)]
pub struct Pack {
    /// Name: BLAKE3 of `bytes`.
    pub id: ObjectId,
    /// Everything to store.
    pub bytes: Vec<u8>,
    /// Where each blob lies.
    pub entries: Vec<PackEntry>,
}

/// A finished pack as the parts it is stored from, never joined: the prefix and sealed header,
/// each sealed blob in the buffer its worker sealed it in, the padding. Joining them was a
/// copy of every byte a backup stores, and held each pack twice while it was made.
#[derive(Debug)]
pub struct PackParts {
    /// Name: BLAKE3 of the parts joined.
    pub id: ObjectId,
    /// Everything to store, in order.
    pub parts: Vec<Vec<u8>>,
    /// Where each blob lies.
    pub entries: Vec<PackEntry>,
}

/// Assembles sealed blobs into a pack, shuffling their order.
pub fn build_pack(keys: &Keys, blobs: Vec<SealedBlob>) -> Pack {
    let PackParts { id, parts, entries } = build_pack_parts(keys, blobs);
    Pack { id, bytes: parts.concat(), entries }
}

/// [`build_pack`] without joining the parts.
pub fn build_pack_parts(keys: &Keys, mut blobs: Vec<SealedBlob>) -> PackParts {
    blobs.shuffle(&mut rand::rngs::OsRng);
    let header_plain_len = header_plain_len(blobs.len());
    let header_len = header_plain_len + SEAL_OVERHEAD;
    let mut offset = PACK_PREFIX_LEN + header_len;
    let entries: Vec<PackEntry> = blobs
        .iter()
        .map(|b| {
            let entry = PackEntry {
                kind: b.kind,
                id: b.id,
                offset: offset as u32,
                length: b.sealed.len() as u32,
                raw_length: b.raw_length,
            };
            offset += b.sealed.len();
            entry
        })
        .collect();
    let prefix = prefix(header_len as u32, keys.suite(), keys.generation());
    let mut header = encode(&entries);
    header.resize(header_plain_len, 0);
    let mut head = Vec::with_capacity(PACK_PREFIX_LEN + header_len);
    head.extend_from_slice(&prefix);
    head.extend_from_slice(&keys.seal(&prefix, &header));
    let mut padding = vec![0; padme(offset as u64) as usize - offset];
    rand::rngs::OsRng.fill_bytes(&mut padding);
    let mut parts = Vec::with_capacity(blobs.len() + 2);
    parts.push(head);
    parts.extend(blobs.into_iter().map(|blob| blob.sealed));
    parts.push(padding);
    PackParts { id: ObjectId::of_parts(&parts), parts, entries }
}

fn header_plain_len(count: usize) -> usize {
    // postcard entry: kind 1 + id 32 + three varint u32 (<= 5 each) = at most 48 bytes.
    let upper = 5 + count * 48;
    upper.div_ceil(HEADER_PAD) * HEADER_PAD
}

/// Where the last blob ends in a pack of `count` blobs whose sealed lengths add up to
/// `blob_bytes`: the pack's length before padding, `E` in FORMAT.md §6.
pub fn unpadded_len(count: usize, blob_bytes: usize) -> usize {
    PACK_PREFIX_LEN + header_plain_len(count) + SEAL_OVERHEAD + blob_bytes
}

/// Whether one more sealed blob of `len` bytes fits in the padding that a pack of `count`
/// blobs and `blob_bytes` would get anyway: the padded length stays the same with it.
pub fn fits_in_padding(count: usize, blob_bytes: usize, len: usize) -> bool {
    let padded = padme(unpadded_len(count, blob_bytes) as u64);
    unpadded_len(count + 1, blob_bytes + len) as u64 <= padded
}

fn prefix(header_len: u32, suite: Suite, generation: u8) -> [u8; PACK_PREFIX_LEN] {
    let mut p = [0u8; PACK_PREFIX_LEN];
    p[..4].copy_from_slice(&PACK_MAGIC);
    p[4] = PACK_VERSION;
    p[5] = suite.code();
    p[6] = generation;
    p[8..12].copy_from_slice(&header_len.to_le_bytes());
    p
}

/// Reads the sealed header's length from the pack's first [`PACK_PREFIX_LEN`] bytes.
pub fn header_len(prefix: &[u8]) -> Result<u32, FormatError> {
    const WHAT: &str = "pack";
    if prefix.len() < PACK_PREFIX_LEN || prefix[..4] != PACK_MAGIC {
        return Err(FormatError::Malformed { what: WHAT, why: "not a Chancery pack" });
    }
    if prefix[4] != PACK_VERSION {
        return Err(FormatError::UnsupportedVersion { what: WHAT, version: prefix[4] });
    }
    // A known suite that is not the generation's fails the tag: the prefix is the header's AAD.
    if Suite::from_code(prefix[5]).is_none() || prefix[7] != 0 {
        return Err(FormatError::Malformed { what: WHAT, why: "unknown cipher suite" });
    }
    let len = u32::from_le_bytes(prefix[8..12].try_into().expect("4 bytes"));
    if (len as usize) < SEAL_OVERHEAD || len > MAX_HEADER_LEN {
        return Err(FormatError::Malformed { what: WHAT, why: "header length out of bounds" });
    }
    Ok(len)
}

/// Decrypts a pack header: `bytes` holds at least the prefix and the sealed header.
pub fn read_header(keys: &Keys, bytes: &[u8]) -> Result<Vec<PackEntry>, FormatError> {
    let len = header_len(bytes)? as usize;
    let sealed = bytes
        .get(PACK_PREFIX_LEN..PACK_PREFIX_LEN + len)
        .ok_or(FormatError::Malformed { what: "pack", why: "truncated header" })?;
    let plain = keys.open_generation(bytes[6], &bytes[..PACK_PREFIX_LEN], sealed, "pack header")?;
    let entries: Vec<PackEntry> = decode_padded(&plain, "pack header")?;
    let body_start = (PACK_PREFIX_LEN + len) as u64;
    if entries.iter().any(|e| (e.offset as u64) < body_start) {
        return Err(FormatError::Malformed { what: "pack header", why: "entry overlaps header" });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::{open_blob, seal_blob};
    use crate::keys::MasterKey;

    fn sealed(keys: &Keys, data: &[u8]) -> SealedBlob {
        let id = keys.blob_id(data);
        let sealed = seal_blob(keys, BlobKind::Data, &id, data);
        SealedBlob { kind: BlobKind::Data, id, raw_length: data.len() as u32, sealed }
    }

    #[test]
    fn pack_round_trip() {
        let keys = MasterKey::generate().derive();
        let datas: Vec<Vec<u8>> = (0..50u32).map(|i| i.to_le_bytes().repeat(100 + i as usize)).collect();
        let pack = build_pack(&keys, datas.iter().map(|d| sealed(&keys, d)).collect());
        assert_eq!(pack.id, ObjectId::of(&pack.bytes));
        assert_eq!(pack.bytes.len() as u64, padme(pack.bytes.len() as u64));
        let entries = read_header(&keys, &pack.bytes).unwrap();
        assert_eq!(entries, pack.entries);
        for e in &entries {
            let blob = &pack.bytes[e.offset as usize..(e.offset + e.length) as usize];
            let plain = open_blob(&keys, e.kind, &e.id, blob).unwrap();
            assert!(datas.contains(&plain));
        }
    }

    #[test]
    fn unpadded_len_is_where_the_last_blob_ends() {
        let keys = MasterKey::generate().derive();
        for count in [1usize, 2, 84, 85, 86, 200] {
            let blobs: Vec<SealedBlob> =
                (0..count).map(|i| sealed(&keys, &(i as u32).to_le_bytes().repeat(1 + i % 7))).collect();
            let blob_bytes: usize = blobs.iter().map(|b| b.sealed.len()).sum();
            let pack = build_pack(&keys, blobs);
            let end = pack.entries.iter().map(|e| (e.offset + e.length) as usize).max().unwrap();
            assert_eq!(unpadded_len(count, blob_bytes), end, "{count} blobs");
            assert_eq!(pack.bytes.len() as u64, padme(end as u64));
        }
    }

    #[test]
    fn a_blob_fits_in_padding_only_if_the_padded_length_stays() {
        // One 11-byte blob (52 sealed) ends at 4200 and is padded to 4352 (FORMAT.md §6).
        assert_eq!((unpadded_len(1, 52), padme(4200)), (4200, 4352));
        assert!(fits_in_padding(1, 52, 152));
        assert!(!fits_in_padding(1, 52, 153));
        // A 16 MiB pack is padded in steps of 512 KiB; its 86th blob also adds a 4 KiB page
        // of header.
        let mib = 1 << 20;
        let end = unpadded_len(85, 16 * mib);
        let room = padme(end as u64) as usize - end;
        assert!(fits_in_padding(85, 16 * mib, room - 4096));
        assert!(!fits_in_padding(85, 16 * mib, room - 4095));
    }

    #[test]
    fn bad_headers_are_refused() {
        let keys = MasterKey::generate().derive();
        let pack = build_pack(&keys, vec![sealed(&keys, b"x")]);
        let mut bad = pack.bytes.clone();
        bad[PACK_PREFIX_LEN + 30] ^= 1;
        assert!(matches!(read_header(&keys, &bad), Err(FormatError::Authentication { .. })));
        assert!(read_header(&keys, &pack.bytes[..20]).is_err());
        assert!(header_len(b"CHPK\x02\x01\0\0\0\0\0\0").is_err());
    }

    #[test]
    fn the_suite_byte_is_the_generations_and_authenticated() {
        let master = MasterKey::generate();
        for (suite, other) in [(Suite::XChaCha20Poly1305, 2), (Suite::Xaes256Gcm, 1)] {
            let keys = master.derive_with(suite);
            let pack = build_pack(&keys, vec![sealed(&keys, b"x")]);
            assert_eq!(pack.bytes[5], suite.code());
            assert!(read_header(&keys, &pack.bytes).is_ok());
            let mut swapped = pack.bytes.clone();
            swapped[5] = other;
            assert!(matches!(read_header(&keys, &swapped), Err(FormatError::Authentication { .. })));
            swapped[5] = 3;
            let unknown = read_header(&keys, &swapped);
            assert_eq!(
                unknown.unwrap_err(),
                FormatError::Malformed { what: "pack", why: "unknown cipher suite" }
            );
        }
    }
}
