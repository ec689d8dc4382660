//! `snapshots`.

use super::{warn_all, Globals};
use crate::output::time;
use crate::Outcome;
use anyhow::Result;
use chancery_owner::error::IntegrityProblems;
use chancery_owner::receipted::{receipted, Depth, SiteReceipted};
use chancery_owner::snapshots::{list_checked, CopiesRead, SnapshotEntry};
use std::collections::BTreeMap;

#[derive(serde::Serialize)]
struct Row {
    id: String,
    time: i64,
    hostname: String,
    paths: Vec<String>,
    tags: Vec<String>,
    files: u64,
    bytes: u64,
    sites: Vec<String>,
    /// Per site: whether it receipted every object of the snapshot; null for a local folder.
    receipted: BTreeMap<String, Option<bool>>,
}

/// Lists snapshots, the sites that hold each, and the sites that receipted each in full; exit
/// 10 after the list when a site was found tampered with against the ledger.
pub fn run(g: &Globals) -> Result<Outcome> {
    let archive = g.open()?;
    let mut warnings = Vec::new();
    let (list, problems) = list_checked(&archive, &mut warnings, CopiesRead::Once)?;
    let per_site = receipted(&archive, &list, Depth::All, &mut warnings)?;
    let rows: Vec<Row> = list.iter().map(|e| row(e, &per_site)).collect();
    if g.json {
        crate::output::json(&rows)?;
    } else {
        print_table(&rows);
        print_receipted(&per_site, &rows);
    }
    let outcome = warn_all(&warnings);
    for p in &problems {
        eprintln!("error: {p}");
    }
    if !problems.is_empty() {
        return Err(IntegrityProblems { count: problems.len() }.into());
    }
    Ok(outcome)
}

fn row(e: &SnapshotEntry, per_site: &[SiteReceipted]) -> Row {
    Row {
        id: e.id.to_hex(),
        time: e.snapshot.time_sec,
        hostname: e.snapshot.hostname.clone(),
        paths: e.snapshot.paths.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect(),
        tags: e.snapshot.tags.clone(),
        files: e.snapshot.summary.files,
        bytes: e.snapshot.summary.bytes,
        sites: e.sites.clone(),
        receipted: per_site
            .iter()
            .map(|s| (s.site.clone(), s.receipts.map(|_| s.snapshots.contains(&e.id))))
            .collect(),
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<8}  {:<20}  {:<12}  {:<24}  {:<24}  {:<10}  paths",
        "id", "time", "host", "sites", "receipted", "tags"
    );
    for r in rows {
        let receipted: Vec<&str> =
            r.receipted.iter().filter(|(_, r)| **r == Some(true)).map(|(s, _)| s.as_str()).collect();
        println!(
            "{:<8}  {:<20}  {:<12}  {:<24}  {:<24}  {:<10}  {}",
            &r.id[..8],
            time(r.time),
            r.hostname,
            r.sites.join(","),
            receipted.join(","),
            r.tags.join(","),
            r.paths.join(" ")
        );
    }
    println!("{} snapshot(s)", rows.len());
}

/// Per site, the newest snapshot it receipted in full.
fn print_receipted(per_site: &[SiteReceipted], rows: &[Row]) {
    println!("newest snapshot receipted in full, per site:");
    for s in per_site {
        let newest = s.snapshots.first().and_then(|id| rows.iter().find(|r| r.id == id.to_hex()));
        let text = match (s.receipts, newest) {
            (None, _) => "none: a local folder gives no receipts".to_string(),
            (Some(n), Some(r)) => format!("{} at {} ({n} objects receipted)", &r.id[..8], time(r.time)),
            (Some(n), None) => format!("none yet ({n} objects receipted)"),
        };
        println!("  {:<16} {text}", s.site);
    }
}
