//! A site as the owner sees it: a name, its configuration, a storage backend and, for a site
//! server, the receipts it returns.
//!
//! A local-directory site is marked by the object `meta/chancery-site`, which names the
//! archive it belongs to, so that a wrong folder is refused before anything is written.

use crate::config::{Endpoint, SiteConfig};
use crate::listings::RememberedListings;
use crate::receipts::{KeepReceipts, SiteReceipts};
use anyhow::{bail, Context, Result};
use chancery_client::{RemoteBackend, RemoteSite, Signer};
use chancery_store::fs::FsBackend;
use chancery_store::{Backend, ObjectKind, StoreError, ThrottledBackend};
use ed25519_dalek::Signer as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Name of the marker object, in the `meta` namespace.
pub const MARKER_NAME: &str = "chancery-site";
/// Version of the site layout, the first line of the marker.
pub const SITE_LAYOUT_VERSION: &str = "1";
const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// One reachable site.
#[derive(Clone, Debug)]
pub struct Site {
    /// Its configuration.
    pub config: SiteConfig,
    /// Where its bytes are.
    pub backend: Arc<dyn Backend>,
    /// The receipts it returns, kept as they come through `backend`; `None` for a local
    /// folder, which gives none.
    pub receipts: Option<Arc<SiteReceipts>>,
    /// The site server's client, for what is not a stored object (witnessing the ledger);
    /// `None` for a local folder.
    pub server: Option<Arc<RemoteBackend>>,
}

impl Site {
    /// The site's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Opens a configured site and checks that it belongs to this archive. The receipts of a
    /// site server are kept in `receipts`, and its listings in `kept_listings`
    /// ([`RememberedListings::keeping`]).
    pub fn open(
        config: &SiteConfig,
        repo_id: &[u8; 32],
        owner: Option<&OwnerIdentity>,
        receipts: Option<Arc<SiteReceipts>>,
        kept_listings: Option<PathBuf>,
    ) -> Result<Site> {
        let dir = match &config.endpoint {
            Endpoint::Dir { dir } => dir,
            Endpoint::Server { .. } => {
                let backend = remote_backend(config, owner)?;
                let site = Site::remote(config, backend, receipts, kept_listings);
                site.check_marker(repo_id)?;
                return Ok(site);
            }
        };
        let backend = FsBackend::open(dir).with_context(|| format!("site {} is unreachable", config.name))?;
        // Temp files of a writer killed an hour ago or more will never be linked into place;
        // younger ones may belong to a backup still running. A read-only site keeps them.
        let backend = Arc::new(backend);
        let site = Site { config: config.clone(), backend: backend.clone(), receipts: None, server: None };
        site.check_marker(repo_id)?;
        let _ = backend.remove_stale_temp(STALE_TEMP_AGE);
        Ok(Site { backend: limited(config, backend, None), ..site })
    }

    /// Makes `config.dir` a site of this archive: an empty or new folder gets the layout and
    /// marker; a folder already marked for this archive is accepted; anything else is refused.
    pub fn create(
        config: &SiteConfig,
        repo_id: &[u8; 32],
        owner: Option<&OwnerIdentity>,
        receipts: Option<Arc<SiteReceipts>>,
    ) -> Result<Site> {
        let dir = match &config.endpoint {
            Endpoint::Dir { dir } => dir,
            Endpoint::Server { .. } => return create_remote(config, repo_id, owner, receipts),
        };
        if dir.exists() && !is_empty_dir(dir)? {
            return Site::open(config, repo_id, owner, None, None).with_context(|| {
                format!(
                    "{} is not empty and not a site of this archive; choose an empty folder",
                    dir.display()
                )
            });
        }
        let backend =
            FsBackend::create(dir).with_context(|| format!("creating site folder {}", dir.display()))?;
        backend.put(ObjectKind::Meta, MARKER_NAME, marker(repo_id).as_bytes())?;
        backend.sync()?;
        Ok(Site {
            config: config.clone(),
            backend: limited(config, backend, None),
            receipts: None,
            server: None,
        })
    }

    /// A site server's site, reached through `backend`, without receipts kept.
    pub(crate) fn server(config: &SiteConfig, backend: RemoteBackend) -> Site {
        Site::remote(config, backend, None, None)
    }

    /// A site server's site; with `receipts`, every receipt it returns is kept there.
    fn remote(
        config: &SiteConfig,
        backend: RemoteBackend,
        receipts: Option<Arc<SiteReceipts>>,
        kept_listings: Option<PathBuf>,
    ) -> Site {
        let server = Arc::new(backend);
        let backend = match &receipts {
            Some(log) => limited(config, KeepReceipts::new(server.clone(), log.clone()), kept_listings),
            None => limited(config, server.clone(), kept_listings),
        };
        Site { config: config.clone(), backend, receipts, server: Some(server) }
    }

    fn check_marker(&self, repo_id: &[u8; 32]) -> Result<()> {
        let bytes = match self.backend.get(ObjectKind::Meta, MARKER_NAME) {
            Ok(bytes) => bytes,
            Err(StoreError::NotFound { .. }) => bail!(
                "{} is not a Chancery site (no meta/{MARKER_NAME}); check the path of site {}",
                self.backend.location(),
                self.name()
            ),
            Err(e) => return Err(e).with_context(|| format!("reading the marker of site {}", self.name())),
        };
        let text = String::from_utf8_lossy(&bytes);
        let version = text.lines().next().and_then(|l| l.strip_prefix("chancery-site ")).unwrap_or("?");
        if version != SITE_LAYOUT_VERSION {
            bail!(
                "{} is a Chancery site of layout version {version}; this release reads version \
                 {SITE_LAYOUT_VERSION} (a newer Chancery may be needed)",
                self.backend.location()
            );
        }
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

/// Who the owner is, for signing requests to site servers.
#[derive(Clone)]
pub struct OwnerIdentity {
    /// The owner's Ed25519 public key.
    pub public_key: [u8; 32],
    /// Signs with the matching private key.
    pub signer: Signer,
}

impl OwnerIdentity {
    /// The identity of the owner whose keys these are.
    pub fn from_keys(keys: &chancery_format::keys::Keys) -> Self {
        Self::from_signing_key(keys.owner_signing_key())
    }

    /// The identity of whoever holds `signing` (a recovery key).
    pub fn from_signing_key(signing: ed25519_dalek::SigningKey) -> Self {
        let public_key = signing.verifying_key().to_bytes();
        let signer: Signer = Arc::new(move |message: &[u8]| signing.sign(message).to_bytes());
        Self { public_key, signer }
    }
}

/// A client of a site server's endpoint, signing as `owner` (also used alone by `audit`, which
/// asks for proofs, not `Backend` calls).
pub(crate) fn remote_backend(config: &SiteConfig, owner: Option<&OwnerIdentity>) -> Result<RemoteBackend> {
    let owner = owner.context("a site server needs the owner's keys: give the password")?;
    let Endpoint::Server { url, site_key, tenant } = &config.endpoint else {
        unreachable!("called for server endpoints only")
    };
    let site_key = chancery_protocol::parse_public_key("site key", site_key)?;
    let site = RemoteSite {
        url: url.clone(),
        site_key,
        tenant: tenant.clone(),
        owner_key: owner.public_key,
        signer: owner.signer.clone(),
    };
    Ok(RemoteBackend::new(site)?)
}

/// A tenant at a site server becomes this archive's site when it holds no marker yet.
fn create_remote(
    config: &SiteConfig,
    repo_id: &[u8; 32],
    owner: Option<&OwnerIdentity>,
    receipts: Option<Arc<SiteReceipts>>,
) -> Result<Site> {
    let backend = remote_backend(config, owner)?;
    let exists = backend
        .stat(ObjectKind::Meta, MARKER_NAME)
        .with_context(|| format!("reaching site {} at {}", config.name, config.endpoint))?
        .is_some();
    let site = Site::remote(config, backend, receipts, None);
    if exists {
        site.check_marker(repo_id)?;
    } else {
        site.backend.put(ObjectKind::Meta, MARKER_NAME, marker(repo_id).as_bytes())?;
        site.backend.sync()?;
    }
    Ok(site)
}

/// The backend behind the site's bandwidth limits, if it has any, and listing each kind of
/// object once per command ([`RememberedListings`], keeping the listings in `kept` if given).
fn limited<B: Backend + 'static>(config: &SiteConfig, backend: B, kept: Option<PathBuf>) -> Arc<dyn Backend> {
    let rate = |kib: Option<u64>| kib.map(|k| k.saturating_mul(1024));
    match (config.limit_upload_kib, config.limit_download_kib) {
        (None, None) => Arc::new(remembered(backend, kept)),
        (up, down) => Arc::new(remembered(ThrottledBackend::new(backend, rate(up), rate(down)), kept)),
    }
}

fn remembered<B: Backend>(inner: B, kept: Option<PathBuf>) -> RememberedListings<B> {
    match kept {
        Some(dir) => RememberedListings::keeping(inner, dir),
        None => RememberedListings::new(inner),
    }
}

fn marker(repo_id: &[u8; 32]) -> String {
    format!("chancery-site {SITE_LAYOUT_VERSION}\narchive {}\n", hex::encode(repo_id))
}

fn is_empty_dir(dir: &Path) -> Result<bool> {
    let mut entries =
        std::fs::read_dir(dir).with_context(|| format!("{} is not a readable folder", dir.display()))?;
    Ok(entries.next().is_none())
}
