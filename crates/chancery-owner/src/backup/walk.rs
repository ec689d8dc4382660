//! The walker: depth-first over the sources, building one tree blob per directory bottom-up.
//! Unchanged files (same size, mtime, ctime and inode as in the parent snapshot, with every
//! chunk still indexed) are not read at all, nor their extended attributes listed; each entry
//! is stat'ed relative to its open folder. Unreadable entries become warnings and are left
//! out; only pipeline failures (every site gone) stop the walk.

use super::pipeline::Pipeline;
use crate::fsmeta;
use crate::progress::Progress;
use crate::reader::BlobReader;
use anyhow::Result;
use chancery_format::blob::BlobKind;
use chancery_format::chunker::Chunker;
use chancery_format::snapshot::Summary;
use chancery_format::tree::{Node, NodeKind, Tree};
use chancery_format::BlobId;
use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

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
}

impl Walker<'_, '_, '_> {
    /// Backs up one entry, whose `lstat` gave `meta`; `None` when it could not be read (a
    /// warning says why).
    pub fn entry(
        &mut self,
        path: &Path,
        name: &[u8],
        meta: std::io::Result<Metadata>,
        parent: Option<&Node>,
    ) -> Result<Option<Node>> {
        let meta = match meta {
            Ok(meta) => meta,
            Err(e) => return Ok(self.skip(path, e)),
        };
        let node =
            match fsmeta::capture_stat(path, name, &meta).and_then(|n| self.with_xattrs(path, n, parent)) {
                Ok(node) => node,
                Err(e) => return Ok(self.skip(path, e)),
            };
        Progress::add(&self.progress.entries, 1);
        match node.kind {
            NodeKind::Dir { .. } => self.dir(path, node, parent),
            NodeKind::File { .. } => self.file(path, node, &meta, parent),
            _ => {
                self.summary.others += 1;
                Ok(Some(node))
            }
        }
    }

    /// `node` with its extended attributes: a file unchanged since the parent snapshot has the
    /// parent's (changing one changes the ctime compared), so only a new or changed entry
    /// costs a `llistxattr` by path, a walk of every component of it by the kernel.
    fn with_xattrs(&self, path: &Path, mut node: Node, parent: Option<&Node>) -> std::io::Result<Node> {
        node.xattrs = match parent.filter(|p| fsmeta::same_file_unchanged(p, &node)) {
            Some(parent) => parent.xattrs.clone(),
            None => fsmeta::read_xattrs(path)?,
        };
        Ok(node)
    }

    fn dir(&mut self, path: &Path, mut node: Node, parent: Option<&Node>) -> Result<Option<Node>> {
        let parent_tree = self.parent_tree(parent);
        let entries = match sorted_entries(path) {
            Ok(entries) => entries,
            Err(e) => return Ok(self.skip(path, e)),
        };
        let mut children = Vec::with_capacity(entries.len());
        for (name, meta) in entries {
            let child_parent = parent_tree.as_ref().and_then(|t| t.find(&name));
            let child_path = fsmeta::join_name(path, &name);
            if let Some(child) = self.entry(&child_path, &name, meta, child_parent)? {
                children.push(child);
            }
        }
        node.kind = NodeKind::Dir { subtree: self.store_tree(Tree::new(children))? };
        self.summary.dirs += 1;
        Ok(Some(node))
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

    fn file(
        &mut self,
        path: &Path,
        mut node: Node,
        meta: &Metadata,
        parent: Option<&Node>,
    ) -> Result<Option<Node>> {
        if let Some(content) = self.reusable_content(&node, parent) {
            self.pipeline.reuse(&content);
            Progress::add(&self.progress.bytes_skipped, node.size);
            self.summary.files += 1;
            self.summary.bytes += node.size;
            node.kind = NodeKind::File { content };
            return Ok(Some(node));
        }
        let content = match std::fs::File::open(path) {
            Ok(file) => self.chunks(file, Some(meta.len())),
            Err(e) => return Ok(self.skip(path, e)),
        };
        match content {
            Ok(Ok((content, size))) => {
                if meta.nlink() > 1 {
                    self.hardlinks.insert((node.dev, node.inode), content.clone());
                }
                node.size = size;
                node.kind = NodeKind::File { content };
                self.summary.files += 1;
                Ok(Some(node))
            }
            Ok(Err(e)) => Ok(self.skip(path, e)),
            Err(e) => Err(e),
        }
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

    fn skip(&mut self, path: &Path, err: std::io::Error) -> Option<Node> {
        self.summary.errors += 1;
        self.warnings.push(format!("{}: {err} (left out of the snapshot)", path.display()));
        None
    }
}

/// A folder's entries sorted by name, each with what `lstat` gives for it, asked relative to
/// the open folder (`DirEntry::metadata`: `statx` on the folder's descriptor). By full path,
/// the kernel walked every component again for each entry: with the `llistxattr` by path that
/// [`Walker::with_xattrs`] now spares, a quarter of the CPU of a toolchain's no-change backup.
/// The folder is closed before its entries are visited, so the depth of a tree costs no open
/// descriptors; its entries' metadata is held meanwhile (about 170 bytes each, next to the
/// nodes the folder's tree is built from).
fn sorted_entries(dir: &Path) -> std::io::Result<Vec<(Vec<u8>, std::io::Result<Metadata>)>> {
    let mut entries = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| (e.file_name().as_bytes().to_vec(), e.metadata())))
        .collect::<std::io::Result<Vec<_>>>()?;
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

use std::os::unix::fs::MetadataExt;
