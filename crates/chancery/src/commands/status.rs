//! `status`.

use super::{warn_all, Globals};
use crate::output::{duration, time};
use crate::Outcome;
use anyhow::Result;
use chancery_owner::status::ReceiptedStatus;

/// Per site state and the recovery point achieved.
pub fn run(g: &Globals) -> Result<Outcome> {
    let archive = g.open()?;
    let status = chancery_owner::status::status(&archive)?;
    // The same exit code with or without --json: 3 while a site is unreachable or lags.
    let lagging = status.sites.iter().any(|s| !s.reachable || s.missing_snapshots > 0);
    if g.json {
        crate::output::json(&status)?;
        let outcome = if status.warnings.is_empty() { Outcome::Success } else { Outcome::Warnings };
        return Ok(if lagging { Outcome::Warnings } else { outcome });
    }
    for s in &status.sites {
        let state = if s.reachable { "reachable" } else { "UNREACHABLE" };
        let latest = match (&s.latest_snapshot, s.latest_time) {
            (Some(id), Some(t)) => format!("latest {} at {}", &id[..8], time(t)),
            _ => "no snapshot".into(),
        };
        let lag = match (s.missing_snapshots, s.lag_seconds) {
            (0, _) => "up to date".to_string(),
            (n, Some(l)) => format!("lags {n} snapshot(s), {} behind", duration(l)),
            (n, None) => format!("lags {n} snapshot(s)"),
        };
        println!("{:<16} {:<12} {} snapshots, {latest}, {lag}", s.name, state, s.snapshots);
        println!("{:<16} {}", "", receipted(s.receipted.as_ref()));
    }
    match (status.recovery_point_time, status.recovery_point_age_seconds) {
        (Some(t), Some(age)) => println!(
            "recovery point: {} ({} ago), held by at least {} sites",
            time(t),
            duration(age),
            status.min_sites
        ),
        _ => println!("recovery point: none (no snapshot held by {} sites)", status.min_sites),
    }
    let outcome = warn_all(&status.warnings);
    Ok(if lagging { Outcome::Warnings } else { outcome })
}

fn receipted(r: Option<&ReceiptedStatus>) -> String {
    match r {
        None => "receipts: none, a local folder gives none".into(),
        Some(ReceiptedStatus { receipts, snapshot: Some(id), time: Some(t) }) => {
            format!("receipted in full up to {} at {} ({receipts} objects receipted)", &id[..8], time(*t))
        }
        Some(r) => format!("no snapshot receipted in full ({} objects receipted)", r.receipts),
    }
}
