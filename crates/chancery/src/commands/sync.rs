//! `sync`.

use super::{warn_all, Globals};
use crate::cli::SyncArgs;
use crate::output::bytes;
use crate::Outcome;
use anyhow::Result;

/// Brings lagging sites up to date from the others.
pub fn run(g: &Globals, args: SyncArgs) -> Result<Outcome> {
    let archive = g.open_registering()?;
    let results = chancery_owner::sync::sync_sites(&archive, args.site.as_deref())?;
    if g.json {
        crate::output::json(&results)?;
    }
    let mut warnings = Vec::new();
    for (site, stats) in results {
        if !g.json {
            println!("site {site}: copied {} objects, {}", stats.objects, bytes(stats.bytes));
        }
        warnings.extend(stats.warnings);
    }
    if args.site.is_none() {
        warnings.extend(super::key::kept_by_governed_sites(&archive)?);
    }
    let outcome = warn_all(&warnings);
    Ok(if archive.unreachable.is_empty() { outcome } else { Outcome::Warnings })
}
