//! Where a site keeps its tenants' objects: folders under its data folder (the default), or a
//! bucket of an S3-compatible object store for large sites (Garage, Ceph RGW, MinIO, AWS).
//!
//! `site.toml` names the choice in a `[storage]` table; the S3 secret is kept apart in
//! `s3.secret` (mode 0600) so that `site.toml` can be shown or shared without it:
//!
//! ```toml
//! [storage]
//! type = "s3"
//! endpoint = "http://127.0.0.1:3900"
//! region = "garage"
//! bucket = "embassy"
//! prefix = "lux-1"          # optional: several sites may share a bucket
//! access_key_id = "GK..."
//! ```

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chancery_store::{Backend, FsBackend, S3Backend, S3Config, StoreError};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::files::{tenant_dir, write_atomic, Existing, S3_SECRET, TENANTS_DIR};

/// The `[storage]` table of `site.toml`; absent means folders under the data folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum StorageConfig {
    /// An S3-compatible bucket; tenants live under `<prefix>/tenants/<name>/`.
    S3(S3Config),
}

/// The site's storage, opened.
#[derive(Debug)]
pub(crate) enum Storage {
    /// `<data>/tenants/<name>/`, one `FsBackend` each.
    Folders(PathBuf),
    /// One bucket (or prefix), one `S3Backend` child per tenant.
    S3(S3Backend),
}

impl Storage {
    /// Opens what `config` names; for S3 this checks that the bucket answers.
    pub(crate) fn open(data: &Path, config: Option<&StorageConfig>) -> anyhow::Result<Storage> {
        match config {
            None => Ok(Storage::Folders(data.to_path_buf())),
            Some(StorageConfig::S3(s3)) => {
                let secret = load_secret(data)?;
                let backend = S3Backend::open(s3, &secret)
                    .with_context(|| format!("opening the site's bucket {} at {}", s3.bucket, s3.endpoint))?;
                Ok(Storage::S3(backend))
            }
        }
    }

    /// The store of one tenant.
    pub(crate) fn tenant(&self, tenant: &str) -> Result<Box<dyn Backend>, StoreError> {
        match self {
            Storage::Folders(data) => Ok(Box::new(FsBackend::open(tenant_dir(data, tenant))?)),
            Storage::S3(root) => Ok(Box::new(root.child(&format!("{TENANTS_DIR}/{tenant}")))),
        }
    }

    /// Prepares the store of a newly enrolled tenant (a bucket needs nothing).
    pub(crate) fn create_tenant(&self, tenant: &str) -> Result<(), StoreError> {
        match self {
            Storage::Folders(data) => FsBackend::create(tenant_dir(data, tenant)).map(drop),
            Storage::S3(_) => Ok(()),
        }
    }
}

/// Keeps the S3 secret in `<data>/s3.secret`, readable by the site's user only.
pub(crate) fn save_secret(data: &Path, secret: &str) -> anyhow::Result<()> {
    if secret.trim().is_empty() {
        bail!("the S3 secret access key is empty: set CHANCERY_S3_SECRET_ACCESS_KEY");
    }
    write_atomic(&data.join(S3_SECRET), secret.trim().as_bytes(), 0o600, Existing::Refuse)
}

/// Reads `s3.secret`, refusing one that others may read.
fn load_secret(data: &Path) -> anyhow::Result<Zeroizing<String>> {
    let path = data.join(S3_SECRET);
    let meta = fs::metadata(&path).with_context(|| {
        format!("reading {} (the S3 secret access key this site's storage needs)", path.display())
    })?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!("{} is readable by other users; run `chmod 600 {}`", path.display(), path.display());
    }
    let text =
        Zeroizing::new(fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?);
    Ok(Zeroizing::new(text.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_table_round_trips_through_toml() {
        let config = StorageConfig::S3(S3Config {
            endpoint: "http://127.0.0.1:3900".into(),
            region: "garage".into(),
            bucket: "embassy".into(),
            prefix: "lux-1".into(),
            access_key_id: "GK0123".into(),
        });
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Wrapper {
            storage: StorageConfig,
        }
        let text = toml::to_string(&Wrapper { storage: config.clone() }).unwrap();
        assert!(text.contains("type = \"s3\""), "{text}");
        assert!(!text.contains("secret"), "the secret is never in site.toml");
        assert_eq!(toml::from_str::<Wrapper>(&text).unwrap().storage, config);
    }

    #[test]
    fn the_secret_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        assert!(save_secret(dir.path(), " ").is_err());
        save_secret(dir.path(), "s3cret\n").unwrap();
        assert_eq!(load_secret(dir.path()).unwrap().as_str(), "s3cret");
        fs::set_permissions(dir.path().join(S3_SECRET), fs::Permissions::from_mode(0o644)).unwrap();
        assert!(load_secret(dir.path()).unwrap_err().to_string().contains("chmod 600"));
    }
}
