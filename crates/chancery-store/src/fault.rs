//! [`FaultyBackend`]: a wrapper that makes any backend fail on purpose, for tests.
//!
//! What it can inject, all switchable at run time through a shared [`FaultPlan`]:
//!
//! - puts that start failing after N more successes ([`FaultPlan::fail_puts_after`]),
//! - a disk that fills up after N more bytes ([`FaultPlan::disk_full_after_bytes`]),
//! - gets that fail ([`FaultPlan::fail_gets`]) or return a flipped byte
//!   ([`FaultPlan::corrupt_reads`]),
//! - a crash that loses every put not followed by a successful sync ([`FaultyBackend::crash`]).
//!
//! Injected failures happen *before* the inner backend is touched, so a failed put leaves
//! nothing behind, exactly like a real put that failed part-way.

use std::collections::BTreeSet;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::name::validate_name;
use crate::{Backend, ObjectInfo, ObjectKind, StoreError};

/// Which faults to inject; clones share one plan, so a test can keep a handle and change it
/// while the code under test holds the [`FaultyBackend`]. The default plan injects nothing.
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    state: Arc<Mutex<PlanState>>,
}

#[derive(Debug, Default)]
struct PlanState {
    /// `Some(n)`: n more puts succeed, then every put fails.
    puts_left: Option<u64>,
    /// `Some(n)`: n more bytes fit on the "disk"; a put of a new object that does not fit
    /// fails with StorageFull.
    bytes_left: Option<u64>,
    fail_gets: bool,
    corrupt_reads: bool,
}

impl FaultPlan {
    /// A plan that injects nothing (yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets `n` more puts succeed, then fails every put with [`StoreError::Injected`]
    /// (`0`: fail from now on). Puts of names that already exist count too: they model a
    /// connection or device that stops answering, whatever is asked.
    pub fn fail_puts_after(&self, n: u64) {
        self.state().puts_left = Some(n);
    }

    /// Lets `n` more bytes be written, counted over the puts of new objects from now on, then
    /// fails every put of a new object that does not fit with [`StoreError::StorageFull`]. A
    /// put of an existing name writes nothing, so it still succeeds, as on a real full disk.
    pub fn disk_full_after_bytes(&self, n: u64) {
        self.state().bytes_left = Some(n);
    }

    /// Fails every `get` and `get_range` with [`StoreError::Injected`] while `on`.
    pub fn fail_gets(&self, on: bool) {
        self.state().fail_gets = on;
    }

    /// While `on`, flips every bit of one byte (the middle one) of every `get` and
    /// `get_range` result. Empty results have no byte to flip and come back as they are.
    pub fn corrupt_reads(&self, on: bool) {
        self.state().corrupt_reads = on;
    }

    /// Stops injecting anything.
    pub fn clear(&self) {
        *self.state() = PlanState::default();
    }

    fn state(&self) -> MutexGuard<'_, PlanState> {
        // Plain flags and counters: always consistent, so poisoning can be ignored.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Decides whether a put of `bytes` new bytes may proceed, and if so reserves its share
    /// of both budgets (given back by [`FaultPlan::refund_put`] if the inner put fails).
    fn admit_put(&self, what: &str, bytes: u64, location: &str) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.puts_left == Some(0) {
            return Err(StoreError::Injected { what: format!("put of {what} refused (fail_puts_after)") });
        }
        if let Some(left) = state.bytes_left {
            if bytes > left {
                return Err(StoreError::StorageFull {
                    location: location.to_string(),
                    source: io::Error::from_raw_os_error(libc::ENOSPC),
                });
            }
            state.bytes_left = Some(left - bytes);
        }
        if let Some(left) = &mut state.puts_left {
            *left -= 1;
        }
        Ok(())
    }

    fn refund_put(&self, bytes: u64) {
        let mut state = self.state();
        if let Some(left) = &mut state.puts_left {
            *left += 1;
        }
        if let Some(left) = &mut state.bytes_left {
            *left += bytes;
        }
    }

    /// `Err` if gets are to fail, else whether to corrupt what is read.
    fn admit_get(&self, what: &str) -> Result<bool, StoreError> {
        let state = self.state();
        if state.fail_gets {
            return Err(StoreError::Injected { what: format!("get of {what} refused (fail_gets)") });
        }
        Ok(state.corrupt_reads)
    }
}

/// Wraps a backend and injects the faults of its [`FaultPlan`]; with nothing planned it
/// behaves exactly like the inner backend (and passes [`crate::conformance`]).
#[derive(Debug)]
pub struct FaultyBackend<B: Backend> {
    inner: B,
    plan: FaultPlan,
    /// Objects created by a put that no successful sync has followed yet: what a crash loses.
    unsynced: Mutex<BTreeSet<(ObjectKind, String)>>,
}

impl<B: Backend> FaultyBackend<B> {
    /// Wraps `inner` with a fresh plan that injects nothing.
    pub fn new(inner: B) -> Self {
        Self::with_plan(inner, FaultPlan::new())
    }

    /// Wraps `inner`, following `plan` (which the caller may keep a clone of).
    pub fn with_plan(inner: B, plan: FaultPlan) -> Self {
        FaultyBackend { inner, plan, unsynced: Mutex::new(BTreeSet::new()) }
    }

    /// The plan, to change faults at run time; clone it to keep a handle.
    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// The wrapped backend, to inspect or prepare state without faults.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// Unwraps.
    pub fn into_inner(self) -> B {
        self.inner
    }

    /// Shorthand for [`FaultPlan::fail_puts_after`].
    pub fn fail_puts_after(&self, n: u64) {
        self.plan.fail_puts_after(n);
    }

    /// Shorthand for [`FaultPlan::disk_full_after_bytes`].
    pub fn disk_full_after_bytes(&self, n: u64) {
        self.plan.disk_full_after_bytes(n);
    }

    /// Shorthand for [`FaultPlan::fail_gets`].
    pub fn fail_gets(&self, on: bool) {
        self.plan.fail_gets(on);
    }

    /// Shorthand for [`FaultPlan::corrupt_reads`].
    pub fn corrupt_reads(&self, on: bool) {
        self.plan.corrupt_reads(on);
    }

    /// Simulates a crash (power loss, kernel panic): deletes from the inner backend every
    /// object whose put has not been followed by a successful [`Backend::sync`], and returns
    /// how many were lost.
    ///
    /// This models a store that keeps puts only in volatile memory until `sync`, the weakest
    /// the contract allows. Deletes are not undone (a real crash might resurrect an unsynced
    /// delete; callers must cope with that anyway, since deletes are idempotent). Meaningful
    /// over [`crate::MemoryBackend`]; over a real file system it merely removes files.
    pub fn crash(&self) -> Result<usize, StoreError> {
        let lost = std::mem::take(&mut *self.unsynced());
        for (done, (kind, name)) in lost.iter().enumerate() {
            if let Err(e) = self.inner.delete(*kind, name) {
                // Still there, so still lost by the next crash: keep tracking them.
                self.unsynced().extend(lost.iter().skip(done).cloned());
                return Err(e);
            }
        }
        Ok(lost.len())
    }

    /// The objects a [`FaultyBackend::crash`] would lose now, sorted.
    pub fn unsynced_objects(&self) -> Vec<(ObjectKind, String)> {
        self.unsynced().iter().cloned().collect()
    }

    fn unsynced(&self) -> MutexGuard<'_, BTreeSet<(ObjectKind, String)>> {
        self.unsynced.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs a read through the plan: refuses it, or corrupts its result.
    fn read(
        &self,
        kind: ObjectKind,
        name: &str,
        read: impl FnOnce() -> Result<Vec<u8>, StoreError>,
    ) -> Result<Vec<u8>, StoreError> {
        validate_name(name)?;
        let corrupt = self.plan.admit_get(&format!("{kind} {name}"))?;
        let mut bytes = read()?;
        if corrupt {
            flip_a_byte(&mut bytes);
        }
        Ok(bytes)
    }
}

/// Inverts the middle byte: a corruption that no length check can notice.
fn flip_a_byte(bytes: &mut [u8]) {
    let middle = bytes.len() / 2;
    if let Some(byte) = bytes.get_mut(middle) {
        *byte ^= 0xff;
    }
}

impl<B: Backend> Backend for FaultyBackend<B> {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn put(&self, kind: ObjectKind, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        // Invalid names are the caller's bug, not a fault: report them before any budget.
        validate_name(name)?;
        // Stat-then-put is not atomic: two racing puts of one name may both count as new.
        // Harmless: the unsynced set is keyed by name, and the byte budget errs on the full side.
        let is_new = self.inner.stat(kind, name)?.is_none();
        let charged = if is_new { bytes.len() as u64 } else { 0 };
        self.plan.admit_put(&format!("{kind} {name}"), charged, &self.location())?;
        if let Err(e) = self.inner.put(kind, name, bytes) {
            self.plan.refund_put(charged);
            return Err(e);
        }
        if is_new {
            self.unsynced().insert((kind, name.to_string()));
        }
        Ok(())
    }

    fn get(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>, StoreError> {
        self.read(kind, name, || self.inner.get(kind, name))
    }

    fn get_range(&self, kind: ObjectKind, name: &str, offset: u64, len: u64) -> Result<Vec<u8>, StoreError> {
        self.read(kind, name, || self.inner.get_range(kind, name, offset, len))
    }

    fn stat(&self, kind: ObjectKind, name: &str) -> Result<Option<u64>, StoreError> {
        self.inner.stat(kind, name)
    }

    fn written_at(&self, kind: ObjectKind, name: &str) -> Result<Option<i64>, StoreError> {
        self.inner.written_at(kind, name)
    }

    fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>, StoreError> {
        self.inner.list(kind)
    }

    fn relist(&self, kind: ObjectKind, known: &[ObjectInfo]) -> Result<Option<Vec<ObjectInfo>>, StoreError> {
        self.inner.relist(kind, known)
    }

    fn delete(&self, kind: ObjectKind, name: &str) -> Result<(), StoreError> {
        self.inner.delete(kind, name)?;
        self.unsynced().remove(&(kind, name.to_string()));
        Ok(())
    }

    fn sync(&self) -> Result<(), StoreError> {
        // Only what was put before this sync started becomes safe; puts racing with it stay
        // unsynced until the next one.
        let syncing = std::mem::take(&mut *self.unsynced());
        if let Err(e) = self.inner.sync() {
            self.unsynced().extend(syncing);
            return Err(e);
        }
        Ok(())
    }
}
