//! Publishing the ledger to sites: the config copy and every entry a site lacks are stored
//! there (entries as `ledger` objects named by their BLAKE3 hash), then the owner-signed
//! checkpoint is submitted: a site
//! server witnesses it (C2SP tlog-witness `add-checkpoint`) and returns its cosignature; a
//! local folder just stores it. What each site vouched for is remembered (`seen/<site>`), so
//! that a site showing an older checkpoint later is caught as rolled back.

use super::{witness_key, LocalLedger, LogIdentity};
use crate::config_copy::{self, ConfigCopy};
use crate::error::IntegrityError;
use crate::site::Site;
use anyhow::{bail, Context, Result};
use chancery_client::WitnessAnswer;
use chancery_ledger::{AddCheckpoint, Checkpoint, Note};
use chancery_protocol::witness_checkpoint_name;
use chancery_store::ObjectKind;
use std::collections::HashSet;

/// What publishing did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Published {
    /// The ledger size published.
    pub size: u64,
    /// Site servers that cosigned it.
    pub cosigned_by: Vec<String>,
    /// Local folders that hold it.
    pub stored_at: Vec<String>,
    /// Sites that did not take it, and why.
    pub failed: Vec<(String, String)>,
}

/// Publishes the whole local ledger, and the config copy it names, to each of `sites`. A site
/// that refuses or fails is reported in `failed`; an error is returned only when a site proves
/// tampering (an integrity error naming it), after the other sites were served.
pub fn publish(
    identity: &LogIdentity,
    ledger: &LocalLedger,
    sites: &[&Site],
    config: &ConfigCopy,
) -> Result<Published> {
    let note = identity.sign(ledger, ledger.size());
    let mut out = Published { size: ledger.size(), ..Default::default() };
    let mut tamper = None;
    for site in sites {
        match config_copy::store(&*site.backend, config).and_then(|()| publish_one(ledger, site, &note)) {
            Ok(true) => out.cosigned_by.push(site.name().to_string()),
            Ok(false) => out.stored_at.push(site.name().to_string()),
            Err(e) => {
                out.failed.push((site.name().to_string(), format!("{e:#}")));
                if e.is::<IntegrityError>() && tamper.is_none() {
                    tamper = Some(e);
                }
            }
        }
    }
    let vouched: Vec<&Site> =
        sites.iter().copied().filter(|s| out.failed.iter().all(|(n, _)| n != s.name())).collect();
    if let Err(e) = super::memory::share(ledger, &vouched) {
        out.failed
            .push(("(all)".into(), format!("could not store the sites' checkpoints at the sites: {e:#}")));
    }
    match tamper {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Entries, then the checkpoint. `true` when a site server cosigned it.
fn publish_one(ledger: &LocalLedger, site: &Site, note: &Note) -> Result<bool> {
    push_entries(ledger, site)?;
    let Some(server) = &site.server else {
        store_in_folder(site, note)?;
        ledger.remember(site.name(), note.format().as_bytes())?;
        return Ok(false);
    };
    let key = witness_key(&site.config).context("the site key in the config does not parse")?;
    let mut old = remembered_size(ledger, site.name())?.min(ledger.size());
    for _ in 0..2 {
        let request = AddCheckpoint { old_size: old, proof: ledger.proof_from(old), note: note.clone() };
        match server.add_checkpoint(&request.format())? {
            WitnessAnswer::Cosigned(lines) => {
                let cosigned = with_cosignature(note, &lines, &key, site)?;
                ledger.remember(site.name(), cosigned.as_bytes())?;
                return Ok(true);
            }
            WitnessAnswer::SizeConflict(latest) => old = conflict(ledger, site, old, latest)?,
            WitnessAnswer::Refused { status, message } => {
                return Err(tampered(
                    site,
                    format!("refused to cosign the ledger at size {} ({status}: {message}): its record of the ledger is not a prefix of this machine's (a fork, or a rolled-back site)", ledger.size()),
                ))
            }
        }
    }
    bail!("site {} keeps changing the size of the ledger it witnessed; try again", site.name())
}

/// The old size to retry with after a 409, or why not.
fn conflict(ledger: &LocalLedger, site: &Site, sent: u64, latest: u64) -> Result<u64> {
    let remembered = remembered_size(ledger, site.name())?;
    if latest < remembered {
        return Err(tampered(
            site,
            format!("witnessed the ledger up to size {latest}, but it cosigned size {remembered} before: its storage was rolled back"),
        ));
    }
    if latest > ledger.size() {
        bail!(
            "site {} witnessed a ledger of {latest} entries, this machine has {}: another machine backed up; \
             run `chancery ledger verify` to fetch the newer entries",
            site.name(),
            ledger.size()
        );
    }
    if latest == sent {
        bail!("site {} answered 409 for the size it was sent ({latest})", site.name());
    }
    Ok(latest)
}

/// The size of the checkpoint this site last vouched for, 0 if none.
pub(crate) fn remembered_size(ledger: &LocalLedger, site: &str) -> Result<u64> {
    let Some(bytes) = ledger.seen(site)? else { return Ok(0) };
    let size = Note::parse(&bytes).ok().and_then(|n| Checkpoint::parse(n.text()).ok()).map(|c| c.size());
    Ok(size.unwrap_or(0))
}

/// The note with the site's cosignature added, after checking it.
fn with_cosignature(
    note: &Note,
    lines: &str,
    key: &chancery_ledger::VerifierKey,
    site: &Site,
) -> Result<String> {
    let mut cosigned = Note::parse(format!("{}\n{lines}", note.text()).as_bytes())
        .with_context(|| format!("site {} answered an unreadable cosignature", site.name()))?;
    cosigned.verify(std::slice::from_ref(key)).map_err(|e| {
        tampered(site, format!("its cosignature of the ledger does not verify against its pinned key: {e}"))
    })?;
    for line in note.signatures() {
        cosigned.add_signature(line.clone())?;
    }
    Ok(cosigned.format())
}

/// Stores the entries a site does not list yet.
fn push_entries(ledger: &LocalLedger, site: &Site) -> Result<()> {
    let held: HashSet<String> = site.backend.list(ObjectKind::Ledger)?.into_iter().map(|o| o.name).collect();
    let mut stored = false;
    for entry in ledger.entries() {
        let bytes = entry.encode();
        let name = chancery_format::ObjectId::of(&bytes).to_hex();
        if !held.contains(&name) {
            site.backend
                .put(ObjectKind::Ledger, &name, &bytes)
                .with_context(|| format!("storing ledger entry {} at site {}", entry.index, site.name()))?;
            stored = true;
        }
    }
    if stored {
        site.backend.sync()?;
    }
    Ok(())
}

/// A local folder keeps the owner-signed checkpoint as the witness would.
fn store_in_folder(site: &Site, note: &Note) -> Result<()> {
    let size = Checkpoint::parse(note.text()).map(|c| c.size()).unwrap_or(0);
    let name = witness_checkpoint_name(size);
    let bytes = note.format().into_bytes();
    if site.backend.stat(ObjectKind::Meta, &name)?.is_some() {
        let stored = site.backend.get(ObjectKind::Meta, &name)?;
        let same_body = Note::parse(&stored).is_ok_and(|n| n.text() == note.text());
        if !same_body {
            return Err(tampered(
                site,
                format!("holds another checkpoint for ledger size {size} ({name}): a fork"),
            ));
        }
        return Ok(());
    }
    site.backend.put(ObjectKind::Meta, &name, &bytes)?;
    site.backend.sync()?;
    Ok(())
}

fn tampered(site: &Site, detail: String) -> anyhow::Error {
    IntegrityError { site: site.name().to_string(), object: "ledger".into(), detail }.into()
}
