//! Following proposals: `governance list` gathers where each stands at every site server and
//! records outcomes in the ledger; `approve` checks a proposal against the archive before a
//! governor signs it; `cancel` signs its cancel.

use std::collections::{BTreeMap, HashSet};

use anyhow::{bail, Context, Result};
use chancery_format::ObjectId;
use chancery_ledger::proposal::{cancel_text, proposal_id};
use chancery_ledger::{Act, Event, Proposal};
use chancery_protocol::governance::{ProposalStatus, Stage, Terms};
use ed25519_dalek::SigningKey;

use super::book::{keep_text, recorded, text_of};
use super::post::{client, post_to_sites, require_accepted, signed_note, signer_key, Posted};
use super::prune::used_blobs;
use crate::archive::Archive;
use crate::config::Endpoint;
use crate::index::Index;
use crate::restore::read_order;
use crate::site::Site;
use crate::snapshots::list_snapshots;

/// One proposal and where it stands at each site server.
#[derive(Debug, serde::Serialize)]
pub struct Overview {
    /// Its id.
    pub id: String,
    /// What it does.
    pub act: String,
    /// Its reason.
    pub reason: String,
    /// When it was made (the proposer's clock).
    pub created: i64,
    /// Objects it deletes.
    pub deletes: usize,
    /// Per site.
    pub sites: BTreeMap<String, ProposalStatus>,
    /// Its text.
    #[serde(skip)]
    pub text: String,
}

/// Every proposal at every reachable site server, and the terms each site enforces.
#[derive(Debug, Default, serde::Serialize)]
pub struct Book {
    /// Proposals, oldest first.
    pub proposals: Vec<Overview>,
    /// Per site: its terms.
    pub terms: BTreeMap<String, Terms>,
    /// Sites that could not be asked.
    pub failed: Vec<(String, String)>,
}

/// Gathers every proposal (asking with the owner's key, a reader), and records in the ledger
/// what became of them.
pub fn list(archive: &Archive) -> Result<Book> {
    let mut book = Book::default();
    let owner = archive.keys.owner_signing_key();
    for config in &archive.config.sites {
        if !matches!(config.endpoint, Endpoint::Server { .. }) {
            continue;
        }
        match client(config, &owner).and_then(|c| Ok(c.governance()?)) {
            Ok(answer) => {
                book.terms.insert(config.name.clone(), answer.terms);
                for status in answer.proposals {
                    add(&mut book, &config.name, status);
                }
            }
            Err(e) => book.failed.push((config.name.clone(), format!("{e:#}"))),
        }
    }
    book.proposals.sort_by_key(|p| (p.created, p.id.clone()));
    for p in &book.proposals {
        keep_text(archive, &p.text)?;
    }
    record_outcomes(archive, &book)?;
    follow_at_folders(archive, &book)?;
    Ok(book)
}

/// Local-folder sites follow what site servers executed: a folder is the owner's own, with
/// no governance of its own, so once governors' proposal ran at a server, the folder drops
/// the same objects (snapshots first, then index files, then packs).
fn follow_at_folders(archive: &Archive, book: &Book) -> Result<()> {
    let folders: Vec<&Site> = archive.sites.iter().filter(|s| s.server.is_none()).collect();
    if folders.is_empty() {
        return Ok(());
    }
    for p in book.proposals.iter().filter(|p| p.sites.values().any(|s| s.stage == Stage::Executed)) {
        let Ok(proposal) = Proposal::parse(&p.text) else { continue };
        if !matches!(proposal.act, Act::Forget | Act::Prune | Act::RemoveKeys) {
            continue;
        }
        for site in &folders {
            for d in &proposal.deletions {
                let kind = chancery_store::ObjectKind::ALL.into_iter().find(|k| k.dir_name() == d.kind_dir());
                if let Some(kind) = kind {
                    site.backend.delete(kind, &d.name)?;
                }
            }
            site.backend.sync()?;
        }
    }
    Ok(())
}

fn add(book: &mut Book, site: &str, status: ProposalStatus) {
    // A site's word on a text is checked: it must hash to the id and parse.
    if proposal_id(&status.text) != status.id {
        return;
    }
    let Ok(proposal) = Proposal::parse(&status.text) else { return };
    let index = match book.proposals.iter().position(|p| p.id == status.id) {
        Some(i) => i,
        None => {
            book.proposals.push(Overview {
                id: status.id.clone(),
                act: proposal.act.name().into(),
                reason: proposal.reason.clone(),
                created: proposal.created,
                deletes: proposal.deletions.len(),
                sites: BTreeMap::new(),
                text: status.text.clone(),
            });
            book.proposals.len() - 1
        }
    };
    book.proposals[index].sites.insert(site.to_owned(), status);
}

/// Records `proposal-executed` once a site executed a proposal, and `proposal-cancelled`
/// once every configured site server it is addressed to shows it cancelled (only then may
/// backups build on its objects again).
fn record_outcomes(archive: &Archive, book: &Book) -> Result<()> {
    let recorded = recorded(archive)?;
    let servers =
        archive.config.sites.iter().filter(|s| matches!(s.endpoint, Endpoint::Server { .. })).count();
    let mut events = Vec::new();
    for p in &book.proposals {
        let executed = p.sites.values().any(|s| s.stage == Stage::Executed);
        let cancelled = p.sites.len() == servers && p.sites.values().all(|s| s.stage == Stage::Cancelled);
        if executed && !recorded.executed.contains(&p.id) {
            events.push(Event::ProposalExecuted(p.id.clone()));
        }
        if cancelled && !recorded.cancelled.contains(&p.id) {
            events.push(Event::ProposalCancelled(p.id.clone()));
        }
    }
    if events.is_empty() {
        return Ok(());
    }
    if events.iter().any(|e| matches!(e, Event::ProposalExecuted(_))) {
        // The cached needs of kept snapshots name the index files a prune replaced: work
        // them out again.
        let cache = archive.state_dir().join(crate::needs::NEEDS_CACHE_DIR);
        if cache.exists() {
            std::fs::remove_dir_all(&cache).with_context(|| format!("clearing {}", cache.display()))?;
        }
    }
    let sites: Vec<&Site> = archive.sites.iter().collect();
    crate::ledger::record(archive, events, &sites)?;
    Ok(())
}

/// The text of proposal `id` (a unique prefix of 8 or more hex digits will do).
pub fn find_text(archive: &Archive, id: &str) -> Result<(String, String)> {
    if id.len() == 64 {
        if let Some(text) = text_of(archive, id)? {
            return Ok((id.to_owned(), text));
        }
    }
    if id.len() < 8 {
        bail!("give at least 8 hex digits of the proposal id (see `chancery governance list`)");
    }
    let book = list(archive)?;
    let found: Vec<&Overview> = book.proposals.iter().filter(|p| p.id.starts_with(id)).collect();
    match found.as_slice() {
        [one] => Ok((one.id.clone(), one.text.clone())),
        [] => bail!("no site server holds a proposal {id}"),
        _ => bail!("{id} names several proposals; give more digits"),
    }
}

/// Checks a forget or prune against the archive as it is, then signs and posts the approval.
pub fn approve(archive: &Archive, id: &str, governor: Option<&SigningKey>) -> Result<Posted> {
    let (id, text) = find_text(archive, id)?;
    let proposal = Proposal::parse(&text).with_context(|| format!("proposal {id}"))?;
    check_against_archive(archive, &proposal)?;
    let key = signer_key(archive, governor);
    let posted = post_to_sites(archive, &proposal, &signed_note(&text, &key)?, &key);
    require_accepted(&posted, "approval")?;
    Ok(posted)
}

/// Signs and posts the cancel of a proposal.
pub fn cancel(archive: &Archive, id: &str, governor: Option<&SigningKey>) -> Result<Posted> {
    let (id, text) = find_text(archive, id)?;
    let proposal = Proposal::parse(&text).with_context(|| format!("proposal {id}"))?;
    let key = signer_key(archive, governor);
    let note = signed_note(&cancel_text(&proposal.origin, &id), &key)?;
    let posted = post_to_sites(archive, &proposal, &note, &key);
    require_accepted(&posted, "cancel")?;
    list(archive)?;
    Ok(posted)
}

/// An approver's check: what a forget or prune deletes is used by no snapshot it keeps, and
/// every blob of those snapshots stays indexed.
fn check_against_archive(archive: &Archive, proposal: &Proposal) -> Result<()> {
    if proposal.act == Act::RemoveKeys {
        return super::keys::check_removal(archive, &proposal.deletions);
    }
    if !matches!(proposal.act, Act::Forget | Act::Prune) {
        return Ok(());
    }
    let name_set = |kind: &str| -> HashSet<ObjectId> {
        proposal
            .deletions
            .iter()
            .filter(|d| d.kind_dir() == kind)
            .filter_map(|d| ObjectId::from_hex(&d.name))
            .collect()
    };
    let (snapshots, packs, index_files) = (name_set("snapshots"), name_set("packs"), name_set("index"));
    let keep: Vec<ObjectId> = list_snapshots(archive, &mut Vec::new())?
        .iter()
        .map(|e| e.id)
        .filter(|id| !snapshots.contains(id))
        .collect();
    if keep.is_empty() {
        bail!("the proposal would leave no snapshot; not approved");
    }
    let sites = read_order(archive, None)?;
    let (index, _) = Index::load_union_cached(&sites, &archive.keys, &archive.index_cache())?;
    let used = used_blobs(archive, &sites, &index, &keep)?;
    // A blob stored twice needs one copy to stay, in a pack some index file still lists.
    for blob in &used {
        let locations = index.locations(blob);
        let Some(first) = locations.first() else { continue };
        let unlisted = |pack: &ObjectId| index.listed_in(pack).iter().all(|f| index_files.contains(f));
        if locations.iter().all(|loc| packs.contains(&loc.pack)) {
            bail!(
                "the proposal deletes pack {}, which a kept snapshot uses; not approved",
                first.pack.to_hex()
            );
        }
        if locations.iter().all(|loc| packs.contains(&loc.pack) || unlisted(&loc.pack)) {
            bail!(
                "the proposal deletes every index file that lists pack {}, which a kept snapshot uses; not approved",
                first.pack.to_hex()
            );
        }
    }
    Ok(())
}

/// Where a site server stands on a proposal, for display.
pub fn stage_text(status: &ProposalStatus, now: i64) -> String {
    let count = format!("{}/{} approvals", status.approvals.len(), status.quorum);
    match status.stage {
        Stage::Proposed => format!("proposed, {count}"),
        Stage::Locked => match status.unlocks_at {
            Some(t) if t > now => format!("locked, {count}, executes in {} s", t - now),
            _ => format!("locked, {count}, executes shortly"),
        },
        Stage::Waiting => {
            format!("waiting for the retention floor, {} s left", status.floor_until.unwrap_or(now) - now)
        }
        Stage::Executed => format!("executed: {}", status.outcome),
        Stage::Cancelled => format!(
            "cancelled by {}",
            status.cancelled_by.iter().map(|k| &k[..16]).collect::<Vec<_>>().join(", ")
        ),
        Stage::Refused => format!("refused: {}", status.outcome),
    }
}
