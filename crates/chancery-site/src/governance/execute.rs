//! The executor: every few seconds the server looks at each tenant with a proposal not yet
//! final, locks the ones that reached their quorum, and carries out those whose lock has
//! passed, unless an object they delete is younger than the retention floor (then they wait).
//!
//! A crash part-way through a deletion is harmless: the outcome record is written last, so
//! the next run deletes what is left (deleting a missing object succeeds) and records it.

use chancery_ledger::Act;
use chancery_protocol::governance::Stage;
use chancery_store::{Backend, ObjectKind, StoreError};

use super::guard;
use super::records::{done_name, save_amended, write_json, Done};
use super::rules::Rules;
use super::state::{load_all, Held};
use super::submit::lock_if_quorum;
use crate::state::{Site, TenantStore};
use crate::tenants::Tenant;

/// Kinds a site removal deletes: everything but `meta` (the governance and audit history).
const REMOVED_WITH_THE_SITE: [ObjectKind; 5] =
    [ObjectKind::Snapshot, ObjectKind::Index, ObjectKind::Pack, ObjectKind::Key, ObjectKind::Ledger];

/// Moves every open proposal of every tenant on, as far as `now` allows.
pub(crate) fn run_due(site: &Site, now: i64) {
    let tenants: Vec<String> = guard(&site.governance.open).iter().cloned().collect();
    for name in tenants {
        match run_tenant(site, &name, now) {
            Ok(true) => {}
            Ok(false) => {
                guard(&site.governance.open).remove(&name);
            }
            Err(e) => tracing::error!(tenant = %name, "governance: {e}"),
        }
    }
}

/// Whether the tenant still has a proposal that is not final.
fn run_tenant(site: &Site, name: &str, now: i64) -> Result<bool, StoreError> {
    let _one_at_a_time = guard(&site.governance.lock);
    let Some(tenant) = site.tenant(name) else { return Ok(false) };
    let store = site.store(name)?;
    let rules = store.rules(&tenant);
    let mut open = false;
    for held in load_all(&*store.backend, &rules)? {
        if held.stage(&rules) == Stage::Proposed {
            open = true;
        }
        if held.stage(&rules) != Stage::Locked {
            continue;
        }
        open = true;
        let Some(lock) = held.lock else {
            lock_if_quorum(&*store.backend, &rules, &held.id, now)?;
            continue;
        };
        if now < lock.unlocks_at {
            continue;
        }
        let key = (name.to_owned(), held.id.clone());
        match execute(&tenant, &store, &rules, &held, now)? {
            Some(until) => {
                guard(&site.governance.waiting).insert(key, until);
            }
            None => {
                guard(&site.governance.waiting).remove(&key);
            }
        }
    }
    Ok(open)
}

/// Carries the proposal out, or says until when it waits for the retention floor.
fn execute(
    tenant: &Tenant,
    store: &TenantStore,
    rules: &Rules,
    held: &Held,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let backend = &*store.backend;
    let outcome = match held.proposal.act {
        Act::Settings => apply_settings(tenant, store, held)?,
        Act::Forget | Act::Prune | Act::RemoveSite | Act::RemoveKeys => {
            let targets = targets(backend, held)?;
            if let Some(until) = floor_until(backend, &targets, rules.retention_floor_secs, now)? {
                tracing::info!(tenant = %tenant.name, id = %held.id, until, "governance: waiting for the retention floor");
                return Ok(Some(until));
            }
            let guard = match newest_snapshot_kept(backend, held, &targets)? {
                Ok(()) => a_key_file_kept(backend, held, &targets)?,
                refused => refused,
            };
            match guard {
                Err(why) => Done { stage: Stage::Refused, done_at: now, outcome: why },
                Ok(()) => delete_all(store, &targets, now)?,
            }
        }
    };
    tracing::info!(tenant = %tenant.name, id = %held.id, stage = outcome.stage.name(), outcome = %outcome.outcome, "governance");
    write_json(backend, &done_name(&held.id), &outcome)?;
    Ok(None)
}

/// The objects the proposal deletes that the store holds.
fn targets(backend: &dyn Backend, held: &Held) -> Result<Vec<(ObjectKind, String)>, StoreError> {
    if held.proposal.act == Act::RemoveSite {
        let mut all = Vec::new();
        for kind in REMOVED_WITH_THE_SITE {
            all.extend(backend.list(kind)?.into_iter().map(|o| (kind, o.name)));
        }
        return Ok(all);
    }
    let mut held_objects = Vec::new();
    for d in &held.proposal.deletions {
        let kind = kind_of(d.kind_dir());
        if backend.stat(kind, &d.name)?.is_some() {
            held_objects.push((kind, d.name.clone()));
        }
    }
    Ok(held_objects)
}

fn kind_of(dir: &str) -> ObjectKind {
    ObjectKind::ALL.into_iter().find(|k| k.dir_name() == dir).unwrap_or(ObjectKind::Pack)
}

/// When the youngest target passes the floor, if that is still to come. An object whose
/// storage keeps no time counts as written now.
fn floor_until(
    backend: &dyn Backend,
    targets: &[(ObjectKind, String)],
    floor: u64,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let floor = i64::try_from(floor).unwrap_or(i64::MAX);
    let mut until = None;
    for (kind, name) in targets {
        let written = backend.written_at(*kind, name)?.unwrap_or(now);
        let passes = written.saturating_add(floor);
        if passes > now {
            until = until.max(Some(passes));
        }
    }
    Ok(until)
}

/// A forget never takes the newest snapshot this site holds: fake "new" snapshots cannot
/// push the real last one out, and an archive is never left with none.
fn newest_snapshot_kept(
    backend: &dyn Backend,
    held: &Held,
    targets: &[(ObjectKind, String)],
) -> Result<Result<(), String>, StoreError> {
    if held.proposal.act == Act::RemoveSite {
        return Ok(Ok(()));
    }
    let mut written = Vec::new();
    for snapshot in backend.list(ObjectKind::Snapshot)? {
        let at = backend.written_at(ObjectKind::Snapshot, &snapshot.name)?.unwrap_or(i64::MAX);
        written.push((at, snapshot.name));
    }
    // Times are whole seconds: every snapshot of the newest second counts as the newest.
    let Some(newest) = written.iter().map(|(at, _)| *at).max() else { return Ok(Ok(())) };
    let deleted = |name: &String| targets.iter().any(|(k, n)| *k == ObjectKind::Snapshot && n == name);
    let newest_names: Vec<&String> = written.iter().filter(|(at, _)| *at == newest).map(|(_, n)| n).collect();
    if newest_names.iter().all(|n| deleted(n)) {
        return Ok(Err(format!(
            "refused: it would delete snapshot {}, the newest this site holds; a forget keeps it always",
            newest_names[0]
        )));
    }
    Ok(Ok(()))
}

/// A removal of key files never takes the last one: the archive would open with no password.
fn a_key_file_kept(
    backend: &dyn Backend,
    held: &Held,
    targets: &[(ObjectKind, String)],
) -> Result<Result<(), String>, StoreError> {
    if held.proposal.act != Act::RemoveKeys {
        return Ok(Ok(()));
    }
    let removed = targets.iter().filter(|(k, _)| *k == ObjectKind::Key).count();
    if removed > 0 && backend.list(ObjectKind::Key)?.len() <= removed {
        return Ok(Err("refused: it would delete every key file; the archive could not be opened".into()));
    }
    Ok(Ok(()))
}

/// Deletes every target, durably, and says what was done.
fn delete_all(store: &TenantStore, targets: &[(ObjectKind, String)], now: i64) -> Result<Done, StoreError> {
    let backend = &*store.backend;
    let mut bytes = 0u64;
    for (kind, name) in targets {
        let size = backend.stat(*kind, name)?.unwrap_or(0);
        backend.delete(*kind, name)?;
        store.release(size);
        bytes += size;
    }
    backend.sync()?;
    let outcome = format!("deleted {} objects ({bytes} bytes)", targets.len());
    Ok(Done { stage: Stage::Executed, done_at: now, outcome })
}

/// Applies a settings proposal, or refuses one that would make governance impossible.
fn apply_settings(tenant: &Tenant, store: &TenantStore, held: &Held) -> Result<Done, StoreError> {
    let now = crate::files::unix_now();
    let (amended, seq) = store.amended();
    match amended.apply(tenant, &held.proposal.settings) {
        Err(why) => Ok(Done { stage: Stage::Refused, done_at: now, outcome: format!("refused: {why}") }),
        Ok(next) => {
            save_amended(&*store.backend, seq + 1, &next)?;
            store.set_amended(next.clone(), seq + 1);
            let terms = Rules::of(tenant, &next).terms();
            let outcome = format!(
                "applied: quorum {} of {} governors, time lock {} s, retention floor {} s",
                terms.quorum, terms.governors, terms.time_lock_secs, terms.retention_floor_secs
            );
            Ok(Done { stage: Stage::Executed, done_at: now, outcome })
        }
    }
}
