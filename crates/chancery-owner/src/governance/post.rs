//! Sending governance acts to the site servers: a governor signs the text (a proposal, or
//! the cancel of one) and posts it to every site server the proposal is addressed to, with
//! requests signed by the governor's key too. Without a governor key the owner key signs, and
//! the sites refuse it (403, exit 12): the owner's key holds no governance power.

use std::collections::BTreeSet;

use anyhow::{bail, Result};
use chancery_client::RemoteBackend;
use chancery_ledger::proposal::governor_key_name;
use chancery_ledger::{Note, NoteSigner, Proposal};
use chancery_protocol::governance::ProposalStatus;
use chancery_store::StoreError;
use ed25519_dalek::SigningKey;

use crate::archive::Archive;
use crate::config::{Endpoint, SiteConfig};
use crate::error::AuthError;
use crate::site::{remote_backend, OwnerIdentity};

/// What each site server answered.
#[derive(Debug, Default, serde::Serialize)]
pub struct Posted {
    /// The proposal concerned.
    pub id: String,
    /// Per site: its state there afterwards.
    pub accepted: Vec<(String, ProposalStatus)>,
    /// Per site: why it refused or could not be reached.
    pub failed: Vec<(String, String)>,
}

/// The signer of governance acts: a governor's key, or else the owner's (which sites refuse).
pub fn signer_key(archive: &Archive, governor: Option<&SigningKey>) -> SigningKey {
    governor.cloned().unwrap_or_else(|| archive.keys.owner_signing_key())
}

/// Every site server of the config, as (site key, tenant) for a proposal's address.
pub fn addressees(archive: &Archive) -> Result<BTreeSet<([u8; 32], String)>> {
    let mut out = BTreeSet::new();
    for site in &archive.config.sites {
        if let Endpoint::Server { site_key, tenant, .. } = &site.endpoint {
            out.insert((chancery_protocol::parse_public_key("site key", site_key)?, tenant.clone()));
        }
    }
    if out.is_empty() {
        bail!(
            "this archive has no site server: governance is enforced by site servers \
             (a local folder is the owner's to manage)"
        );
    }
    Ok(out)
}

/// A client of one site server signing with `key`.
pub fn client(config: &SiteConfig, key: &SigningKey) -> Result<RemoteBackend> {
    remote_backend(config, Some(&OwnerIdentity::from_signing_key(key.clone())))
}

/// The note of `text` signed with `key` under its governor name.
pub fn signed_note(text: &str, key: &SigningKey) -> Result<String> {
    let signer = NoteSigner::new(&governor_key_name(key.verifying_key().as_bytes()), key.clone())?;
    let mut note = Note::new(text)?;
    note.add_signature(signer.sign(text))?;
    Ok(note.format())
}

/// Posts a signed note to every configured site server the proposal is addressed to.
pub fn post_to_sites(archive: &Archive, proposal: &Proposal, note: &str, key: &SigningKey) -> Posted {
    let mut posted = Posted { id: proposal.id(), ..Default::default() };
    for config in &archive.config.sites {
        let Endpoint::Server { site_key, tenant, .. } = &config.endpoint else { continue };
        let addressed = chancery_protocol::parse_public_key("site key", site_key)
            .is_ok_and(|k| proposal.addressed_to(&k, tenant));
        if !addressed {
            continue;
        }
        let answer = client(config, key).and_then(|c| Ok(c.post_governance(note)?));
        match answer {
            Ok(list) => match list.proposals.into_iter().next() {
                Some(status) => posted.accepted.push((config.name.clone(), status)),
                None => {
                    posted.failed.push((config.name.clone(), "the site answered without the proposal".into()))
                }
            },
            Err(e) => posted.failed.push((config.name.clone(), format!("{e:#}"))),
        }
    }
    posted
}

/// Fails when no site took the act; a refusal for want of the governor role is an
/// authentication error (exit 12).
pub fn require_accepted(posted: &Posted, what: &str) -> Result<()> {
    if !posted.accepted.is_empty() {
        return Ok(());
    }
    let reasons: Vec<String> = posted.failed.iter().map(|(s, why)| format!("site {s}: {why}")).collect();
    let refused = posted.failed.iter().any(|(_, why)| why.contains("403") || why.contains("401"));
    let message = format!("no site server accepted the {what}: {}", reasons.join("; "));
    if refused {
        return Err(AuthError(format!(
            "{message}. Governance acts need a governor's key (--governor-key FILE) enrolled at the sites"
        ))
        .into());
    }
    bail!(message)
}

/// Whether an error is a site's refusal.
pub fn is_refusal(e: &anyhow::Error) -> bool {
    e.chain().any(|c| matches!(c.downcast_ref(), Some(StoreError::PermissionDenied { .. })))
}
