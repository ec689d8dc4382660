//! The proposals this archive's ledger records, their texts (kept in
//! `<state>/proposals/<id>`, fetched from a site server when missing), and what they doom:
//! the objects a proposal not cancelled deletes, which no backup may build on, no sync may
//! copy back, and whose absence at a site is no sign of tampering.

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;

use anyhow::{Context, Result};
use chancery_format::ObjectId;
use chancery_ledger::proposal::proposal_id;
use chancery_ledger::{Event, Proposal};
use chancery_protocol::governance::PROPOSAL_PREFIX;
use chancery_store::ObjectKind;

use crate::archive::Archive;
use crate::fsutil::write_atomic;

/// The folder of proposal texts.
fn dir(archive: &Archive) -> PathBuf {
    archive.state_dir().join("proposals")
}

/// Keeps a proposal's text; its id.
pub fn keep_text(archive: &Archive, text: &str) -> Result<String> {
    let id = proposal_id(text);
    let dir = dir(archive);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(&id);
    if !path.exists() {
        write_atomic(&path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(id)
}

/// The text of proposal `id`: kept here, or read from a site server (and kept), checked
/// against the id.
pub fn text_of(archive: &Archive, id: &str) -> Result<Option<String>> {
    let path = dir(archive).join(id);
    if let Ok(text) = std::fs::read_to_string(&path) {
        if proposal_id(&text) == id {
            return Ok(Some(text));
        }
    }
    for site in &archive.sites {
        let Ok(bytes) = site.backend.get(ObjectKind::Meta, &format!("{PROPOSAL_PREFIX}{id}")) else {
            continue;
        };
        let Ok(text) = String::from_utf8(bytes) else { continue };
        if proposal_id(&text) == id {
            keep_text(archive, &text)?;
            return Ok(Some(text));
        }
    }
    Ok(None)
}

/// Proposal ids in the trusted ledger: every one proposed, and those recorded as cancelled
/// and as executed.
pub struct Recorded {
    /// Proposed, in ledger order.
    pub proposed: Vec<String>,
    /// Recorded as cancelled.
    pub cancelled: BTreeSet<String>,
    /// Recorded as executed.
    pub executed: BTreeSet<String>,
}

/// What the trusted ledger records about proposals.
pub fn recorded(archive: &Archive) -> Result<Recorded> {
    let mut out = Recorded { proposed: Vec::new(), cancelled: BTreeSet::new(), executed: BTreeSet::new() };
    for entry in &archive.ledger()?.entries {
        match &entry.event {
            Event::Proposed(id) => out.proposed.push(id.clone()),
            Event::ProposalCancelled(id) => {
                out.cancelled.insert(id.clone());
            }
            Event::ProposalExecuted(id) => {
                out.executed.insert(id.clone());
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The objects that proposals not cancelled delete.
#[derive(Debug, Default, Clone)]
pub struct Doomed {
    /// Snapshots.
    pub snapshots: HashSet<ObjectId>,
    /// Index files.
    pub index: HashSet<ObjectId>,
    /// Packs.
    pub packs: HashSet<ObjectId>,
}

impl Doomed {
    /// Whether an object of `kind` is doomed.
    pub fn contains(&self, kind: ObjectKind, id: &ObjectId) -> bool {
        match kind {
            ObjectKind::Snapshot => self.snapshots.contains(id),
            ObjectKind::Index => self.index.contains(id),
            ObjectKind::Pack => self.packs.contains(id),
            _ => false,
        }
    }
}

/// Every object a recorded, uncancelled proposal deletes. A proposal whose text no longer
/// exists anywhere dooms nothing that is known (and was recorded before any object it names
/// could be deleted by it).
pub fn doomed(archive: &Archive) -> Result<Doomed> {
    let recorded = recorded(archive)?;
    let mut out = Doomed::default();
    for id in recorded.proposed.iter().filter(|id| !recorded.cancelled.contains(*id)) {
        let Some(text) = text_of(archive, id)? else { continue };
        let Ok(proposal) = Proposal::parse(&text) else { continue };
        for d in &proposal.deletions {
            let Some(object) = ObjectId::from_hex(&d.name) else { continue };
            match d.kind_dir() {
                "snapshots" => out.snapshots.insert(object),
                "index" => out.index.insert(object),
                "packs" => out.packs.insert(object),
                _ => false,
            };
        }
    }
    Ok(out)
}
