//! `ls`.

use super::{warn_all, Globals};
use crate::cli::LsArgs;
use crate::Outcome;
use anyhow::Result;
use chancery_format::tree::{Node, NodeKind};
use chancery_owner::index::Index;
use chancery_owner::reader::BlobReader;
use chancery_owner::snapshots::{find_snapshot, list_snapshots};

#[derive(serde::Serialize)]
struct Entry {
    path: String,
    kind: &'static str,
    mode: u32,
    size: u64,
    mtime: i64,
}

/// Lists a snapshot's entries, depth first.
pub fn run(g: &Globals, args: LsArgs) -> Result<Outcome> {
    let archive = g.open()?;
    let mut warnings = Vec::new();
    let list = list_snapshots(&archive, &mut warnings)?;
    let entry = find_snapshot(&list, &args.snapshot)?;
    let sites: Vec<_> = archive.sites.iter().collect();
    let (index, w) = Index::load_union_cached(&sites, &archive.keys, &archive.index_cache())?;
    warnings.extend(w);
    let reader = BlobReader::new(sites, &archive.keys, &index);
    let mut out = Vec::new();
    walk(&reader, &entry.snapshot.tree, "", &mut out)?;
    if g.json {
        crate::output::json(&out)?;
    } else {
        for e in &out {
            println!("{} {:>6o} {:>12} {}", e.kind, e.mode, e.size, e.path);
        }
    }
    warnings
        .extend(reader.problems().iter().map(|p| format!("site {}: pack {}: {}", p.site, p.pack, p.detail)));
    Ok(warn_all(&warnings))
}

fn walk(
    reader: &BlobReader,
    tree: &chancery_format::BlobId,
    prefix: &str,
    out: &mut Vec<Entry>,
) -> Result<()> {
    let tree = reader.read_tree(tree)?;
    for node in &tree.nodes {
        let path = format!("{prefix}/{}", String::from_utf8_lossy(&node.name));
        out.push(Entry {
            path: path.clone(),
            kind: kind(node),
            mode: node.mode,
            size: node.size,
            mtime: node.mtime_sec,
        });
        if let NodeKind::Dir { subtree } = &node.kind {
            walk(reader, subtree, &path, out)?;
        }
    }
    Ok(())
}

fn kind(node: &Node) -> &'static str {
    match node.kind {
        NodeKind::File { .. } => "file",
        NodeKind::Dir { .. } => "dir ",
        NodeKind::Symlink { .. } => "link",
        NodeKind::Fifo => "fifo",
        NodeKind::CharDevice { .. } => "chr ",
        NodeKind::BlockDevice { .. } => "blk ",
        NodeKind::Socket => "sock",
    }
}
