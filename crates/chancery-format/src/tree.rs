//! Trees: one blob per directory, listing its entries sorted by name bytes.
//!
//! Names, link targets and xattr names are raw bytes, so that file names that are not UTF-8
//! survive. Everything needed to reproduce the entry is kept; `ctime`, `inode` and `dev` are
//! kept only to detect unchanged files on the next backup and to rebuild hard links.

use crate::codec::{check_version, decode_exact, encode};
use crate::error::FormatError;
use crate::id::BlobId;
use serde::{Deserialize, Serialize};

/// Version of the tree encoding, the first field of every tree blob.
pub const TREE_VERSION: u8 = 1;

/// What kind of filesystem entry a node is, with what only that kind has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeKind {
    /// A regular file: its content as an ordered list of chunk ids.
    File {
        /// Chunks in file order; empty for a zero-length file.
        content: Vec<BlobId>,
    },
    /// A directory: its own tree blob.
    Dir {
        /// The subdirectory's tree blob.
        subtree: BlobId,
    },
    /// A symbolic link and its target, as raw bytes.
    Symlink {
        /// Target bytes exactly as `readlink` returned them.
        target: Vec<u8>,
    },
    /// A named pipe.
    Fifo,
    /// A character device.
    CharDevice {
        /// `st_rdev`.
        rdev: u64,
    },
    /// A block device.
    BlockDevice {
        /// `st_rdev`.
        rdev: u64,
    },
    /// A Unix domain socket (recorded, not recreated).
    Socket,
}

/// One directory entry and its metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// File name bytes (no `/`, never `.` or `..`).
    pub name: Vec<u8>,
    /// Kind and kind-specific content.
    pub kind: NodeKind,
    /// `st_mode & 0o7777` (permission and set-id/sticky bits).
    pub mode: u32,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Size in bytes (`st_size`).
    pub size: u64,
    /// Modification time, seconds since the Unix epoch.
    pub mtime_sec: i64,
    /// Modification time, nanoseconds part.
    pub mtime_nsec: u32,
    /// Status change time, seconds (change detection only).
    pub ctime_sec: i64,
    /// Status change time, nanoseconds (change detection only).
    pub ctime_nsec: u32,
    /// Inode number (change detection and hard links).
    pub inode: u64,
    /// Device number (hard links are only within one device).
    pub dev: u64,
    /// Link count; above 1 for a hard-linked file.
    pub nlink: u64,
    /// Extended attributes, sorted by name.
    pub xattrs: Vec<Xattr>,
}

/// One extended attribute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Xattr {
    /// Attribute name bytes, e.g. `user.comment`.
    pub name: Vec<u8>,
    /// Attribute value bytes.
    pub value: Vec<u8>,
}

/// A directory's entries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tree {
    /// Always [`TREE_VERSION`] when written by this release.
    pub version: u8,
    /// Entries, sorted by `name` bytes, names unique.
    pub nodes: Vec<Node>,
}

impl Tree {
    /// A tree of these nodes, sorted by name.
    pub fn new(mut nodes: Vec<Node>) -> Self {
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        Self { version: TREE_VERSION, nodes }
    }

    /// The blob plaintext of this tree.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    /// Parses a tree blob plaintext, rejecting unknown versions, unsorted or unsafe names.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FormatError> {
        check_version(bytes, "tree", TREE_VERSION)?;
        let tree: Tree = decode_exact(bytes, "tree")?;
        tree.validate()?;
        Ok(tree)
    }

    fn validate(&self) -> Result<(), FormatError> {
        for node in &self.nodes {
            let n = &node.name;
            if n.is_empty() || n == b"." || n == b".." || n.contains(&b'/') || n.contains(&0) {
                return Err(FormatError::Malformed { what: "tree", why: "unsafe entry name" });
            }
            if node.xattrs.windows(2).any(|w| w[0].name >= w[1].name) {
                return Err(FormatError::Malformed {
                    what: "tree",
                    why: "extended attributes not sorted and unique",
                });
            }
        }
        if self.nodes.windows(2).any(|w| w[0].name >= w[1].name) {
            return Err(FormatError::Malformed { what: "tree", why: "entries not sorted and unique" });
        }
        Ok(())
    }

    /// The entry with this name, if any.
    pub fn find(&self, name: &[u8]) -> Option<&Node> {
        self.nodes.binary_search_by(|n| n.name.as_slice().cmp(name)).ok().map(|i| &self.nodes[i])
    }
}
