//! Tests of `fsmeta` on real files in temporary directories. They pass both as root and as
//! an ordinary user; what only root can do is checked only when running as root.

mod at;
mod roundtrip;
mod units;

use super::{capture, join_name};
use chancery_format::tree::Node;
use filetime::FileTime;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Whether the filesystem holding `dir` accepts `user.*` extended attributes.
fn user_xattrs_supported(dir: &Path) -> bool {
    let probe = dir.join(".xattr-probe");
    fs::write(&probe, b"").unwrap();
    let ok = xattr::set(&probe, "user.chancery.probe", b"1").is_ok();
    fs::remove_file(&probe).unwrap();
    ok
}

/// Sets mtime (and atime) of `path` without following a symlink.
fn set_mtime(path: &Path, sec: i64, nsec: u32) {
    let t = FileTime::from_unix_time(sec, nsec);
    filetime::set_symlink_file_times(path, t, t).unwrap();
}

/// Captures the entry at `path`, named by its last component.
fn capture_path(path: &Path) -> Node {
    let meta = fs::symlink_metadata(path).unwrap();
    let name = path.file_name().unwrap().as_bytes();
    capture(path, name, &meta).unwrap()
}

/// Entries of `dir` as (name bytes, path), sorted by name.
fn sorted_entries(dir: &Path) -> Vec<(Vec<u8>, std::path::PathBuf)> {
    let mut out: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let name = e.unwrap().file_name().as_bytes().to_vec();
            let path = join_name(dir, &name);
            (name, path)
        })
        .collect();
    out.sort();
    out
}
