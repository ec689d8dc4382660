//! What a site holds about each proposal of a tenant, read back from its records, and the
//! status it reports.

use std::collections::{BTreeMap, BTreeSet};

use chancery_ledger::proposal::{cancel_text, governor_verifier};
use chancery_ledger::{Note, Proposal, SignatureLine};
use chancery_protocol::governance::{
    ProposalList, ProposalStatus, Stage, APPROVAL_PREFIX, CANCEL_PREFIX, PROPOSAL_PREFIX,
};
use chancery_store::{Backend, ObjectKind, StoreError};
use ed25519_dalek::VerifyingKey;

use super::records::{done_name, locked_name, read_json, Done, Lock, DONE_PREFIX, LOCKED_PREFIX};
use super::rules::Rules;
use super::Governance;

/// One proposal as stored.
#[derive(Clone, Debug)]
pub(crate) struct Held {
    pub(crate) id: String,
    pub(crate) text: String,
    pub(crate) proposal: Proposal,
    /// Governors now in office whose approval verifies.
    pub(crate) approvals: BTreeSet<[u8; 32]>,
    /// Governors now in office whose cancel verifies.
    pub(crate) cancels: BTreeSet<[u8; 32]>,
    pub(crate) lock: Option<Lock>,
    pub(crate) done: Option<Done>,
}

impl Held {
    /// Where it stands (`now` decides nothing: the executor moves it on).
    pub(crate) fn stage(&self, rules: &Rules) -> Stage {
        match (&self.done, self.cancels.is_empty(), &self.lock) {
            (Some(done), _, _) => done.stage,
            (None, false, _) => Stage::Cancelled,
            (None, true, Some(_)) => Stage::Locked,
            (None, true, None) if self.approvals.len() as u32 >= rules.quorum => Stage::Locked,
            _ => Stage::Proposed,
        }
    }

    /// The status reported on the wire.
    pub(crate) fn status(&self, rules: &Rules, waiting_until: Option<i64>) -> ProposalStatus {
        let mut stage = self.stage(rules);
        if stage == Stage::Locked && waiting_until.is_some() {
            stage = Stage::Waiting;
        }
        ProposalStatus {
            id: self.id.clone(),
            text: self.text.clone(),
            stage,
            approvals: self.approvals.iter().map(hex::encode).collect(),
            cancelled_by: self.cancels.iter().map(hex::encode).collect(),
            quorum: rules.quorum,
            governors: rules.governors().len() as u32,
            locked_at: self.lock.map(|l| l.locked_at),
            unlocks_at: self.lock.map(|l| l.unlocks_at),
            floor_until: waiting_until.filter(|_| stage == Stage::Waiting),
            done_at: self.done.as_ref().map(|d| d.done_at),
            outcome: self.done.as_ref().map(|d| d.outcome.clone()).unwrap_or_default(),
        }
    }
}

/// Every proposal the tenant's store holds, by id.
pub(crate) fn load_all(backend: &dyn Backend, rules: &Rules) -> Result<Vec<Held>, StoreError> {
    let names: Vec<String> = backend.list(ObjectKind::Meta)?.into_iter().map(|o| o.name).collect();
    let mut signatures: BTreeMap<&str, (Vec<&str>, Vec<&str>)> = BTreeMap::new();
    for name in &names {
        if let Some(rest) = name.strip_prefix(APPROVAL_PREFIX) {
            signatures.entry(id_of(rest)).or_default().0.push(name);
        } else if let Some(rest) = name.strip_prefix(CANCEL_PREFIX) {
            signatures.entry(id_of(rest)).or_default().1.push(name);
        }
    }
    let held: BTreeSet<&str> = names.iter().filter_map(|n| n.strip_prefix(LOCKED_PREFIX)).collect();
    let done: BTreeSet<&str> = names.iter().filter_map(|n| n.strip_prefix(DONE_PREFIX)).collect();
    let mut out = Vec::new();
    for id in names.iter().filter_map(|n| n.strip_prefix(PROPOSAL_PREFIX)) {
        let (approvals, cancels) = signatures.get(id).cloned().unwrap_or_default();
        let Some(mut one) = read_proposal(backend, id)? else { continue };
        one.approvals = signers(backend, &one.text, &approvals, rules)?;
        let origin = one.proposal.origin.clone();
        one.cancels = signers(backend, &cancel_text(&origin, id), &cancels, rules)?;
        if held.contains(id) {
            one.lock = read_json(backend, &locked_name(id))?;
        }
        if done.contains(id) {
            one.done = read_json(backend, &done_name(id))?;
        }
        out.push(one);
    }
    Ok(out)
}

/// The answer to `GET …/governance`.
pub(crate) fn list(
    backend: &dyn Backend,
    rules: &Rules,
    governance: &Governance,
    tenant: &str,
) -> Result<ProposalList, StoreError> {
    let proposals = load_all(backend, rules)?
        .iter()
        .map(|h| h.status(rules, governance.waiting_until(tenant, &h.id)))
        .collect();
    Ok(ProposalList { proposals, terms: rules.terms() })
}

/// The proposal `id` (its text checked against the id), without signatures yet.
fn read_proposal(backend: &dyn Backend, id: &str) -> Result<Option<Held>, StoreError> {
    let bytes = match backend.get(ObjectKind::Meta, &format!("{PROPOSAL_PREFIX}{id}")) {
        Ok(bytes) => bytes,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Ok(text) = String::from_utf8(bytes) else { return Ok(None) };
    // Only the site writes these, after checking them; a record that no longer parses or
    // hashes to its name was damaged, and is ignored rather than executed.
    let Ok(proposal) = Proposal::parse(&text) else { return Ok(None) };
    if proposal.id() != id {
        return Ok(None);
    }
    let (approvals, cancels) = (BTreeSet::new(), BTreeSet::new());
    Ok(Some(Held { id: id.to_owned(), text, proposal, approvals, cancels, lock: None, done: None }))
}

/// The governors in office whose stored signature lines over `text` verify.
fn signers(
    backend: &dyn Backend,
    text: &str,
    names: &[&str],
    rules: &Rules,
) -> Result<BTreeSet<[u8; 32]>, StoreError> {
    let mut out = BTreeSet::new();
    for name in names {
        let bytes = match backend.get(ObjectKind::Meta, name) {
            Ok(bytes) => bytes,
            Err(StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        let Some(line) =
            std::str::from_utf8(&bytes).ok().and_then(|l| SignatureLine::parse(l.trim_end()).ok())
        else {
            continue;
        };
        if let Some(key) = verified_governor(text, &line, rules) {
            out.insert(key);
        }
    }
    Ok(out)
}

/// The governor in office whose valid signature `line` is, over `text`.
pub(crate) fn verified_governor(text: &str, line: &SignatureLine, rules: &Rules) -> Option<[u8; 32]> {
    let key = governor_of(line, rules)?;
    let verifier = governor_verifier(&VerifyingKey::from_bytes(&key).ok()?);
    let mut note = Note::new(text).ok()?;
    note.add_signature(line.clone()).ok()?;
    note.verify(&[verifier]).ok().map(|_| key)
}

/// The governor in office that a signature line names, if any.
pub(crate) fn governor_of(line: &SignatureLine, rules: &Rules) -> Option<[u8; 32]> {
    let hex_key = line.name.strip_prefix(chancery_ledger::proposal::GOVERNOR_KEY_PREFIX)?;
    rules.governors().into_iter().find(|k| hex::encode(k) == hex_key)
}

fn id_of(rest: &str) -> &str {
    rest.split_once('-').map_or(rest, |(id, _)| id)
}
