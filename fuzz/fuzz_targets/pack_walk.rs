//! Packs read front to back: `pack_walk::walk_pack_windowed` against a reader of the whole
//! pack, on every input, through windows of every size and a source that reads short. Inputs:
//! raw bytes, a mutated valid pack, or the valid pack's body under a sealed header of entries
//! the fuzzer moves, resizes and repeats (overlaps, zero lengths, huge lengths).
#![no_main]

use chancery_format::blob::verify_blob_in_place;
use chancery_format::codec::encode;
use chancery_format::pack::{read_header, PackEntry, HEADER_PAD};
use chancery_format::pack_walk::{walk_pack_windowed, WalkError};
use chancery_format::{FormatError, ObjectId};
use chancery_fuzz::{keys, mode, mutate, seal_pack_header, templates};
use libfuzzer_sys::fuzz_target;
use std::io::{self, Read};

/// A source that hands out at most the next of `sizes` (plus one) bytes per read.
struct ShortReads<'a> {
    data: &'a [u8],
    sizes: &'a [u8],
    next: usize,
}

impl Read for ShortReads<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let step =
            self.sizes.get(self.next % self.sizes.len().max(1)).map_or(usize::MAX, |&s| usize::from(s) + 1);
        self.next += 1;
        let n = buf.len().min(self.data.len()).min(step);
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// The valid pack's blobs and padding under a header whose entries `edits` (5 bytes each:
/// which entry, an offset change and its scale, a length change, a huge length's distance from `u32::MAX`) move, resize and repeat. The header is
/// padded as the valid one is, so the body stays where it was.
fn resealed(edits: &[u8]) -> Vec<u8> {
    let t = templates();
    let mut entries = t.pack_entries.clone();
    for edit in edits.chunks_exact(5) {
        let mut e = entries[usize::from(edit[0]) % t.pack_entries.len()];
        e.offset = e.offset.wrapping_add_signed(i32::from(edit[1] as i8) << (edit[2] % 20));
        e.length = match edit[3] {
            0 => 0,
            0xFF => u32::MAX - u32::from(edit[4]),
            d => e.length.wrapping_add(u32::from(d)).wrapping_sub(128),
        };
        entries.push(e);
    }
    let mut plain = encode(&entries);
    plain.resize(plain.len().div_ceil(HEADER_PAD) * HEADER_PAD, 0);
    let mut pack = seal_pack_header(&plain);
    pack.extend_from_slice(&t.pack[t.pack_header_end..]);
    pack
}

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

fn compare(bytes: &[u8], window: usize, sizes: &[u8]) {
    let mut seen = Vec::new();
    let mut spare = Vec::new();
    let source = ShortReads { data: bytes, sizes, next: 0 };
    let walked = walk_pack_windowed(keys(), source, &mut Vec::new(), window, |e, sealed| {
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
    // Windows of 1 to 8 129 bytes, and the default 1 MiB.
    let window = if *w == 0 { 1 << 20 } else { usize::from(*w) * 32 - 31 };
    // Read sizes: the mode's high bits say how many of the input's first bytes they take.
    let (sizes, rest) = rest.split_at(usize::from(m >> 4).min(rest.len()));
    match m % 3 {
        0 => compare(rest, window, sizes),
        1 => compare(&mutate(&templates().pack, rest), window, sizes),
        _ => compare(&resealed(rest), window, sizes),
    }
});
