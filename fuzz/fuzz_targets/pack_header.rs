//! Packs: `pack::header_len` and `pack::read_header`.
#![no_main]

use chancery_format::codec::decode_padded;
use chancery_format::pack::{header_len, read_header, PackEntry, PACK_PREFIX_LEN};
use chancery_fuzz::{keys, mode, mutate, seal_pack_header, templates};
use libfuzzer_sys::fuzz_target;

fn check(bytes: &[u8]) -> bool {
    let len = header_len(bytes);
    match read_header(keys(), bytes) {
        Ok(entries) => {
            let body = PACK_PREFIX_LEN as u64 + u64::from(len.expect("read_header passed"));
            assert!(entries.iter().all(|e| u64::from(e.offset) >= body));
            true
        }
        Err(_) => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((m, rest)) = mode(data) else { return };
    match m % 4 {
        0 => {
            check(rest);
        }
        1 => {
            let t = templates();
            let pack = mutate(&t.pack, rest);
            // Only the prefix and the sealed header are read; blobs and padding are not.
            let intact = pack.get(..t.pack_header_end) == Some(&t.pack[..t.pack_header_end]);
            assert_eq!(check(&pack), intact, "edited pack header accepted or intact refused");
            if intact {
                assert_eq!(read_header(keys(), &pack).unwrap(), t.pack_entries);
            }
        }
        2 => {
            check(&seal_pack_header(rest));
        }
        _ => {
            let _ = decode_padded::<Vec<PackEntry>>(rest, "pack header");
        }
    }
});
