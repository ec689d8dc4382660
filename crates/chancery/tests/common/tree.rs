//! A source tree with every kind of entry and metadata a restore must reproduce, and an exact
//! comparison of two trees (everything but inode, device and ctime).

use chancery_format::tree::{Node, NodeKind};
use chancery_owner::fsmeta::{capture, join_name};
use filetime::FileTime;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Deterministic pseudo-random bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect()
}

/// Builds the tree under `root` (which must not exist).
pub fn make_tree(root: &Path) {
    let d = |p: &str| std::fs::create_dir_all(root.join(p)).unwrap();
    d("docs/sub/deep");
    d("empty-dir");
    d("private");
    std::fs::write(root.join("docs/readme.txt"), "the registers of the republic\n".repeat(3000)).unwrap();
    std::fs::write(root.join("docs/sub/deep/leaf.txt"), b"leaf").unwrap();
    std::fs::write(root.join("zero-length"), b"").unwrap();
    std::fs::write(root.join("big.bin"), noise(6 * 1024 * 1024 + 17, 7)).unwrap();
    std::fs::write(root.join(std::ffi::OsStr::from_bytes(b"caf\xe9-latin1.txt")), b"not utf-8 name").unwrap();
    let sparse = std::fs::File::create(root.join("sparse.img")).unwrap();
    sparse.set_len(32 * 1024 * 1024).unwrap();
    std::os::unix::fs::FileExt::write_at(&sparse, b"middle", 16 * 1024 * 1024).unwrap();
    std::fs::write(root.join("hard-a"), b"shared by two names").unwrap();
    std::fs::hard_link(root.join("hard-a"), root.join("docs/hard-b")).unwrap();
    std::os::unix::fs::symlink("docs/readme.txt", root.join("link-to-readme")).unwrap();
    std::os::unix::fs::symlink("/nowhere/at/all", root.join("dangling")).unwrap();
    nix::unistd::mkfifo(&root.join("pipe"), nix::sys::stat::Mode::from_bits_truncate(0o640)).unwrap();
    std::fs::write(root.join("tool.sh"), b"#!/bin/sh\necho hi\n").unwrap();
    set_mode(&root.join("tool.sh"), 0o755);
    std::fs::write(root.join("private/secret"), b"s").unwrap();
    set_mode(&root.join("private/secret"), 0o600);
    set_mode(&root.join("private"), 0o750);
    let _ = xattr::set(root.join("docs/readme.txt"), "user.comment", b"land register, vol. 1");
    if is_root() {
        nix::unistd::chown(&root.join("docs/sub/deep/leaf.txt"), Some(1234.into()), Some(5678.into()))
            .unwrap();
    }
    for (i, rel) in
        ["docs/readme.txt", "big.bin", "zero-length", "docs/sub/deep", "empty-dir", "private", "docs"]
            .iter()
            .enumerate()
    {
        let t = FileTime::from_unix_time(1_600_000_000 + i as i64, 123_456_789 + i as u32);
        filetime::set_file_times(root.join(rel), t, t).unwrap();
    }
    let t = FileTime::from_unix_time(1_500_000_000, 987_654_321);
    filetime::set_symlink_file_times(root.join("link-to-readme"), t, t).unwrap();
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Asserts that `b` reproduces `a` exactly: entries, bytes, links, modes, owners (as root),
/// xattrs and mtimes to the nanosecond; hard links share an inode.
pub fn assert_same(a: &Path, b: &Path) {
    compare(a, b, b"");
}

fn compare(a: &Path, b: &Path, name: &[u8]) {
    let (ma, mb) = (
        std::fs::symlink_metadata(a).unwrap(),
        std::fs::symlink_metadata(b).unwrap_or_else(|e| panic!("{}: {e}", b.display())),
    );
    let (na, nb) = (normal(capture(a, name, &ma).unwrap()), normal(capture(b, name, &mb).unwrap()));
    assert_eq!(na, nb, "metadata differs at {}", b.display());
    if ma.is_file() {
        assert!(std::fs::read(a).unwrap() == std::fs::read(b).unwrap(), "content differs at {}", b.display());
    }
    if ma.is_dir() {
        let mut names: Vec<Vec<u8>> =
            std::fs::read_dir(a).unwrap().map(|e| e.unwrap().file_name().as_bytes().to_vec()).collect();
        names.sort();
        let count = std::fs::read_dir(b).unwrap().count();
        assert_eq!(count, names.len(), "entry count differs at {}", b.display());
        for n in names {
            compare(&join_name(a, &n), &join_name(b, &n), &n);
        }
    }
}

fn normal(mut node: Node) -> Node {
    node.inode = 0;
    node.dev = 0;
    node.ctime_sec = 0;
    node.ctime_nsec = 0;
    if !is_root() {
        node.uid = 0;
        node.gid = 0;
    }
    if let NodeKind::Dir { .. } = node.kind {
        node.size = 0;
    }
    node
}

/// Allocated bytes of a file (to check that holes stayed holes).
pub fn allocated(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().blocks() * 512
}
