use super::*;
use crate::blob::{seal_blob, verify_blob_in_place, BlobKind};
use crate::codec::encode;
use crate::keys::{MasterKey, SEAL_OVERHEAD};
use crate::pack::{build_pack, Pack, SealedBlob, HEADER_PAD};
use crate::FormatError;
use chancery_testkit::noise;

/// Blobs from 1 byte to 300 KiB, compressible and not, so that blob boundaries fall
/// everywhere in small windows and some blobs are larger than a window.
fn varied_pack(keys: &Keys) -> Pack {
    let blobs = (0..40u32)
        .map(|i| {
            let len = [1, 100, 4095, 4096, 70_000, 300_000][i as usize % 6] + i as usize;
            let data: Vec<u8> = if i % 2 == 0 {
                noise(len, u64::from(i))
            } else {
                format!("row {i};").repeat(len / 7 + 1).into_bytes()
            };
            let id = keys.blob_id(&data);
            let sealed = seal_blob(keys, BlobKind::Data, &id, &data);
            SealedBlob { kind: BlobKind::Data, id, raw_length: data.len() as u32, sealed }
        })
        .collect();
    build_pack(keys, blobs)
}

/// Walks `bytes` through `window`, opening every blob in place; the walk and the sealed bytes
/// each blob was handed.
fn walk(keys: &Keys, bytes: &[u8], window: usize) -> (WalkedPack<FormatError>, Vec<(PackEntry, Vec<u8>)>) {
    let mut seen = Vec::new();
    let mut spare = Vec::new();
    let walked = walk_pack_windowed(keys, bytes, &mut Vec::new(), window, |e, sealed| {
        seen.push((*e, sealed.to_vec()));
        verify_blob_in_place(keys, e.kind, &e.id, sealed, &mut spare)
    })
    .unwrap();
    (walked, seen)
}

#[test]
fn every_blob_is_handed_out_and_every_byte_hashed_whatever_the_window() {
    let keys = MasterKey::generate().derive();
    let pack = varied_pack(&keys);
    let mut in_order = pack.entries.clone();
    in_order.sort_by_key(|e| e.offset);
    for window in [1, 7, 4096, 100_000, WALK_WINDOW, 64 << 20] {
        let (walked, seen) = walk(&keys, &pack.bytes, window);
        assert!(walked.verdict.is_ok(), "window {window}: {:?}", walked.verdict);
        assert_eq!((walked.id, walked.len), (pack.id, pack.bytes.len() as u64), "window {window}");
        let entries: Vec<PackEntry> = seen.iter().map(|(e, _)| *e).collect();
        assert_eq!(entries, in_order, "window {window}");
        for (e, sealed) in &seen {
            let at = e.offset as usize..(e.offset + e.length) as usize;
            assert!(sealed[..] == pack.bytes[at], "window {window}: blob {} handed out wrong", e.id.short());
        }
    }
}

#[test]
fn the_window_is_reused_and_stays_near_its_size() {
    let keys = MasterKey::generate().derive();
    let pack = varied_pack(&keys);
    let mut buf = Vec::new();
    for _ in 0..3 {
        let walked = walk_pack(&keys, &pack.bytes[..], &mut buf, |_, _| Ok::<(), ()>(())).unwrap();
        assert_eq!(walked.id, pack.id);
    }
    // One window, or the largest blob with what was left of a window before it.
    assert!(buf.capacity() <= 2 * WALK_WINDOW, "window grew to {}", buf.capacity());
}

#[test]
fn faults_are_found_and_the_bytes_still_hashed() {
    let keys = MasterKey::generate().derive();
    let pack = varied_pack(&keys);
    let last = pack.entries.iter().max_by_key(|e| e.offset).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("prefix cut", pack.bytes[..5].to_vec()),
        ("header cut", pack.bytes[..PACK_PREFIX_LEN + 100].to_vec()),
        ("last blob cut", pack.bytes[..(last.offset + last.length / 2) as usize].to_vec()),
        ("blob flipped", {
            let mut b = pack.bytes.clone();
            b[(last.offset + 30) as usize] ^= 1;
            b
        }),
        ("header flipped", {
            let mut b = pack.bytes.clone();
            b[PACK_PREFIX_LEN + 40] ^= 1;
            b
        }),
    ];
    for (what, bytes) in cases {
        for window in [1, 5000, WALK_WINDOW] {
            let (walked, _) = walk(&keys, &bytes, window);
            assert_eq!((walked.id, walked.len), (ObjectId::of(&bytes), bytes.len() as u64), "{what}");
            let found = match walked.verdict {
                Err(WalkError::Header(_)) => "header",
                Err(WalkError::BeyondEnd) => "beyond end",
                Err(WalkError::Blob(FormatError::Authentication { .. })) => "blob",
                other => panic!("{what}, window {window}: {other:?}"),
            };
            let expected = match what {
                "last blob cut" => "beyond end",
                "blob flipped" => "blob",
                _ => "header",
            };
            assert_eq!(found, expected, "{what}, window {window}");
        }
    }
}

#[test]
fn overlapping_blobs_are_refused() {
    let keys = MasterKey::generate().derive();
    let pack = varied_pack(&keys);
    let mut entries = pack.entries.clone();
    entries.sort_by_key(|e| e.offset);
    entries[1].offset = entries[0].offset + 1;
    let body = entries[0].offset as usize;
    let mut header = encode(&entries);
    header.resize(header.len().div_ceil(HEADER_PAD) * HEADER_PAD, 0);
    let sealed_len = (header.len() + SEAL_OVERHEAD) as u32;
    assert_eq!(PACK_PREFIX_LEN + sealed_len as usize, body, "the same header length as the original");
    let prefix = pack.bytes[..PACK_PREFIX_LEN].to_vec();
    let mut bytes = prefix.clone();
    bytes.extend_from_slice(&keys.seal(&prefix, &header));
    bytes.extend_from_slice(&pack.bytes[body..]);
    let (walked, seen) = walk(&keys, &bytes, 4096);
    assert!(matches!(walked.verdict, Err(WalkError::Overlap)), "{:?}", walked.verdict);
    assert_eq!(seen.len(), 1, "the first blob is visited, the one over it is not");
    assert_eq!(walked.id, ObjectId::of(&bytes));
}

#[test]
fn a_source_that_fails_is_an_io_error() {
    struct Failing<'a>(&'a [u8]);
    impl Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::other("connection reset"));
            }
            let n = buf.len().min(self.0.len()).min(1000);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let keys = MasterKey::generate().derive();
    let pack = varied_pack(&keys);
    let err = walk_pack(&keys, Failing(&pack.bytes[..50_000]), &mut Vec::new(), |_, _| Ok::<(), ()>(()));
    assert_eq!(err.unwrap_err().to_string(), "connection reset");
}
