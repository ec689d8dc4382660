//! Setting up: a new archive, sites, and the passwords (key files) that open it.

use crate::archive::{keys_dir, read_key_files, Archive};
use crate::backup::hostname;
use crate::config::{
    valid_site_name, Config, Location, OwnerConfig, PolicyConfig, SiteConfig, CONFIG_VERSION,
};
use crate::receipts::SiteReceipts;
use crate::site::{OwnerIdentity, Site};
use anyhow::{bail, Context, Result};
use chancery_format::keyfile::{seal_key_file, seal_key_ring, KdfParams, KeyInfo};
use chancery_format::keys::MasterKey;
use chancery_format::ObjectId;
use chancery_store::ObjectKind;
use rand::RngCore;
use std::path::Path;

/// Creates the config file and the first key file. Refuses to overwrite an existing config.
pub fn init(
    config_path: &Path,
    owner: &str,
    home: Location,
    jurisdiction: &str,
    password: &[u8],
) -> Result<Config> {
    if config_path.exists() {
        bail!(
            "{} already exists; it holds an archive's settings and is left as it is",
            config_path.display()
        );
    }
    if password.is_empty() {
        bail!("the password must not be empty");
    }
    let mut repo_id = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut repo_id);
    let master = MasterKey::generate();
    let config = Config {
        version: CONFIG_VERSION,
        owner: OwnerConfig {
            name: owner.to_string(),
            home,
            jurisdiction: jurisdiction.to_string(),
            public_key: hex::encode(master.derive().owner_public_key()),
            repo_id: hex::encode(repo_id),
            state_dir: ".chancery".into(),
        },
        policy: PolicyConfig::default(),
        sites: Vec::new(),
    };
    let key = seal_key_file(&master, key_info(repo_id, "initial"), password, KdfParams::default());
    write_local_key(&keys_dir(&config, config_path), &key)?;
    config.save(config_path)?;
    Ok(config)
}

pub(crate) fn key_info(repo_id: [u8; 32], label: &str) -> KeyInfo {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    KeyInfo { repo_id, created_sec: now.as_secs() as i64, hostname: hostname(), label: label.to_string() }
}

pub(crate) fn write_local_key(dir: &Path, bytes: &[u8]) -> Result<ObjectId> {
    let id = ObjectId::of(bytes);
    crate::fsutil::write_atomic(&dir.join(id.to_hex()), bytes)
        .with_context(|| format!("writing key file into {}", dir.display()))?;
    Ok(id)
}

/// Adds a local-directory site: prepares the folder, copies the key files, saves the config.
/// `owner` is needed for a site server (requests are signed), not for a folder.
pub fn add_site(config_path: &Path, site: SiteConfig, owner: Option<&OwnerIdentity>) -> Result<Config> {
    let mut config = Config::load(config_path)?;
    if config.sites.iter().any(|s| s.name == site.name) {
        bail!("a site named {} exists already", site.name);
    }
    if !valid_site_name(&site.name) {
        bail!("site name {:?}: use letters, digits, '-' and '_' only", site.name);
    }
    let receipts = SiteReceipts::for_site(&config.state_dir(config_path), &site, owner)?;
    let opened = Site::create(&site, &config.repo_id()?, owner, receipts)?;
    for (id, bytes) in read_key_files(&keys_dir(&config, config_path))? {
        opened.backend.put(ObjectKind::Key, &id.to_hex(), &bytes)?;
    }
    opened.backend.sync()?;
    config.sites.push(site);
    config.save(config_path)?;
    Ok(config)
}

/// A key file, as listed.
#[derive(Debug, serde::Serialize)]
pub struct KeyView {
    /// Id (hash of the key file).
    pub id: String,
    /// Whether the current password opened it.
    pub current: bool,
    /// When it was made (seconds since the epoch), if the current password can read it.
    pub created_sec: Option<i64>,
    /// Host and label, likewise.
    pub hostname: Option<String>,
    /// Label.
    pub label: Option<String>,
    /// Sites holding a copy.
    pub sites: Vec<String>,
}

/// Wraps the master key with a new password; the key file goes local and to every reachable site.
pub fn add_key(archive: &Archive, new_password: &[u8], label: &str) -> Result<ObjectId> {
    if new_password.is_empty() {
        bail!("the new password must not be empty");
    }
    let bytes =
        seal_key_ring(&archive.ring, key_info(archive.repo_id, label), new_password, KdfParams::default());
    let id = write_local_key(&archive.keys_dir(), &bytes)?;
    for site in &archive.sites {
        site.backend.put(ObjectKind::Key, &id.to_hex(), &bytes)?;
        site.backend.sync()?;
    }
    record_key_change(archive)?;
    Ok(id)
}

/// Key files, local and at the sites.
pub fn list_keys(archive: &Archive) -> Result<Vec<KeyView>> {
    let mut views = Vec::new();
    for (id, _) in read_key_files(&archive.keys_dir())? {
        let sites = archive
            .sites
            .iter()
            .filter(|s| s.backend.stat(ObjectKind::Key, &id.to_hex()).ok().flatten().is_some())
            .map(|s| s.name().to_string())
            .collect();
        let current = id == archive.key_id;
        let info = current.then(|| archive.key_info.clone());
        views.push(KeyView {
            id: id.to_hex(),
            current,
            created_sec: info.as_ref().map(|i| i.created_sec),
            hostname: info.as_ref().map(|i| i.hostname.clone()),
            label: info.map(|i| i.label),
            sites,
        });
    }
    Ok(views)
}

/// Removes a key file (by id prefix) locally and at every reachable site, with the recovery
/// keys of its password. The key in use
/// cannot be removed: that would lock the user out with the password just typed.
pub fn remove_key(archive: &Archive, prefix: &str) -> Result<ObjectId> {
    let keys = read_key_files(&archive.keys_dir())?;
    let matches: Vec<ObjectId> =
        keys.iter().map(|(id, _)| *id).filter(|id| id.to_hex().starts_with(prefix)).collect();
    let id = match matches.as_slice() {
        [one] => *one,
        [] => bail!("no key file with id {prefix}… (see `chancery key list`)"),
        _ => bail!("{prefix} matches {} key files; give more digits", matches.len()),
    };
    if id == archive.key_id {
        bail!("key {} is the one the current password opened; remove it using another password", id.short());
    }
    let live: std::collections::BTreeSet<String> =
        keys.iter().map(|(k, _)| k.to_hex()).filter(|k| *k != id.to_hex()).collect();
    for site in &archive.sites {
        crate::governance::keys::remove_or_keep(site, ObjectKind::Key, &id.to_hex())?;
        site.backend.sync()?;
        crate::recovery_keys::prune(site, &live)?;
    }
    let path = archive.keys_dir().join(id.to_hex());
    std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    crate::recovery_keys::forget_removed(&archive.state_dir(), &live)?;
    record_key_change(archive)?;
    Ok(id)
}

/// Records the key files as they are now in the ledger, at every reachable site.
pub(crate) fn record_key_change(archive: &Archive) -> Result<()> {
    let sites: Vec<&Site> = archive.sites.iter().collect();
    let published = crate::ledger::record(archive, Vec::new(), &sites)?;
    if let Some((site, why)) = published.failed.first() {
        bail!("the key change is done but site {site} did not witness it in the ledger: {why}");
    }
    Ok(())
}

/// What `key rotate` did.
#[derive(Debug, serde::Serialize)]
pub struct Rotation {
    /// The new key generation, which seals new data from now on.
    pub generation: u8,
    /// The key file of the password in use, now holding every generation.
    pub key_file: String,
    /// Key files of other passwords removed: they hold only the old generations (add those
    /// passwords again with `key add`).
    pub removed: Vec<String>,
}

/// A new master key for new data. The password in use gets a key file holding every
/// generation; every other key file is removed, locally and at every reachable site, because
/// it cannot be given the new generation without its password (and a rotation usually means
/// an old secret may be known). The ledger records the new generation and the key changes.
pub fn rotate_key(archive: &Archive, password: &[u8]) -> Result<Rotation> {
    let ring =
        archive.ring.rotated().context("this archive has 256 key generations, the most there can be")?;
    let generation = ring.current();
    let bytes = seal_key_ring(
        &ring,
        key_info(archive.repo_id, &archive.key_info.label),
        password,
        KdfParams::default(),
    );
    let id = write_local_key(&archive.keys_dir(), &bytes)?;
    for site in &archive.sites {
        site.backend.put(ObjectKind::Key, &id.to_hex(), &bytes)?;
        site.backend.sync()?;
    }
    let mut removed = Vec::new();
    let live: std::collections::BTreeSet<String> = [id.to_hex()].into();
    for (old, _) in read_key_files(&archive.keys_dir())? {
        if old == id {
            continue;
        }
        for site in &archive.sites {
            crate::governance::keys::remove_or_keep(site, ObjectKind::Key, &old.to_hex())?;
        }
        let path = archive.keys_dir().join(old.to_hex());
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        removed.push(old.to_hex());
    }
    for site in &archive.sites {
        site.backend.sync()?;
        crate::recovery_keys::prune(site, &live)?;
    }
    crate::recovery_keys::forget_removed(&archive.state_dir(), &live)?;
    // Reopened with the new ring, so that the config copy the ledger names is sealed with it.
    let rotated = Archive::open(&archive.config_path, password)?;
    crate::recovery_keys::register(&rotated, password, &id)?;
    let sites: Vec<&Site> = rotated.sites.iter().collect();
    let published = crate::ledger::record(
        &rotated,
        vec![chancery_ledger::Event::KeyRotated(generation.to_string())],
        &sites,
    )?;
    if let Some((site, why)) = published.failed.first() {
        bail!("the key is rotated but site {site} did not witness it in the ledger: {why}");
    }
    Ok(Rotation { generation, key_file: id.to_hex(), removed })
}
