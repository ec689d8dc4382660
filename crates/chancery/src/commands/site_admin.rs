//! `site-admin init|enroll|scrub`: the site operator's commands. No owner key is involved.

use super::Globals;
use crate::cli::SiteAdminCommand;
use crate::output::bytes;
use crate::Outcome;
use anyhow::Result;
use chancery_owner::error::IntegrityProblems;

/// Dispatches `site-admin ...`.
pub fn run(g: &Globals, cmd: SiteAdminCommand) -> Result<Outcome> {
    match cmd {
        SiteAdminCommand::Init(a) => {
            let (lat, lon) = (a.location.lat, a.location.lon);
            let key = chancery_site::init_site(&a.data, &a.name, lat, lon, &a.jurisdiction, a.tier)?;
            if g.json {
                crate::output::json(&serde_json::json!({ "site": a.name, "site_key": key }))?;
            } else {
                println!("site {} created in {}", a.name, a.data.display());
                println!("site key (owners pin it with `site add --site-key`): {key}");
            }
        }
        SiteAdminCommand::Enroll(a) => {
            chancery_site::enroll(&a.data, &a.tenant, &a.owner_key, a.quota)?;
            println!("tenant {} enrolled", a.tenant);
        }
        SiteAdminCommand::Scrub(a) => {
            let report = chancery_site::scrub(&a.data, a.tenant.as_deref())?;
            if g.json {
                crate::output::json(&report)?;
            } else {
                println!("scrubbed {} objects, {}", report.objects, bytes(report.bytes));
            }
            for c in &report.corrupt {
                eprintln!(
                    "error: tenant {}: {} {}: content does not match its name",
                    c.tenant, c.kind, c.name
                );
            }
            if !report.corrupt.is_empty() {
                return Err(IntegrityProblems { count: report.corrupt.len() }.into());
            }
        }
    }
    Ok(Outcome::Success)
}
