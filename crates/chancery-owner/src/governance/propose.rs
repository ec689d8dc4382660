//! The destructive acts as proposals: `forget` (retention rules, optionally with a prune),
//! `prune`, settings changes and site removal. Each is computed here, signed by a governor,
//! posted to every site server, and recorded in the ledger (`proposed <id>`), so that from
//! then on no backup builds on what it deletes and no sync copies it back.

use std::collections::{BTreeSet, HashSet};

use anyhow::{bail, Result};
use chancery_format::ObjectId;
use chancery_ledger::witness::ledger_origin;
use chancery_ledger::{Act, Deletion, Event, Proposal, Setting};
use chancery_store::ObjectKind;
use ed25519_dalek::SigningKey;

use super::book::{doomed, keep_text};
use super::post::{addressees, post_to_sites, require_accepted, signed_note, signer_key, Posted};
use super::prune::{plan_prune, PrunePlan};
use super::retention::{select, Candidate, RetentionRules, Selection};
use crate::archive::Archive;
use crate::site::Site;
use crate::snapshots::{list_snapshots, list_snapshots_reading, CopiesRead, SnapshotEntry};

/// What a forget or prune proposes (and, unless dry, posted).
#[derive(Debug, Default, serde::Serialize)]
pub struct Proposed {
    /// The proposal, if there is anything to do.
    pub id: Option<String>,
    /// Its text.
    #[serde(skip)]
    pub text: String,
    /// Snapshots kept, and why.
    #[serde(skip)]
    pub selection: Option<Selection>,
    /// Snapshots it deletes.
    pub forget: Vec<String>,
    /// Packs it deletes.
    pub delete_packs: usize,
    /// Index files it deletes.
    pub delete_index: usize,
    /// Bytes freed when it executes.
    pub freed_bytes: u64,
    /// Index files stored first.
    pub new_index: usize,
    /// What each site server answered.
    pub posted: Option<Posted>,
    /// Warnings (rules an attacker could game, sites left out).
    pub warnings: Vec<String>,
}

/// `forget`: applies the retention rules, and with `prune` also deletes what only the
/// forgotten snapshots use.
pub fn forget(
    archive: &Archive,
    rules: &RetentionRules,
    prune: bool,
    governor: Option<&SigningKey>,
    dry_run: bool,
) -> Result<Proposed> {
    let mut warnings = Vec::new();
    // Which snapshot every site holds decides what a forget keeps: every copy is read now.
    let all = list_snapshots_reading(archive, &mut warnings, CopiesRead::Every)?;
    let doomed = doomed(archive)?;
    let live: Vec<&SnapshotEntry> = all.iter().filter(|e| !doomed.snapshots.contains(&e.id)).collect();
    let candidates: Vec<Candidate> = live
        .iter()
        .map(|e| Candidate { id: e.id, time_sec: e.snapshot.time_sec, tags: e.snapshot.tags.clone() })
        .collect();
    let selection = select(&candidates, rules, newest_everywhere(archive, &live), crate::fsutil::unix_now())?;
    warnings.extend(selection.warnings.iter().cloned());
    let forgotten: HashSet<ObjectId> = selection.forgotten().into_iter().collect();
    let mut out = Proposed { selection: Some(selection), warnings, ..Default::default() };
    if forgotten.is_empty() {
        return Ok(out);
    }
    // Every snapshot this proposal does not delete is kept by the prune, those that other
    // proposals delete included: they may yet be cancelled.
    let keep: Vec<ObjectId> = all.iter().map(|e| e.id).filter(|id| !forgotten.contains(id)).collect();
    let plan = if prune { plan_prune(archive, &keep)? } else { PrunePlan::default() };
    let mut deletions = BTreeSet::new();
    for id in &forgotten {
        deletions.insert(Deletion::new("snapshots", &id.to_hex())?);
    }
    add_plan(&mut deletions, &plan)?;
    let reason = format!("forget {}{}", rules.describe(), if prune { " and prune" } else { "" });
    out.forget = forgotten.iter().map(ObjectId::to_hex).collect();
    out.forget.sort();
    fill_plan(&mut out, &plan);
    let proposal = new_proposal(archive, Act::Forget, reason, deletions, Vec::new())?;
    send(archive, proposal, &plan, governor, dry_run, out)
}

/// `prune`: deletes the packs and index files no snapshot uses.
pub fn prune(archive: &Archive, governor: Option<&SigningKey>, dry_run: bool) -> Result<Proposed> {
    let mut warnings = Vec::new();
    let keep: Vec<ObjectId> = list_snapshots(archive, &mut warnings)?.iter().map(|e| e.id).collect();
    let plan = plan_prune(archive, &keep)?;
    let mut out = Proposed { warnings, ..Default::default() };
    out.warnings.extend(plan.warnings.iter().cloned());
    if plan.is_empty() {
        return Ok(out);
    }
    let mut deletions = BTreeSet::new();
    add_plan(&mut deletions, &plan)?;
    fill_plan(&mut out, &plan);
    let proposal = new_proposal(archive, Act::Prune, "prune unused data".into(), deletions, Vec::new())?;
    send(archive, proposal, &plan, governor, dry_run, out)
}

/// A settings change (quorum, time lock, retention floor, roles).
pub fn change_settings(
    archive: &Archive,
    settings: Vec<Setting>,
    governor: Option<&SigningKey>,
) -> Result<Posted> {
    if settings.is_empty() {
        bail!("name a setting to change (--quorum, --time-lock, --retention-floor, --roles KEY=ROLES)");
    }
    let reason = settings.iter().map(describe_setting).collect::<Vec<_>>().join(", ");
    let proposal = new_proposal(archive, Act::Settings, reason, BTreeSet::new(), settings)?;
    post_and_record(archive, &proposal, governor)
}

/// Removing a site: it deletes every object of this archive it holds.
pub fn remove_site(archive: &Archive, site: &str, governor: Option<&SigningKey>) -> Result<Posted> {
    let config = archive.config.sites.iter().find(|s| s.name == site);
    let Some(crate::config::Endpoint::Server { site_key, tenant, .. }) = config.map(|c| &c.endpoint) else {
        bail!("{site} is not a site server of this archive (a folder site is removed by deleting it)");
    };
    let key = chancery_protocol::parse_public_key("site key", site_key)?;
    let mut proposal =
        new_proposal(archive, Act::RemoveSite, format!("remove site {site}"), BTreeSet::new(), vec![])?;
    proposal.sites = [(key, tenant.clone())].into();
    post_and_record(archive, &proposal, governor)
}

fn describe_setting(setting: &Setting) -> String {
    match setting {
        Setting::Quorum(m) => format!("quorum {m}"),
        Setting::TimeLock(s) => format!("time lock {s} s"),
        Setting::RetentionFloor(s) => format!("retention floor {s} s"),
        Setting::Roles { key, roles } => {
            format!("roles of {}…: {}", &hex::encode(key)[..16], roles_text(roles))
        }
    }
}

fn roles_text(roles: &BTreeSet<String>) -> String {
    if roles.is_empty() {
        "none".into()
    } else {
        roles.iter().cloned().collect::<Vec<_>>().join(",")
    }
}

/// The newest snapshot every configured site holds, which a forget always keeps.
fn newest_everywhere(archive: &Archive, live: &[&SnapshotEntry]) -> Option<ObjectId> {
    let everywhere = |e: &&&SnapshotEntry| e.sites.len() == archive.config.sites.len();
    live.iter().filter(everywhere).max_by_key(|e| (e.snapshot.time_sec, e.snapshot.time_nsec)).map(|e| e.id)
}

fn add_plan(deletions: &mut BTreeSet<Deletion>, plan: &PrunePlan) -> Result<()> {
    for id in &plan.delete_index {
        deletions.insert(Deletion::new("index", &id.to_hex())?);
    }
    for id in &plan.delete_packs {
        deletions.insert(Deletion::new("packs", &id.to_hex())?);
    }
    Ok(())
}

fn fill_plan(out: &mut Proposed, plan: &PrunePlan) {
    out.delete_packs = plan.delete_packs.len();
    out.delete_index = plan.delete_index.len();
    out.freed_bytes = plan.freed_bytes;
    out.new_index = plan.new_index.len();
}

/// A proposal of this archive, addressed to every site server.
fn new_proposal(
    archive: &Archive,
    act: Act,
    reason: String,
    deletions: BTreeSet<Deletion>,
    settings: Vec<Setting>,
) -> Result<Proposal> {
    let origin = ledger_origin(&archive.keys.owner_signing_key().verifying_key().to_bytes());
    let reason: String = reason.chars().filter(|c| !c.is_control()).take(200).collect();
    let created = crate::fsutil::unix_now();
    let proposal =
        Proposal { origin, sites: addressees(archive)?, created, act, reason, deletions, settings };
    proposal.check()?;
    Ok(proposal)
}

/// Stores the new index files everywhere first, then posts and records the proposal.
fn send(
    archive: &Archive,
    proposal: Proposal,
    plan: &PrunePlan,
    governor: Option<&SigningKey>,
    dry_run: bool,
    mut out: Proposed,
) -> Result<Proposed> {
    out.id = Some(proposal.id());
    out.text = proposal.encode();
    if dry_run {
        return Ok(out);
    }
    store_new_index(archive, plan)?;
    out.posted = Some(post_and_record(archive, &proposal, governor)?);
    Ok(out)
}

/// Every site gets the plan's new index files, durably, before any proposal deletes the old.
fn store_new_index(archive: &Archive, plan: &PrunePlan) -> Result<()> {
    if plan.new_index.is_empty() {
        return Ok(());
    }
    for site in &archive.sites {
        for (id, bytes) in &plan.new_index {
            site.backend.put(ObjectKind::Index, &id.to_hex(), bytes)?;
        }
        site.backend.sync()?;
    }
    Ok(())
}

/// A proposal that deletes `deletions` (a key removal), posted and recorded.
pub(crate) fn propose_deletions(
    archive: &Archive,
    act: Act,
    reason: String,
    deletions: BTreeSet<Deletion>,
    governor: Option<&SigningKey>,
) -> Result<Posted> {
    let proposal = new_proposal(archive, act, reason, deletions, Vec::new())?;
    post_and_record(archive, &proposal, governor)
}

/// Signs, posts, and records a proposal once a site took it.
fn post_and_record(archive: &Archive, proposal: &Proposal, governor: Option<&SigningKey>) -> Result<Posted> {
    let key = signer_key(archive, governor);
    let text = proposal.encode();
    let posted = post_to_sites(archive, proposal, &signed_note(&text, &key)?, &key);
    require_accepted(&posted, "proposal")?;
    keep_text(archive, &text)?;
    let sites: Vec<&Site> = archive.sites.iter().collect();
    crate::ledger::record(archive, vec![Event::Proposed(proposal.id())], &sites)?;
    Ok(posted)
}
