//! Smaller properties: change detection, the sparse writer, special cases of the restorer.

use super::{capture_path, set_mtime};
use crate::fsmeta::{join_name, same_file_unchanged, FileStart, Restorer, SparseWriter};
use chancery_format::tree::{NodeKind, Xattr};
use proptest::prelude::*;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

#[test]
fn unchanged_file_is_recognised() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    fs::write(&path, b"one").unwrap();
    let old = capture_path(&path);
    assert!(same_file_unchanged(&old, &capture_path(&path)));

    // Same size, mtime put back: only ctime tells.
    fs::write(&path, b"two").unwrap();
    set_mtime(&path, old.mtime_sec, old.mtime_nsec);
    let new = capture_path(&path);
    assert_eq!((new.size, new.mtime_sec, new.mtime_nsec), (old.size, old.mtime_sec, old.mtime_nsec));
    assert!(!same_file_unchanged(&old, &new));
}

#[test]
fn each_compared_field_matters() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("f"), b"x").unwrap();
    let old = capture_path(&dir.path().join("f"));
    let changes: [fn(&mut chancery_format::tree::Node); 6] = [
        |n| n.size += 1,
        |n| n.mtime_sec += 1,
        |n| n.mtime_nsec += 1,
        |n| n.ctime_sec += 1,
        |n| n.ctime_nsec += 1,
        |n| n.inode += 1,
    ];
    for change in changes {
        let mut new = old.clone();
        change(&mut new);
        assert!(!same_file_unchanged(&old, &new));
    }
    let mut other_dev = old.clone();
    other_dev.dev += 1;
    assert!(same_file_unchanged(&old, &other_dev), "dev is deliberately not compared");
    let dir_node = capture_path(dir.path());
    assert!(!same_file_unchanged(&dir_node, &dir_node), "only regular files");
}

#[test]
fn capture_reads_device_numbers_without_root() {
    let node = capture_path(Path::new("/dev/null"));
    assert_eq!(node.kind, NodeKind::CharDevice { rdev: libc::makedev(1, 3) });
}

#[test]
fn devices_need_root() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = capture_path(Path::new("/dev/null"));
    node.name = b"null".to_vec();
    let err = Restorer::new(false).create_special(&dir.path().join("null"), &node).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    assert!(err.to_string().contains("requires root"), "{err}");
}

#[test]
fn restore_replaces_symlink_instead_of_writing_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    fs::write(&victim, b"keep me").unwrap();
    let path = join_name(dir.path(), b"\xffname");
    std::os::unix::fs::symlink(&victim, &path).unwrap();
    let mut node = capture_path(&victim);
    node.nlink = 1;
    let FileStart::Write(mut w) = Restorer::new(false).begin_file(&path, &node).unwrap() else {
        panic!("nothing to link to");
    };
    w.write_chunk(b"new").unwrap();
    w.finish(3).unwrap();
    assert_eq!(fs::read(&victim).unwrap(), b"keep me");
    assert_eq!(fs::read(&path).unwrap(), b"new");
    assert!(fs::symlink_metadata(&path).unwrap().is_file());
}

#[test]
fn refused_xattr_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink("target", &link).unwrap();
    let mut node = capture_path(&link);
    // Linux allows `user.*` attributes only on regular files and directories, even for root.
    node.xattrs.push(Xattr { name: b"user.note".to_vec(), value: b"v".to_vec() });
    let warnings = Restorer::new(false).apply_metadata(&link, &node).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("user.note"), "{warnings:?}");
}

#[test]
fn create_dir_accepts_existing_directory_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Restorer::new(false);
    r.create_dir(&dir.path().join("d")).unwrap();
    r.create_dir(&dir.path().join("d")).unwrap();
    fs::write(dir.path().join("f"), b"").unwrap();
    assert!(r.create_dir(&dir.path().join("f")).is_err());
}

#[test]
fn finish_rejects_wrong_length() {
    let dir = tempfile::tempdir().unwrap();
    let node = {
        fs::write(dir.path().join("f"), b"").unwrap();
        capture_path(&dir.path().join("f"))
    };
    let FileStart::Write(mut w) = Restorer::new(false).begin_file(&dir.path().join("g"), &node).unwrap()
    else {
        panic!("nlink is 1");
    };
    w.write_chunk(b"abc").unwrap();
    assert_eq!(w.written(), 3);
    assert_eq!(w.finish(4).unwrap_err().kind(), io::ErrorKind::InvalidData);
}

#[test]
fn zero_blocks_become_holes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let mut data = vec![0u8; 64 * 4096];
    data[10] = 1; // first block data, then 62 zero blocks
    *data.last_mut().unwrap() = 2;
    let bytes = write_sparse(&path, &[&data[..5000], &data[5000..]]);
    assert_eq!(bytes, data);
    assert!(fs::metadata(&path).unwrap().blocks() * 512 <= 4 * 4096);
}

#[test]
fn a_trailing_hole_keeps_the_file_length() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let mut data = vec![0u8; 3 * 4096];
    data[0] = 7; // one block of data, then two whole zero blocks that are never written
    assert_eq!(write_sparse(&path, &[&data]), data);
    assert_eq!(write_sparse(&dir.path().join("empty"), &[]), b"");
}

/// Writes `chunks` through a `SparseWriter` into a new file and reads the file back.
fn write_sparse(path: &Path, chunks: &[&[u8]]) -> Vec<u8> {
    write_through(SparseWriter::new(fs::File::create_new(path).unwrap()), path, chunks)
}

/// The same through a writer for a file opened `O_DIRECT` (gathered in an aligned buffer,
/// the last block padded and cut); opened without the flag where the file system refuses
/// it, which exercises the same gathering.
fn write_sparse_direct(path: &Path, chunks: &[&[u8]]) -> Vec<u8> {
    use std::os::unix::fs::OpenOptionsExt;
    let open = |flags| fs::OpenOptions::new().write(true).create_new(true).custom_flags(flags).open(path);
    let file = match open(libc::O_DIRECT) {
        Err(e) if chancery_store::fs::direct::refused(&e) => open(0),
        other => other,
    };
    write_through(SparseWriter::direct(file.unwrap()), path, chunks)
}

fn write_through(mut w: SparseWriter, path: &Path, chunks: &[&[u8]]) -> Vec<u8> {
    let mut total = 0;
    for chunk in chunks {
        w.write_chunk(chunk).unwrap();
        total += chunk.len() as u64;
    }
    w.finish(total).unwrap();
    fs::read(path).unwrap()
}

/// Content made of zero and non-zero runs, so that blocks of every kind and alignment occur.
fn content() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec((any::<bool>(), 1usize..9000), 0..12).prop_map(|runs| {
        let mut out = Vec::new();
        for (zero, len) in runs {
            let byte = if zero { 0 } else { 0xa5 };
            out.write_all(&vec![byte; len]).unwrap();
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sparse_writer_content_is_exact(data in content(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        let dir = tempfile::tempdir().unwrap();
        let chunks = cut(&data, &cuts);
        prop_assert_eq!(&write_sparse(&dir.path().join("f"), &chunks), &data);
        prop_assert_eq!(write_sparse_direct(&dir.path().join("d"), &chunks), data);
    }

    #[test]
    fn direct_writes_of_large_files_are_exact(data in large_content(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        // Runs long enough to fill the aligned buffer, holes between and at the end.
        let dir = tempfile::tempdir().unwrap();
        let chunks = cut(&data, &cuts);
        prop_assert_eq!(write_sparse_direct(&dir.path().join("d"), &chunks), data);
    }
}

/// `data` cut at `cuts`, as chunks of a restore.
fn cut<'a>(data: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
    points.extend([0, data.len()]);
    points.sort_unstable();
    points.windows(2).map(|w| &data[w[0]..w[1]]).collect()
}

/// Like [`content`], with runs up to 600 KB: several buffers' worth in all.
fn large_content() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec((any::<bool>(), 1usize..600_000), 0..8).prop_map(|runs| {
        let mut out = Vec::new();
        for (zero, len) in runs {
            out.resize(out.len() + len, if zero { 0 } else { 0x5a });
        }
        out
    })
}

#[test]
fn a_large_sparse_file_written_direct_keeps_its_holes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let mut data = vec![0u8; 3 << 20];
    data[..(1 << 20) + 100].fill(3); // data past the buffer's size, then a hole
    data[(2 << 20) + 4096..(2 << 20) + 9000].fill(4); // an unaligned run inside the hole
    let chunks: Vec<&[u8]> = data.chunks(1_000_003).collect();
    assert!(write_sparse_direct(&path, &chunks) == data);
    let allocated = fs::metadata(&path).unwrap().blocks() * 512;
    assert!(allocated < 2 << 20, "{allocated} bytes allocated: the hole was written");
}
