//! `policy check`.

use super::Globals;
use crate::Outcome;
use anyhow::Result;
use chancery_owner::config::Config;
use chancery_owner::error::PolicyError;

/// Checks the placement policy; exit 11 when violated.
pub fn check(g: &Globals) -> Result<Outcome> {
    let config = Config::load(g.config())?;
    let report = chancery_owner::policy::check(&config);
    if g.json {
        crate::output::json(&report)?;
    } else {
        for p in &report.pairs {
            println!("{:<16} {:<16} {:>9.1} km  {}", p.a, p.b, p.km, if p.ok { "ok" } else { "too close" });
        }
        if report.ok() {
            println!(
                "policy ok: {} sites, all pairs >= {} km",
                config.sites.len(),
                config.policy.min_distance_km
            );
        }
    }
    if report.ok() {
        Ok(Outcome::Success)
    } else {
        Err(PolicyError { violations: report.violations }.into())
    }
}
