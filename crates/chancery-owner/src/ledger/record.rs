//! Recording changes in the ledger: append, then publish to the sites that hold the change.
//!
//! Every record also brings the ledger level with the archive as it is: snapshots made before
//! the ledger existed (an archive of an earlier release) are recorded, after every site
//! added to or removed from the config and every key file added or removed since the last
//! entry, and before the events asked for. So the ledger holds every change by the time it is next
//! published, including changes made by commands that ran without the password (`site add`).

use super::{publish, LocalLedger, LogIdentity, Published, Verdict};
use crate::archive::{read_key_files, Archive};
use crate::config_copy;
use crate::site::Site;
use crate::snapshots::{list_snapshots, SnapshotEntry};
use anyhow::{Context, Result};
use chancery_format::ObjectId;
use chancery_ledger::Event;
use std::collections::BTreeSet;

/// Notes, before its first upload, the snapshot a backup is about to commit: a run killed
/// after the upload records it next time (see [`snapshot_events`]).
pub fn intend(archive: &Archive, snapshot: &ObjectId) -> Result<()> {
    LocalLedger::open(&archive.state_dir())?.set_pending(Some(&snapshot.to_hex()))
}

/// The events that record `new`, preceded by the snapshot a stopped run was committing when
/// a site holds it.
pub fn snapshot_events(archive: &Archive, existing: &[SnapshotEntry], new: &ObjectId) -> Result<Vec<Event>> {
    let view = archive.ledger()?;
    let mut ids: Vec<ObjectId> = if view.started() {
        existing.iter().filter(|e| view.verdict(&e.id) == Verdict::Pending).map(|e| e.id).collect()
    } else {
        Vec::new()
    };
    ids.retain(|id| id != new);
    ids.push(*new);
    Ok(ids.into_iter().map(|id| Event::Snapshot(id.to_hex())).collect())
}

/// Appends what is unrecorded and `events` to the ledger, and publishes the ledger, with the
/// encrypted copy of the config it names, to `sites`. The pending snapshot is cleared once
/// recorded.
pub fn record(archive: &Archive, events: Vec<Event>, sites: &[&Site]) -> Result<Published> {
    let mut ledger = LocalLedger::open(&archive.state_dir())?;
    let text = std::fs::read_to_string(&archive.config_path)
        .with_context(|| format!("reading {}", archive.config_path.display()))?;
    let copy = config_copy::seal(&archive.keys, &text);
    let mut all = config_changes(archive, &ledger)?;
    if last_config(&ledger) != Some(copy.id.as_str()) {
        all.push(Event::Config(copy.id.clone()));
    }
    all.extend(unrecorded_snapshots(archive, &ledger)?.into_iter().filter(|e| !events.contains(e)));
    all.extend(events);
    let mut recorded: BTreeSet<String> = ledger.snapshots().into_keys().collect();
    for event in all {
        // Never twice: a retried run may offer a snapshot already recorded.
        if let Event::Snapshot(id) = &event {
            if !recorded.insert(id.clone()) {
                continue;
            }
        }
        ledger.append(event)?;
    }
    if ledger.pending()?.is_some_and(|p| recorded.contains(&p)) {
        ledger.set_pending(None)?;
    }
    publish(&LogIdentity::of(&archive.keys), &ledger, sites, &copy)
}

/// Publishes the ledger to `sites` (after a sync brought them up to date), with whatever
/// changed since it was last recorded.
pub fn republish(archive: &Archive, sites: &[&Site]) -> Result<Published> {
    record(archive, Vec::new(), sites)
}

/// The id of the newest config the ledger records.
pub fn last_config(ledger: &LocalLedger) -> Option<&str> {
    ledger.entries().iter().rev().find_map(|e| match &e.event {
        Event::Config(id) => Some(id.as_str()),
        _ => None,
    })
}

/// Every snapshot held, oldest first, when no ledger exists anywhere yet.
fn unrecorded_snapshots(archive: &Archive, ledger: &LocalLedger) -> Result<Vec<Event>> {
    if ledger.size() > 0 || archive.ledger()?.started() {
        return Ok(Vec::new());
    }
    let list = list_snapshots(archive, &mut Vec::new())?;
    Ok(list.into_iter().map(|e| Event::Snapshot(e.id.to_hex())).collect())
}

/// Sites and key files added or removed since the ledger last recorded them.
fn config_changes(archive: &Archive, ledger: &LocalLedger) -> Result<Vec<Event>> {
    let (mut sites, mut keys) = (BTreeSet::new(), BTreeSet::new());
    for entry in ledger.entries() {
        match &entry.event {
            Event::SiteAdded(name) => sites.insert(name.clone()),
            Event::SiteRemoved(name) => sites.remove(name),
            Event::KeyAdded(id) => keys.insert(id.clone()),
            Event::KeyRemoved(id) => keys.remove(id),
            _ => false,
        };
    }
    let configured: BTreeSet<String> = archive.config.sites.iter().map(|s| s.name.clone()).collect();
    let local: BTreeSet<String> =
        read_key_files(&archive.keys_dir())?.into_iter().map(|(id, _)| id.to_hex()).collect();
    let mut events: Vec<Event> = configured.difference(&sites).cloned().map(Event::SiteAdded).collect();
    events.extend(sites.difference(&configured).cloned().map(Event::SiteRemoved));
    events.extend(local.difference(&keys).cloned().map(Event::KeyAdded));
    events.extend(keys.difference(&local).cloned().map(Event::KeyRemoved));
    Ok(events)
}
