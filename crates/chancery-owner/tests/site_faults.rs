//! A site whose disk fills up mid-backup: the other site gets the snapshot, the full one is
//! reported as lagging with the reason, nothing half-written is taken for whole, and a sync
//! after space is freed brings it up to date.

use chancery_owner::archive::Archive;
use chancery_owner::backup::{backup, BackupRequest};
use chancery_owner::check::{check, ReadData};
use chancery_owner::config::SiteConfig;
use chancery_owner::progress::Progress;
use chancery_store::{FaultyBackend, FsBackend, ObjectKind};
use chancery_testkit::noise;
use std::path::Path;
use std::sync::Arc;

const PW: &[u8] = b"pw";

fn site(root: &Path, name: &str, location: &str, cc: &str) -> SiteConfig {
    SiteConfig {
        name: name.into(),
        endpoint: chancery_owner::config::Endpoint::Dir { dir: root.join(name) },
        location: location.parse().unwrap(),
        jurisdiction: cc.into(),
        tier: 0,
        upload_timeout_secs: 300,
        limit_upload_kib: None,
        limit_download_kib: None,
    }
}

/// An archive with sites "lux" and "sto" under `root`, and a folder holding one file of
/// `len` pseudo-random bytes; returns the config path and the folder.
fn two_sites_and_a_file(root: &Path, len: usize, seed: u64) -> (std::path::PathBuf, std::path::PathBuf) {
    let config = root.join("chancery.toml");
    chancery_owner::admin::init(&config, "t", "59.437,24.7536".parse().unwrap(), "EE", PW).unwrap();
    chancery_owner::admin::add_site(&config, site(root, "lux", "49.6116,6.1319", "LU"), None).unwrap();
    chancery_owner::admin::add_site(&config, site(root, "sto", "59.3293,18.0686", "SE"), None).unwrap();
    let src = root.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.bin"), noise(len, seed)).unwrap();
    (config, src)
}

#[test]
fn a_full_site_lags_the_others_keep_going_and_sync_repairs_it() {
    let root = tempfile::tempdir().unwrap();
    let (config, src) = two_sites_and_a_file(root.path(), 40 * 1024 * 1024, 3);

    let mut archive = Archive::open(&config, PW).unwrap();
    let full = FaultyBackend::new(FsBackend::open(root.path().join("lux")).unwrap());
    full.disk_full_after_bytes(8 * 1024 * 1024);
    archive.sites[0].backend = Arc::new(full);
    let request = BackupRequest { paths: vec![src.clone()], ..Default::default() };
    let report = backup(&archive, &request, &Progress::default()).unwrap();
    assert_eq!(report.stored_at, vec!["sto".to_string()]);
    assert!(report.lagging["lux"].contains("full"), "{:?}", report.lagging);
    assert!(!report.quorum_met);

    let archive = Archive::open(&config, PW).unwrap();
    let snapshots_at_lux =
        std::fs::read_dir(root.path().join("lux/snapshots")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(snapshots_at_lux, 0, "no snapshot at a site that lacks its packs");
    for result in check(&archive, None, ReadData::All).unwrap() {
        assert!(result.problems.is_empty(), "{:?}", result.problems);
    }
    let synced = chancery_owner::sync::sync_sites(&archive, Some("lux")).unwrap();
    assert!(synced[0].1.objects > 0);
    let results = check(&archive, Some("lux"), ReadData::All).unwrap();
    assert_eq!(results[0].snapshots, 1);
    assert!(results[0].problems.is_empty());
}

/// A site that takes seconds for every pack: a real backend behind a slow link.
#[derive(Debug)]
struct SlowSite(FsBackend);

impl chancery_store::Backend for SlowSite {
    fn location(&self) -> String {
        self.0.location()
    }
    fn put(&self, kind: ObjectKind, name: &str, bytes: &[u8]) -> Result<(), chancery_store::StoreError> {
        if kind == ObjectKind::Pack {
            std::thread::sleep(std::time::Duration::from_secs(3));
        }
        self.0.put(kind, name, bytes)
    }
    fn get(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>, chancery_store::StoreError> {
        self.0.get(kind, name)
    }
    fn get_range(
        &self,
        kind: ObjectKind,
        name: &str,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, chancery_store::StoreError> {
        self.0.get_range(kind, name, offset, len)
    }
    fn stat(&self, kind: ObjectKind, name: &str) -> Result<Option<u64>, chancery_store::StoreError> {
        self.0.stat(kind, name)
    }
    fn list(&self, kind: ObjectKind) -> Result<Vec<chancery_store::ObjectInfo>, chancery_store::StoreError> {
        self.0.list(kind)
    }
    fn delete(&self, kind: ObjectKind, name: &str) -> Result<(), chancery_store::StoreError> {
        self.0.delete(kind, name)
    }
    fn sync(&self) -> Result<(), chancery_store::StoreError> {
        self.0.sync()
    }
}

#[test]
fn a_slow_site_is_left_behind_instead_of_holding_back_the_others() {
    let root = tempfile::tempdir().unwrap();
    let (config, src) = two_sites_and_a_file(root.path(), 80 * 1024 * 1024, 5);

    let mut archive = Archive::open(&config, PW).unwrap();
    archive.sites[1].backend = Arc::new(SlowSite(FsBackend::open(root.path().join("sto")).unwrap()));
    archive.sites[1].config.upload_timeout_secs = 1;
    let request = BackupRequest { paths: vec![src.clone()], ..Default::default() };
    let report = backup(&archive, &request, &Progress::default()).unwrap();
    assert_eq!(report.stored_at, vec!["lux".to_string()]);
    assert!(report.lagging["sto"].contains("too slow"), "{:?}", report.lagging);

    let archive = Archive::open(&config, PW).unwrap();
    chancery_owner::sync::sync_sites(&archive, Some("sto")).unwrap();
    let results = check(&archive, Some("sto"), ReadData::All).unwrap();
    assert_eq!((results[0].snapshots, results[0].problems.len()), (1, 0));
}

/// Every site's disk fills in the middle of a long file (cut on one thread, stored on
/// another): the backup stops with the reason instead of hanging, and no snapshot is written.
#[test]
fn a_backup_stops_when_every_site_fails_in_the_middle_of_a_long_file() {
    let root = tempfile::tempdir().unwrap();
    let (config, src) = two_sites_and_a_file(root.path(), 64 * 1024 * 1024, 7);

    let mut archive = Archive::open(&config, PW).unwrap();
    for (i, name) in ["lux", "sto"].into_iter().enumerate() {
        let full = FaultyBackend::new(FsBackend::open(root.path().join(name)).unwrap());
        full.disk_full_after_bytes(4 * 1024 * 1024);
        archive.sites[i].backend = Arc::new(full);
    }
    let request = BackupRequest { paths: vec![src.clone()], ..Default::default() };
    let err = backup(&archive, &request, &Progress::default()).unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("every site failed") || message.contains("full"), "{message}");
    for name in ["lux", "sto"] {
        let snapshots =
            std::fs::read_dir(root.path().join(name).join("snapshots")).map(|d| d.count()).unwrap_or(0);
        assert_eq!(snapshots, 0, "no snapshot at {name}");
    }
}
