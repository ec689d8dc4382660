//! The walker: depth-first over the sources, building one tree blob per directory bottom-up.
//! Unchanged files (same size, mtime, ctime and inode as in the parent snapshot, with every
//! chunk still indexed) are not read at all. Unreadable entries become warnings and are left
//! out; only pipeline failures (every site gone) stop the walk.

use super::pipeline::Pipeline;
use crate::fsmeta::{self, at, at::EntryAt, EntryStat};
use crate::progress::Progress;
use crate::reader::BlobReader;
use anyhow::Result;
use chancery_format::blob::BlobKind;
use chancery_format::chunker::Chunker;
use chancery_format::snapshot::Summary;
use chancery_format::tree::{Node, NodeKind, Tree};
use chancery_format::BlobId;
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::sync::Arc;

/// Linux's `PATH_MAX`, terminating NUL included. A restore recreates entries by path, so an
/// entry whose path (as the backup names it) reaches it is left out with a warning rather
/// than stored where a restore to a path as long could not put it back. It also bounds the
/// walk's depth, and so its stack.
const PATH_MAX: usize = 4096;

/// Walks sources into trees, feeding the pipeline.
pub struct Walker<'p, 'scope, 'env> {
    pub(crate) pipeline: &'p mut Pipeline<'scope, 'env>,
    pub(crate) parent: Option<&'p BlobReader<'env>>,
    pub(crate) chunker: Chunker,
    pub(crate) progress: &'env Progress,
    pub(crate) buf: Vec<u8>,
    pub(crate) summary: Summary,
    pub(crate) warnings: Vec<String>,
    pub(crate) hardlinks: HashMap<(u64, u64), Vec<BlobId>>,
    /// Folders open above the entry being walked, and how many may be.
    pub(crate) depth: usize,
    pub(crate) max_depth: usize,
}

impl Walker<'_, '_, '_> {
    /// Backs up one entry; `None` when it could not be read (a warning says why).
    pub fn entry(&mut self, entry: &EntryAt<'_>, name: &[u8], parent: Option<&Node>) -> Result<Option<Node>> {
        let Some(stat) = self.or_skip(entry.path, at::stat(entry)) else {
            return Ok(None);
        };
        Progress::add(&self.progress.entries, 1);
        if stat.is_dir() {
            return self.dir(entry, name, parent);
        }
        if stat.is_file() {
            return self.file(entry, name, &stat, parent);
        }
        let Some(node) = self.or_skip(entry.path, fsmeta::capture_at(entry, name, &stat)) else {
            return Ok(None);
        };
        self.summary.others += 1;
        Ok(Some(node))
    }

    /// A folder is described by its open descriptor, then walked through it.
    fn dir(&mut self, entry: &EntryAt<'_>, name: &[u8], parent: Option<&Node>) -> Result<Option<Node>> {
        if self.depth >= self.max_depth {
            let why = "folders nested deeper than the open-file limit allows (`ulimit -Hn`)";
            return Ok(self.skip(entry.path, io::Error::other(why)));
        }
        let opened = at::open_dir(entry).and_then(|(fd, stat)| {
            let node = fsmeta::capture_open(&fd, name, &stat, entry.path)?;
            let names = at::sorted_names(fd.as_fd())?;
            Ok((fd, node, names))
        });
        let Some((fd, mut node, names)) = self.or_skip(entry.path, opened) else {
            return Ok(None);
        };
        let parent_tree = self.parent_tree(parent);
        self.depth += 1;
        let children = self.children(fd.as_fd(), entry.path, names, parent_tree.as_deref());
        self.depth -= 1;
        node.kind = NodeKind::Dir { subtree: self.store_tree(Tree::new(children?))? };
        self.summary.dirs += 1;
        Ok(Some(node))
    }

    fn children(
        &mut self,
        dir: BorrowedFd<'_>,
        path: &Path,
        names: Vec<Vec<u8>>,
        parent_tree: Option<&Tree>,
    ) -> Result<Vec<Node>> {
        let mut children = Vec::with_capacity(names.len());
        for name in names {
            let child_path = fsmeta::join_name(path, &name);
            if child_path.as_os_str().len() >= PATH_MAX {
                self.skip(
                    &child_path,
                    io::Error::other("path longer than a restore can recreate (4,096 bytes)"),
                );
                continue;
            }
            let child_parent = parent_tree.and_then(|t| t.find(&name));
            let child = EntryAt::child(dir, &name, &child_path);
            if let Some(child) = self.entry(&child, &name, child_parent)? {
                children.push(child);
            }
        }
        Ok(children)
    }

    /// Stores a tree blob.
    pub fn store_tree(&mut self, tree: Tree) -> Result<BlobId> {
        self.pipeline.store(BlobKind::Tree, &tree.to_bytes())
    }

    fn parent_tree(&mut self, parent: Option<&Node>) -> Option<Arc<Tree>> {
        let (reader, Some(NodeKind::Dir { subtree })) = (self.parent?, parent.map(|n| &n.kind)) else {
            return None;
        };
        match reader.read_tree(subtree) {
            Ok(tree) => Some(tree),
            Err(e) => {
                self.warnings.push(format!("parent snapshot tree unreadable, reading files again: {e:#}"));
                None
            }
        }
    }

    /// An unchanged file is described as listed and not opened; any other is opened and
    /// described by its descriptor.
    fn file(
        &mut self,
        entry: &EntryAt<'_>,
        name: &[u8],
        stat: &EntryStat,
        parent: Option<&Node>,
    ) -> Result<Option<Node>> {
        let mut node = fsmeta::listed_file(name, stat);
        if let Some(content) = self.reusable_content(&node, parent) {
            let Some(xattrs) = self.or_skip(entry.path, fsmeta::xattrs::of_entry(entry)) else {
                return Ok(None);
            };
            node.xattrs = xattrs;
            return Ok(Some(self.reused(node, content)));
        }
        let opened = at::open_file(entry).and_then(|(file, stat)| {
            let node = fsmeta::capture_open(&file, name, &stat, entry.path)?;
            Ok((file, node))
        });
        let Some((file, mut node)) = self.or_skip(entry.path, opened) else {
            return Ok(None);
        };
        match self.chunks(file, Some(node.size))? {
            Ok((content, size)) => {
                if node.nlink > 1 {
                    self.hardlinks.insert((node.dev, node.inode), content.clone());
                }
                node.size = size;
                node.kind = NodeKind::File { content };
                self.summary.files += 1;
                Ok(Some(node))
            }
            Err(e) => Ok(self.skip(entry.path, e)),
        }
    }

    /// An unchanged file (or another link of a file already read) takes the chunks it had.
    fn reused(&mut self, mut node: Node, content: Vec<BlobId>) -> Node {
        self.pipeline.reuse(&content);
        Progress::add(&self.progress.bytes_skipped, node.size);
        self.summary.files += 1;
        self.summary.bytes += node.size;
        node.kind = NodeKind::File { content };
        node
    }

    fn reusable_content(&self, node: &Node, parent: Option<&Node>) -> Option<Vec<BlobId>> {
        if node.nlink > 1 {
            if let Some(content) = self.hardlinks.get(&(node.dev, node.inode)) {
                return Some(content.clone());
            }
        }
        let parent = parent.filter(|p| fsmeta::same_file_unchanged(p, node))?;
        let NodeKind::File { content } = &parent.kind else {
            return None;
        };
        content.iter().all(|id| self.pipeline.has(id)).then(|| content.clone())
    }

    /// The value, or `None` with a warning that the entry is left out.
    fn or_skip<T>(&mut self, path: &Path, result: io::Result<T>) -> Option<T> {
        result.map_err(|e| self.skip(path, e)).ok()
    }

    fn skip(&mut self, path: &Path, err: std::io::Error) -> Option<Node> {
        self.summary.errors += 1;
        self.warnings.push(format!("{}: {err} (left out of the snapshot)", path.display()));
        None
    }
}
