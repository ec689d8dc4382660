//! Custodians (`custody split|status`): K of N people together can open the archive when the
//! home and its passwords are gone. `split` makes a random recovery secret, seals the master
//! key with it into a custody key file (stored locally and at every site like any key file,
//! and recorded in the ledger), splits the secret into share files, and signs a manifest of
//! the shares that every share file and every site carries (`meta/custody-<generation>`).
//! A new split removes the previous generation's custody key file everywhere, which makes the
//! old shares useless. Recovery from shares is in [`unlock`].

mod files;
pub mod unlock;

pub use files::{parse_recipient, read_identities, read_share_file, ShareInput};

use crate::admin::{key_info, record_key_change, write_local_key};
use crate::archive::Archive;
use crate::site::Site;
use anyhow::{bail, Context, Result};
use chancery_format::custody::{new_secret, Manifest};
use chancery_format::keyfile::seal_custody_key_file;
use chancery_format::ObjectId;
use chancery_store::ObjectKind;
use std::path::{Path, PathBuf};

/// Prefix of a custody manifest's name, at a site (`meta/`) and locally (`<state>/custody/`).
pub const MANIFEST_PREFIX: &str = "custody-";

/// The name of the manifest of `generation`: zero-padded so that names sort by generation.
pub fn manifest_name(generation: u32) -> String {
    format!("{MANIFEST_PREFIX}{generation:010}")
}

/// What `custody split` is asked for.
pub struct SplitOptions {
    /// Shares to make (N).
    pub shares: u8,
    /// Shares needed to recover (K).
    pub threshold: u8,
    /// Folder the share files go to (created; existing share files are not overwritten).
    pub out: PathBuf,
    /// age X25519 recipients, none or one per share in order (`age1...`).
    pub recipients: Vec<age::x25519::Recipient>,
}

/// What `custody split` made.
#[derive(Debug, serde::Serialize)]
pub struct SplitReport {
    /// The new custody generation.
    pub generation: u32,
    /// Shares made.
    pub shares: u8,
    /// Shares needed.
    pub threshold: u8,
    /// The share files written (text or age armor), each with a QR code PNG next to it.
    pub files: Vec<PathBuf>,
    /// The new custody key file.
    pub key_file: String,
    /// Sites that hold it.
    pub sites: Vec<String>,
    /// The previous generation's custody key file, removed locally and at every reachable site.
    pub removed: Option<String>,
}

/// Splits a new recovery secret into share files; see the module documentation.
pub fn split(archive: &Archive, opts: &SplitOptions) -> Result<SplitReport> {
    if opts.threshold < 2 || opts.threshold > opts.shares {
        bail!("the threshold must be at least 2 and at most the number of shares");
    }
    if !opts.recipients.is_empty() && opts.recipients.len() != usize::from(opts.shares) {
        bail!("give one --age-recipient per share ({}), or none", opts.shares);
    }
    let previous = newest_manifest(archive)?;
    let generation = previous.as_ref().map_or(1, |m| m.generation + 1);
    let secret = new_secret();
    let label = format!("custody generation {generation}");
    let key_file = seal_custody_key_file(&archive.ring, key_info(archive.repo_id, &label), &secret);
    let records = chancery_format::custody::split(&secret, generation, opts.threshold, opts.shares);
    let manifest = Manifest {
        generation,
        threshold: opts.threshold,
        created_sec: key_info(archive.repo_id, "").created_sec,
        repo_id: archive.repo_id,
        owner_key: archive.keys.owner_public_key(),
        key_file: ObjectId::of(&key_file),
        share_hashes: records.iter().map(|r| r.hash()).collect(),
    };
    let signed = manifest.sign(&archive.keys);
    let files = files::write_shares(&opts.out, &records, &signed, &opts.recipients, &manifest)?;
    let key_id = store(archive, &key_file, generation, &signed)?;
    let removed = match previous {
        Some(old) if old.key_file != key_id => Some(remove_key_file(archive, &old.key_file)?),
        _ => None,
    };
    register_recovery_key(archive, &secret, &key_id)?;
    record_key_change(archive)?;
    Ok(SplitReport {
        generation,
        shares: opts.shares,
        threshold: opts.threshold,
        files,
        key_file: key_id.to_hex(),
        sites: archive.sites.iter().map(|s| s.name().to_string()).collect(),
        removed: removed.map(|id| id.to_hex()),
    })
}

/// Writes the custody key file and the manifest locally and to every reachable site.
fn store(archive: &Archive, key_file: &[u8], generation: u32, manifest: &[u8]) -> Result<ObjectId> {
    let id = write_local_key(&archive.keys_dir(), key_file)?;
    let local = local_dir(archive).join(manifest_name(generation));
    crate::fsutil::write_atomic(&local, manifest).with_context(|| format!("writing {}", local.display()))?;
    for site in &archive.sites {
        site.backend.put(ObjectKind::Key, &id.to_hex(), key_file)?;
        if site.backend.stat(ObjectKind::Meta, &manifest_name(generation))?.is_none() {
            site.backend.put(ObjectKind::Meta, &manifest_name(generation), manifest)?;
        }
        site.backend.sync()?;
    }
    Ok(id)
}

/// Registers, at every site server, the recovery key derived from the secret (as from a
/// password), so that the shares alone open a site server (`recover --url --share`), and
/// removes there the registrations of key files no longer held (the previous split's).
fn register_recovery_key(archive: &Archive, secret: &[u8; 32], key_id: &ObjectId) -> Result<()> {
    let live: std::collections::BTreeSet<String> =
        crate::archive::read_key_files(&archive.keys_dir())?.into_iter().map(|(id, _)| id.to_hex()).collect();
    for site in &archive.sites {
        crate::recovery_keys::prune(site, &live)?;
    }
    crate::recovery_keys::forget_removed(&archive.state_dir(), &live)?;
    crate::recovery_keys::register(archive, secret, key_id)?;
    Ok(())
}

/// Removes an old custody key file locally and at every reachable site (the ledger then
/// records `key-removed`). A key file already gone is not an error: a re-run after a failure.
fn remove_key_file(archive: &Archive, id: &ObjectId) -> Result<ObjectId> {
    for site in &archive.sites {
        if site.backend.stat(ObjectKind::Key, &id.to_hex())?.is_some() {
            crate::governance::keys::remove_or_keep(site, ObjectKind::Key, &id.to_hex())?;
            site.backend.sync()?;
        }
    }
    let path = archive.keys_dir().join(id.to_hex());
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(*id),
    }
}

/// The local folder of custody manifests.
fn local_dir(archive: &Archive) -> PathBuf {
    archive.state_dir().join("custody")
}

/// The newest manifest of this archive's owner, local or at any reachable site. Manifests
/// that do not verify are skipped with a warning: a site cannot forge a newer generation.
pub fn newest_manifest(archive: &Archive) -> Result<Option<Manifest>> {
    let mut found = local_manifests(&local_dir(archive))?;
    for site in &archive.sites {
        found.extend(site_manifests(site)?);
    }
    let owner = archive.keys.owner_public_key();
    let mut newest: Option<Manifest> = None;
    for (place, bytes) in found {
        match Manifest::parse(&bytes) {
            Ok(m) if m.owner_key == owner && m.repo_id == archive.repo_id => {
                if newest.as_ref().is_none_or(|n| m.generation > n.generation) {
                    newest = Some(m);
                }
            }
            Ok(_) => eprintln!("warning: {place}: a custody manifest of another owner or archive"),
            Err(e) => eprintln!("warning: {place}: {e}"),
        }
    }
    Ok(newest)
}

/// Every custody manifest a site holds, named by where it was found.
pub fn site_manifests(site: &Site) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for object in site.backend.list(ObjectKind::Meta)? {
        if object.name.starts_with(MANIFEST_PREFIX) {
            let bytes = site.backend.get(ObjectKind::Meta, &object.name)?;
            out.push((format!("site {} meta/{}", site.name(), object.name), bytes));
        }
    }
    Ok(out)
}

/// Every custody manifest in a local folder.
pub fn local_manifests(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for path in crate::fsutil::entries_if_any(dir)? {
        if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(MANIFEST_PREFIX)) {
            let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            out.push((path.display().to_string(), bytes));
        }
    }
    Ok(out)
}

/// Saves a manifest into a home's local folder (after a recovery from shares).
pub fn save_local_manifest(state_dir: &Path, manifest: &Manifest, bytes: &[u8]) -> Result<()> {
    let path = state_dir.join("custody").join(manifest_name(manifest.generation));
    crate::fsutil::write_atomic(&path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// `custody status`.
#[derive(Debug, serde::Serialize)]
pub struct CustodyStatus {
    /// Whether the archive was ever split.
    pub split: bool,
    /// The current generation.
    pub generation: Option<u32>,
    /// When it was split (seconds since the epoch).
    pub created_sec: Option<i64>,
    /// Shares made.
    pub shares: Option<usize>,
    /// Shares needed.
    pub threshold: Option<u8>,
    /// The custody key file.
    pub key_file: Option<String>,
    /// Whether the local home holds it.
    pub local: bool,
    /// Reachable sites holding it.
    pub sites: Vec<String>,
    /// Reachable sites missing it (`custody split` again, or `sync`, to repair).
    pub missing_at: Vec<String>,
}

/// The current custody generation and where its key file is.
pub fn status(archive: &Archive) -> Result<CustodyStatus> {
    let Some(m) = newest_manifest(archive)? else {
        return Ok(CustodyStatus {
            split: false,
            generation: None,
            created_sec: None,
            shares: None,
            threshold: None,
            key_file: None,
            local: false,
            sites: Vec::new(),
            missing_at: Vec::new(),
        });
    };
    let name = m.key_file.to_hex();
    let (mut sites, mut missing_at) = (Vec::new(), Vec::new());
    for site in &archive.sites {
        let held = site.backend.stat(ObjectKind::Key, &name)?.is_some();
        let list = if held { &mut sites } else { &mut missing_at };
        list.push(site.name().to_string());
    }
    Ok(CustodyStatus {
        split: true,
        generation: Some(m.generation),
        created_sec: Some(m.created_sec),
        shares: Some(m.shares()),
        threshold: Some(m.threshold),
        local: archive.keys_dir().join(&name).exists(),
        key_file: Some(name),
        sites,
        missing_at,
    })
}
