//! Every backend in this crate passes the whole contract.

use std::cell::Cell;

use chancery_store::{conformance, Backend, FaultyBackend, FsBackend, MemoryBackend, ThrottledBackend};

/// Fresh file stores in sub-folders of one temporary folder that outlives them all.
fn fs_factory(parent: &tempfile::TempDir) -> impl Fn() -> FsBackend + '_ {
    let counter = Cell::new(0);
    move || {
        counter.set(counter.get() + 1);
        let root = parent.path().join(format!("store{}", counter.get()));
        FsBackend::create(root).expect("create a file store")
    }
}

#[test]
fn fs_backend_conforms() {
    let parent = tempfile::tempdir().unwrap();
    let make = fs_factory(&parent);
    conformance::run_all(&|| Box::new(make()) as Box<dyn Backend>);
}

#[test]
fn memory_backend_conforms() {
    conformance::run_all(&|| Box::new(MemoryBackend::new()) as Box<dyn Backend>);
}

#[test]
fn faulty_memory_backend_without_faults_conforms() {
    conformance::run_all(&|| Box::new(FaultyBackend::new(MemoryBackend::new())) as Box<dyn Backend>);
}

#[test]
fn faulty_fs_backend_without_faults_conforms() {
    let parent = tempfile::tempdir().unwrap();
    let make = fs_factory(&parent);
    conformance::run_all(&|| Box::new(FaultyBackend::new(make())) as Box<dyn Backend>);
}

#[test]
fn throttled_backend_conforms() {
    // A high limit: the suite checks behaviour, not speed.
    let make = || ThrottledBackend::new(MemoryBackend::new(), Some(1 << 34), Some(1 << 34));
    conformance::run_all(&|| Box::new(make()) as Box<dyn Backend>);
}

#[test]
fn boxed_backends_are_backends() {
    // The forwarding impls let wrappers take a `Box<dyn Backend>` from a factory.
    let boxed: Box<dyn Backend> = Box::new(MemoryBackend::new());
    conformance::check_round_trip(&FaultyBackend::new(boxed));
}
