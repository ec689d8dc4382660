//! Blobs: the unit of deduplication. A data blob is one chunk of a file; a tree blob is one
//! directory listing. Sealed form: `nonce || AEAD(flag || payload) || tag` with AAD
//! `kind || blob id`, so a sealed blob cannot be passed off as another blob or kind.

use crate::compress::{
    append, compressed_if_it_pays, pack_payload_into, unpack_payload_ref, unpack_payload_reusing,
    COMPRESSION_NONE, COMPRESSION_ZSTD,
};
use crate::error::FormatError;
use crate::id::{BlobId, ID_LEN};
use crate::keys::{Keys, NONCE_LEN, TAG_LEN};
use serde::{Deserialize, Serialize};

/// What a blob holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum BlobKind {
    /// A chunk of file content.
    Data,
    /// A directory's tree.
    Tree,
}

impl BlobKind {
    /// The byte used in AADs (FORMAT.md): 0 data, 1 tree.
    pub fn code(self) -> u8 {
        match self {
            BlobKind::Data => 0,
            BlobKind::Tree => 1,
        }
    }
}

/// Compresses (when it pays) and encrypts a blob whose id was computed by the caller.
pub fn seal_blob(keys: &Keys, kind: BlobKind, id: &BlobId, plaintext: &[u8]) -> Vec<u8> {
    // One buffer from start to end: nonce room, flag and payload, encrypted where they lie,
    // then the tag. (Separate buffers for payload, ciphertext and result copied an
    // incompressible chunk three times.)
    let mut sealed = vec![0u8; NONCE_LEN];
    pack_payload_into(plaintext, &mut sealed);
    keys.seal_in_place(&blob_aad(kind, id), &mut sealed);
    sealed
}

/// Bytes a [`BlobBuffer`] keeps before its plaintext: the nonce and the payload's flag.
pub const BLOB_HEADROOM: usize = NONCE_LEN + 1;

/// A blob's plaintext with room around it to be sealed where it lies: [`BLOB_HEADROOM`]
/// bytes before it, capacity for the tag after it. A chunk that does not compress (random
/// data, media, encrypted files) is then encrypted in its own buffer instead of copied into a
/// new one first (4 % of a backup's CPU on random data).
#[derive(Debug)]
pub struct BlobBuffer {
    bytes: Vec<u8>,
}

impl BlobBuffer {
    /// A buffer holding a copy of `plaintext`.
    pub fn copy_of(plaintext: &[u8]) -> Self {
        let mut bytes = Vec::with_capacity(BLOB_HEADROOM + plaintext.len() + TAG_LEN);
        bytes.resize(BLOB_HEADROOM, 0);
        bytes.extend_from_slice(plaintext);
        Self { bytes }
    }

    /// The plaintext.
    pub fn plaintext(&self) -> &[u8] {
        &self.bytes[BLOB_HEADROOM..]
    }
}

/// [`seal_blob`] of a plaintext in a [`BlobBuffer`]: stored as it is, it is sealed in that
/// buffer; compressed, the compressed bytes are sealed in a new one.
pub fn seal_blob_buffer(keys: &Keys, kind: BlobKind, id: &BlobId, buffer: BlobBuffer) -> Vec<u8> {
    if let Some(compressed) = compressed_if_it_pays(buffer.plaintext()) {
        let mut sealed = vec![0u8; NONCE_LEN];
        append(&mut sealed, COMPRESSION_ZSTD, &compressed);
        keys.seal_in_place(&blob_aad(kind, id), &mut sealed);
        return sealed;
    }
    let mut sealed = buffer.bytes;
    sealed[NONCE_LEN] = COMPRESSION_NONE;
    keys.seal_in_place(&blob_aad(kind, id), &mut sealed);
    sealed
}

/// Decrypts a sealed blob and checks that its plaintext really has id `id`.
pub fn open_blob(keys: &Keys, kind: BlobKind, id: &BlobId, sealed: &[u8]) -> Result<Vec<u8>, FormatError> {
    open_blob_owned(keys, kind, id, sealed.to_vec())
}

/// [`open_blob`] for a sealed blob the caller owns: it is decrypted where it lies, and a
/// stored (uncompressed) payload is moved to the front of the same buffer, not copied out.
pub fn open_blob_owned(
    keys: &Keys,
    kind: BlobKind,
    id: &BlobId,
    sealed: Vec<u8>,
) -> Result<Vec<u8>, FormatError> {
    open_blob_reusing(keys, kind, id, sealed, Vec::new())
}

/// [`open_blob_owned`], decompressing a compressed payload into `spare`, a buffer the caller
/// is done with (see [`unpack_payload_reusing`]).
pub fn open_blob_reusing(
    keys: &Keys,
    kind: BlobKind,
    id: &BlobId,
    mut sealed: Vec<u8>,
    spare: Vec<u8>,
) -> Result<Vec<u8>, FormatError> {
    let payload = keys.open_in_place(&blob_aad(kind, id), &mut sealed, "blob")?;
    let plaintext = unpack_payload_reusing(sealed, payload, spare)?;
    check_id(keys, id, &plaintext)?;
    Ok(plaintext)
}

/// Checks a sealed blob (AEAD tag, then the keyed id of its plaintext) without copying it:
/// it is decrypted where it lies, so `sealed` holds plaintext afterwards, and a compressed
/// payload is decompressed into `spare`. For `check`, which reads whole packs only to verify
/// them: opening each blob from a copy cost a copy of every byte checked and an allocation
/// per blob.
pub fn verify_blob_in_place(
    keys: &Keys,
    kind: BlobKind,
    id: &BlobId,
    sealed: &mut [u8],
    spare: &mut Vec<u8>,
) -> Result<(), FormatError> {
    let payload = keys.open_in_place(&blob_aad(kind, id), sealed, "blob")?;
    check_id(keys, id, unpack_payload_ref(&sealed[payload], spare)?)
}

/// The keyed id of an authentic plaintext must be the one it was sealed under: a key holder
/// who sealed other bytes under an id is caught here, not by the AEAD.
fn check_id(keys: &Keys, id: &BlobId, plaintext: &[u8]) -> Result<(), FormatError> {
    if keys.blob_id(plaintext) != *id {
        return Err(FormatError::Authentication { what: "blob id" });
    }
    Ok(())
}

fn blob_aad(kind: BlobKind, id: &BlobId) -> [u8; 1 + ID_LEN] {
    let mut aad = [0u8; 1 + ID_LEN];
    aad[0] = kind.code();
    aad[1..].copy_from_slice(&id.0);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::MasterKey;

    #[test]
    fn blob_round_trip_and_substitution() {
        let keys = MasterKey::generate().derive();
        let (a, b) = (b"first chunk".as_slice(), b"second chunk".as_slice());
        let (ida, idb) = (keys.blob_id(a), keys.blob_id(b));
        let sealed = seal_blob(&keys, BlobKind::Data, &ida, a);
        assert_eq!(open_blob(&keys, BlobKind::Data, &ida, &sealed).unwrap(), a);
        assert!(open_blob(&keys, BlobKind::Tree, &ida, &sealed).is_err());
        assert!(open_blob(&keys, BlobKind::Data, &idb, &sealed).is_err());
    }

    #[test]
    fn a_blob_verified_in_place_passes_only_as_sealed() {
        let keys = MasterKey::generate().derive();
        let mut spare = Vec::new();
        let text = b"register of lands ".repeat(10_000);
        let noise: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        for data in [text, noise] {
            let id = keys.blob_id(&data);
            let sealed = seal_blob(&keys, BlobKind::Data, &id, &data);
            let verify = |kind, id: &BlobId, bytes: &[u8], spare: &mut Vec<u8>| {
                verify_blob_in_place(&keys, kind, id, &mut bytes.to_vec(), spare)
            };
            assert!(verify(BlobKind::Data, &id, &sealed, &mut spare).is_ok());
            assert!(verify(BlobKind::Tree, &id, &sealed, &mut spare).is_err());
            assert!(verify(BlobKind::Data, &keys.blob_id(b"other"), &sealed, &mut spare).is_err());
            let mut flipped = sealed.clone();
            flipped[NONCE_LEN + 3] ^= 1;
            assert!(verify(BlobKind::Data, &id, &flipped, &mut spare).is_err());
        }
    }

    #[test]
    fn a_blob_buffer_is_sealed_where_it_lies_unless_it_compresses() {
        let keys = MasterKey::generate().derive();
        let random = chancery_testkit::noise(300_000, 7);
        let buffer = BlobBuffer::copy_of(&random);
        let (start, capacity) =
            (buffer.plaintext().as_ptr().wrapping_sub(BLOB_HEADROOM), buffer.bytes.capacity());
        let id = keys.blob_id(&random);
        let sealed = seal_blob_buffer(&keys, BlobKind::Data, &id, buffer);
        assert_eq!((sealed.as_ptr(), sealed.capacity()), (start, capacity), "same buffer, never grown");
        assert_eq!(sealed.len(), random.len() + crate::keys::SEAL_OVERHEAD + 1);
        assert_eq!(open_blob(&keys, BlobKind::Data, &id, &sealed).unwrap(), random);
        let text = b"the same line again and again\n".repeat(10_000);
        let id = keys.blob_id(&text);
        let sealed = seal_blob_buffer(&keys, BlobKind::Tree, &id, BlobBuffer::copy_of(&text));
        assert!(sealed.len() < text.len() / 10, "compressed");
        assert_eq!(open_blob(&keys, BlobKind::Tree, &id, &sealed).unwrap(), text);
        assert!(open_blob(&keys, BlobKind::Data, &id, &sealed).is_err(), "kind in the AAD");
    }
}
