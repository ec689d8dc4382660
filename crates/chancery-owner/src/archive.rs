//! An opened archive: configuration, unlocked keys and the configured sites.

use crate::config::{Config, Endpoint, SiteConfig};
use crate::ledger::LedgerView;
use crate::receipts::SiteReceipts;
use crate::site::{OwnerIdentity, Site};
use anyhow::{bail, Context, Result};
use chancery_format::keyfile::{is_custody_key_file, open_key_file, KeyInfo};
use chancery_format::keys::{KeyRing, Keys};
use chancery_format::{FormatError, ObjectId};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// A site that could not be opened, and why.
#[derive(Clone, Debug)]
pub struct Unreachable {
    /// Its configuration.
    pub config: SiteConfig,
    /// Why it could not be opened.
    pub reason: String,
}

/// The owner's archive, opened with a password.
pub struct Archive {
    /// The configuration.
    pub config: Config,
    /// Where it was read from.
    pub config_path: PathBuf,
    /// The archive's id.
    pub repo_id: [u8; 32],
    /// Working keys.
    pub keys: Keys,
    /// The master secrets of every key generation they derive from (kept to wrap them with
    /// new passwords).
    pub ring: KeyRing,
    /// The key file that the password opened.
    pub key_id: ObjectId,
    /// Metadata of that key file.
    pub key_info: KeyInfo,
    /// Sites that opened, in configuration order.
    pub sites: Vec<Site>,
    /// Sites that did not.
    pub unreachable: Vec<Unreachable>,
    /// The receipt files of every site server, reachable or not, by site name.
    pub receipts: BTreeMap<String, Arc<SiteReceipts>>,
    /// The ledger as verified against the reachable sites, on first use ([`Archive::ledger`]).
    ledger_view: OnceLock<LedgerView>,
}

impl Archive {
    /// Loads the config, unlocks the keys with `password`, and opens every site.
    pub fn open(config_path: &Path, password: &[u8]) -> Result<Archive> {
        let mut config = Config::load(config_path)?;
        config.resolve_site_dirs(config_path);
        let repo_id = config.repo_id()?;
        let keys_dir = keys_dir(&config, config_path);
        let (key_id, opened) = unlock(&keys_dir, password)?;
        if opened.info.repo_id != repo_id {
            bail!(
                "the key files in {} belong to another archive than {}",
                keys_dir.display(),
                config_path.display()
            );
        }
        let keys = opened.ring.derive();
        let ring = opened.ring;
        if hex::encode(keys.owner_public_key()) != config.owner.public_key {
            bail!("config {} names another owner key than the key files hold", config_path.display());
        }
        let owner = OwnerIdentity::from_keys(&keys);
        let receipts = receipt_files(&config, config_path, &owner)?;
        let listings = config.state_dir(config_path).join(crate::listings::LISTINGS_CACHE_DIR);
        let (sites, unreachable) = open_sites(&config, &repo_id, &owner, &receipts, &listings);
        Ok(Archive {
            config,
            config_path: config_path.to_path_buf(),
            repo_id,
            keys,
            ring,
            key_id,
            key_info: opened.info,
            sites,
            unreachable,
            receipts,
            ledger_view: OnceLock::new(),
        })
    }

    /// The ledger, verified against every reachable site the first time it is asked for.
    pub fn ledger(&self) -> Result<&LedgerView> {
        if let Some(view) = self.ledger_view.get() {
            return Ok(view);
        }
        let view = crate::ledger::verify(self)?;
        Ok(self.ledger_view.get_or_init(|| view))
    }

    /// The reachable site with this name, or an error saying why it is not usable.
    pub fn site(&self, name: &str) -> Result<&Site> {
        if let Some(site) = self.sites.iter().find(|s| s.name() == name) {
            return Ok(site);
        }
        if let Some(u) = self.unreachable.iter().find(|u| u.config.name == name) {
            bail!("site {name} is unreachable: {}", u.reason);
        }
        self.config.site(name).map(|_| unreachable!("every configured site is reachable or not"))
    }

    /// The local folder holding the key files.
    pub fn keys_dir(&self) -> PathBuf {
        keys_dir(&self.config, &self.config_path)
    }

    /// The owner's local state folder (key files, receipts, cache).
    pub fn state_dir(&self) -> PathBuf {
        self.config.state_dir(&self.config_path)
    }

    /// The index files kept from site servers, in the state folder.
    pub fn index_cache(&self) -> crate::object_cache::ObjectCache {
        crate::object_cache::ObjectCache::index(&self.state_dir())
    }

    /// The snapshot objects kept from site servers, in the state folder.
    pub fn snapshot_cache(&self) -> crate::object_cache::ObjectCache {
        crate::object_cache::ObjectCache::snapshots(&self.state_dir())
    }
}

/// The local folder holding the key files of a config.
pub fn keys_dir(config: &Config, config_path: &Path) -> PathBuf {
    config.state_dir(config_path).join("keys")
}

/// The receipt files of the site servers, named after the sites. A site key that does not
/// parse gets none: that site is unreachable anyway, and `Site::open` says why.
fn receipt_files(
    config: &Config,
    config_path: &Path,
    owner: &OwnerIdentity,
) -> Result<BTreeMap<String, Arc<SiteReceipts>>> {
    let state = config.state_dir(config_path);
    let mut files = BTreeMap::new();
    for sc in config.sites.iter().filter(|sc| matches!(sc.endpoint, Endpoint::Server { .. })) {
        if !crate::config::valid_site_name(&sc.name) {
            bail!(
                "site name {:?} in {}: use letters, digits, '-' and '_' only",
                sc.name,
                config_path.display()
            );
        }
        if let Ok(Some(log)) = SiteReceipts::for_site(&state, sc, Some(owner)) {
            files.insert(sc.name.clone(), log);
        }
    }
    Ok(files)
}

fn open_sites(
    config: &Config,
    repo_id: &[u8; 32],
    owner: &OwnerIdentity,
    receipts: &BTreeMap<String, Arc<SiteReceipts>>,
    listings: &Path,
) -> (Vec<Site>, Vec<Unreachable>) {
    let mut sites = Vec::new();
    let mut unreachable = Vec::new();
    for sc in &config.sites {
        let kept_listings = Some(listings.join(&sc.name));
        match Site::open(sc, repo_id, Some(owner), receipts.get(&sc.name).cloned(), kept_listings) {
            Ok(site) => sites.push(site),
            Err(e) => unreachable.push(Unreachable { config: sc.clone(), reason: format!("{e:#}") }),
        }
    }
    (sites, unreachable)
}

/// Tries the password on every key file in `dir`.
fn unlock(dir: &Path, password: &[u8]) -> Result<(ObjectId, chancery_format::keyfile::OpenedKey)> {
    let mut files = read_key_files(dir)?;
    // Custody key files first: trying them costs a hash, a password key file costs Argon2id.
    files.sort_by_key(|(_, bytes)| !is_custody_key_file(bytes));
    if files.is_empty() {
        bail!("no key files in {}; run `chancery init` first, or pass --config", dir.display());
    }
    for (id, bytes) in &files {
        match open_key_file(bytes, password) {
            Ok(opened) => return Ok((*id, opened)),
            Err(FormatError::WrongPassword) => continue,
            Err(e) => eprintln!("warning: skipping key file {}: {e}", id.short()),
        }
    }
    // Exit 1, not 12: a wrong password is the user's typo, not a refused credential at a site.
    bail!(
        "wrong password: it opens none of the key files in {} (check CHANCERY_PASSWORD or --password-file)",
        dir.display()
    )
}

/// Every key file in a folder, named by the hash of its bytes.
pub fn read_key_files(dir: &Path) -> Result<Vec<(ObjectId, Vec<u8>)>> {
    let mut out = Vec::new();
    for path in crate::fsutil::entries_if_any(dir)? {
        let Some(id) = path.file_name().and_then(|n| n.to_str()).and_then(ObjectId::from_hex) else {
            continue;
        };
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        if ObjectId::of(&bytes) == id {
            out.push((id, bytes));
        }
    }
    out.sort_by_key(|(id, _)| *id);
    Ok(out)
}
