//! `status`: per site, whether it answers, its newest snapshot and how far it lags; overall,
//! the recovery point achieved: the age of the newest snapshot that at least the policy's
//! minimum number of sites hold.

use crate::archive::Archive;
use crate::snapshots::{list_snapshots, SnapshotEntry};
use anyhow::Result;

/// One site's state.
#[derive(Debug, serde::Serialize)]
pub struct SiteStatus {
    /// Site name.
    pub name: String,
    /// Whether it could be opened.
    pub reachable: bool,
    /// Why not, when not.
    pub error: Option<String>,
    /// Snapshots it holds.
    pub snapshots: usize,
    /// Its newest snapshot's id.
    pub latest_snapshot: Option<String>,
    /// Its newest snapshot's time (seconds since the epoch).
    pub latest_time: Option<i64>,
    /// Snapshots that other sites hold and this one lacks.
    pub missing_snapshots: usize,
    /// Seconds its newest snapshot is behind the newest anywhere.
    pub lag_seconds: Option<i64>,
}

/// The archive's state.
#[derive(Debug, serde::Serialize)]
pub struct Status {
    /// Per site, in configuration order.
    pub sites: Vec<SiteStatus>,
    /// Minimum number of sites the policy requires.
    pub min_sites: usize,
    /// Newest snapshot held by at least `min_sites` sites.
    pub recovery_point_snapshot: Option<String>,
    /// Its time.
    pub recovery_point_time: Option<i64>,
    /// Its age in seconds now: the recovery point achieved.
    pub recovery_point_age_seconds: Option<i64>,
    /// Problems met while reading snapshots.
    pub warnings: Vec<String>,
}

/// Gathers the status of every configured site.
pub fn status(archive: &Archive) -> Result<Status> {
    let mut warnings = Vec::new();
    let list = list_snapshots(archive, &mut warnings)?;
    let newest = list.last().map(|e| e.snapshot.time_sec);
    let mut sites = Vec::new();
    for config in &archive.config.sites {
        let unreachable = archive.unreachable.iter().find(|u| u.config.name == config.name);
        let held: Vec<&SnapshotEntry> = list.iter().filter(|e| e.sites.contains(&config.name)).collect();
        let latest = held.last();
        sites.push(SiteStatus {
            name: config.name.clone(),
            reachable: unreachable.is_none(),
            error: unreachable.map(|u| u.reason.clone()),
            snapshots: held.len(),
            latest_snapshot: latest.map(|e| e.id.to_hex()),
            latest_time: latest.map(|e| e.snapshot.time_sec),
            missing_snapshots: list.len() - held.len(),
            lag_seconds: newest
                .map(|n| n - latest.map_or(0, |e| e.snapshot.time_sec))
                .filter(|_| latest.is_some()),
        });
    }
    let min_sites = archive.config.policy.min_sites;
    let point = list.iter().rev().find(|e| e.sites.len() >= min_sites);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs()
        as i64;
    Ok(Status {
        sites,
        min_sites,
        recovery_point_snapshot: point.map(|e| e.id.to_hex()),
        recovery_point_time: point.map(|e| e.snapshot.time_sec),
        recovery_point_age_seconds: point.map(|e| now - e.snapshot.time_sec),
        warnings,
    })
}
