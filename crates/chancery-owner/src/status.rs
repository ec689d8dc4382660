//! `status`: per site, whether it answers, its newest snapshot, how far it lags, and the
//! newest snapshot it has receipted in full; overall, the recovery point achieved: the age of
//! the newest snapshot that at least the policy's minimum number of sites hold.

use crate::archive::Archive;
use crate::receipted::{receipted, Depth, SiteReceipted};
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
    /// What it has receipted; `None` for a local folder, which gives no receipts.
    pub receipted: Option<ReceiptedStatus>,
}

/// What a site server has receipted.
#[derive(Debug, serde::Serialize)]
pub struct ReceiptedStatus {
    /// Objects it has receipted (receipts kept and verified against its pinned key).
    pub receipts: usize,
    /// The newest snapshot whose every object it has receipted.
    pub snapshot: Option<String>,
    /// That snapshot's time (seconds since the epoch).
    pub time: Option<i64>,
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
    let receipts = receipted(archive, &list, Depth::Newest, &mut warnings)?;
    let mut sites = Vec::new();
    for (config, receipts) in archive.config.sites.iter().zip(&receipts) {
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
            receipted: receipted_status(receipts, &list),
        });
    }
    let min_sites = archive.config.policy.min_sites;
    let point = recovery_point(&list, min_sites);
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

/// The newest snapshot that at least `min_sites` sites hold (`list` is oldest first).
fn recovery_point(list: &[SnapshotEntry], min_sites: usize) -> Option<&SnapshotEntry> {
    list.iter().rev().find(|e| e.sites.len() >= min_sites)
}

fn receipted_status(site: &SiteReceipted, list: &[SnapshotEntry]) -> Option<ReceiptedStatus> {
    let receipts = site.receipts?;
    let newest = site.snapshots.first().and_then(|id| list.iter().find(|e| e.id == *id));
    Some(ReceiptedStatus {
        receipts,
        snapshot: newest.map(|e| e.id.to_hex()),
        time: newest.map(|e| e.snapshot.time_sec),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chancery_format::snapshot::{Snapshot, Summary, SNAPSHOT_VERSION};
    use chancery_format::{BlobId, ObjectId};

    fn entry(n: u8, time_sec: i64, sites: &[&str]) -> SnapshotEntry {
        let snapshot = Snapshot {
            version: SNAPSHOT_VERSION,
            repo_id: [0; 32],
            time_sec,
            time_nsec: 0,
            hostname: "h".into(),
            username: String::new(),
            paths: Vec::new(),
            tags: Vec::new(),
            tree: BlobId([n; 32]),
            parent: None,
            summary: Summary::default(),
        };
        SnapshotEntry {
            id: ObjectId([n; 32]),
            snapshot,
            sites: sites.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_recovery_point_is_the_newest_snapshot_that_enough_sites_hold() {
        let list = [entry(1, 100, &["a", "b", "c"]), entry(2, 200, &["a", "b"]), entry(3, 300, &["a"])];
        let point = |min| recovery_point(&list, min).map(|e| e.id.0[0]);
        assert_eq!((point(1), point(2), point(3), point(4)), (Some(3), Some(2), Some(1), None));
        assert_eq!(recovery_point(&[], 1).map(|e| e.id), None);
    }
}
