//! Object envelopes: `object::open_object` through `IndexFile::open` and `Snapshot::open`,
//! and the index and snapshot records' plaintext decoders.
#![no_main]

use chancery_format::codec::{decode_exact, decode_padded, encode};
use chancery_format::index::{IndexFile, INDEX_VERSION};
use chancery_format::object::{open_object, open_object_plain, ObjectType};
use chancery_format::snapshot::{Snapshot, SNAPSHOT_VERSION};
use chancery_fuzz::{
    keys, mode, mutate, seal_object_plaintext, signed_snapshot_plaintext, templates, REPO_ID,
};
use libfuzzer_sys::fuzz_target;
use serde::{de::DeserializeOwned, Serialize};

fn open_index(bytes: &[u8]) -> bool {
    match IndexFile::open(keys(), bytes) {
        Ok(index) => {
            assert_eq!(index.version, INDEX_VERSION);
            assert_eq!(IndexFile::open(keys(), &index.seal(keys())).unwrap(), index);
            true
        }
        Err(_) => false,
    }
}

fn open_snapshot(bytes: &[u8]) -> bool {
    match Snapshot::open(keys(), &REPO_ID, bytes) {
        Ok(snap) => {
            assert_eq!(snap.version, SNAPSHOT_VERSION);
            assert_eq!(snap.repo_id, REPO_ID);
            let again = Snapshot::open(keys(), &REPO_ID, &snap.seal(keys())).unwrap();
            assert_eq!(again, snap);
            true
        }
        Err(_) => false,
    }
}

/// Re-encoding an accepted record is canonical and decodes to the same record.
fn assert_reencodes<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(record: &T) {
    let bytes = encode(record);
    let back: T = decode_exact(&bytes, "x").unwrap();
    assert_eq!(&back, record);
    assert_eq!(encode(&back), bytes);
}

fuzz_target!(|data: &[u8]| {
    let Some((m, rest)) = mode(data) else { return };
    match m % 9 {
        0 => {
            // Arbitrary stored bytes cannot carry a valid tag.
            assert!(!open_index(rest));
            assert!(!open_snapshot(rest));
            assert!(open_object::<IndexFile>(keys(), ObjectType::Config, rest).is_err());
            assert!(open_object_plain(keys(), ObjectType::Config, rest).is_err());
        }
        1 => {
            let t = templates();
            let object = mutate(&t.index, rest);
            assert_eq!(open_index(&object), object == t.index, "edited index");
            assert!(!open_snapshot(&object), "index opened as snapshot");
        }
        2 => {
            let t = templates();
            let object = mutate(&t.snapshot, rest);
            assert_eq!(open_snapshot(&object), object == t.snapshot, "edited snapshot");
            assert!(!open_index(&object), "snapshot opened as index");
        }
        3 => {
            open_index(&seal_object_plaintext(ObjectType::Index, rest));
        }
        4 => {
            // Arbitrary plaintext where the signed snapshot wrapper is expected.
            open_snapshot(&seal_object_plaintext(ObjectType::Snapshot, rest));
        }
        5 => {
            // Validly signed, arbitrary snapshot record: reaches the record decoder.
            let plain = signed_snapshot_plaintext(rest);
            open_snapshot(&seal_object_plaintext(ObjectType::Snapshot, &plain));
        }
        6 => {
            let decoded = [decode_exact::<IndexFile>(rest, "x"), decode_padded::<IndexFile>(rest, "x")];
            decoded.iter().flatten().for_each(assert_reencodes);
        }
        7 => {
            let decoded = [decode_exact::<Snapshot>(rest, "x"), decode_padded::<Snapshot>(rest, "x")];
            decoded.iter().flatten().for_each(assert_reencodes);
        }
        _ => {
            // A valid index record mutated, then sealed correctly.
            let t = templates();
            let plain = mutate(&encode(&t.index_record), rest);
            open_index(&seal_object_plaintext(ObjectType::Index, &plain));
            let record = mutate(&encode(&t.snapshot_record), rest);
            let plain = signed_snapshot_plaintext(&record);
            open_snapshot(&seal_object_plaintext(ObjectType::Snapshot, &plain));
        }
    }
});
