//! Checks of volume and concurrency: big objects, many objects, racing writers and readers.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use super::{names, ok, pattern};
use crate::{Backend, ObjectKind};

/// Writers racing on one name (or on many) and the readers watching them.
const THREADS: usize = 8;

/// `list` is sorted by name (byte order), whatever the order of the puts, and reports sizes.
pub fn check_list_sorted(backend: &dyn Backend) {
    let shuffled = ["m", "Z", "a0", "a", "9", "_x", "-y", "b.2", "b.10", "B", "zz", "a-"];
    for (i, name) in shuffled.iter().enumerate() {
        ok(backend.put(ObjectKind::Key, name, &pattern(i as u64, i)), "put");
    }
    let listed = ok(backend.list(ObjectKind::Key), "list");
    let mut expected: Vec<(String, u64)> =
        shuffled.iter().enumerate().map(|(i, n)| (n.to_string(), i as u64)).collect();
    expected.sort();
    let got: Vec<(String, u64)> = listed.into_iter().map(|o| (o.name, o.size)).collect();
    assert_eq!(got, expected, "list must be sorted by name and give each size");
    for kind in [ObjectKind::Pack, ObjectKind::Index, ObjectKind::Snapshot, ObjectKind::Meta] {
        assert!(names(backend, kind).is_empty(), "keys leaked into {kind}");
    }
}

/// A thousand packs spread over many name prefixes all come back in one sorted listing.
pub fn check_many_objects(backend: &dyn Backend) {
    let mut expected: Vec<String> =
        (0..1000u32).map(|i| format!("{:08x}", i.wrapping_mul(2_654_435_761))).collect();
    for name in &expected {
        ok(backend.put(ObjectKind::Pack, name, name.as_bytes()), "put");
    }
    ok(backend.sync(), "sync");
    expected.sort();
    let listed = ok(backend.list(ObjectKind::Pack), "list");
    assert_eq!(listed.len(), expected.len(), "list lost or invented packs");
    for (info, name) in listed.iter().zip(&expected) {
        assert_eq!((&info.name, info.size), (name, 8), "list entry");
    }
}

/// A 20 MiB object survives whole, read at once or streamed in pieces, and ranges deep inside
/// it are exact.
pub fn check_large_object(backend: &dyn Backend) {
    let bytes = pattern(20, 20 << 20);
    ok(backend.put(ObjectKind::Pack, "big", &bytes), "put of 20 MiB");
    assert_eq!(ok(backend.stat(ObjectKind::Pack, "big"), "stat"), Some(bytes.len() as u64));
    assert!(ok(backend.get(ObjectKind::Pack, "big"), "get") == bytes, "20 MiB object changed");
    let mut streamed = Vec::new();
    let mut reader = ok(backend.get_reader(ObjectKind::Pack, "big"), "get_reader of 20 MiB");
    let mut piece = vec![0; 100_000];
    loop {
        match reader.read(&mut piece).expect("reading 20 MiB") {
            0 => break,
            n => streamed.extend_from_slice(&piece[..n]),
        }
    }
    assert!(streamed == bytes, "20 MiB object streamed in pieces changed");
    let (offset, len) = (13 << 20, 3 << 20);
    let range = ok(backend.get_range(ObjectKind::Pack, "big", offset as u64, len as u64), "range");
    assert!(range == bytes[offset..offset + len], "range inside a large object is wrong");
}

/// Threads putting one name at once, each with different bytes, all succeed and leave exactly
/// one of their objects, whole. (Real callers put equal bytes under one name; distinct bytes
/// make any interleaving visible.)
pub fn check_concurrent_same_name(backend: &dyn Backend) {
    let contents: Vec<Vec<u8>> = (0..THREADS).map(|i| pattern(100 + i as u64, 256 << 10)).collect();
    thread::scope(|scope| {
        for bytes in &contents {
            scope.spawn(move || ok(backend.put(ObjectKind::Pack, "contested", bytes), "racing put"));
        }
    });
    let stored = ok(backend.get(ObjectKind::Pack, "contested"), "get");
    assert!(contents.contains(&stored), "racing puts left a mix or a fragment ({} bytes)", stored.len());
    assert_eq!(names(backend, ObjectKind::Pack), ["contested"], "racing puts left extra objects");
}

/// Threads putting different names at once lose none of them.
pub fn check_concurrent_distinct_puts(backend: &dyn Backend) {
    const PER_THREAD: usize = 25;
    thread::scope(|scope| {
        for t in 0..THREADS {
            scope.spawn(move || {
                for i in 0..PER_THREAD {
                    let name = format!("{t:02x}{i:04}");
                    ok(backend.put(ObjectKind::Pack, &name, &pattern((t * 1000 + i) as u64, 1000)), "put");
                }
            });
        }
    });
    ok(backend.sync(), "sync");
    let listed = names(backend, ObjectKind::Pack);
    assert_eq!(listed.len(), THREADS * PER_THREAD, "concurrent puts lost objects");
    for t in 0..THREADS {
        for i in 0..PER_THREAD {
            let got = ok(backend.get(ObjectKind::Pack, &format!("{t:02x}{i:04}")), "get");
            assert!(got == pattern((t * 1000 + i) as u64, 1000), "object {t}/{i} damaged");
        }
    }
}

/// While objects are being written, every object `list` shows is complete: its listed size is
/// its real size and `get` returns all of it. (This is where temporary files would show.)
pub fn check_list_never_shows_partial_objects(backend: &dyn Backend) {
    const OBJECTS: u64 = 40;
    let expected = |i: u64| pattern(i, 64 << 10);
    let writing = AtomicBool::new(true);
    thread::scope(|scope| {
        scope.spawn(|| {
            for i in 0..OBJECTS {
                ok(backend.put(ObjectKind::Index, &format!("obj{i:03}"), &expected(i)), "put");
            }
            writing.store(false, Ordering::SeqCst);
        });
        loop {
            let done = !writing.load(Ordering::SeqCst);
            for info in ok(backend.list(ObjectKind::Index), "list while writing") {
                let i: u64 = info
                    .name
                    .strip_prefix("obj")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("list showed a foreign object {:?}", info.name));
                assert_eq!(info.size, 64 << 10, "list showed {} with a partial size", info.name);
                let got = ok(backend.get(ObjectKind::Index, &info.name), "get of a listed object");
                assert!(got == expected(i), "listed object {} read back incomplete", info.name);
            }
            if done {
                break;
            }
        }
    });
    assert_eq!(names(backend, ObjectKind::Index).len(), OBJECTS as usize);
}
