//! Governance at a site (FORMAT.md §20): the site itself enforces that nothing is destroyed,
//! and no rule changed, without valid signatures of m of the tenant's n governors, a time lock
//! during which any one of them can cancel, and the retention floor.
//!
//! - [`submit`] takes a signed proposal, approval or cancel (`POST …/governance`), checks it
//!   is for this tenant at this site and signed by its governors, and keeps it in the tenant's
//!   store as `meta` records that only the site writes.
//! - [`run_due`] (every few seconds, from the server) locks a proposal when its quorum is
//!   reached, and executes it once its lock has passed and every object it deletes is older
//!   than the floor.
//! - [`Rules`]: the terms and roles in force, those of `tenants.toml` amended by the settings
//!   proposals executed since.

mod execute;
mod records;
mod rules;
mod state;
mod submit;

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

pub(crate) use execute::run_due;
pub(crate) use records::load_amended;
pub(crate) use rules::{Amended, Rules};
pub(crate) use state::list;
pub(crate) use submit::{submit, Addressee, Refusal};

/// The time lock when enrollment names none: 72 hours.
pub const DEFAULT_TIME_LOCK_SECS: u64 = 72 * 3600;
/// The retention floor when enrollment names none: 30 days.
pub const DEFAULT_RETENTION_FLOOR_SECS: u64 = 30 * 86_400;

/// What the site keeps in memory about governance.
#[derive(Debug, Default)]
pub(crate) struct Governance {
    /// One governance act at a time per site: submit, lock and execute each read, decide and
    /// write several records, and a cancel must not slip between a check and a deletion.
    pub(crate) lock: Mutex<()>,
    /// Tenants that may have a proposal not yet final (all at start; then each that gets one).
    pub(crate) open: Mutex<BTreeSet<String>>,
    /// Proposals past their lock that wait for the retention floor: (tenant, id) → until.
    pub(crate) waiting: Mutex<HashMap<(String, String), i64>>,
}

impl Governance {
    /// Marks `tenant` as having a proposal to look after.
    pub(crate) fn mark_open(&self, tenant: &str) {
        guard(&self.open).insert(tenant.to_owned());
    }

    /// When a waiting proposal executes, if it waits for the floor.
    pub(crate) fn waiting_until(&self, tenant: &str, id: &str) -> Option<i64> {
        guard(&self.waiting).get(&(tenant.to_owned(), id.to_owned())).copied()
    }
}

/// The data stays valid whatever a panicking holder did: ignore poisoning.
pub(crate) fn guard<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests;
