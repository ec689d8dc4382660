//! Receipts lost on the way back. When a run is cut short after the site stored an object but
//! before its receipt was kept, the object is at the site with no receipt, and since backup
//! and sync never send what a site already lists, nothing would ever bring that receipt. So
//! each backup and sync starts by asking the site about every object named as sent that has
//! no receipt, and sends again the few it holds: the site answers "already held" with a
//! receipt. Objects with a receipt are never sent again.

use crate::error::IntegrityError;
use crate::objects::get_verified;
use crate::site::Site;
use anyhow::{Context, Result};
use chancery_format::ObjectId;
use chancery_store::ObjectKind;

/// Obtains the receipts lost by an interrupted run at `site`; returns warnings. Does nothing
/// for a local folder, and reads no receipt file when the last run ended cleanly.
pub fn recover_receipts(site: &Site) -> Result<Vec<String>> {
    let Some(log) = &site.receipts else { return Ok(Vec::new()) };
    let sent = log.sent()?;
    if sent.is_empty() {
        return Ok(Vec::new());
    }
    let loaded = log.load()?;
    let mut warnings = loaded.warnings;
    for (kind, name) in sent.iter().filter(|(kind, name)| !loaded.held.has_name(*kind, name)) {
        match resend_if_held(site, *kind, name) {
            Ok(()) => {}
            // A bad copy is `check`'s to report and `sync`'s to repair; it gets no receipt.
            Err(e) if e.downcast_ref::<IntegrityError>().is_some() => warnings.push(format!("{e:#}")),
            Err(e) => return Err(e),
        }
    }
    site.backend.sync().with_context(|| format!("making site {} durable", site.name()))?;
    warnings.extend(log.take_problems());
    log.clear_sent()?;
    Ok(warnings)
}

/// Sends an object again if the site holds it, with the site's own bytes, checked against
/// the object's name first. A `meta` object is left alone: its name is no id, and no
/// snapshot needs its receipt.
fn resend_if_held(site: &Site, kind: ObjectKind, name: &str) -> Result<()> {
    let Some(id) = ObjectId::from_hex(name) else { return Ok(()) };
    let held = site
        .backend
        .stat(kind, name)
        .with_context(|| format!("asking site {} for {} {}", site.name(), kind.dir_name(), id.short()))?;
    if held.is_none() {
        return Ok(());
    }
    let bytes = get_verified(site, kind, &id)?;
    site.backend
        .put(kind, name, &bytes)
        .with_context(|| format!("asking site {} for the receipt of {kind} {}", site.name(), id.short()))
}
