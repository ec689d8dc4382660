//! The site's identity: `site.toml` (what owners are told about the site) and `site.key` (the
//! Ed25519 key that signs receipts and the TLS handshake; owners pin its public half).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{bail, ensure, Context};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::files::{rfc3339_now, write_atomic, Existing, S3_SECRET, SITE_KEY, SITE_TOML, TENANTS_DIR};
use crate::storage::{save_secret, Storage, StorageConfig};

/// Where a site stands, in decimal degrees (WGS 84).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Location {
    pub(crate) lat: f64,
    pub(crate) lon: f64,
}

/// The contents of `site.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SiteConfig {
    pub(crate) name: String,
    pub(crate) jurisdiction: String,
    pub(crate) tier: u8,
    pub(crate) created: String,
    pub(crate) location: Location,
    /// Where tenants' objects live; absent: folders under the data folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) storage: Option<StorageConfig>,
}

/// What a site says about itself (`GET /v1/site`), for owners checking their placement policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SiteInfo {
    /// The site's name.
    pub name: String,
    /// Its public key, 64 hex digits: what owners pin.
    pub site_key: String,
    /// Latitude, decimal degrees.
    pub lat: f64,
    /// Longitude, decimal degrees.
    pub lon: f64,
    /// ISO 3166-1 alpha-2 country code of the host jurisdiction.
    pub jurisdiction: String,
    /// Data-centre tier (Uptime Institute 1 to 4; 0 = unknown).
    pub tier: u8,
}

/// Creates a site in `data`: its identity (`site.toml`) and a fresh site key (`site.key`, mode
/// 0600). Returns the site key's public half in hex, which owners pin (`site add --site-key`).
/// Tenants' objects will live in folders under `data`; see [`init_site_with_storage`].
///
/// Refuses a folder that already holds a site, so that an identity is never replaced by
/// accident (owners would stop trusting the site, and its receipts would no longer verify).
pub fn init_site(
    data: &Path,
    name: &str,
    lat: f64,
    lon: f64,
    jurisdiction: &str,
    tier: u8,
) -> anyhow::Result<String> {
    init_site_with_storage(data, name, lat, lon, jurisdiction, tier, None)
}

/// [`init_site`], with tenants' objects in an S3-compatible bucket when `storage` names one
/// (with its secret access key, kept in `s3.secret`, mode 0600). The bucket must exist and
/// answer: it is checked before anything is written.
pub fn init_site_with_storage(
    data: &Path,
    name: &str,
    lat: f64,
    lon: f64,
    jurisdiction: &str,
    tier: u8,
    storage: Option<(&StorageConfig, &str)>,
) -> anyhow::Result<String> {
    let jurisdiction = check_identity(name, lat, lon, jurisdiction, tier)?;
    if [SITE_TOML, SITE_KEY, S3_SECRET].iter().any(|f| data.join(f).exists()) {
        bail!("{} already holds a site; choose an empty folder for a new one", data.display());
    }
    fs::create_dir_all(data.join(TENANTS_DIR)).with_context(|| format!("creating {}", data.display()))?;
    if let Some((config, secret)) = storage {
        save_secret(data, secret)?;
        // Written before the check so that the check reads it exactly as `serve` will.
        Storage::open(data, Some(config)).inspect_err(|_| {
            let _ = fs::remove_file(data.join(S3_SECRET));
        })?;
    }
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    write_atomic(&data.join(SITE_KEY), key.as_bytes(), 0o600, Existing::Refuse)?;
    let config = SiteConfig {
        name: name.to_string(),
        jurisdiction,
        tier,
        created: rfc3339_now(),
        location: Location { lat, lon },
        storage: storage.map(|(config, _)| config.clone()),
    };
    // site.toml last: a folder without it is not a site yet, whatever else a crash left.
    let text = toml::to_string(&config).context("encoding site.toml")?;
    write_atomic(&data.join(SITE_TOML), text.as_bytes(), 0o644, Existing::Refuse)?;
    Ok(hex::encode(key.verifying_key().to_bytes()))
}

/// Checks the identity's fields; returns the jurisdiction upper-cased.
fn check_identity(name: &str, lat: f64, lon: f64, jurisdiction: &str, tier: u8) -> anyhow::Result<String> {
    ensure!(!name.trim().is_empty() && name.len() <= 128, "a site name is 1 to 128 characters");
    ensure!((-90.0..=90.0).contains(&lat), "latitude {lat} is outside -90..90 degrees");
    ensure!((-180.0..=180.0).contains(&lon), "longitude {lon} is outside -180..180 degrees");
    ensure!(tier <= 4, "tier {tier} is not 0 (unknown) to 4 (Uptime Institute tiers)");
    let code = jurisdiction.trim().to_ascii_uppercase();
    ensure!(
        code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()),
        "{jurisdiction:?} is not a two-letter country code (ISO 3166-1 alpha-2, e.g. LU)"
    );
    Ok(code)
}

/// Reads `site.toml`.
pub(crate) fn load_config(data: &Path) -> anyhow::Result<SiteConfig> {
    let path = data.join(SITE_TOML);
    let text = fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (is {} a site folder? create one with `site-admin init`)",
            path.display(),
            data.display()
        )
    })?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Reads `site.key`, refusing one that others may read.
pub(crate) fn load_key(data: &Path) -> anyhow::Result<SigningKey> {
    let path = data.join(SITE_KEY);
    let meta = fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!("{} is readable by other users; run `chmod 600 {}`", path.display(), path.display());
    }
    let bytes = Zeroizing::new(fs::read(&path).with_context(|| format!("reading {}", path.display()))?);
    let seed: Zeroizing<[u8; 32]> = Zeroizing::new(bytes.as_slice().try_into().map_err(|_| {
        anyhow::anyhow!("{} must hold exactly 32 bytes, it holds {}", path.display(), bytes.len())
    })?);
    Ok(SigningKey::from_bytes(&seed))
}

/// What the site at `data` says about itself, as served at `GET /v1/site`.
pub fn site_info(data: &Path) -> anyhow::Result<SiteInfo> {
    let config = load_config(data)?;
    let key = load_key(data)?;
    Ok(info_of(&config, &key))
}

pub(crate) fn info_of(config: &SiteConfig, key: &SigningKey) -> SiteInfo {
    SiteInfo {
        name: config.name.clone(),
        site_key: hex::encode(key.verifying_key().to_bytes()),
        lat: config.location.lat,
        lon: config.location.lon,
        jurisdiction: config.jurisdiction.clone(),
        tier: config.tier,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_writes_an_identity_once() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("site");
        let key = init_site(&data, "lux-1", 49.61, 6.13, "lu", 3).unwrap();
        let info = site_info(&data).unwrap();
        assert_eq!(info.site_key, key);
        assert_eq!((info.name.as_str(), info.jurisdiction.as_str(), info.tier), ("lux-1", "LU", 3));
        assert_eq!(fs::metadata(data.join(SITE_KEY)).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read(data.join(SITE_KEY)).unwrap().len(), 32);
        let again = init_site(&data, "lux-1", 49.61, 6.13, "LU", 3).unwrap_err();
        assert!(again.to_string().contains("already holds a site"), "{again}");
        assert_eq!(site_info(&data).unwrap().site_key, key, "identity unchanged");
    }

    #[test]
    fn init_checks_its_fields() {
        let dir = tempfile::tempdir().unwrap();
        for (lat, lon, cc, tier) in
            [(91.0, 0.0, "LU", 1), (0.0, 181.0, "LU", 1), (0.0, 0.0, "LUX", 1), (0.0, 0.0, "LU", 5)]
        {
            assert!(init_site(dir.path(), "x", lat, lon, cc, tier).is_err());
        }
        assert!(init_site(dir.path(), " ", 0.0, 0.0, "LU", 1).is_err());
    }

    #[test]
    fn a_key_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        init_site(dir.path(), "x", 0.0, 0.0, "LU", 0).unwrap();
        fs::set_permissions(dir.path().join(SITE_KEY), fs::Permissions::from_mode(0o644)).unwrap();
        assert!(load_key(dir.path()).unwrap_err().to_string().contains("chmod 600"));
    }
}
