//! Fault injection: failing puts and gets, corruption, a full disk, crashes.

use std::collections::{BTreeMap, BTreeSet};

use chancery_store::{Backend, FaultyBackend, FsBackend, MemoryBackend, ObjectKind, StoreError};
use proptest::prelude::*;

const PACK: ObjectKind = ObjectKind::Pack;

#[test]
fn puts_fail_after_the_planned_number_and_leave_nothing() {
    let store = FaultyBackend::new(MemoryBackend::new());
    store.fail_puts_after(2);
    store.put(PACK, "p1", b"one").unwrap();
    store.put(PACK, "p2", b"two").unwrap();
    let err = store.put(PACK, "p3", b"three").unwrap_err();
    assert!(matches!(err, StoreError::Injected { .. }), "{err:?}");
    assert!(err.to_string().contains("p3"), "{err}");
    assert_eq!(store.stat(PACK, "p3").unwrap(), None);
    assert!(store.put(PACK, "p1", b"one").is_err(), "a failing device fails every put");
    store.plan().clear();
    store.put(PACK, "p3", b"three").unwrap();
    assert_eq!(store.list(PACK).unwrap().len(), 3);
}

#[test]
fn invalid_names_are_reported_as_such_even_when_puts_fail() {
    let store = FaultyBackend::new(MemoryBackend::new());
    store.fail_puts_after(0);
    assert!(matches!(store.put(PACK, "../x", b""), Err(StoreError::InvalidName { .. })));
}

fn check_disk_full(store: &FaultyBackend<impl Backend>) {
    store.disk_full_after_bytes(100);
    store.put(PACK, "aa01", &[1; 60]).unwrap();
    let err = store.put(PACK, "aa02", &[2; 50]).unwrap_err();
    assert!(matches!(err, StoreError::StorageFull { .. }), "{err:?}");
    assert!(err.to_string().contains("is full"), "{err}");
    assert_eq!(store.stat(PACK, "aa02").unwrap(), None, "a failed put left an object");
    assert!(store.get(PACK, "aa02").unwrap_err().is_not_found());
    let listed: Vec<String> = store.list(PACK).unwrap().into_iter().map(|o| o.name).collect();
    assert_eq!(listed, ["aa01"]);
    store.put(PACK, "aa01", &[1; 60]).unwrap(); // already there: writes nothing, so fits
    store.put(PACK, "aa03", &[3; 40]).unwrap(); // exactly the 40 bytes left
    assert!(store.put(PACK, "aa04", &[4; 1]).is_err());
    store.sync().unwrap();
}

#[test]
fn disk_full_over_memory_gives_storage_full_and_no_object() {
    check_disk_full(&FaultyBackend::new(MemoryBackend::new()));
}

#[test]
fn disk_full_over_files_gives_storage_full_and_no_object() {
    let dir = tempfile::tempdir().unwrap();
    let store = FaultyBackend::new(FsBackend::create(dir.path()).unwrap());
    check_disk_full(&store);
    assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
}

#[test]
fn failing_gets_fail_reads_only() {
    let store = FaultyBackend::new(MemoryBackend::new());
    store.put(PACK, "p", b"bytes").unwrap();
    store.fail_gets(true);
    assert!(matches!(store.get(PACK, "p"), Err(StoreError::Injected { .. })));
    assert!(matches!(store.get_range(PACK, "p", 0, 2), Err(StoreError::Injected { .. })));
    assert_eq!(store.stat(PACK, "p").unwrap(), Some(5));
    assert_eq!(store.list(PACK).unwrap().len(), 1);
    store.fail_gets(false);
    assert_eq!(store.get(PACK, "p").unwrap(), b"bytes");
}

#[test]
fn corrupt_reads_flip_one_byte_of_what_is_read_not_of_what_is_stored() {
    let plan = chancery_store::FaultPlan::new();
    let store = FaultyBackend::with_plan(MemoryBackend::new(), plan.clone());
    store.put(PACK, "p", b"0123456789").unwrap();
    plan.corrupt_reads(true); // through a kept handle, at run time
    let read = store.get(PACK, "p").unwrap();
    let differing = read.iter().zip(b"0123456789").filter(|(a, b)| a != b).count();
    assert_eq!((read.len(), differing), (10, 1));
    assert_ne!(store.get_range(PACK, "p", 2, 4).unwrap(), b"2345");
    assert_eq!(store.get_range(PACK, "p", 20, 4).unwrap(), b"", "nothing to flip");
    assert_eq!(store.inner().get(PACK, "p").unwrap(), b"0123456789");
    plan.corrupt_reads(false);
    assert_eq!(store.get(PACK, "p").unwrap(), b"0123456789");
}

#[test]
fn crash_loses_exactly_the_unsynced_puts() {
    let store = FaultyBackend::new(MemoryBackend::new());
    store.put(PACK, "synced", b"a").unwrap();
    store.sync().unwrap();
    store.put(PACK, "unsynced", b"b").unwrap();
    store.put(PACK, "synced", b"a").unwrap(); // a re-put of a synced object stays synced
    assert_eq!(store.unsynced_objects(), [(PACK, "unsynced".to_string())]);
    assert_eq!(store.crash().unwrap(), 1);
    let listed: Vec<String> = store.list(PACK).unwrap().into_iter().map(|o| o.name).collect();
    assert_eq!(listed, ["synced"]);
    assert_eq!(store.crash().unwrap(), 0);
}

#[derive(Clone, Debug)]
enum Op {
    Put { kind: ObjectKind, name: &'static str, len: usize },
    Delete { kind: ObjectKind, name: &'static str },
    Sync,
    Crash,
}

const NAMES: [&str; 5] = ["a", "ab", "abc", "b0", "ff"];
const KINDS: [ObjectKind; 2] = [ObjectKind::Pack, ObjectKind::Index];

fn op() -> impl Strategy<Value = Op> {
    let kind = proptest::sample::select(KINDS.to_vec());
    let name = proptest::sample::select(NAMES.to_vec());
    prop_oneof![
        4 => (kind.clone(), name.clone(), 0usize..40).prop_map(|(kind, name, len)| Op::Put { kind, name, len }),
        1 => (kind, name).prop_map(|(kind, name)| Op::Delete { kind, name }),
        2 => Just(Op::Sync),
        1 => Just(Op::Crash),
    ]
}

/// What the store must contain: the visible objects, and which of them a crash would lose.
#[derive(Default)]
struct Model {
    visible: BTreeMap<(ObjectKind, String), Vec<u8>>,
    unsynced: BTreeSet<(ObjectKind, String)>,
}

impl Model {
    fn apply(&mut self, op: &Op, step: usize) {
        match *op {
            Op::Put { kind, name, len } => {
                let key = (kind, name.to_string());
                if !self.visible.contains_key(&key) {
                    self.visible.insert(key.clone(), vec![step as u8; len]);
                    self.unsynced.insert(key);
                }
            }
            Op::Delete { kind, name } => {
                let key = (kind, name.to_string());
                self.visible.remove(&key);
                self.unsynced.remove(&key);
            }
            Op::Sync => self.unsynced.clear(),
            Op::Crash => {
                for key in std::mem::take(&mut self.unsynced) {
                    self.visible.remove(&key);
                }
            }
        }
    }
}

proptest! {
    #[test]
    fn crash_matches_a_model_of_unsynced_writes(ops in proptest::collection::vec(op(), 1..60)) {
        let store = FaultyBackend::new(MemoryBackend::new());
        let mut model = Model::default();
        for (step, op) in ops.iter().enumerate() {
            match *op {
                Op::Put { kind, name, len } => store.put(kind, name, &vec![step as u8; len]).unwrap(),
                Op::Delete { kind, name } => store.delete(kind, name).unwrap(),
                Op::Sync => store.sync().unwrap(),
                Op::Crash => { store.crash().unwrap(); }
            }
            model.apply(op, step);
            for kind in KINDS {
                let listed: Vec<(String, u64)> =
                    store.list(kind).unwrap().into_iter().map(|o| (o.name, o.size)).collect();
                let expected: Vec<(String, u64)> = model.visible.iter()
                    .filter(|((k, _), _)| *k == kind)
                    .map(|((_, n), bytes)| (n.clone(), bytes.len() as u64))
                    .collect();
                prop_assert_eq!(listed, expected, "after step {} ({:?})", step, op);
            }
            for ((kind, name), bytes) in &model.visible {
                prop_assert_eq!(&store.get(*kind, name).unwrap(), bytes);
            }
            let unsynced: Vec<_> = model.unsynced.iter().cloned().collect();
            prop_assert_eq!(store.unsynced_objects(), unsynced);
        }
    }
}
