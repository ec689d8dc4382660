//! Entries reached by descriptor: what is opened is described as it was read, and nothing
//! swapped in since the listing is followed or waited on.

use super::user_xattrs_supported;
use crate::fsmeta::at::{self, EntryAt};
use crate::fsmeta::capture_open;
use crate::fsmeta::xattrs::{of_entry_at, of_entry_by_path, of_open, xattrat_available};
use chancery_format::tree::Xattr;
use rustix::fs::{Mode, OFlags, CWD};
use std::fs;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

fn open_folder(path: &Path) -> OwnedFd {
    rustix::fs::openat(CWD, path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .unwrap()
}

fn fifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
}

/// The entry's extended attributes as the `xattr` crate reads them by path: a second,
/// independent reading to compare with.
fn xattrs_by_crate(path: &Path) -> Vec<Xattr> {
    let mut out: Vec<Xattr> = xattr::list(path)
        .unwrap()
        .map(|name| Xattr {
            value: xattr::get(path, &name).unwrap().unwrap(),
            name: name.into_encoded_bytes(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Only the `user.*` attributes: a system that labels files (SELinux, IMA) adds its own.
fn user_only(xattrs: Vec<Xattr>) -> Vec<Xattr> {
    xattrs.into_iter().filter(|x| x.name.starts_with(b"user.")).collect()
}

#[test]
fn a_file_swapped_for_a_symlink_after_listing_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let (file, secret) = (dir.path().join("f"), dir.path().join("secret"));
    fs::write(&file, b"listed").unwrap();
    fs::write(&secret, b"not to be read through a link").unwrap();
    let folder = open_folder(dir.path());
    let entry = EntryAt::child(folder.as_fd(), b"f", &file);
    assert!(at::stat(&entry).unwrap().is_file());
    fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink(&secret, &file).unwrap();
    let err = at::open_file(&entry).expect_err("a symlink must not be opened");
    assert!(err.to_string().contains("replaced by a symlink"), "{err}");
}

#[test]
fn a_fifo_swapped_in_for_a_file_is_neither_read_nor_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    fs::write(&file, b"listed").unwrap();
    fs::remove_file(&file).unwrap();
    fifo(&file);
    // A blocking open would wait for a writer forever: give it a few seconds, then fail.
    let (tx, rx) = std::sync::mpsc::channel();
    let path = file.clone();
    std::thread::spawn(move || {
        let folder = open_folder(path.parent().unwrap());
        let entry = EntryAt::child(folder.as_fd(), b"f", &path);
        let _ = tx.send(at::open_file(&entry).err().map(|e| e.to_string()));
    });
    let err = rx.recv_timeout(Duration::from_secs(10)).expect("the open of a FIFO blocked");
    let err = err.expect("a FIFO must not be read as the file");
    assert!(err.contains("no longer a regular file"), "{err}");
}

#[test]
fn a_folder_swapped_for_a_symlink_is_not_entered() {
    let dir = tempfile::tempdir().unwrap();
    let (sub, elsewhere) = (dir.path().join("sub"), dir.path().join("elsewhere"));
    fs::create_dir(&sub).unwrap();
    fs::create_dir(&elsewhere).unwrap();
    let folder = open_folder(dir.path());
    let entry = EntryAt::child(folder.as_fd(), b"sub", &sub);
    assert!(at::stat(&entry).unwrap().is_dir());
    fs::remove_dir(&sub).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &sub).unwrap();
    let err = at::open_dir(&entry).expect_err("a symlink must not be entered");
    assert!(err.to_string().contains("replaced"), "{err}");
}

#[test]
fn a_file_replaced_since_its_listing_is_described_as_the_one_read() {
    let dir = tempfile::tempdir().unwrap();
    let (file, new) = (dir.path().join("f"), dir.path().join("new"));
    fs::write(&file, b"old").unwrap();
    fs::write(&new, b"the new content").unwrap();
    let xattrs = user_xattrs_supported(dir.path());
    if xattrs {
        xattr::set(&new, "user.replaced", b"yes").unwrap();
    }
    let folder = open_folder(dir.path());
    let entry = EntryAt::child(folder.as_fd(), b"f", &file);
    let listed = at::stat(&entry).unwrap();
    fs::rename(&new, &file).unwrap();
    let (mut opened, stat) = at::open_file(&entry).unwrap();
    let node = capture_open(&opened, b"f", &stat, &file).unwrap();
    let mut content = String::new();
    opened.read_to_string(&mut content).unwrap();
    assert_eq!(content, "the new content");
    let now = fs::symlink_metadata(&file).unwrap();
    assert_ne!(node.inode, listed.ino);
    assert_eq!((node.size, node.inode), (15, std::os::unix::fs::MetadataExt::ino(&now)));
    if xattrs {
        let replaced = vec![Xattr { name: b"user.replaced".to_vec(), value: b"yes".to_vec() }];
        assert_eq!(user_only(node.xattrs), replaced);
    }
}

#[test]
fn a_folder_lists_its_names_sorted_without_dot_entries() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["b", "a", ".hidden", "c"] {
        fs::write(dir.path().join(name), b"").unwrap();
    }
    fs::create_dir(dir.path().join("sub")).unwrap();
    let folder = open_folder(dir.path());
    let names = at::sorted_names(folder.as_fd()).unwrap();
    assert_eq!(names, [".hidden", "a", "b", "c", "sub"].map(|n| n.as_bytes().to_vec()));
}

#[test]
fn entries_are_reached_through_their_folder_even_once_its_path_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let (old, moved) = (dir.path().join("old"), dir.path().join("moved"));
    fs::create_dir(&old).unwrap();
    fs::write(old.join("f"), b"content").unwrap();
    fs::create_dir(old.join("sub")).unwrap();
    let xattrs = user_xattrs_supported(&old);
    if xattrs {
        xattr::set(old.join("f"), "user.kept", b"1").unwrap();
    }
    let folder = open_folder(&old);
    fs::rename(&old, &moved).unwrap();
    // The full path is stale now: only a lookup relative to the open folder finds the entries.
    let stale = old.join("f");
    let entry = EntryAt::child(folder.as_fd(), b"f", &stale);
    assert!(at::stat(&entry).unwrap().is_file());
    let (mut file, _) = at::open_file(&entry).unwrap();
    let mut content = String::new();
    file.read_to_string(&mut content).unwrap();
    assert_eq!(content, "content");
    let sub = EntryAt::child(folder.as_fd(), b"sub", &stale);
    assert!(at::open_dir(&sub).unwrap().1.is_dir());
    let expected =
        if xattrs { vec![Xattr { name: b"user.kept".to_vec(), value: b"1".to_vec() }] } else { vec![] };
    assert_eq!(user_only(of_entry_by_path(&entry).unwrap()), expected, "through /proc/self/fd");
    if xattrat_available() {
        assert_eq!(user_only(of_entry_at(&entry).unwrap()), expected, "with listxattrat");
    }
}

#[test]
fn extended_attributes_larger_than_the_first_buffer_are_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    if !user_xattrs_supported(dir.path()) {
        return;
    }
    let file = dir.path().join("f");
    fs::write(&file, b"x").unwrap();
    // 10 names of 28 bytes (280 bytes of list) and one value of 300 bytes: both past the
    // first 256-byte buffer, and all of it within the 1 KiB block of the smallest ext4.
    for i in 0..10 {
        let value = if i == 9 { vec![b'v'; 300] } else { vec![b'a' + i as u8] };
        xattr::set(&file, format!("user.a-rather-long-name-{i:03}"), &value).unwrap();
    }
    let expected = xattrs_by_crate(&file);
    assert_eq!(user_only(expected.clone()).len(), 10);
    let folder = open_folder(dir.path());
    let entry = EntryAt::child(folder.as_fd(), b"f", &file);
    assert_eq!(of_entry_by_path(&entry).unwrap(), expected, "by full path");
    let proc = crate::fsmeta::xattrs::through_proc(&entry).expect("/proc is mounted");
    assert_eq!(of_entry_by_path(&EntryAt::path(&proc)).unwrap(), expected, "through /proc/self/fd");
    assert_eq!(of_open(fs::File::open(&file).unwrap()).unwrap(), expected, "from a descriptor");
    if xattrat_available() {
        assert_eq!(of_entry_at(&entry).unwrap(), expected, "with listxattrat");
    }
}

#[test]
fn a_symlink_has_its_own_attributes_never_its_targets() {
    let dir = tempfile::tempdir().unwrap();
    if !user_xattrs_supported(dir.path()) {
        return;
    }
    let (target, link) = (dir.path().join("target"), dir.path().join("link"));
    fs::write(&target, b"x").unwrap();
    xattr::set(&target, "user.of-the-target", b"1").unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let folder = open_folder(dir.path());
    let entry = EntryAt::child(folder.as_fd(), b"link", &link);
    assert_eq!(user_only(of_entry_by_path(&entry).unwrap()), vec![], "by path");
    let proc = crate::fsmeta::xattrs::through_proc(&entry).unwrap();
    assert_eq!(user_only(of_entry_by_path(&EntryAt::path(&proc)).unwrap()), vec![], "through /proc");
    if xattrat_available() {
        assert_eq!(user_only(of_entry_at(&entry).unwrap()), vec![], "with listxattrat");
    }
}

/// A process holding a write lease on the file named first, as Samba and NFS servers take:
/// told that another process opens it (SIGIO), it appends to the file, then gives the lease
/// back. Prints `leased` once it holds it, `no lease` if the file system refuses one.
const LEASE_HOLDER: &str = r#"
import fcntl, os, signal, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_APPEND)
def give_back(signum, frame):
    os.write(fd, b", then written by the lease holder")
    fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
    print("given back", flush=True)
    sys.exit(0)
signal.signal(signal.SIGIO, give_back)
try:
    fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
except OSError as e:
    print("no lease:", e, flush=True)
    sys.exit(0)
print("leased", flush=True)
signal.alarm(30)
while True:
    signal.pause()
"#;

/// The lease holder, killed if the test stops early.
struct Holder(std::process::Child);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_file_under_a_write_lease_is_read_as_its_holder_left_it_when_giving_the_lease_back() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    fs::write(&file, b"before").unwrap();
    let spawned = std::process::Command::new("python3")
        .args(["-c", LEASE_HOLDER])
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .spawn();
    let mut holder = match spawned {
        Ok(child) => Holder(child),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return eprintln!("skipped: python3, which takes the lease, is not installed");
        }
        Err(e) => panic!("starting python3: {e}"),
    };
    let mut said = std::io::BufReader::new(holder.0.stdout.take().unwrap());
    let mut line = String::new();
    said.read_line(&mut line).unwrap();
    if line.starts_with("no lease") {
        return eprintln!("skipped: this file system gives no leases ({})", line.trim());
    }
    assert_eq!(line.trim(), "leased");
    let folder = open_folder(dir.path());
    let entry = EntryAt::child(folder.as_fd(), b"f", &file);
    let (mut opened, stat) = at::open_file(&entry).expect("opened once the lease is given back");
    let mut read = Vec::new();
    opened.read_to_end(&mut read).unwrap();
    assert_eq!(read, b"before, then written by the lease holder");
    assert_eq!(stat.size, read.len() as u64, "described after the holder wrote");
    line.clear();
    said.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "given back");
    assert!(holder.0.wait().unwrap().success());
}
