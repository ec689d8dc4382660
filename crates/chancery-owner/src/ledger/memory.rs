//! The owner's memory of what each site vouched for, kept at the sites as well.
//!
//! Rollback is caught by remembering the newest checkpoint each site vouched for (`seen/`).
//! That memory would be lost with the home; so after each publication every site that took
//! part also stores the round's notes, each signed by the owner and, for a site server,
//! cosigned by that site: `meta/vouched-<size, 20 digits>-<16 hex of their BLAKE3>`, a JSON
//! object `{"<site>": "<note>"}`. A site cannot forge another site's cosignature, so a new
//! machine that imports these notes (`recover`) catches a site rolled back behind what it once
//! vouched for, whichever site it learns it from.

use super::verify::check_signatures;
use super::{LocalLedger, LogIdentity};
use crate::archive::Archive;
use crate::site::Site;
use anyhow::Result;
use chancery_ledger::Note;
use chancery_store::ObjectKind;
use std::collections::BTreeMap;

/// Names of memory objects start with this, in `meta`.
pub const MEMORY_PREFIX: &str = "vouched-";

/// Stores at each of `sites` the notes they vouched for in this round.
pub fn share(ledger: &LocalLedger, sites: &[&Site]) -> Result<()> {
    let mut notes = BTreeMap::new();
    for site in sites {
        if let Some(note) = ledger.seen(site.name())? {
            notes.insert(site.name().to_string(), String::from_utf8_lossy(&note).into_owned());
        }
    }
    if notes.is_empty() {
        return Ok(());
    }
    let bytes = serde_json::to_vec(&notes)?;
    let hash = blake3::hash(&bytes).to_hex();
    let name = format!("{MEMORY_PREFIX}{:020}-{}", ledger.size(), &hash[..16]);
    for site in sites {
        if site.backend.stat(ObjectKind::Meta, &name)?.is_none() {
            site.backend.put(ObjectKind::Meta, &name, &bytes)?;
            site.backend.sync()?;
        }
    }
    Ok(())
}

/// Learns from every reachable site what each configured site vouched for, keeping only notes
/// whose signatures verify (the owner's, and the site's own cosignature for a site server).
/// Returns how many sites' memories grew.
pub fn import(archive: &Archive, ledger: &LocalLedger) -> Result<usize> {
    let identity = LogIdentity::of(&archive.keys);
    let mut newest: BTreeMap<String, (u64, String)> = BTreeMap::new();
    for site in &archive.sites {
        let Ok(listed) = site.backend.list(ObjectKind::Meta) else { continue };
        for object in listed.iter().filter(|o| o.name.starts_with(MEMORY_PREFIX)) {
            let Ok(bytes) = site.backend.get(ObjectKind::Meta, &object.name) else { continue };
            let Ok(notes) = serde_json::from_slice::<BTreeMap<String, String>>(&bytes) else { continue };
            for (name, note) in notes {
                let Ok(config) = archive.config.site(&name) else { continue };
                let Ok((checkpoint, _)) = check_signatures(config, &identity, note.as_bytes()) else {
                    continue;
                };
                if newest.get(&name).is_none_or(|(size, _)| checkpoint.size() > *size) {
                    newest.insert(name, (checkpoint.size(), note));
                }
            }
        }
    }
    let mut grown = 0;
    for (name, (size, note)) in newest {
        if size > super::publish::remembered_size(ledger, &name)? && Note::parse(note.as_bytes()).is_ok() {
            ledger.remember(&name, note.as_bytes())?;
            grown += 1;
        }
    }
    Ok(grown)
}
