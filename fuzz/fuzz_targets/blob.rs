//! Sealed blobs: `blob::open_blob`, and `open_blob_reusing` and `verify_blob_in_place`,
//! which must agree with it on every input.
#![no_main]

use chancery_format::blob::{open_blob_reusing, verify_blob_in_place, BlobKind};
use chancery_format::compress::unpack_payload;
use chancery_format::error::FormatError;
use chancery_format::id::BlobId;
use chancery_fuzz::{blob_aad, keys, mode, mutate, templates};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((m, rest)) = mode(data) else { return };
    let kind = if m & 0x80 == 0 { BlobKind::Data } else { BlobKind::Tree };
    match m % 4 {
        0 => {
            // Arbitrary sealed bytes under an id taken from the input: never authentic.
            let mut id = BlobId([0; 32]);
            let n = rest.len().min(32);
            id.0[..n].copy_from_slice(&rest[..n]);
            assert!(open_blob(keys(), kind, &id, rest).is_err());
        }
        1 => {
            let blobs = &templates().blobs;
            let (kind, id, plain, sealed) = &blobs[rest.len() % blobs.len()];
            let edited = mutate(sealed, rest);
            match open_blob(keys(), *kind, id, &edited) {
                Ok(back) => {
                    assert_eq!(edited, *sealed, "edited blob opened");
                    assert_eq!(back, *plain);
                }
                Err(_) => assert_ne!(edited, *sealed, "intact blob refused"),
            }
        }
        2 => {
            // Correctly sealed arbitrary payload: reaches the decompressor and the id check.
            let unpacked = unpack_payload(rest);
            let id = keys().blob_id(unpacked.as_deref().unwrap_or(b""));
            let sealed = keys().seal(&blob_aad(kind, &id), rest);
            assert_eq!(open_blob(keys(), kind, &id, &sealed).ok(), unpacked.ok());
        }
        _ => {
            // Swapped kind or id must not open.
            let blobs = &templates().blobs;
            let (k, id, _, sealed) = &blobs[rest.len() % blobs.len()];
            let other = if *k == BlobKind::Data { BlobKind::Tree } else { BlobKind::Data };
            assert!(open_blob(keys(), other, id, sealed).is_err());
            let mut bad = *id;
            bad.0[rest.first().map_or(0, |b| *b as usize % 32)] ^= rest.get(1).map_or(1, |b| (*b).max(1));
            assert!(open_blob(keys(), *k, &bad, sealed).is_err());
        }
    }
});

/// `open_blob`'s result, after checking that the reusing and in-place variants (given spare
/// buffers holding stale bytes) agree with it.
fn open_blob(
    keys: &chancery_format::keys::Keys,
    kind: BlobKind,
    id: &BlobId,
    sealed: &[u8],
) -> Result<Vec<u8>, FormatError> {
    let opened = chancery_format::blob::open_blob(keys, kind, id, sealed);
    let reused = open_blob_reusing(keys, kind, id, sealed.to_vec(), vec![0x5A; 64]);
    assert_eq!(reused.as_ref().ok(), opened.as_ref().ok());
    let mut spare = vec![0xA5; 100];
    let verified = verify_blob_in_place(keys, kind, id, &mut sealed.to_vec(), &mut spare);
    assert_eq!(verified.is_ok(), opened.is_ok());
    opened
}
