//! Verifying the ledger at every reachable site against this machine's copy.
//!
//! Trust: this machine's own entries (it wrote them, or adopted them below), extended by
//! entries a site serves only up to a checkpoint that a quorum of site servers cosigned (each
//! cosignature checked against the site key pinned in the config). Each site's checkpoint must
//! carry the owner's signature and, at a site server, that site's own cosignature; it must not
//! be older than one the site vouched for before (rollback), nor disagree with the trusted
//! entries at its size (fork, split view). A site that fails any of this is *tampered*: its
//! data is not used and commands that need it exit 10 naming it.

use super::publish::remembered_size;
use super::{quorum, site_checkpoint, witness_key, LocalLedger, LogIdentity};
use crate::archive::Archive;
use crate::config::SiteConfig;
use crate::error::IntegrityError;
use crate::objects::{get_verified, list_ids};
use crate::site::Site;
use anyhow::{bail, Result};
use chancery_format::ObjectId;
use chancery_ledger::merkle::{leaf_hash, root};
use chancery_ledger::{Checkpoint, Entry, Event, Hash, Note};
use chancery_store::ObjectKind;
use std::collections::{BTreeMap, HashMap};

/// What one site shows of the ledger.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SiteLedger {
    /// The site.
    pub site: String,
    /// The size of the checkpoint it shows (0: none), if it could be read.
    pub size: Option<u64>,
    /// Whether it is a site server whose own cosignature on that checkpoint verified.
    pub cosigned: bool,
    /// When it cosigned (Unix seconds).
    pub cosigned_at: Option<u64>,
    /// Why the site is not trusted (tampering), if it is not.
    pub problem: Option<String>,
    /// A remark that is no sign of tampering (unreadable, lagging, not yet confirmed).
    pub remark: Option<String>,
}

/// Whether a snapshot is recorded in the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// An entry of the trusted ledger records it.
    InLedger,
    /// This machine was committing it when a run stopped; the next backup records it.
    Pending,
    /// The archive has no ledger yet (made by a release before the ledger); not verifiable.
    NotStarted,
    /// Not in the ledger: injected, replayed or forged.
    Missing,
}

/// The ledger as verified against every reachable site.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LedgerView {
    /// Entries trusted (this machine's copy, after adopting quorum-cosigned ones).
    pub size: u64,
    /// Cosignatures a checkpoint needs to be trusted.
    pub quorum: usize,
    /// Per reachable site.
    pub sites: Vec<SiteLedger>,
    /// The trusted entries.
    #[serde(skip)]
    pub entries: Vec<Entry>,
    #[serde(skip)]
    snapshots: HashMap<ObjectId, u64>,
    #[serde(skip)]
    pending: Option<ObjectId>,
    #[serde(skip)]
    started: bool,
}

impl LedgerView {
    /// Whether the ledger records this snapshot.
    pub fn verdict(&self, id: &ObjectId) -> Verdict {
        if self.snapshots.contains_key(id) {
            Verdict::InLedger
        } else if self.pending == Some(*id) {
            Verdict::Pending
        } else if !self.started {
            Verdict::NotStarted
        } else {
            Verdict::Missing
        }
    }

    /// The snapshot this machine was committing when a run stopped, if any.
    pub fn pending(&self) -> Option<ObjectId> {
        self.pending
    }

    /// Whether any ledger exists yet, here or at a site.
    pub fn started(&self) -> bool {
        self.started
    }

    /// The tampering found at `site`, if any.
    pub fn problem(&self, site: &str) -> Option<IntegrityError> {
        let s = self.sites.iter().find(|s| s.site == site)?;
        let detail = s.problem.clone()?;
        Some(IntegrityError { site: site.to_string(), object: "ledger".into(), detail })
    }

    /// The snapshots `site` must hold: those recorded below the size it vouched for.
    pub fn owed_by(&self, site: &str) -> Vec<(ObjectId, u64)> {
        let size = self.sites.iter().find(|s| s.site == site).and_then(|s| s.size).unwrap_or(0);
        let mut owed: Vec<(ObjectId, u64)> =
            self.snapshots.iter().filter(|(_, i)| **i < size).map(|(id, i)| (*id, *i)).collect();
        owed.sort_by_key(|(_, i)| *i);
        owed
    }
}

/// A site's checkpoint, parsed and checked for signatures.
struct Shown {
    note: Vec<u8>,
    checkpoint: Checkpoint,
}

/// Verifies the ledger at every reachable site; adopts entries a quorum vouches for.
pub fn verify(archive: &Archive) -> Result<LedgerView> {
    let identity = LogIdentity::of(&archive.keys);
    let mut ledger = LocalLedger::open(&archive.state_dir())?;
    let quorum = quorum(&archive.config);
    let mut shown: Vec<(SiteLedger, Option<Shown>)> =
        archive.sites.iter().map(|site| read_site(site, &identity)).collect();
    extend(&mut ledger, &archive.sites, &mut shown, quorum)?;
    for ((view, shown), site) in shown.iter_mut().zip(&archive.sites) {
        if let Some(shown) = shown.as_ref().filter(|_| view.problem.is_none()) {
            judge(&ledger, site, shown, view)?;
        }
    }
    let started = ledger.size() > 0 || shown.iter().any(|(v, _)| v.size.unwrap_or(0) > 0);
    let snapshots = ledger
        .snapshots()
        .into_iter()
        .filter_map(|(id, index)| Some((ObjectId::from_hex(&id)?, index)))
        .collect();
    let pending = ledger.pending()?.and_then(|p| ObjectId::from_hex(&p));
    Ok(LedgerView {
        size: ledger.size(),
        quorum,
        sites: shown.into_iter().map(|(v, _)| v).collect(),
        entries: ledger.entries().to_vec(),
        snapshots,
        pending,
        started,
    })
}

/// Reads and checks the signatures of a site's checkpoint.
fn read_site(site: &Site, identity: &LogIdentity) -> (SiteLedger, Option<Shown>) {
    let mut view = SiteLedger { site: site.name().to_string(), ..Default::default() };
    let bytes = match site_checkpoint(site) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            view.size = Some(0);
            return (view, None);
        }
        Err(e) => {
            view.remark = Some(format!("checkpoint unreadable: {e:#}"));
            return (view, None);
        }
    };
    match check_signatures(&site.config, identity, &bytes) {
        Ok((checkpoint, cosigned_at)) => {
            view.size = Some(checkpoint.size());
            view.cosigned = cosigned_at.is_some();
            view.cosigned_at = cosigned_at;
            (view, Some(Shown { note: bytes, checkpoint }))
        }
        Err(problem) => {
            view.problem = Some(problem);
            (view, None)
        }
    }
}

/// The checkpoint and, for a site server, the time of its own cosignature; or the problem.
pub(crate) fn check_signatures(
    site: &SiteConfig,
    identity: &LogIdentity,
    bytes: &[u8],
) -> Result<(Checkpoint, Option<u64>), String> {
    let note = Note::parse(bytes).map_err(|e| format!("its checkpoint is not a signed note: {e}"))?;
    note.verify(std::slice::from_ref(&identity.verifier))
        .map_err(|e| format!("its checkpoint is not signed by the owner's key: {e}"))?;
    let checkpoint =
        Checkpoint::parse(note.text()).map_err(|e| format!("its checkpoint does not parse: {e}"))?;
    if checkpoint.origin() != identity.origin {
        return Err(format!("its checkpoint is for another log ({})", checkpoint.origin()));
    }
    let Some(key) = witness_key(site) else { return Ok((checkpoint, None)) };
    let verified = note.verify(std::slice::from_ref(&key)).map_err(|_| {
        format!(
            "it shows a checkpoint of size {} that it never cosigned (no valid cosignature of its pinned key)",
            checkpoint.size()
        )
    })?;
    Ok((checkpoint, verified.first().and_then(|v| v.timestamp)))
}

/// Adopts the entries of the largest checkpoint beyond the local copy that a quorum cosigned.
fn extend(
    ledger: &mut LocalLedger,
    sites: &[Site],
    shown: &mut [(SiteLedger, Option<Shown>)],
    quorum: usize,
) -> Result<()> {
    let mut groups: BTreeMap<(u64, Hash), Vec<usize>> = BTreeMap::new();
    for (i, (view, s)) in shown.iter().enumerate() {
        let Some(s) = s.as_ref().filter(|s| s.checkpoint.size() > ledger.size()) else { continue };
        if view.cosigned || quorum == 0 {
            groups.entry((s.checkpoint.size(), *s.checkpoint.root())).or_default().push(i);
        }
    }
    let trusted = groups.iter().rev().find(|(_, holders)| holders.len() >= quorum.max(1));
    let Some(((size, root_hash), holders)) = trusted else { return Ok(()) };
    for &i in holders {
        match fetch_entries(&sites[i], ledger, *size, root_hash) {
            Ok(entries) => {
                for entry in entries.into_iter().skip(ledger.entries().len()) {
                    ledger.append_entry(entry)?;
                }
                return Ok(());
            }
            Err(e) => shown[i].0.remark = Some(format!("could not fetch its ledger entries: {e:#}")),
        }
    }
    Ok(())
}

/// The first `size` entries as a site stores them, checked to extend `ledger` and to hash to
/// `expected`.
pub(crate) fn fetch_entries(
    site: &Site,
    ledger: &LocalLedger,
    size: u64,
    expected: &Hash,
) -> Result<Vec<Entry>> {
    let mut by_index: BTreeMap<u64, Vec<Entry>> = BTreeMap::new();
    for id in list_ids(site, ObjectKind::Ledger)? {
        let bytes = get_verified(site, ObjectKind::Ledger, &id)?;
        if let Ok(entry) = Entry::parse(&bytes) {
            if entry.index < size {
                by_index.entry(entry.index).or_default().push(entry);
            }
        }
    }
    let mut entries = Vec::new();
    for index in 0..size {
        let candidates = by_index.remove(&index).unwrap_or_default();
        let local = ledger.entries().get(index as usize);
        let chosen = match (local, candidates.as_slice()) {
            (Some(mine), _) => mine.clone(),
            (None, [one]) => one.clone(),
            (None, []) => bail!("entry {index} is missing at site {}", site.name()),
            (None, _) => bail!("site {} holds several entries numbered {index}", site.name()),
        };
        entries.push(chosen);
    }
    let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(&e.encode())).collect();
    if root(&leaves) != *expected {
        bail!("the entries at site {} do not hash to its checkpoint's root", site.name());
    }
    Ok(entries)
}

/// Compares a site's checkpoint with the trusted entries and with what it vouched for before.
fn judge(ledger: &LocalLedger, site: &Site, shown: &Shown, view: &mut SiteLedger) -> Result<()> {
    let size = shown.checkpoint.size();
    let remembered = remembered_size(ledger, site.name())?;
    if size < remembered {
        view.problem = Some(format!(
            "it shows the ledger at size {size}, but it vouched for size {remembered} before: \
             its storage was rolled back to an earlier state"
        ));
        return Ok(());
    }
    if size <= ledger.size() {
        if ledger.root_at(size) != *shown.checkpoint.root() {
            view.problem = Some(format!(
                "its ledger at size {size} differs from the trusted one: a forked history \
                 (it shows different clients different histories)"
            ));
            return Ok(());
        }
        if size < ledger.size() {
            view.remark =
                Some(format!("it has witnessed {size} of {} entries (run `chancery sync`)", ledger.size()));
        }
        ledger.remember(site.name(), &shown.note)?;
        return Ok(());
    }
    match fetch_entries(site, ledger, size, shown.checkpoint.root()) {
        Ok(_) => {
            view.remark = Some(format!(
                "it shows size {size}, beyond the {} entries a quorum vouches for: a backup that reached \
                 too few sites (run `chancery sync`)",
                ledger.size()
            ));
        }
        Err(e) => {
            view.problem = Some(format!(
                "it shows a checkpoint of size {size} that does not extend the trusted ledger: {e:#}"
            ))
        }
    }
    Ok(())
}

/// The snapshot entries of `entries`, as ids.
pub fn snapshot_ids(entries: &[Entry]) -> Vec<ObjectId> {
    entries
        .iter()
        .filter_map(|e| match &e.event {
            Event::Snapshot(id) => ObjectId::from_hex(id),
            _ => None,
        })
        .collect()
}

/// Checks the ledger entries a site stores against the trusted ones, up to the size it
/// vouched for: each must be there, byte for byte. Returns what is wrong.
pub fn check_site_copy(site: &Site, view: &LedgerView) -> Result<Vec<String>> {
    let size = view.sites.iter().find(|s| s.site == site.name()).and_then(|s| s.size).unwrap_or(0);
    let held: std::collections::HashSet<ObjectId> = list_ids(site, ObjectKind::Ledger)?.into_iter().collect();
    let mut problems = Vec::new();
    for entry in view.entries.iter().take(usize::try_from(size).unwrap_or(usize::MAX)) {
        let id = ObjectId::of(&entry.encode());
        if !held.contains(&id) {
            problems.push(format!(
                "ledger entry {} ({}) is missing although the site vouched for it",
                entry.index, entry.event
            ));
        } else if let Err(e) = get_verified(site, ObjectKind::Ledger, &id) {
            problems.push(format!("ledger entry {}: {e:#}", entry.index));
        }
    }
    Ok(problems)
}
