//! A site whose disk fills up mid-backup: the other site gets the snapshot, the full one is
//! reported as lagging with the reason, nothing half-written is taken for whole, and a sync
//! after space is freed brings it up to date.

use chancery_owner::archive::Archive;
use chancery_owner::backup::{backup, BackupRequest};
use chancery_owner::check::{check, ReadData};
use chancery_owner::config::SiteConfig;
use chancery_owner::progress::Progress;
use chancery_store::{FaultyBackend, FsBackend};
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
    }
}

fn noise(len: usize, mut s: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u8
        })
        .collect()
}

#[test]
fn a_full_site_lags_the_others_keep_going_and_sync_repairs_it() {
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("chancery.toml");
    chancery_owner::admin::init(&config, "t", "59.437,24.7536".parse().unwrap(), "EE", PW).unwrap();
    chancery_owner::admin::add_site(&config, site(root.path(), "lux", "49.6116,6.1319", "LU"), None).unwrap();
    chancery_owner::admin::add_site(&config, site(root.path(), "sto", "59.3293,18.0686", "SE"), None)
        .unwrap();
    let src = root.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.bin"), noise(40 * 1024 * 1024, 3)).unwrap();

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
