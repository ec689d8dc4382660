//! Reading blobs for restore, ls and check: each blob is fetched by range from the first site
//! that gives a copy that verifies (AEAD tag and keyed id), falling back to the next site and
//! remembering which site gave a bad copy.

use crate::error::IntegrityError;
use crate::index::{BlobLoc, Index};
use crate::site::Site;
use anyhow::Result;
use chancery_format::blob::{open_blob, BlobKind};
use chancery_format::keys::Keys;
use chancery_format::tree::Tree;
use chancery_format::{BlobId, FormatError};
use chancery_store::ObjectKind;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A bad copy found at one site while another site's copy served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteProblem {
    /// The site.
    pub site: String,
    /// The pack.
    pub pack: String,
    /// What went wrong.
    pub detail: String,
}

/// Verified blob reads with per-site fall-back.
pub struct BlobReader<'a> {
    sites: Vec<&'a Site>,
    keys: &'a Keys,
    index: &'a Index,
    problems: Mutex<Vec<SiteProblem>>,
    trees: Mutex<HashMap<BlobId, Arc<Tree>>>,
}

impl<'a> BlobReader<'a> {
    /// A reader that tries `sites` in order.
    pub fn new(sites: Vec<&'a Site>, keys: &'a Keys, index: &'a Index) -> Self {
        Self { sites, keys, index, problems: Mutex::default(), trees: Mutex::default() }
    }

    /// The index in use.
    pub fn index(&self) -> &Index {
        self.index
    }

    /// A blob's verified plaintext.
    pub fn read(&self, kind: BlobKind, id: &BlobId) -> Result<Vec<u8>> {
        Ok(self.read_from(kind, id)?.0)
    }

    /// A blob's verified plaintext and the name of the site that served it.
    fn read_from(&self, kind: BlobKind, id: &BlobId) -> Result<(Vec<u8>, &'a str)> {
        let Some(loc) = self.index.get(id).copied().filter(|l| l.kind == kind) else {
            let site = self.sites.first().map(|s| s.name().to_string()).unwrap_or_default();
            return Err(IntegrityError {
                site,
                object: format!("blob {}", id.to_hex()),
                detail: "not in any index".into(),
            }
            .into());
        };
        let mut failures = Vec::new();
        for site in &self.sites {
            match self.read_at(site, &loc, id) {
                Ok(plain) => return Ok((plain, site.name())),
                Err(detail) => failures.push(self.note(site, &loc, detail)),
            }
        }
        let detail =
            failures.iter().map(|p| format!("{}: {}", p.site, p.detail)).collect::<Vec<_>>().join("; ");
        let site = failures.first().map(|p| p.site.clone()).unwrap_or_default();
        Err(IntegrityError {
            site,
            object: format!("pack {} blob {}", loc.pack.to_hex(), id.short()),
            detail,
        }
        .into())
    }

    /// A tree, cached (trees are shared between snapshots and read many times).
    pub fn read_tree(&self, id: &BlobId) -> Result<Arc<Tree>> {
        if let Some(tree) = self.trees.lock().expect("tree cache").get(id) {
            return Ok(tree.clone());
        }
        let (bytes, site) = self.read_from(BlobKind::Tree, id)?;
        let tree = Tree::from_bytes(&bytes).map_err(|e| -> anyhow::Error {
            match e {
                // Authentic but from a newer release: not a sign of tampering.
                FormatError::UnsupportedVersion { .. } => anyhow::anyhow!("tree {}: {e}", id.to_hex()),
                _ => IntegrityError {
                    site: site.into(),
                    object: format!("tree {}", id.to_hex()),
                    detail: e.to_string(),
                }
                .into(),
            }
        })?;
        let tree = Arc::new(tree);
        self.trees.lock().expect("tree cache").insert(*id, tree.clone());
        Ok(tree)
    }

    /// Bad copies met so far.
    pub fn problems(&self) -> Vec<SiteProblem> {
        self.problems.lock().expect("problems").clone()
    }

    fn read_at(&self, site: &Site, loc: &BlobLoc, id: &BlobId) -> Result<Vec<u8>, String> {
        let sealed = site
            .backend
            .get_range(ObjectKind::Pack, &loc.pack.to_hex(), loc.offset as u64, loc.length as u64)
            .map_err(|e| e.to_string())?;
        if sealed.len() != loc.length as usize {
            return Err(format!("pack truncated: blob {} cut short", id.short()));
        }
        open_blob(self.keys, loc.kind, id, &sealed).map_err(|e| format!("blob {}: {e}", id.short()))
    }

    fn note(&self, site: &Site, loc: &BlobLoc, detail: String) -> SiteProblem {
        let problem = SiteProblem { site: site.name().to_string(), pack: loc.pack.to_hex(), detail };
        let mut problems = self.problems.lock().expect("problems");
        if !problems.contains(&problem) {
            problems.push(problem.clone());
        }
        problem
    }
}
