//! Prune plans on a real archive with two folder sites: snapshot 1 holds `a.bin`, snapshot 2
//! adds `b.bin`, snapshot 3 drops it again. Keeping only snapshot 3 frees the pack of `b.bin`'s
//! data and the pack of snapshot 2's trees; nothing else.

use super::*;
use crate::backup::{backup, BackupRequest};
use crate::check::{check, ReadData};
use crate::config::{Endpoint, SiteConfig};
use crate::progress::Progress;
use crate::restore::{restore, RestoreRequest};
use chancery_testkit::noise;
use std::path::{Path, PathBuf};

const PW: &[u8] = b"pw";

struct Fixture {
    root: tempfile::TempDir,
    config: PathBuf,
    /// Snapshots 1 to 3, oldest first.
    snaps: [ObjectId; 3],
}

impl Fixture {
    fn open(&self) -> Archive {
        Archive::open(&self.config, PW).unwrap()
    }

    fn src(&self) -> PathBuf {
        self.root.path().join("src")
    }
}

fn site(root: &Path, name: &str, location: &str, cc: &str) -> SiteConfig {
    SiteConfig {
        name: name.into(),
        endpoint: Endpoint::Dir { dir: root.join(name) },
        location: location.parse().unwrap(),
        jurisdiction: cc.into(),
        tier: 0,
        upload_timeout_secs: 300,
        limit_upload_kib: None,
        limit_download_kib: None,
    }
}

fn backup_now(config: &Path, src: &Path) -> ObjectId {
    let archive = Archive::open(config, PW).unwrap();
    let request = BackupRequest { paths: vec![src.to_path_buf()], ..Default::default() };
    let report = backup(&archive, &request, &Progress::default()).unwrap();
    assert_eq!(report.stored_at.len(), 2, "{:?}", report.lagging);
    ObjectId::from_hex(&report.snapshot).unwrap()
}

fn three_snapshots() -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("chancery.toml");
    crate::admin::init(&config, "t", "59.437,24.7536".parse().unwrap(), "EE", PW).unwrap();
    crate::admin::add_site(&config, site(root.path(), "lux", "49.6116,6.1319", "LU"), None).unwrap();
    crate::admin::add_site(&config, site(root.path(), "sto", "59.3293,18.0686", "SE"), None).unwrap();
    let src = root.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.bin"), noise(300 * 1024, 1)).unwrap();
    let s1 = backup_now(&config, &src);
    std::fs::write(src.join("b.bin"), noise(300 * 1024, 2)).unwrap();
    let s2 = backup_now(&config, &src);
    std::fs::remove_file(src.join("b.bin")).unwrap();
    let s3 = backup_now(&config, &src);
    Fixture { root, config, snaps: [s1, s2, s3] }
}

/// Every site's index files replaced by one that lists every pack, so that the index file
/// holding the dropped file's pack also holds kept packs (as after an earlier prune).
fn consolidate_index(archive: &Archive) {
    for site in &archive.sites {
        let files = load_index_files(&[site], archive, &mut Vec::new()).unwrap();
        let all = IndexFile::new(files.values().flat_map(|f| f.packs.clone()).collect());
        let bytes = all.seal(&archive.keys);
        site.backend.put(ObjectKind::Index, &ObjectId::of(&bytes).to_hex(), &bytes).unwrap();
        site.backend.sync().unwrap();
        for id in files.keys() {
            site.backend.delete(ObjectKind::Index, &id.to_hex()).unwrap();
        }
    }
}

/// The index files at the first site, and their union.
fn index_now(archive: &Archive) -> (BTreeMap<ObjectId, IndexFile>, Index) {
    let files = load_index_files(&[&archive.sites[0]], archive, &mut Vec::new()).unwrap();
    let index = union(&files);
    (files, index)
}

/// The packs of a file's data in a snapshot (`src/<name>`), and of its root tree.
fn packs_of(archive: &Archive, index: &Index, snap: &ObjectId, name: &str) -> (HashSet<ObjectId>, ObjectId) {
    let reader = BlobReader::new(vec![&archive.sites[0]], &archive.keys, index);
    let snapshot = load_snapshot(archive, &archive.sites[0], snap).unwrap();
    let root = reader.read_tree(&snapshot.tree).unwrap();
    let NodeKind::Dir { subtree } = &root.find(b"src").unwrap().kind else { panic!("src is a folder") };
    let src = reader.read_tree(subtree).unwrap();
    let NodeKind::File { content } = &src.find(name.as_bytes()).unwrap().kind else { panic!("a file") };
    let data = content.iter().map(|b| index.get(b).unwrap().pack).collect();
    (data, index.get(&snapshot.tree).unwrap().pack)
}

/// Checks a plan against the index it was made from: deleted packs hold no used blob, and
/// the index that remains (old files minus deleted ones, plus new ones) lists every blob of
/// every kept pack, at the same place, and no deleted pack.
fn assert_consistent(archive: &Archive, plan: &PrunePlan, keep: &[ObjectId]) {
    let (files, before) = index_now(archive);
    let used = used_blobs(archive, &[&archive.sites[0]], &before, keep).unwrap();
    let deleted: HashSet<ObjectId> = plan.delete_packs.iter().copied().collect();
    // Between steps 1 and 2 readers load the old and the new index files together, in the
    // order of their names.
    let mut both = files.clone();
    let mut after = Index::default();
    for (id, file) in files.iter().filter(|(id, _)| !plan.delete_index.contains(id)) {
        after.add_file(*id, file);
    }
    for (id, file) in plan.open_new_index(archive).unwrap() {
        after.add_file(id, &file);
        both.insert(id, file);
    }
    let window = union(&both);
    assert_eq!((window.len(), window.packs()), (before.len(), before.packs()), "new files add nothing new");
    for e in files.values().flat_map(|f| &f.packs).flat_map(|p| &p.entries) {
        assert_eq!(window.get(&e.id), before.get(&e.id), "no blob is stored twice here");
    }
    for listing in files.values().flat_map(|f| &f.packs) {
        if deleted.contains(&listing.pack) {
            assert!(
                listing.entries.iter().all(|e| !used.contains(&e.id)),
                "a deleted pack holds a used blob"
            );
            continue;
        }
        for e in &listing.entries {
            let loc = after.get(&e.id).expect("every blob of a kept pack stays indexed");
            assert!(!deleted.contains(&loc.pack));
            assert_eq!((loc.offset, loc.length), (e.offset, e.length));
        }
    }
    assert!(used.iter().all(|b| after.get(b).is_some_and(|l| !deleted.contains(&l.pack))));
    let kept: HashSet<ObjectId> = before.packs().difference(&deleted).copied().collect();
    assert_eq!(after.packs(), &kept, "the remaining index lists exactly the kept packs");
    assert_eq!(plan.kept_packs, kept.len());
}

#[test]
fn keeping_the_newest_deletes_the_dropped_files_pack_and_the_old_trees() {
    let f = three_snapshots();
    let archive = f.open();
    let [s1, s2, s3] = f.snaps;
    let plan = plan_prune(&archive, &[s3]).unwrap();
    assert_consistent(&archive, &plan, &[s3]);
    let (files, index) = index_now(&archive);
    let (b_data, s2_root) = packs_of(&archive, &index, &s2, "b.bin");
    let (a_data, _) = packs_of(&archive, &index, &s1, "a.bin");
    let expected: BTreeSet<ObjectId> = b_data.iter().copied().chain([s2_root]).collect();
    assert_eq!(plan.delete_packs.iter().copied().collect::<BTreeSet<_>>(), expected);
    assert!(a_data.iter().all(|p| !plan.delete_packs.contains(p)));
    // The second backup's index file lists only those packs: it goes, and nothing replaces it.
    let second: Vec<ObjectId> =
        files.iter().filter(|(_, f)| f.packs.iter().any(|p| p.pack == s2_root)).map(|(id, _)| *id).collect();
    assert_eq!(plan.delete_index, second);
    assert!(plan.new_index.is_empty());
    let deleted_len: u64 = plan.delete_packs.iter().map(|p| index.pack_len(p).unwrap()).sum();
    assert_eq!(plan.freed_bytes, deleted_len);
    assert!(plan.partly_used_packs >= 1 && plan.unused_bytes_kept > 0, "snapshot 1's root tree: {plan:?}");
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    assert_eq!(plan.based_on_index, files.keys().copied().collect::<Vec<_>>());
}

#[test]
fn keeping_every_snapshot_deletes_nothing_and_keeping_none_is_refused() {
    let f = three_snapshots();
    let archive = f.open();
    let plan = plan_prune(&archive, &f.snaps).unwrap();
    assert!(plan.is_empty(), "{plan:?}");
    assert_eq!((plan.freed_bytes, plan.unused_bytes_kept, plan.partly_used_packs), (0, 0, 0));
    assert_eq!(plan.kept_packs, index_now(&archive).1.packs().len());
    let err = plan_prune(&archive, &[]).unwrap_err().to_string();
    assert!(err.contains("refusing"), "{err}");
}

#[test]
fn kept_packs_of_a_deleted_index_file_are_indexed_again_and_the_pruned_archive_restores_and_checks() {
    let f = three_snapshots();
    let [s1, s2, s3] = f.snaps;
    consolidate_index(&f.open());
    let archive = f.open();
    let plan = plan_prune(&archive, &[s3]).unwrap();
    assert_consistent(&archive, &plan, &[s3]);
    // Each site sealed its own copy (fresh nonce, other name): both go, their kept packs are
    // carried over once.
    assert_eq!(plan.delete_index.len(), 2, "each site's one index file lists a deleted pack");
    assert_eq!(plan.new_index.len(), 1);
    for site in &archive.sites {
        apply(site, &plan, &[s1, s2]);
    }

    let archive = f.open();
    let target = f.root.path().join("restored");
    let request = RestoreRequest { snapshot: s3.to_hex(), target: target.clone(), site: None, include: None };
    restore(&archive, &request, &Progress::default()).unwrap();
    assert_eq!(
        std::fs::read(target.join("src/a.bin")).unwrap(),
        std::fs::read(f.src().join("a.bin")).unwrap()
    );
    assert!(!target.join("src/b.bin").exists());
    for result in check(&archive, None, ReadData::All).unwrap() {
        assert_eq!((result.snapshots, result.packs_read), (1, result.packs));
        // The ledger still records the forgotten snapshots (retention is not recorded in it
        // yet): that is the only remark.
        for p in &result.problems {
            let forgotten = [s1, s2].iter().any(|s| p.object == format!("snapshot {}", s.to_hex()));
            assert!(forgotten && p.detail.contains("deleted"), "{p:?}");
        }
    }
}

/// Carries out a plan at a folder site, in the documented order, and forgets `forgotten`.
/// The site deletes the objects of the plan that it holds.
fn apply(site: &Site, plan: &PrunePlan, forgotten: &[ObjectId]) {
    let backend = &site.backend;
    let held: HashSet<ObjectId> = list_ids(site, ObjectKind::Index).unwrap().into_iter().collect();
    for (id, bytes) in &plan.new_index {
        backend.put(ObjectKind::Index, &id.to_hex(), bytes).unwrap();
    }
    backend.sync().unwrap();
    for id in forgotten {
        backend.delete(ObjectKind::Snapshot, &id.to_hex()).unwrap();
    }
    for id in plan.delete_index.iter().filter(|id| held.contains(id)) {
        backend.delete(ObjectKind::Index, &id.to_hex()).unwrap();
    }
    backend.sync().unwrap();
    for id in &plan.delete_packs {
        backend.delete(ObjectKind::Pack, &id.to_hex()).unwrap();
    }
    backend.sync().unwrap();
}

fn listing(pack: u8, blobs: &[u8]) -> IndexPack {
    let entry = |(i, b): (usize, &u8)| chancery_format::pack::PackEntry {
        kind: chancery_format::blob::BlobKind::Data,
        id: BlobId([*b; 32]),
        offset: 100 * i as u32,
        length: 100,
        raw_length: 90,
    };
    IndexPack { pack: ObjectId([pack; 32]), entries: blobs.iter().enumerate().map(entry).collect() }
}

#[test]
fn a_blob_stored_twice_keeps_both_copies_and_kept_packs_are_carried_once() {
    // Blob 1 lies in packs 10 and 30: readers try pack 10's copy first and pack 30's when it
    // is lost, as it may be (a backup stores a blob again when a site lacks its pack).
    let files: BTreeMap<ObjectId, IndexFile> = [
        (1, vec![listing(10, &[1, 2]), listing(20, &[3])]),
        (2, vec![listing(30, &[1]), listing(40, &[4])]),
        (3, vec![listing(20, &[3]), listing(50, &[5])]),
        (4, vec![listing(60, &[6]), listing(70, &[7])]),
    ]
    .into_iter()
    .map(|(id, packs)| (ObjectId([id; 32]), IndexFile::new(packs)))
    .collect();
    let index = union(&files);
    let used: HashSet<BlobId> = [1, 3, 6].into_iter().map(|b| BlobId([b; 32])).collect();
    let mut plan = PrunePlan::default();
    let deleted = judge_packs(&mut plan, &listings(&files), &index, &used);
    let ids = |ns: &[u8]| ns.iter().map(|n| ObjectId([*n; 32])).collect::<Vec<_>>();
    assert_eq!(plan.delete_packs, ids(&[40, 50, 70]));
    assert_eq!((plan.kept_packs, plan.partly_used_packs, plan.unused_bytes_kept), (4, 1, 100));
    let delete_index = ids(&[3, 4]);
    // Pack 20 is still listed in index file 1; pack 60 is listed nowhere else.
    let carried = carried_packs(&files, &delete_index, &deleted);
    assert_eq!(carried.into_iter().collect::<Vec<_>>(), ids(&[60]));
}

#[test]
fn new_index_files_hold_whole_packs_and_stay_under_the_entry_limit() {
    let keys = chancery_format::keys::MasterKey::generate().derive();
    let big = |pack: u8, n: usize| IndexPack {
        pack: ObjectId([pack; 32]),
        entries: vec![listing(pack, &[pack]).entries[0]; n],
    };
    let packs = vec![big(1, 60_000), big(2, 30_000), big(3, 20_000), big(4, MAX_INDEX_ENTRIES + 1)];
    let sealed = seal_index_files(&keys, packs);
    let sizes: Vec<Vec<usize>> = sealed
        .iter()
        .map(|(id, bytes)| {
            assert_eq!(*id, ObjectId::of(bytes));
            IndexFile::open(&keys, bytes).unwrap().packs.iter().map(|p| p.entries.len()).collect()
        })
        .collect();
    assert_eq!(sizes, vec![vec![60_000, 30_000], vec![20_000], vec![MAX_INDEX_ENTRIES + 1]]);
}
