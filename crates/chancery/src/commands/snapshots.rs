//! `snapshots`.

use super::{warn_all, Globals};
use crate::output::time;
use crate::Outcome;
use anyhow::Result;
use chancery_owner::snapshots::list_snapshots;

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
}

/// Lists snapshots and the sites that hold each.
pub fn run(g: &Globals) -> Result<Outcome> {
    let archive = g.open()?;
    let mut warnings = Vec::new();
    let list = list_snapshots(&archive, &mut warnings)?;
    let rows: Vec<Row> = list
        .iter()
        .map(|e| Row {
            id: e.id.to_hex(),
            time: e.snapshot.time_sec,
            hostname: e.snapshot.hostname.clone(),
            paths: e.snapshot.paths.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect(),
            tags: e.snapshot.tags.clone(),
            files: e.snapshot.summary.files,
            bytes: e.snapshot.summary.bytes,
            sites: e.sites.clone(),
        })
        .collect();
    if g.json {
        crate::output::json(&rows)?;
    } else {
        println!("{:<8}  {:<20}  {:<12}  {:<24}  {:<10}  paths", "id", "time", "host", "sites", "tags");
        for r in &rows {
            println!(
                "{:<8}  {:<20}  {:<12}  {:<24}  {:<10}  {}",
                &r.id[..8],
                time(r.time),
                r.hostname,
                r.sites.join(","),
                r.tags.join(","),
                r.paths.join(" ")
            );
        }
        println!("{} snapshot(s)", rows.len());
    }
    Ok(warn_all(&warnings))
}
