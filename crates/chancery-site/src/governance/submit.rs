//! `POST …/governance`: a governor submits a proposal with its signature (a new proposal, or
//! an approval of one the site holds), or a cancel.
//!
//! Checked in order: the note parses (400); its origin is this tenant's ledger (403: another
//! owner's act); a proposal is addressed to this site and tenant (403: a replay to another
//! site); every signature line is by a governor in office and verifies (403: a forgery or a
//! non-governor); the proposal is not final (409). Then its records are written, and the
//! lock record too if the quorum is now reached.

use chancery_ledger::proposal::{parse_cancel, CANCEL_HEADER, PROPOSAL_HEADER};
use chancery_ledger::witness::ledger_origin;
use chancery_ledger::{Act, Note, Proposal, SignatureLine};
use chancery_protocol::governance::Stage;
use chancery_store::{Backend, StoreError};

use super::records::{approval_name, cancel_name, locked_name, proposal_name, write, write_json, Lock};
use super::rules::{parse_role_names, Rules};
use super::state::{governor_of, load_all, verified_governor, Held};
use crate::tenants::Tenant;

/// Why a submission is refused.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// 400: it does not parse.
    BadRequest(String),
    /// 403: not for this tenant or site, or not signed by its governors.
    Forbidden(String),
    /// 404: a cancel of a proposal this site does not hold.
    NotFound(String),
    /// 409: the proposal is executed, cancelled or refused already.
    Conflict(String),
    /// The store failed.
    Storage(StoreError),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Storage(e)
    }
}

/// What a submission is addressed to.
pub(crate) struct Addressee<'a> {
    pub(crate) site_key: [u8; 32],
    pub(crate) tenant: &'a Tenant,
    pub(crate) rules: &'a Rules,
    pub(crate) now: i64,
}

/// Checks and records a submitted note; the id of the proposal it concerns.
pub(crate) fn submit(backend: &dyn Backend, to: &Addressee<'_>, body: &[u8]) -> Result<String, Refusal> {
    let note = Note::parse(body).map_err(|e| Refusal::BadRequest(format!("not a signed note: {e}")))?;
    let origin = ledger_origin(&to.tenant.key);
    if note.text().starts_with(&format!("{PROPOSAL_HEADER}\n")) {
        let proposal = Proposal::parse(note.text()).map_err(|e| Refusal::BadRequest(e.to_string()))?;
        check_proposal(&proposal, &origin, to)?;
        let signers = governors_signing(&note, note.text(), to.rules)?;
        record_proposal(backend, to, &note, &proposal, &signers)
    } else if note.text().starts_with(&format!("{CANCEL_HEADER}\n")) {
        let (cancel_origin, id) =
            parse_cancel(note.text()).map_err(|e| Refusal::BadRequest(e.to_string()))?;
        if cancel_origin != origin {
            return Err(Refusal::Forbidden(format!(
                "a cancel for {cancel_origin}, not this tenant's ledger"
            )));
        }
        let signers = governors_signing(&note, note.text(), to.rules)?;
        record_cancel(backend, to, &id, &note, &signers)
    } else {
        Err(Refusal::BadRequest(format!("the note is neither a {PROPOSAL_HEADER:?} nor a {CANCEL_HEADER:?}")))
    }
}

/// The proposal is this tenant's, for this site, and its act is one the site can carry out.
fn check_proposal(proposal: &Proposal, origin: &str, to: &Addressee<'_>) -> Result<(), Refusal> {
    if proposal.origin != origin {
        return Err(Refusal::Forbidden(format!(
            "a proposal for the ledger {}, not this tenant's ({origin}); it is not replayed here",
            proposal.origin
        )));
    }
    if !proposal.addressed_to(&to.site_key, &to.tenant.name) {
        return Err(Refusal::Forbidden(format!(
            "the proposal is not addressed to this site ({}…) as tenant {}; it is not replayed here",
            &hex::encode(to.site_key)[..16],
            to.tenant.name
        )));
    }
    if proposal.act == Act::Settings {
        for setting in &proposal.settings {
            if let chancery_ledger::Setting::Roles { roles, .. } = setting {
                parse_role_names(roles).map_err(Refusal::BadRequest)?;
            }
        }
    }
    Ok(())
}

/// The governors whose signature lines over `text` the note carries: every line must be a
/// governor in office, with a signature that verifies.
fn governors_signing(
    note: &Note,
    text: &str,
    rules: &Rules,
) -> Result<Vec<([u8; 32], SignatureLine)>, Refusal> {
    let mut out = Vec::new();
    for line in note.signatures() {
        let Some(key) = governor_of(line, rules) else {
            return Err(Refusal::Forbidden(format!(
                "{} is not a governor of this tenant; only governors sign governance acts",
                line.name
            )));
        };
        if verified_governor(text, line, rules).is_none() {
            return Err(Refusal::Forbidden(format!(
                "the signature of governor {}… does not verify (forged or for another text)",
                &hex::encode(key)[..16]
            )));
        }
        out.push((key, line.clone()));
    }
    Ok(out)
}

fn record_proposal(
    backend: &dyn Backend,
    to: &Addressee<'_>,
    note: &Note,
    proposal: &Proposal,
    signers: &[([u8; 32], SignatureLine)],
) -> Result<String, Refusal> {
    let id = proposal.id();
    if let Some(held) = find(backend, to.rules, &id)? {
        refuse_if_final(&held, to.rules)?;
    }
    write(backend, &proposal_name(&id), note.text().as_bytes())?;
    for (key, line) in signers {
        write(backend, &approval_name(&id, key), line.format().as_bytes())?;
    }
    lock_if_quorum(backend, to.rules, &id, to.now)?;
    Ok(id)
}

fn record_cancel(
    backend: &dyn Backend,
    to: &Addressee<'_>,
    id: &str,
    _note: &Note,
    signers: &[([u8; 32], SignatureLine)],
) -> Result<String, Refusal> {
    let Some(held) = find(backend, to.rules, id)? else {
        return Err(Refusal::NotFound(format!("this site holds no proposal {id}")));
    };
    if let Some(done) = &held.done {
        return Err(Refusal::Conflict(format!(
            "proposal {id} is {} already: {}",
            done.stage.name(),
            done.outcome
        )));
    }
    for (key, line) in signers {
        write(backend, &cancel_name(id, key), line.format().as_bytes())?;
    }
    Ok(id.to_owned())
}

/// Writes the lock record when the proposal has its quorum and none yet: its time lock
/// starts now.
pub(crate) fn lock_if_quorum(
    backend: &dyn Backend,
    rules: &Rules,
    id: &str,
    now: i64,
) -> Result<(), StoreError> {
    let Some(held) = find(backend, rules, id)? else { return Ok(()) };
    if held.lock.is_some() || held.done.is_some() || !held.cancels.is_empty() {
        return Ok(());
    }
    if (held.approvals.len() as u32) < rules.quorum {
        return Ok(());
    }
    let unlocks_at = now.saturating_add(i64::try_from(rules.time_lock_secs).unwrap_or(i64::MAX));
    write_json(backend, &locked_name(id), &Lock { locked_at: now, unlocks_at })
}

fn refuse_if_final(held: &Held, rules: &Rules) -> Result<(), Refusal> {
    let stage = held.stage(rules);
    if stage.is_final() {
        let why = held.done.as_ref().map(|d| d.outcome.clone()).unwrap_or_default();
        return Err(Refusal::Conflict(format!("proposal {} is {} already {why}", held.id, stage.name())));
    }
    if stage == Stage::Cancelled {
        return Err(Refusal::Conflict(format!("proposal {} was cancelled", held.id)));
    }
    Ok(())
}

/// The proposal `id` as held, if the site holds it.
pub(crate) fn find(backend: &dyn Backend, rules: &Rules, id: &str) -> Result<Option<Held>, StoreError> {
    Ok(load_all(backend, rules)?.into_iter().find(|h| h.id == id))
}
