//! Entries reached by descriptor: what is opened is what was listed, a replacement is
//! described as what was read, and nothing swapped in is followed or waited on.

use super::user_xattrs_supported;
use crate::fsmeta::at::{self, EntryAt, Opened};
use crate::fsmeta::{capture_at, capture_open};
use chancery_format::tree::{NodeKind, Xattr};
use rustix::fs::{Mode, OFlags, CWD};
use std::fs;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

fn open_folder(path: &Path) -> OwnedFd {
    rustix::fs::openat(CWD, path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .unwrap()
}

fn fifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
}

#[test]
fn a_file_swapped_for_a_symlink_after_listing_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let (file, secret) = (dir.path().join("f"), dir.path().join("secret"));
    fs::write(&file, b"listed").unwrap();
    fs::write(&secret, b"not to be read through a link").unwrap();
    let folder = open_folder(dir.path());
    let entry = EntryAt::child(folder.as_fd(), b"f", &file);
    let listed = at::stat(&entry).unwrap();
    fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink(&secret, &file).unwrap();
    let err = at::open_file(&entry, &listed).err().expect("a symlink must not be opened");
    assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{err}");
}

#[test]
fn a_fifo_swapped_in_for_a_file_is_neither_read_nor_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    fs::write(&file, b"listed").unwrap();
    let folder = open_folder(dir.path());
    let entry = EntryAt::child(folder.as_fd(), b"f", &file);
    let listed = at::stat(&entry).unwrap();
    fs::remove_file(&file).unwrap();
    fifo(&file);
    // Without O_NONBLOCK the open would wait for a writer forever and hang the test.
    let err = at::open_file(&entry, &listed).err().expect("a FIFO must not be read as the file");
    assert!(err.to_string().contains("no longer a regular file"), "{err}");
}

#[test]
fn a_folder_swapped_for_a_symlink_is_not_entered() {
    let dir = tempfile::tempdir().unwrap();
    let (sub, elsewhere) = (dir.path().join("sub"), dir.path().join("elsewhere"));
    fs::create_dir(&sub).unwrap();
    fs::create_dir(&elsewhere).unwrap();
    let folder = open_folder(dir.path());
    let entry = EntryAt::child(folder.as_fd(), b"sub", &sub);
    let listed = at::stat(&entry).unwrap();
    fs::remove_dir(&sub).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &sub).unwrap();
    let err = at::open_dir(&entry, &listed).err().expect("a symlink must not be entered");
    assert!(matches!(err.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)), "{err}");
}

#[test]
fn a_file_replaced_by_another_is_described_by_what_was_opened() {
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
    let listed_node = capture_at(&entry, b"f", &listed).unwrap();
    fs::rename(&new, &file).unwrap();
    let Opened::Replaced(mut opened, now) = at::open_file(&entry, &listed).unwrap() else {
        panic!("a file renamed over the listed one must be told apart");
    };
    let node = capture_open(&opened, b"f", &now, &file).unwrap();
    let mut content = String::new();
    opened.read_to_string(&mut content).unwrap();
    assert_eq!(content, "the new content");
    assert_ne!(node.inode, listed_node.inode);
    assert_eq!((node.size, node.inode), (15, fs::symlink_metadata(&file).map(|m| inode(&m)).unwrap()));
    assert!(matches!(node.kind, NodeKind::File { .. }));
    if xattrs {
        assert_eq!(node.xattrs, vec![Xattr { name: b"user.replaced".to_vec(), value: b"yes".to_vec() }]);
    }
}

fn inode(meta: &fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[test]
fn an_unchanged_entry_opens_as_listed() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    fs::write(dir.path().join("f"), b"same").unwrap();
    let folder = open_folder(dir.path());
    let file = EntryAt::child(folder.as_fd(), b"f", dir.path());
    assert!(matches!(at::open_file(&file, &at::stat(&file).unwrap()).unwrap(), Opened::Listed(_)));
    let sub = EntryAt::child(folder.as_fd(), b"sub", dir.path());
    assert!(matches!(at::open_dir(&sub, &at::stat(&sub).unwrap()).unwrap(), Opened::Listed(_)));
    assert_eq!(at::sorted_names(folder.as_fd()).unwrap(), vec![b"f".to_vec(), b"sub".to_vec()]);
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
    let stat = at::stat(&entry).unwrap();
    let Opened::Listed(mut file) = at::open_file(&entry, &stat).unwrap() else { panic!("same file") };
    let mut content = String::new();
    file.read_to_string(&mut content).unwrap();
    assert_eq!(content, "content");
    let sub = EntryAt::child(folder.as_fd(), b"sub", &stale);
    assert!(matches!(at::open_dir(&sub, &at::stat(&sub).unwrap()).unwrap(), Opened::Listed(_)));
    if xattrs && super::super::xattrs::xattrat_available() {
        let node = capture_at(&entry, b"f", &stat).unwrap();
        assert_eq!(node.xattrs, vec![Xattr { name: b"user.kept".to_vec(), value: b"1".to_vec() }]);
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
    let mut expected = Vec::new();
    // 13 names of ~30 bytes (400 bytes of list) and one value of 700 bytes: both past the
    // first 256-byte buffer, all within the 4 KiB an ext4 inode's block holds.
    for i in 0..13 {
        let name = format!("user.a-rather-long-name-{i:03}");
        let value = vec![b'a' + i as u8; if i == 12 { 700 } else { 10 * i }];
        xattr::set(&file, &name, &value).unwrap();
        expected.push(Xattr { name: name.into_bytes(), value });
    }
    expected.sort_by(|a, b| a.name.cmp(&b.name));
    let folder = open_folder(dir.path());
    let entry = EntryAt::child(folder.as_fd(), b"f", &file);
    let node = capture_at(&entry, b"f", &at::stat(&entry).unwrap()).unwrap();
    assert_eq!(node.xattrs, expected);
    let opened = fs::File::open(&file).unwrap();
    let stat = at::stat_open(&opened).unwrap();
    assert_eq!(capture_open(&opened, b"f", &stat, &file).unwrap().xattrs, expected);
    assert_eq!(super::capture_path(&file).xattrs, expected, "by path from the working directory");
}

#[test]
fn a_fifo_listed_as_such_is_captured_without_being_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p");
    fifo(&path);
    let folder = open_folder(dir.path());
    let entry = EntryAt::child(folder.as_fd(), b"p", &path);
    let node = capture_at(&entry, b"p", &at::stat(&entry).unwrap()).unwrap();
    assert!(matches!(node.kind, NodeKind::Fifo));
}
