//! The owner's configuration file (`chancery.toml`): who the owner is, where home is, the
//! sites and the placement policy. Secrets never go here; keys live in key files.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Version of the configuration file layout.
pub const CONFIG_VERSION: u32 = 1;

/// A point on Earth, in degrees.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// Latitude, -90..=90.
    pub lat: f64,
    /// Longitude, -180..=180.
    pub lon: f64,
}

impl FromStr for Location {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (lat, lon) = s.split_once(',').ok_or("expected LAT,LON, e.g. 59.437,24.754")?;
        let parse = |v: &str| v.trim().parse::<f64>().map_err(|_| format!("not a number: {v:?}"));
        let (lat, lon) = (parse(lat)?, parse(lon)?);
        if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
            return Err(format!("{lat},{lon} is not on Earth (latitude -90..90, longitude -180..180)"));
        }
        Ok(Location { lat, lon })
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.4},{:.4}", self.lat, self.lon)
    }
}

/// Parses an ISO 3166-1 alpha-2 jurisdiction code, upper-cased.
pub fn parse_jurisdiction(s: &str) -> Result<String, String> {
    let code = s.trim().to_ascii_uppercase();
    if code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(code)
    } else {
        Err(format!("{s:?} is not a two-letter country code (ISO 3166-1 alpha-2, e.g. EE, LU)"))
    }
}

/// Whether a site name is usable: letters, digits, `-` and `_`, at most 64. Site names name
/// local files (receipts), so nothing else is allowed.
pub fn valid_site_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The owner: the sending state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OwnerConfig {
    /// A name for messages.
    pub name: String,
    /// Where the home data centre is.
    pub home: Location,
    /// Home country code.
    pub jurisdiction: String,
    /// The owner's Ed25519 public key, hex (public; given to site operators).
    pub public_key: String,
    /// The archive's random id, hex.
    pub repo_id: String,
    /// Local state (key files), relative to the config file's folder unless absolute.
    pub state_dir: PathBuf,
}

/// Placement rules, checked before any data moves.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyConfig {
    /// Minimum great-circle distance between any two storage locations, home included.
    pub min_distance_km: f64,
    /// Minimum number of sites that must hold each snapshot.
    pub min_sites: usize,
    /// At least one site outside the home jurisdiction.
    pub require_foreign_site: bool,
    /// Minimum site tier (e.g. Uptime Institute tier 1-4); 0 accepts any.
    pub min_tier: u8,
    /// How many site servers must cosign a ledger checkpoint before a client trusts it; unset:
    /// `min_sites` (capped by the number of site servers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witness_quorum: Option<usize>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            min_distance_km: 120.0,
            min_sites: 2,
            require_foreign_site: true,
            min_tier: 0,
            witness_quorum: None,
        }
    }
}

/// One embassy site.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SiteConfig {
    /// Unique name.
    pub name: String,
    /// How to reach it.
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// Where its storage is.
    pub location: Location,
    /// Its country code.
    pub jurisdiction: String,
    /// Its tier (0 = unknown).
    #[serde(default)]
    pub tier: u8,
    /// Seconds a backup waits for this site to take the next pack before it leaves the site
    /// behind as lagging (caught up later by `sync`), so that a slow site cannot hold back the
    /// others.
    #[serde(default = "default_upload_timeout", skip_serializing_if = "is_default_upload_timeout")]
    pub upload_timeout_secs: u64,
    /// Average upload rate to this site, KiB/s (as restic's `--limit-upload`); none: unlimited.
    /// Parallel uploads to the site share it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_upload_kib: Option<u64>,
    /// Average download rate from this site, KiB/s (restore, check, sync); none: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_download_kib: Option<u64>,
}

/// Default of [`SiteConfig::upload_timeout_secs`].
pub const DEFAULT_UPLOAD_TIMEOUT_SECS: u64 = 300;

fn default_upload_timeout() -> u64 {
    DEFAULT_UPLOAD_TIMEOUT_SECS
}

fn is_default_upload_timeout(secs: &u64) -> bool {
    *secs == DEFAULT_UPLOAD_TIMEOUT_SECS
}

/// How a site is reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Endpoint {
    /// A site server, its identity pinned.
    Server {
        /// Base URL, `https://HOST:PORT`.
        url: String,
        /// The site's Ed25519 key (64 hex), pinned: a server with another key is refused.
        site_key: String,
        /// The owner's tenant name at that site.
        tenant: String,
    },
    /// A local directory (a mounted remote volume, a disk kept abroad...).
    Dir {
        /// The folder.
        dir: PathBuf,
    },
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Server { url, tenant, .. } => write!(f, "{url} (tenant {tenant})"),
            Endpoint::Dir { dir } => write!(f, "{}", dir.display()),
        }
    }
}

/// The whole configuration file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    /// [`CONFIG_VERSION`].
    pub version: u32,
    /// The owner.
    pub owner: OwnerConfig,
    /// Placement rules.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// Sites, in preference order for reads.
    #[serde(default, rename = "site")]
    pub sites: Vec<SiteConfig>,
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!("cannot read config {}; run `chancery init` first or pass --config", path.display())
        })?;
        let config: Config =
            toml::from_str(&text).with_context(|| format!("config {} is not valid", path.display()))?;
        if config.version != CONFIG_VERSION {
            bail!(
                "config {} has version {}; this release reads version {CONFIG_VERSION}",
                path.display(),
                config.version
            );
        }
        Ok(config)
    }

    /// Writes the file atomically (temp file, fsync, rename), so a crash leaves old or new.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = toml::to_string_pretty(self).context("encoding config")?;
        crate::fsutil::write_atomic(path, text.as_bytes())
            .with_context(|| format!("writing config {}", path.display()))
    }

    /// The state folder, resolved against the config file's folder.
    pub fn state_dir(&self, config_path: &Path) -> PathBuf {
        let base = config_path.parent().unwrap_or(Path::new("."));
        base.join(&self.owner.state_dir)
    }

    /// Makes relative site folders relative to the config file's folder, not the working one.
    pub fn resolve_site_dirs(&mut self, config_path: &Path) {
        let base = config_path.parent().unwrap_or(Path::new("."));
        for site in &mut self.sites {
            if let Endpoint::Dir { dir } = &mut site.endpoint {
                if dir.is_relative() {
                    *dir = base.join(&*dir);
                }
            }
        }
    }

    /// The site with this name.
    pub fn site(&self, name: &str) -> Result<&SiteConfig> {
        self.sites.iter().find(|s| s.name == name).with_context(|| {
            let known: Vec<_> = self.sites.iter().map(|s| s.name.as_str()).collect();
            format!("no site named {name:?}; configured sites: {}", known.join(", "))
        })
    }

    /// The archive id as bytes.
    pub fn repo_id(&self) -> Result<[u8; 32]> {
        let mut id = [0u8; 32];
        hex::decode_to_slice(&self.owner.repo_id, &mut id).context("config: repo_id is not 64 hex digits")?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_reject() {
        assert_eq!("59.437, 24.754".parse::<Location>().unwrap(), Location { lat: 59.437, lon: 24.754 });
        assert!("91,0".parse::<Location>().is_err());
        assert!("abc".parse::<Location>().is_err());
        assert_eq!(parse_jurisdiction("lu").unwrap(), "LU");
        assert!(parse_jurisdiction("LUX").is_err());
    }
}
