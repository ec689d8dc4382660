//! A site as the owner sees it: a name, its configuration and a storage backend.
//!
//! A local-directory site is marked by the object `meta/chancery-site`, which names the
//! archive it belongs to, so that a wrong folder is refused before anything is written.

use crate::config::SiteConfig;
use anyhow::{bail, Context, Result};
use chancery_store::fs::FsBackend;
use chancery_store::{Backend, ObjectKind, StoreError};
use std::path::Path;
use std::sync::Arc;

/// Name of the marker object, in the `meta` namespace.
pub const MARKER_NAME: &str = "chancery-site";
const MARKER_PREFIX: &str = "chancery-site 1\narchive ";

/// One reachable site.
#[derive(Clone, Debug)]
pub struct Site {
    /// Its configuration.
    pub config: SiteConfig,
    /// Where its bytes are.
    pub backend: Arc<dyn Backend>,
}

impl Site {
    /// The site's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Opens a configured site and checks that it belongs to this archive.
    pub fn open(config: &SiteConfig, repo_id: &[u8; 32]) -> Result<Site> {
        let backend = FsBackend::open(&config.dir)
            .with_context(|| format!("site {} is unreachable", config.name))?;
        let site = Site {
            config: config.clone(),
            backend: Arc::new(backend),
        };
        site.check_marker(repo_id)?;
        Ok(site)
    }

    /// Makes `config.dir` a site of this archive: an empty or new folder gets the layout and
    /// marker; a folder already marked for this archive is accepted; anything else is refused.
    pub fn create(config: &SiteConfig, repo_id: &[u8; 32]) -> Result<Site> {
        let dir = &config.dir;
        if dir.exists() && !is_empty_dir(dir)? {
            return Site::open(config, repo_id).with_context(|| {
                format!(
                    "{} is not empty and not a site of this archive; choose an empty folder",
                    dir.display()
                )
            });
        }
        let backend = FsBackend::create(dir)
            .with_context(|| format!("creating site folder {}", dir.display()))?;
        backend.put(ObjectKind::Meta, MARKER_NAME, marker(repo_id).as_bytes())?;
        backend.sync()?;
        Ok(Site {
            config: config.clone(),
            backend: Arc::new(backend),
        })
    }

    fn check_marker(&self, repo_id: &[u8; 32]) -> Result<()> {
        let bytes = match self.backend.get(ObjectKind::Meta, MARKER_NAME) {
            Ok(bytes) => bytes,
            Err(StoreError::NotFound { .. }) => bail!(
                "{} is not a Chancery site (no meta/{MARKER_NAME}); check the path of site {}",
                self.backend.location(),
                self.name()
            ),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("reading the marker of site {}", self.name()))
            }
        };
        if bytes != marker(repo_id).as_bytes() {
            bail!(
                "{} is a Chancery site of another archive, not this one (site {})",
                self.backend.location(),
                self.name()
            );
        }
        Ok(())
    }
}

fn marker(repo_id: &[u8; 32]) -> String {
    format!("{MARKER_PREFIX}{}\n", hex::encode(repo_id))
}

fn is_empty_dir(dir: &Path) -> Result<bool> {
    let mut entries = std::fs::read_dir(dir)
        .with_context(|| format!("{} is not a readable folder", dir.display()))?;
    Ok(entries.next().is_none())
}
