//! Capture a varied tree, restore it with `Restorer`, capture again and compare.

use super::{capture_path, set_mtime, sorted_entries, user_xattrs_supported};
use crate::fsmeta::{join_name, FileStart, Restorer};
use chancery_format::tree::{Node, NodeKind, Xattr};
use std::ffi::OsStr;
use std::fs::{self, File, Permissions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

const MIB: u64 = 1 << 20;
const SPARSE_SIZE: u64 = 10 * MIB;
const NON_UTF8: &[u8] = b"caf\xe9";

/// Builds the source tree; returns whether `user.*` xattrs were set on it.
fn build_fixture(src: &Path) -> bool {
    fs::write(src.join("regular"), b"hello, world\n".repeat(1000)).unwrap();
    File::create(src.join("empty")).unwrap();
    fs::write(join_name(src, NON_UTF8), b"not utf-8 name").unwrap();
    std::os::unix::fs::symlink("regular", src.join("link")).unwrap();
    let target = OsStr::from_bytes(b"no/such/\xfftarget");
    std::os::unix::fs::symlink(target, src.join("dangling")).unwrap();
    fs::write(src.join("hard_a"), b"shared content").unwrap();
    fs::hard_link(src.join("hard_a"), src.join("hard_b")).unwrap();
    make_sparse(&src.join("sparse"));
    nix::unistd::mkfifo(&src.join("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o640)).unwrap();
    fs::create_dir(src.join("emptydir")).unwrap();
    let _socket = UnixListener::bind(src.join("socket")).unwrap();
    build_subdir(&src.join("sub"));
    if Restorer::running_as_root() {
        add_root_only(src);
    }
    let xattrs = user_xattrs_supported(src);
    if xattrs {
        xattr::set(src.join("regular"), "user.comment", b"a \x00 binary\xff value").unwrap();
        xattr::set(src.join("regular"), "user.another", b"").unwrap();
        xattr::set(src.join("sub"), "user.dir", b"on a directory").unwrap();
    }
    set_all_mtimes(src, 1_600_000_000);
    xattrs
}

/// 10 MiB with a few bytes at 5 MiB and holes elsewhere.
fn make_sparse(path: &Path) {
    let mut f = File::create(path).unwrap();
    f.set_len(SPARSE_SIZE).unwrap();
    f.seek(SeekFrom::Start(5 * MIB)).unwrap();
    f.write_all(b"island").unwrap();
}

/// A 0o750 directory holding a set-uid file and a private one.
fn build_subdir(sub: &Path) {
    fs::create_dir(sub).unwrap();
    fs::write(sub.join("suid"), b"#!/bin/sh\n").unwrap();
    fs::set_permissions(sub.join("suid"), Permissions::from_mode(0o4755)).unwrap();
    fs::write(sub.join("private"), b"secret").unwrap();
    fs::set_permissions(sub.join("private"), Permissions::from_mode(0o640)).unwrap();
    fs::set_permissions(sub, Permissions::from_mode(0o750)).unwrap();
}

/// Foreign ownership and (where the container allows mknod) a device node.
fn add_root_only(src: &Path) {
    fs::write(src.join("foreign"), b"owned by someone else").unwrap();
    std::os::unix::fs::lchown(src.join("foreign"), Some(1234), Some(5678)).unwrap();
    std::os::unix::fs::lchown(src.join("link"), Some(4321), Some(8765)).unwrap();
    let mode = nix::sys::stat::Mode::from_bits_truncate(0o620);
    let kind = nix::sys::stat::SFlag::S_IFCHR;
    // Without CAP_MKNOD this fails; the device case is then simply not exercised.
    let _ = nix::sys::stat::mknod(&src.join("chardev"), kind, mode, libc::makedev(1, 3));
}

/// Distinct mtimes with nonzero nanoseconds; directories after their children.
fn set_all_mtimes(dir: &Path, base: i64) {
    for (i, (_, path)) in sorted_entries(dir).into_iter().enumerate() {
        if fs::symlink_metadata(&path).unwrap().is_dir() {
            set_all_mtimes(&path, base + 100 * (i as i64 + 1));
        }
        set_mtime(&path, base + i as i64, 123_456_789 + i as u32);
    }
}

/// Every entry under `dir`, depth first, as (path relative to the top, node).
fn capture_all(top: &Path, dir: &Path, out: &mut Vec<(PathBuf, Node)>) {
    for (_, path) in sorted_entries(dir) {
        let node = capture_path(&path);
        out.push((path.strip_prefix(top).unwrap().to_path_buf(), node.clone()));
        if matches!(node.kind, NodeKind::Dir { .. }) {
            capture_all(top, &path, out);
        }
    }
}

/// Restores `src` into `dst` the way the restore command does, collecting warnings.
fn restore_dir(r: &mut Restorer, src: &Path, dst: &Path, warnings: &mut Vec<String>) {
    for (name, path) in sorted_entries(src) {
        let node = capture_path(&path);
        let out = join_name(dst, &name);
        match &node.kind {
            NodeKind::Dir { .. } => {
                r.create_dir(&out).unwrap();
                restore_dir(r, &path, &out, warnings);
            }
            NodeKind::File { .. } => restore_file(r, &path, &out, &node),
            _ => r.create_special(&out, &node).unwrap(),
        }
        warnings.extend(r.apply_metadata(&out, &node).unwrap());
    }
}

/// Copies the content through a `SparseWriter` in 1 MiB pieces, unless hard-linked.
fn restore_file(r: &mut Restorer, src: &Path, out: &Path, node: &Node) {
    let mut writer = match r.begin_file(out, node).unwrap() {
        FileStart::Write(w) => w,
        FileStart::Linked => return,
    };
    let mut input = File::open(src).unwrap();
    let mut buf = vec![0u8; MIB as usize];
    loop {
        let n = input.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        writer.write_chunk(&buf[..n]).unwrap();
    }
    writer.finish(node.size).unwrap();
}

/// What a restore cannot or need not reproduce.
fn comparable(mut n: Node) -> Node {
    n.inode = 0;
    n.dev = 0;
    n.ctime_sec = 0;
    n.ctime_nsec = 0;
    n
}

#[test]
fn restore_reproduces_captured_tree() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let with_xattrs = build_fixture(src.path());

    let mut before = Vec::new();
    capture_all(src.path(), src.path(), &mut before);
    let mut restorer = Restorer::new(Restorer::running_as_root());
    let mut warnings = Vec::new();
    restore_dir(&mut restorer, src.path(), dst.path(), &mut warnings);
    assert!(warnings.is_empty(), "{warnings:?}");

    for (rel, orig) in &before {
        let restored_path = dst.path().join(rel);
        if matches!(orig.kind, NodeKind::Socket) {
            assert!(fs::symlink_metadata(&restored_path).is_err(), "sockets are not recreated");
            continue;
        }
        let restored = capture_path(&restored_path);
        assert_eq!(comparable(restored), comparable(orig.clone()), "{}", rel.display());
    }
    check_specifics(&before, dst.path(), with_xattrs);
}

/// Properties the field-by-field comparison does not show on its own.
fn check_specifics(before: &[(PathBuf, Node)], dst: &Path, with_xattrs: bool) {
    let find =
        |name: &[u8]| before.iter().find(|(rel, _)| rel.as_os_str().as_bytes() == name).unwrap().1.clone();
    let sparse = fs::metadata(dst.join("sparse")).unwrap();
    assert_eq!(sparse.len(), SPARSE_SIZE);
    assert!(sparse.blocks() * 512 < MIB, "sparse file allocated {} blocks", sparse.blocks());
    let mut content = Vec::new();
    File::open(dst.join("sparse")).unwrap().read_to_end(&mut content).unwrap();
    let island = 5 * MIB as usize;
    assert_eq!(&content[island..island + 6], b"island");
    assert_eq!(content.iter().filter(|&&b| b != 0).count(), 6);

    let a = fs::metadata(dst.join("hard_a")).unwrap();
    let b = fs::metadata(dst.join("hard_b")).unwrap();
    assert_eq!(a.ino(), b.ino(), "hard links share an inode");
    assert_eq!(a.nlink(), 2);

    assert_eq!(find(b"dangling").kind, NodeKind::Symlink { target: b"no/such/\xfftarget".to_vec() });
    assert_eq!(fs::read(join_name(dst, NON_UTF8)).unwrap(), b"not utf-8 name");
    assert_eq!(find(b"sub").mode, 0o750);
    assert_eq!(find(b"sub/suid").mode, 0o4755);
    if Restorer::running_as_root() {
        assert_eq!((find(b"foreign").uid, find(b"foreign").gid), (1234, 5678));
    }
    assert_ne!(find(b"regular").mtime_nsec, 0);
    if with_xattrs {
        let regular = find(b"regular");
        let names: Vec<&[u8]> = regular.xattrs.iter().map(|x| &x.name[..]).collect();
        assert_eq!(names, [&b"user.another"[..], b"user.comment"], "sorted by name");
        let comment = Xattr { name: b"user.comment".to_vec(), value: b"a \x00 binary\xff value".to_vec() };
        assert!(regular.xattrs.contains(&comment));
    }
}
