//! The site's own files in its data folder, and how they are replaced safely.
//!
//! ```text
//! <data>/site.toml          identity: name, location, jurisdiction, tier, created
//! <data>/site.key           Ed25519 secret seed of the site key, 32 raw bytes, mode 0600
//! <data>/tenants.toml       enrolled tenants ([[tenant]] name, owner_key, quota_bytes, enrolled_at)
//! <data>/tenants/<name>/    one `chancery_store::FsBackend` folder per tenant (folder storage)
//! <data>/s3.secret          the S3 secret access key, mode 0600 (S3 storage; see storage.rs)
//! ```

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use rand::RngCore;

/// The site's identity file.
pub(crate) const SITE_TOML: &str = "site.toml";
/// The site's secret key file.
pub(crate) const SITE_KEY: &str = "site.key";
/// The list of enrolled tenants.
pub(crate) const TENANTS_TOML: &str = "tenants.toml";
/// The S3 secret access key of a site whose storage is a bucket.
pub(crate) const S3_SECRET: &str = "s3.secret";
/// The folder (or key prefix) holding one store per tenant.
pub(crate) const TENANTS_DIR: &str = "tenants";

/// Where a tenant's objects are stored.
pub(crate) fn tenant_dir(data: &Path, tenant: &str) -> PathBuf {
    data.join(TENANTS_DIR).join(tenant)
}

/// How [`write_atomic`] treats an existing file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Existing {
    /// Replace it atomically.
    Replace,
    /// Fail, leaving it untouched.
    Refuse,
}

/// Writes `bytes` to `path` so that a reader (or a crash) sees the old file or the new one,
/// never a mix: a temporary file in the same folder is written, fsynced, then renamed (or
/// hard-linked, which refuses to replace) into place, and the folder is fsynced.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32, existing: Existing) -> anyhow::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.{:016x}.tmp", file_name(path), rand::rngs::OsRng.next_u64()));
    let result = write_temp(&tmp, bytes, mode).and_then(|()| publish(&tmp, path, existing));
    // After a rename the temporary name is gone; after a link or a failure it must go.
    let _ = fs::remove_file(&tmp);
    result?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("flushing folder {} to disk", dir.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn write_temp(tmp: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).with_context(|| format!("writing {}", tmp.display()))
}

fn publish(tmp: &Path, path: &Path, existing: Existing) -> anyhow::Result<()> {
    match existing {
        Existing::Replace => fs::rename(tmp, path).with_context(|| format!("replacing {}", path.display())),
        Existing::Refuse => match fs::hard_link(tmp, path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                bail!("{} already exists; refusing to overwrite it", path.display())
            }
            Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
        },
    }
}

/// Now, in unix seconds.
pub(crate) fn unix_now() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// Now, as an RFC 3339 timestamp (UTC, seconds), for files that people read.
pub(crate) fn rfc3339_now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn atomic_writes_replace_or_refuse_and_leave_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_atomic(&path, b"one", 0o600, Existing::Refuse).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let err = write_atomic(&path, b"two", 0o600, Existing::Refuse).unwrap_err();
        assert!(err.to_string().contains("refusing to overwrite"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"one");
        write_atomic(&path, b"three", 0o644, Existing::Replace).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"three");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }
}
