//! Packs read front to back: `pack_walk::walk_pack_windowed` against a reader of the whole
//! pack, on every input and through windows of every size.
#![no_main]

use chancery_format::blob::verify_blob_in_place;
use chancery_format::pack::{read_header, PackEntry};
use chancery_format::pack_walk::{walk_pack_windowed, WalkError};
use chancery_format::{FormatError, ObjectId};
use chancery_fuzz::{keys, mode, mutate, templates};
use libfuzzer_sys::fuzz_target;

/// What a reader of the whole pack finds: the blobs it opens (entry, sealed bytes) and the
/// verdict, in the same words as the walk's.
fn whole(bytes: &[u8]) -> (Vec<(PackEntry, Vec<u8>)>, Result<(), String>) {
    let mut seen = Vec::new();
    let mut entries = match read_header(keys(), bytes) {
        Ok(entries) => entries,
        Err(e) => return (seen, Err(WalkError::<FormatError>::Header(e).to_string())),
    };
    entries.sort_by_key(|e| e.offset);
    let mut end = 0usize;
    for e in entries {
        let (at, len) = (e.offset as usize, e.length as usize);
        if at < end {
            return (seen, Err(WalkError::<FormatError>::Overlap.to_string()));
        }
        let Some(sealed) = bytes.get(at..at + len) else {
            return (seen, Err(WalkError::<FormatError>::BeyondEnd.to_string()));
        };
        seen.push((e, sealed.to_vec()));
        let mut opened = sealed.to_vec();
        if let Err(err) = verify_blob_in_place(keys(), e.kind, &e.id, &mut opened, &mut Vec::new()) {
            return (seen, Err(err.to_string()));
        }
        end = at + len;
    }
    (seen, Ok(()))
}

fn compare(bytes: &[u8], window: usize) {
    let mut seen = Vec::new();
    let mut spare = Vec::new();
    let walked = walk_pack_windowed(keys(), bytes, &mut Vec::new(), window, |e, sealed| {
        seen.push((*e, sealed.to_vec()));
        verify_blob_in_place(keys(), e.kind, &e.id, sealed, &mut spare)
    })
    .expect("a slice never fails to read");
    assert_eq!((walked.id, walked.len), (ObjectId::of(bytes), bytes.len() as u64));
    let (expected_seen, expected) = whole(bytes);
    assert_eq!(walked.verdict.map_err(|e| e.to_string()), expected);
    assert!(seen == expected_seen, "blobs handed out differ from the pack's");
}

fuzz_target!(|data: &[u8]| {
    let Some((m, rest)) = mode(data) else { return };
    let Some((w, rest)) = rest.split_first() else { return };
    // Windows of 1 byte to 8 KiB, and the default 1 MiB.
    let window = if *w == 0 { 1 << 20 } else { usize::from(*w) * 32 - 31 };
    if m % 2 == 0 {
        compare(rest, window);
    } else {
        compare(&mutate(&templates().pack, rest), window);
    }
});
