//! Checks of single operations: round trips, ranges, naming, deleting.

use super::{names, ok, pattern};
use crate::{Backend, ObjectInfo, ObjectKind, StoreError, MAX_NAME_LEN};
use std::io::Read;

/// `get` returns what `put` stored, for every kind, including fan-out edge names (1 and 2
/// characters) and the longest allowed name.
pub fn check_round_trip(backend: &dyn Backend) {
    let long = "f".repeat(MAX_NAME_LEN);
    let cases = ["a", "ab", "abc", "0f3e.pack", "A-b_c.D", long.as_str()];
    for (i, name) in cases.iter().enumerate() {
        for kind in ObjectKind::ALL {
            let bytes = pattern(i as u64 * 10 + kind as u64, 100 + i);
            ok(backend.put(kind, name, &bytes), "put");
            assert_eq!(ok(backend.get(kind, name), "get"), bytes, "get {kind} {name}");
            check_get_reader(backend, kind, name, &bytes);
            assert_eq!(ok(backend.stat(kind, name), "stat"), Some(bytes.len() as u64));
        }
    }
    for kind in ObjectKind::ALL {
        let mut expected: Vec<String> = cases.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(names(backend, kind), expected, "list {kind} after round trips");
    }
}

/// `get_reader` yields exactly the object, read to its end.
fn check_get_reader(backend: &dyn Backend, kind: ObjectKind, name: &str, bytes: &[u8]) {
    let mut read = Vec::new();
    let mut reader = ok(backend.get_reader(kind, name), "get_reader");
    reader.read_to_end(&mut read).expect("reading what get_reader opened");
    assert_eq!(read, bytes, "get_reader {kind} {name}");
}

/// `put_parts` stores the concatenation of its parts, however they are cut: many small and
/// empty parts (more than one `writev` takes), one part, no part; and it never overwrites.
pub fn check_put_parts(backend: &dyn Backend) {
    let whole = pattern(7, 3000 * 7 + 5);
    let mut parts: Vec<&[u8]> = whole.chunks(7).collect();
    parts.insert(10, b"");
    ok(backend.put_parts(ObjectKind::Pack, "many", &parts), "put_parts of many parts");
    assert_eq!(ok(backend.get(ObjectKind::Pack, "many"), "get"), whole, "parts joined in order");
    ok(backend.put_parts(ObjectKind::Pack, "one", &[&whole]), "put_parts of one part");
    assert_eq!(ok(backend.get(ObjectKind::Pack, "one"), "get"), whole);
    ok(backend.put_parts(ObjectKind::Pack, "none", &[]), "put_parts of no part");
    assert_eq!(ok(backend.stat(ObjectKind::Pack, "none"), "stat"), Some(0));
    ok(backend.put_parts(ObjectKind::Pack, "one", &[b"other", b" bytes"]), "put_parts again");
    assert_eq!(ok(backend.get(ObjectKind::Pack, "one"), "get"), whole, "put_parts overwrote");
}

/// An empty object is an object: stored, listed with size 0, read back empty.
pub fn check_empty_object(backend: &dyn Backend) {
    ok(backend.put(ObjectKind::Pack, "empty", b""), "put empty");
    assert_eq!(ok(backend.get(ObjectKind::Pack, "empty"), "get"), b"");
    check_get_reader(backend, ObjectKind::Pack, "empty", b"");
    assert_eq!(ok(backend.get_range(ObjectKind::Pack, "empty", 0, 10), "get_range"), b"");
    assert_eq!(ok(backend.get_range(ObjectKind::Pack, "empty", 5, 10), "get_range"), b"");
    assert_eq!(ok(backend.stat(ObjectKind::Pack, "empty"), "stat"), Some(0));
    let listed = ok(backend.list(ObjectKind::Pack), "list");
    assert_eq!(listed, vec![ObjectInfo { name: "empty".into(), size: 0 }]);
}

/// `get_range` returns exactly the asked bytes, cut at the end of the object, and never
/// fails for ranges past the end (even ones whose end overflows `u64`); `get_ranges` returns
/// the same for many ranges at once, in the order asked.
pub fn check_ranges(backend: &dyn Backend) {
    let bytes = pattern(7, 1000);
    ok(backend.put(ObjectKind::Pack, "ranged", &bytes), "put");
    let cases: [(u64, u64, &[u8]); 10] = [
        (0, 0, b""),
        (0, 10, &bytes[..10]),
        (500, 1, &bytes[500..501]),
        (990, 10, &bytes[990..]),
        (995, 10, &bytes[995..]),
        (1000, 5, b""),
        (5000, 5, b""),
        (0, u64::MAX, &bytes),
        (10, u64::MAX, &bytes[10..]),
        (u64::MAX, u64::MAX, b""),
    ];
    for (offset, len, expected) in cases {
        let got = ok(backend.get_range(ObjectKind::Pack, "ranged", offset, len), "get_range");
        assert_eq!(got, expected, "get_range(offset {offset}, len {len})");
    }
    let mut asked: Vec<(u64, u64)> = cases.iter().map(|&(offset, len, _)| (offset, len)).collect();
    asked.reverse();
    let got = ok(backend.get_ranges(ObjectKind::Pack, "ranged", &asked), "get_ranges");
    let expected: Vec<&[u8]> = cases.iter().rev().map(|&(_, _, bytes)| bytes).collect();
    assert_eq!(got, expected, "get_ranges of every case at once, last first");
    assert!(ok(backend.get_ranges(ObjectKind::Pack, "ranged", &[]), "get_ranges of none").is_empty());
}

/// A second put of an existing name succeeds and changes nothing.
pub fn check_no_overwrite(backend: &dyn Backend) {
    let first = pattern(1, 300);
    ok(backend.put(ObjectKind::Snapshot, "s1", &first), "first put");
    ok(backend.put(ObjectKind::Snapshot, "s1", &pattern(2, 50)), "second put of the same name");
    ok(backend.put(ObjectKind::Snapshot, "s1", b""), "third put of the same name");
    assert_eq!(ok(backend.get(ObjectKind::Snapshot, "s1"), "get"), first, "put overwrote");
    assert_eq!(ok(backend.stat(ObjectKind::Snapshot, "s1"), "stat"), Some(300));
    assert_eq!(names(backend, ObjectKind::Snapshot), ["s1"]);
}

/// `stat` gives the size of what exists and `None` for what does not.
pub fn check_stat(backend: &dyn Backend) {
    assert_eq!(ok(backend.stat(ObjectKind::Index, "nothing"), "stat missing"), None);
    ok(backend.put(ObjectKind::Index, "i1", &pattern(3, 4097)), "put");
    assert_eq!(ok(backend.stat(ObjectKind::Index, "i1"), "stat"), Some(4097));
    assert_eq!(ok(backend.stat(ObjectKind::Pack, "i1"), "stat other kind"), None);
}

/// `delete` removes the object everywhere (get, stat, list), is `Ok` when repeated or when
/// nothing was there, and frees the name for a later put.
pub fn check_delete_is_idempotent(backend: &dyn Backend) {
    ok(backend.delete(ObjectKind::Pack, "never-stored"), "delete of a missing object");
    ok(backend.put(ObjectKind::Pack, "doomed", b"bytes"), "put");
    ok(backend.put(ObjectKind::Pack, "kept", b"other"), "put");
    ok(backend.delete(ObjectKind::Pack, "doomed"), "delete");
    assert!(ok(backend.stat(ObjectKind::Pack, "doomed"), "stat").is_none());
    assert!(backend.get(ObjectKind::Pack, "doomed").is_err_and(|e| e.is_not_found()));
    assert_eq!(names(backend, ObjectKind::Pack), ["kept"]);
    ok(backend.delete(ObjectKind::Pack, "doomed"), "second delete");
    ok(backend.put(ObjectKind::Pack, "doomed", b"again"), "put after delete");
    assert_eq!(ok(backend.get(ObjectKind::Pack, "doomed"), "get"), b"again");
    ok(backend.sync(), "sync after deletes");
}

/// Every method rejects names that could escape the store or hide, before touching it.
pub fn check_invalid_names_rejected(backend: &dyn Backend) {
    let too_long = "f".repeat(MAX_NAME_LEN + 1);
    let bad = ["", ".", "..", ".hidden", "../x", "a/b", "/abs", "a\\b", "a b", "é", "a\0b"];
    for name in bad.iter().copied().chain([too_long.as_str()]) {
        let kind = ObjectKind::Pack;
        let results = [
            ("put", backend.put(kind, name, b"x").err()),
            ("get", backend.get(kind, name).err()),
            ("get_reader", backend.get_reader(kind, name).err()),
            ("get_range", backend.get_range(kind, name, 0, 1).err()),
            ("get_ranges", backend.get_ranges(kind, name, &[(0, 1)]).err()),
            ("stat", backend.stat(kind, name).err()),
            ("delete", backend.delete(kind, name).err()),
        ];
        for (op, err) in results {
            assert!(
                matches!(err, Some(StoreError::InvalidName { .. })),
                "{op} of {name:?} should fail with InvalidName, got {err:?}"
            );
        }
    }
    for kind in ObjectKind::ALL {
        assert!(names(backend, kind).is_empty(), "an invalid put left something in {kind}");
    }
}

/// One name under every kind gives five unrelated objects.
pub fn check_kinds_are_independent(backend: &dyn Backend) {
    for kind in ObjectKind::ALL {
        ok(backend.put(kind, "same", &pattern(kind as u64, 64 + kind as usize)), "put");
    }
    for kind in ObjectKind::ALL {
        let expected = pattern(kind as u64, 64 + kind as usize);
        assert_eq!(ok(backend.get(kind, "same"), "get"), expected, "{kind} got another kind's bytes");
    }
    ok(backend.delete(ObjectKind::Index, "same"), "delete");
    for kind in ObjectKind::ALL {
        let want: &[&str] = if kind == ObjectKind::Index { &[] } else { &["same"] };
        assert_eq!(names(backend, kind), want, "delete of index leaked into {kind}");
    }
}

/// Missing objects come back as `NotFound` carrying the kind and name, not as some I/O error.
pub fn check_not_found_is_typed(backend: &dyn Backend) {
    for kind in ObjectKind::ALL {
        let errors = [
            backend.get(kind, "missing").err(),
            backend.get_reader(kind, "missing").err(),
            backend.get_range(kind, "missing", 0, 10).err(),
            backend.get_ranges(kind, "missing", &[(0, 10), (20, 5)]).err(),
        ];
        for err in errors {
            match err {
                Some(StoreError::NotFound { kind: k, name, .. }) => {
                    assert_eq!((k, name.as_str()), (kind, "missing"));
                }
                other => panic!("expected NotFound for {kind} missing, got {other:?}"),
            }
        }
    }
}

/// `sync` succeeds on an empty store, after puts, and repeatedly; objects stay readable.
pub fn check_sync(backend: &dyn Backend) {
    ok(backend.sync(), "sync of an empty store");
    ok(backend.put(ObjectKind::Pack, "00aa", b"one"), "put");
    ok(backend.put(ObjectKind::Meta, "config", b"two"), "put");
    ok(backend.sync(), "sync");
    ok(backend.sync(), "second sync");
    assert_eq!(ok(backend.get(ObjectKind::Pack, "00aa"), "get"), b"one");
    assert_eq!(ok(backend.get(ObjectKind::Meta, "config"), "get"), b"two");
}
