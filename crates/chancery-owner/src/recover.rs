//! `recover`: a new machine, the password (or custodians' shares) and one site (its folder,
//! or a site server reached with the password's recovery key, see `recovery_keys`) rebuild the
//! owner's home: key files, ledger and config, each verified before it is written.
//!
//! Order of trust: the key files open with the password, or the custody key file with the
//! secret the shares combine to (see [`crate::custody::unlock`]); each is checked against its
//! name; the
//! site's newest checkpoint must carry the owner's signature made with the key they open; the
//! ledger entries stored at the site must hash to that checkpoint; the config copy must be the
//! one the newest `config` entry names and decrypt with the owner's keys. Anything else is an
//! integrity error (exit 10) naming the site. Then the recovered archive is opened normally:
//! what the reachable sites remember of each other's checkpoints is imported, and every
//! configured site that answers is checked against the recovered ledger (a site rolled back
//! behind what it once vouched for, or showing another history, is refused).

use crate::archive::Archive;
use crate::config::{Config, Endpoint, SiteConfig};
use crate::config_copy;
use crate::custody::{unlock::unlock_with_shares, ShareInput};
use crate::error::{AuthError, IntegrityError};
use crate::ledger::verify::{check_signatures, fetch_entries};
use crate::ledger::{site_checkpoint, LocalLedger, LogIdentity};
use crate::objects::{get_verified, list_ids};
use crate::site::{remote_backend, OwnerIdentity, Site, MARKER_NAME};
use anyhow::{bail, Context, Result};
use chancery_format::keyfile::{open_key_file, OpenedKey};
use chancery_format::recovery::recovery_signing_key;
use chancery_format::{FormatError, ObjectId};
use chancery_ledger::{Checkpoint, Event, Note};
use chancery_store::{ObjectKind, StoreError};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// A key file: its id and bytes.
type KeyFile = (ObjectId, Vec<u8>);

/// What opens the archive on the new machine.
pub enum Credential {
    /// The password of one of the key files.
    Password(Zeroizing<Vec<u8>>),
    /// Custodians' share files (at least the threshold of the archive's newest split).
    Shares(Vec<ShareInput>),
}

/// The archive's key, opened at the site.
struct Unlocked {
    opened: OpenedKey,
    files: Vec<KeyFile>,
    /// What opens the home from now on: the password, or the recovery secret.
    password: Zeroizing<Vec<u8>>,
    /// The custody manifest used (saved into the home), and the shares left out.
    custody: Option<(chancery_format::custody::Manifest, Vec<u8>)>,
    left_out: Vec<String>,
}

/// What `recover` rebuilt.
#[derive(Debug, serde::Serialize)]
pub struct RecoverReport {
    /// The config file written.
    pub config: PathBuf,
    /// The configured site that the folder is.
    pub site: String,
    /// Key files restored.
    pub key_files: usize,
    /// Ledger entries restored (after those the other sites added).
    pub ledger_entries: u64,
    /// Snapshots the ledger records.
    pub snapshots: usize,
    /// Configured sites that answered, checked against the recovered ledger.
    pub sites_reachable: Vec<String>,
    /// Other sites found tampered with (not used until repaired).
    pub tampered_elsewhere: Vec<String>,
    /// Whether custodians' shares opened the archive (then no password of the new home is
    /// known yet: `key add` one).
    pub by_shares: bool,
    /// Share files left out (corrupted, forged or stale), each with why.
    pub shares_left_out: Vec<String>,
}

/// Rebuilds the home at `config_path` from the site folder `dir` with the password; see
/// [`recover_from_dir_with`].
pub fn recover_from_dir(
    config_path: &Path,
    dir: &Path,
    as_site: Option<&str>,
    password: &[u8],
) -> Result<RecoverReport> {
    let credential = Credential::Password(Zeroizing::new(password.to_vec()));
    recover_from_dir_with(config_path, dir, as_site, &credential)
}

/// Rebuilds the home at `config_path` from the site folder `dir` with `credential`. `as_site`
/// names the configured site that `dir` is, when the recovered config cannot tell (the folder
/// moved, or it is a copy of a site server's tenant folder).
pub fn recover_from_dir_with(
    config_path: &Path,
    dir: &Path,
    as_site: Option<&str>,
    credential: &Credential,
) -> Result<RecoverReport> {
    refuse_existing(config_path)?;
    let (site, repo_id) = open_folder(dir)?;
    rebuild(config_path, &site, &repo_id, credential, |config| point_site_at(config, dir, as_site))
}

/// Where a site server is, as the user gives it to `recover --url`.
#[derive(Clone, Debug)]
pub struct ServerAddress {
    /// Base URL, `https://HOST:PORT`.
    pub url: String,
    /// The site's key (64 hex digits), pinned.
    pub site_key: String,
    /// Our tenant name there.
    pub tenant: String,
}

/// Rebuilds the home at `config_path` from a site server with `password`; see
/// [`recover_from_server_with`].
pub fn recover_from_server(
    config_path: &Path,
    address: &ServerAddress,
    as_site: Option<&str>,
    password: &[u8],
) -> Result<RecoverReport> {
    let credential = Credential::Password(Zeroizing::new(password.to_vec()));
    recover_from_server_with(config_path, address, as_site, &credential)
}

/// Rebuilds the home at `config_path` from a site server: the recovery key of the password, or
/// of the secret the shares combine to (registered at the site by `key add`, `site add`,
/// `backup`, `sync` and `custody split`), reads the key files, the ledger and the encrypted
/// config there. `as_site` names the configured site that the server is when its key and
/// tenant do not tell.
pub fn recover_from_server_with(
    config_path: &Path,
    address: &ServerAddress,
    as_site: Option<&str>,
    credential: &Credential,
) -> Result<RecoverReport> {
    refuse_existing(config_path)?;
    let signing_secret = match credential {
        Credential::Password(password) => password.clone(),
        Credential::Shares(shares) => {
            let combined = crate::custody::unlock::combine_shares(&[], shares, "the share files")?;
            Zeroizing::new(combined.secret.to_vec())
        }
    };
    let (site, repo_id) = open_server(address, &signing_secret)?;
    rebuild(config_path, &site, &repo_id, credential, |config| point_server_at(config, address, as_site))
}

fn refuse_existing(config_path: &Path) -> Result<()> {
    if config_path.exists() {
        bail!("{} exists: recover builds a new home; choose another --config path", config_path.display());
    }
    Ok(())
}

/// Verifies what `site` holds and writes the home from it; `locate` names the configured site
/// that `site` is (and points it there).
fn rebuild(
    config_path: &Path,
    site: &Site,
    repo_id: &[u8; 32],
    credential: &Credential,
    locate: impl FnOnce(&mut Config) -> Result<String>,
) -> Result<RecoverReport> {
    let (site, repo_id) = (site.clone(), *repo_id);
    let unlocked = unlock(&site, credential, &repo_id)?;
    let (opened, key_files, password) = (&unlocked.opened, &unlocked.files, &unlocked.password);
    let keys = opened.ring.derive();
    let identity = LogIdentity::of(&keys);
    let (note, checkpoint) = signed_checkpoint(&site, &identity)?;
    let scratch = tempfile::tempdir().context("creating a scratch folder")?;
    let entries =
        fetch_entries(&site, &LocalLedger::open(scratch.path())?, checkpoint.size(), checkpoint.root())
            .map_err(|e| tampered(&site, "ledger", format!("{e:#}")))?;
    let text = config_text(&site, &keys, &entries)?;
    let mut config: Config = toml::from_str(&text).context("the recovered config does not parse")?;
    if config.repo_id()? != repo_id || config.owner.public_key != hex::encode(keys.owner_public_key()) {
        return Err(tampered(&site, "config", "it belongs to another archive or owner".into()));
    }
    let name = locate(&mut config)?;
    write_home(config_path, &config, key_files, &entries, (&name, &note))?;
    if let Some((manifest, bytes)) = &unlocked.custody {
        crate::custody::save_local_manifest(&config.state_dir(config_path), manifest, bytes)?;
    }
    let checked = check_sites(config_path, password, &name);
    if checked.is_err() {
        // Refused: leave no half-trusted home behind, so that another site can be tried.
        let _ = std::fs::remove_file(config_path);
        let _ = std::fs::remove_dir_all(config.state_dir(config_path));
    }
    let (archive, view) = checked?;
    // The recovered password can recover again from every site server, not only this one.
    if matches!(credential, Credential::Password(_)) {
        crate::recovery_keys::register(&archive, password, &archive.key_id)?;
    }
    let tampered_elsewhere =
        view.sites.iter().filter_map(|s| view.problem(&s.site)).map(|p| p.to_string()).collect();
    Ok(RecoverReport {
        config: config_path.to_path_buf(),
        site: name,
        key_files: key_files.len(),
        ledger_entries: view.size,
        snapshots: view.entries.iter().filter(|e| matches!(e.event, Event::Snapshot(_))).count(),
        sites_reachable: archive.sites.iter().map(|s| s.name().to_string()).collect(),
        tampered_elsewhere,
        by_shares: unlocked.custody.is_some(),
        shares_left_out: unlocked.left_out,
    })
}

/// Opens the recovered home and checks every reachable site against its ledger; fails if the
/// site recovered from is found tampered with.
fn check_sites(
    config_path: &Path,
    password: &[u8],
    from: &str,
) -> Result<(Archive, crate::ledger::LedgerView)> {
    let archive = Archive::open(config_path, password)?;
    // What every reachable site remembers of the others: a site rolled back behind what it
    // once vouched for, the one recovered from included, is caught by the verification below.
    crate::ledger::memory::import(&archive, &LocalLedger::open(&archive.state_dir())?)?;
    let view = archive.ledger()?.clone();
    if let Some(problem) = view.problem(from) {
        return Err(problem.into());
    }
    Ok((archive, view))
}

/// The folder as a site, and the archive id its marker names.
fn open_folder(dir: &Path) -> Result<(Site, [u8; 32])> {
    let probe = chancery_store::fs::FsBackend::open(dir)
        .with_context(|| format!("{} is not a readable folder", dir.display()))?;
    let marker = chancery_store::Backend::get(&probe, ObjectKind::Meta, MARKER_NAME)
        .with_context(|| format!("{} is not a Chancery site (no meta/{MARKER_NAME})", dir.display()))?;
    let repo_id = marker_archive(&marker, &dir.display().to_string())?;
    let config = recovering_site(Endpoint::Dir { dir: dir.to_path_buf() })?;
    Ok((Site::open(&config, &repo_id, None, None, None)?, repo_id))
}

/// The archive id a site's marker names.
fn marker_archive(marker: &[u8], location: &str) -> Result<[u8; 32]> {
    let text = String::from_utf8_lossy(marker);
    let repo_hex = text.lines().find_map(|l| l.strip_prefix("archive ")).unwrap_or_default();
    let mut repo_id = [0u8; 32];
    hex::decode_to_slice(repo_hex, &mut repo_id)
        .with_context(|| format!("the marker of {location} names no archive"))?;
    Ok(repo_id)
}

/// The site recovered from, before the recovered config names it.
fn recovering_site(endpoint: Endpoint) -> Result<SiteConfig> {
    Ok(SiteConfig {
        name: "recovering".into(),
        endpoint,
        location: "0,0".parse().map_err(anyhow::Error::msg)?,
        jurisdiction: "ZZ".into(),
        tier: 0,
        upload_timeout_secs: 300,
        limit_upload_kib: None,
        limit_download_kib: None,
    })
}

/// The site server, signed into with the password's recovery key, and its archive id.
fn open_server(address: &ServerAddress, password: &[u8]) -> Result<(Site, [u8; 32])> {
    let site_key = chancery_protocol::parse_public_key("site key", &address.site_key)?;
    let signing = recovery_signing_key(password, &site_key, &address.tenant);
    let identity = OwnerIdentity::from_signing_key(signing);
    let config = recovering_site(Endpoint::Server {
        url: address.url.clone(),
        site_key: hex::encode(site_key),
        tenant: address.tenant.clone(),
    })?;
    let site = Site::server(&config, remote_backend(&config, Some(&identity))?);
    let marker = match site.backend.get(ObjectKind::Meta, MARKER_NAME) {
        Ok(marker) => marker,
        Err(StoreError::PermissionDenied { .. }) => {
            return Err(AuthError(format!(
                "site {} refused the recovery key of this password (or these shares) for tenant {}: \
             the password is wrong, the tenant name is not ours there, or the recovery key was \
             never registered (a home that still has the password registers it with `chancery \
             sync`; shares are registered by `custody split`)",
                address.url, address.tenant
            ))
            .into())
        }
        Err(e) => {
            return Err(e).with_context(|| format!("reaching {} (tenant {})", address.url, address.tenant))
        }
    };
    let repo_id = marker_archive(&marker, &address.url)?;
    Ok((site, repo_id))
}

/// Points the configured site that the server is at its address; returns its name.
fn point_server_at(config: &mut Config, address: &ServerAddress, as_site: Option<&str>) -> Result<String> {
    let same = |s: &SiteConfig| {
        matches!(&s.endpoint, Endpoint::Server { site_key, tenant, .. }
            if site_key.eq_ignore_ascii_case(&address.site_key) && *tenant == address.tenant)
    };
    let name = match as_site {
        Some(name) => config.site(name)?.name.clone(),
        None => match config.sites.iter().find(|s| same(s)) {
            Some(site) => site.name.clone(),
            None => bail!(
                "no configured site has key {} and tenant {}; say which one it is with --site NAME",
                address.site_key,
                address.tenant
            ),
        },
    };
    let site = config.sites.iter_mut().find(|s| s.name == name).expect("found above");
    site.endpoint = Endpoint::Server {
        url: address.url.clone(),
        site_key: address.site_key.to_ascii_lowercase(),
        tenant: address.tenant.clone(),
    };
    Ok(name)
}

/// Opens a key file of the site with the credential, reading every key file the site holds.
fn unlock(site: &Site, credential: &Credential, repo_id: &[u8; 32]) -> Result<Unlocked> {
    let mut files = Vec::new();
    for id in list_ids(site, ObjectKind::Key)? {
        files.push((id, get_verified(site, ObjectKind::Key, &id)?));
    }
    let password = match credential {
        Credential::Password(password) => password,
        Credential::Shares(shares) => {
            let manifests = crate::custody::site_manifests(site)?;
            let place = format!("site folder {}", site.backend.location());
            let u = unlock_with_shares(&files, &manifests, shares, &place)?;
            if u.opened.info.repo_id != *repo_id {
                return Err(tampered(site, "custody key file", "it opens another archive".into()));
            }
            let password = Zeroizing::new(u.secret.to_vec());
            let custody = Some(u.manifest);
            return Ok(Unlocked { opened: u.opened, files, password, custody, left_out: u.left_out });
        }
    };
    let opened = open_with_password(site, &files, password, repo_id)?;
    Ok(Unlocked { opened, files, password: password.clone(), custody: None, left_out: Vec::new() })
}

/// Tries the password on every key file.
fn open_with_password(
    site: &Site,
    files: &[KeyFile],
    password: &[u8],
    repo_id: &[u8; 32],
) -> Result<OpenedKey> {
    for (_, bytes) in files {
        match open_key_file(bytes, password) {
            Ok(opened) if opened.info.repo_id == *repo_id => return Ok(opened),
            Ok(_) | Err(FormatError::WrongPassword) => continue,
            Err(e) => eprintln!("warning: skipping a key file at the site: {e}"),
        }
    }
    bail!("wrong password: it opens none of the {} key files at {}", files.len(), site.backend.location())
}

/// The site's newest checkpoint, signed by the owner.
fn signed_checkpoint(site: &Site, identity: &LogIdentity) -> Result<(Vec<u8>, Checkpoint)> {
    let Some(note) = site_checkpoint(site)? else {
        bail!(
            "{} holds no ledger checkpoint: it cannot be verified (made by an earlier release?)",
            site.backend.location()
        )
    };
    let (checkpoint, _) =
        check_signatures(&site.config, identity, &note).map_err(|p| tampered(site, "ledger", p))?;
    Ok((note, checkpoint))
}

/// The config text the newest `config` entry names.
fn config_text(
    site: &Site,
    keys: &chancery_format::keys::Keys,
    entries: &[chancery_ledger::Entry],
) -> Result<String> {
    let id = entries
        .iter()
        .rev()
        .find_map(|e| match &e.event {
            Event::Config(id) => Some(id.clone()),
            _ => None,
        })
        .context("the ledger records no config copy (made by an earlier release?)")?;
    let name = config_copy::object_name(&id);
    let bytes = site.backend.get(ObjectKind::Meta, &name).map_err(|e| {
        tampered(site, &format!("meta {name}"), format!("the config the ledger names is not there: {e}"))
    })?;
    config_copy::open(keys, &id, &bytes)
        .map_err(|e| tampered(site, &format!("meta {name}"), format!("{e:#}")))
}

/// Points the configured site that `dir` is at `dir`; returns its name.
fn point_site_at(config: &mut Config, dir: &Path, as_site: Option<&str>) -> Result<String> {
    let dir = std::path::absolute(dir)?;
    let same = |s: &SiteConfig| matches!(&s.endpoint, Endpoint::Dir { dir: d } if *d == dir);
    let name = match as_site {
        Some(name) => config.site(name)?.name.clone(),
        None => match config.sites.iter().find(|s| same(s)) {
            Some(site) => site.name.clone(),
            None => {
                let names: Vec<&str> = config.sites.iter().map(|s| s.name.as_str()).collect();
                bail!(
                    "which configured site is {}? say it with --site NAME (one of {})",
                    dir.display(),
                    names.join(", ")
                )
            }
        },
    };
    let site = config.sites.iter_mut().find(|s| s.name == name).expect("found above");
    site.endpoint = Endpoint::Dir { dir };
    Ok(name)
}

/// Writes the key files, the ledger (with what the site vouched for) and the config.
fn write_home(
    config_path: &Path,
    config: &Config,
    key_files: &[KeyFile],
    entries: &[chancery_ledger::Entry],
    (site, note): (&str, &[u8]),
) -> Result<()> {
    let state = config.state_dir(config_path);
    let keys_dir = state.join("keys");
    for (id, bytes) in key_files {
        crate::fsutil::write_atomic(&keys_dir.join(id.to_hex()), bytes)
            .with_context(|| format!("writing into {}", keys_dir.display()))?;
    }
    let mut ledger = LocalLedger::open(&state)?;
    if ledger.size() > 0 {
        bail!("{} already holds a ledger; recover into a new home", state.display());
    }
    for entry in entries {
        ledger.append_entry(entry.clone())?;
    }
    if Note::parse(note).is_ok() {
        ledger.remember(site, note)?;
    }
    config.save(config_path)
}

fn tampered(site: &Site, object: &str, detail: String) -> anyhow::Error {
    IntegrityError { site: site.backend.location(), object: object.to_string(), detail }.into()
}
