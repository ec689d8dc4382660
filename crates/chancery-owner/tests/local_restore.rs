//! A restore from a local folder reads exactly the blobs it needs: each pack of a batch is
//! opened once and only the wanted ranges are read, with no gaps read between them and no
//! range kept for later (a local read costs a system call, not a round trip).

use chancery_owner::archive::Archive;
use chancery_owner::backup::{backup, BackupRequest};
use chancery_owner::config::SiteConfig;
use chancery_owner::progress::Progress;
use chancery_owner::restore::{restore, RestoreRequest};
use chancery_store::{Backend, FsBackend, ObjectInfo, ObjectKind, StoreError};
use chancery_testkit::noise;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const PW: &[u8] = b"pw";
const FILES: usize = 200;
const FILE_LEN: usize = 3000;

/// A folder that counts the pack bytes asked for, and by which method.
#[derive(Debug)]
struct CountingFolder {
    inner: FsBackend,
    range_bytes: AtomicU64,
    multi_calls: AtomicU64,
    multi_bytes: AtomicU64,
}

impl Backend for CountingFolder {
    fn location(&self) -> String {
        self.inner.location()
    }
    fn put(&self, kind: ObjectKind, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.inner.put(kind, name, bytes)
    }
    fn get(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>, StoreError> {
        self.inner.get(kind, name)
    }
    fn get_range(&self, kind: ObjectKind, name: &str, offset: u64, len: u64) -> Result<Vec<u8>, StoreError> {
        let bytes = self.inner.get_range(kind, name, offset, len)?;
        self.range_bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(bytes)
    }
    fn get_ranges(
        &self,
        kind: ObjectKind,
        name: &str,
        ranges: &[(u64, u64)],
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let read = self.inner.get_ranges(kind, name, ranges)?;
        self.multi_calls.fetch_add(1, Ordering::Relaxed);
        let bytes: usize = read.iter().map(Vec::len).sum();
        self.multi_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        Ok(read)
    }
    fn stat(&self, kind: ObjectKind, name: &str) -> Result<Option<u64>, StoreError> {
        self.inner.stat(kind, name)
    }
    fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>, StoreError> {
        self.inner.list(kind)
    }
    fn delete(&self, kind: ObjectKind, name: &str) -> Result<(), StoreError> {
        self.inner.delete(kind, name)
    }
    fn sync(&self) -> Result<(), StoreError> {
        self.inner.sync()
    }
}

/// Two folders of small incompressible files, `wanted` and `other`, whose blobs share packs.
fn two_folders(src: &Path) {
    for (n, folder) in ["wanted", "other"].into_iter().enumerate() {
        let dir = src.join(folder);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..FILES {
            std::fs::write(dir.join(format!("f{i:03}")), noise(FILE_LEN, (n * FILES + i) as u64)).unwrap();
        }
    }
}

#[test]
fn a_restore_from_a_folder_reads_only_the_blobs_it_needs() {
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("chancery.toml");
    chancery_owner::admin::init(&config, "t", "59.437,24.7536".parse().unwrap(), "EE", PW).unwrap();
    for (name, location, cc) in [("lux", "49.6116,6.1319", "LU"), ("sto", "59.3293,18.0686", "SE")] {
        let site = SiteConfig {
            name: name.into(),
            endpoint: chancery_owner::config::Endpoint::Dir { dir: root.path().join(name) },
            location: location.parse().unwrap(),
            jurisdiction: cc.into(),
            tier: 0,
            upload_timeout_secs: 300,
            limit_upload_kib: None,
            limit_download_kib: None,
        };
        chancery_owner::admin::add_site(&config, site, None).unwrap();
    }
    let src = root.path().join("src");
    two_folders(&src);
    let archive = Archive::open(&config, PW).unwrap();
    let request = BackupRequest { paths: vec![src.clone()], ..Default::default() };
    backup(&archive, &request, &Progress::default()).unwrap();

    let mut archive = Archive::open(&config, PW).unwrap();
    let folder = Arc::new(CountingFolder {
        inner: FsBackend::open(root.path().join("lux")).unwrap(),
        range_bytes: AtomicU64::new(0),
        multi_calls: AtomicU64::new(0),
        multi_bytes: AtomicU64::new(0),
    });
    archive.sites[0].backend = folder.clone();
    let target = root.path().join("out");
    let request = RestoreRequest {
        snapshot: "latest".into(),
        target: target.clone(),
        site: Some("lux".into()),
        include: Some("src/wanted".into()),
    };
    let report = restore(&archive, &request, &Progress::default()).unwrap();
    assert_eq!(report.files, FILES as u64);
    let restored = target.join("src/wanted");
    for i in 0..FILES {
        let got = std::fs::read(restored.join(format!("f{i:03}"))).unwrap();
        assert!(got == noise(FILE_LEN, i as u64), "file {i} differs");
    }

    // Each sealed blob is its plaintext plus a flag, a nonce and a tag (FORMAT.md): under
    // 64 bytes. Reading the ranges between the wanted blobs would read the other folder too.
    let wanted = (FILES * FILE_LEN) as u64;
    let data = folder.multi_bytes.load(Ordering::Relaxed);
    assert!((wanted..wanted + 64 * FILES as u64).contains(&data), "read {data} bytes for {wanted}");
    let batches = folder.multi_calls.load(Ordering::Relaxed);
    assert!(batches <= FILES as u64 / 16, "{batches} reads of packs for {FILES} files");
    let alone = folder.range_bytes.load(Ordering::Relaxed);
    assert!(alone < wanted / 4, "{alone} bytes read blob by blob (trees only expected)");
}
