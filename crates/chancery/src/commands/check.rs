//! `check`.

use super::Globals;
use crate::cli::CheckArgs;
use crate::output::bytes;
use crate::Outcome;
use anyhow::Result;
use chancery_owner::check::{check, ReadData};
use chancery_owner::error::IntegrityProblems;

/// Checks each site; exit 10 naming site, object and snapshots when anything is wrong.
pub fn run(g: &Globals, args: CheckArgs) -> Result<Outcome> {
    let archive = g.open()?;
    let read_data = match (args.read_data, args.read_data_subset) {
        (true, _) => ReadData::All,
        (false, Some(pct)) => ReadData::Subset(pct),
        _ => ReadData::None,
    };
    let results = check(&archive, args.site.as_deref(), read_data)?;
    let count: usize = results.iter().map(|r| r.problems.len()).sum();
    if g.json {
        crate::output::json(&results)?;
    }
    for r in &results {
        if !g.json {
            println!(
                "site {}: {} snapshots, {} packs, {} packs read ({}), {}",
                r.site,
                r.snapshots,
                r.packs,
                r.packs_read,
                bytes(r.bytes_read),
                if r.problems.is_empty() {
                    "no problems".to_string()
                } else {
                    format!("{} PROBLEM(S)", r.problems.len())
                }
            );
        }
        for p in &r.problems {
            let snaps = if p.snapshots.is_empty() {
                String::new()
            } else {
                format!("; needed by snapshots {}", p.snapshots.join(", "))
            };
            eprintln!("error: site {}: {}: {}{snaps}", p.site, p.object, p.detail);
        }
    }
    if count > 0 {
        return Err(IntegrityProblems { count }.into());
    }
    Ok(if archive.unreachable.is_empty() || args.site.is_some() {
        Outcome::Success
    } else {
        Outcome::Warnings
    })
}
