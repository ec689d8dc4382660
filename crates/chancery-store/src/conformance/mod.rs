//! The [`Backend`] contract as executable checks, for every backend present and future.
//!
//! Run them all with [`run_all`] from a backend's tests:
//!
//! ```
//! use chancery_store::{conformance, Backend, MemoryBackend};
//! conformance::run_all(&|| Box::new(MemoryBackend::new()) as Box<dyn Backend>);
//! ```
//!
//! Each check gets a fresh, empty backend from the factory and panics (with a message naming
//! the broken promise) at the first violation. The checks are public one by one, so a slow
//! remote backend can run a subset. They cover what can be observed from outside a single
//! process; crash behaviour needs backend-specific tests (see the `FsBackend` tests and
//! [`crate::FaultyBackend::crash`]).

mod basic;
mod stress;

pub use basic::{
    check_delete_is_idempotent, check_empty_object, check_invalid_names_rejected,
    check_kinds_are_independent, check_no_overwrite, check_not_found_is_typed, check_put_parts, check_ranges,
    check_round_trip, check_stat, check_sync,
};
pub use stress::{
    check_concurrent_distinct_puts, check_concurrent_same_name, check_large_object,
    check_list_never_shows_partial_objects, check_list_sorted, check_many_objects,
};

use crate::{Backend, ObjectKind, StoreError};

/// A named check of the contract.
pub type Check = fn(&dyn Backend);

/// Every check, with its name, in the order [`run_all`] runs them.
pub const CHECKS: &[(&str, Check)] = &[
    ("round_trip", check_round_trip),
    ("put_parts", check_put_parts),
    ("empty_object", check_empty_object),
    ("ranges", check_ranges),
    ("no_overwrite", check_no_overwrite),
    ("stat", check_stat),
    ("delete_is_idempotent", check_delete_is_idempotent),
    ("invalid_names_rejected", check_invalid_names_rejected),
    ("kinds_are_independent", check_kinds_are_independent),
    ("not_found_is_typed", check_not_found_is_typed),
    ("sync", check_sync),
    ("list_sorted", check_list_sorted),
    ("many_objects", check_many_objects),
    ("large_object", check_large_object),
    ("concurrent_same_name", check_concurrent_same_name),
    ("concurrent_distinct_puts", check_concurrent_distinct_puts),
    ("list_never_shows_partial_objects", check_list_never_shows_partial_objects),
];

/// Runs every check in [`CHECKS`], each on a fresh backend from `make`.
///
/// Panics at the first violation; the check's name is printed to stderr before it runs, so
/// the test output says which promise broke.
pub fn run_all(make: &dyn Fn() -> Box<dyn Backend>) {
    for (name, check) in CHECKS {
        let backend = make();
        eprintln!("conformance: {name} on {}", backend.location());
        check(backend.as_ref());
    }
}

/// Deterministic, incompressible-looking bytes (xorshift), so that offsets can be checked
/// and no two seeds give the same object.
pub(crate) fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect()
}

/// Unwraps a backend result, naming the operation in the panic.
#[track_caller]
pub(crate) fn ok<T>(result: Result<T, StoreError>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what} failed: {e}"),
    }
}

/// The names listed under `kind`, in the backend's order.
pub(crate) fn names(backend: &dyn Backend, kind: ObjectKind) -> Vec<String> {
    ok(backend.list(kind), "list").into_iter().map(|info| info.name).collect()
}
