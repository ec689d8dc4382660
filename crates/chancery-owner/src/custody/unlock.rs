//! Opening the archive with custodians' shares instead of a password: a function of the key
//! files and manifests at hand (from a site folder, a site server or the local home), so that
//! every recovery path shares it.
//!
//! Order of trust: each share's words carry a checksum; each share must be listed (by hash)
//! in the owner-signed manifest of its generation, and carry no other manifest, else it is
//! named as corrupted or forged and left out; shares of an older generation are named as
//! stale. Only then are `threshold` shares combined, and the secret must open the custody key
//! file the manifest names, whose master key must derive the owner key that signed it.

use super::ShareInput;
use crate::error::ShareIntegrityError;
use anyhow::{bail, Result};
use chancery_format::custody::{combine, Manifest, RecoverySecret, ShareFile};
use chancery_format::keyfile::{open_key_file, OpenedKey};
use chancery_format::ObjectId;
use std::collections::BTreeMap;

/// The archive opened by shares (not `Debug`: it holds the secret).
pub struct Unlocked {
    /// The custody key file, opened.
    pub opened: OpenedKey,
    /// The recovery secret (it opens the custody key file, as a password opens its own).
    pub secret: RecoverySecret,
    /// The manifest of the generation used, and its bytes.
    pub manifest: (Manifest, Vec<u8>),
    /// Shares left out, each named with why; recovery went on with the others.
    pub left_out: Vec<String>,
}

impl std::fmt::Debug for Unlocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Unlocked(generation {}, secret <hidden>)", self.manifest.0.generation)
    }
}

/// Opens the custody key file among `key_files` with `shares`. `manifests` are the custody
/// manifests found at `place` (named by where each was found); a share file's own copy is used
/// when `place` holds none of its generation.
pub fn unlock_with_shares(
    key_files: &[(ObjectId, Vec<u8>)],
    manifests: &[(String, Vec<u8>)],
    shares: &[ShareInput],
    place: &str,
) -> Result<Unlocked> {
    let Combined { secret, manifest, bytes, left_out } = combine_shares(manifests, shares, place)?;
    let opened = open_custody_key(key_files, &manifest, &secret, place)?;
    Ok(Unlocked { opened, secret, manifest: (manifest, bytes), left_out })
}

/// The secret `shares` combine to, checked against the manifest of their generation (from
/// `manifests`, or the share files' own copy), before any key file is at hand.
pub struct Combined {
    /// The recovery secret.
    pub secret: RecoverySecret,
    /// The manifest used.
    pub manifest: Manifest,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Shares left out, each named with why.
    pub left_out: Vec<String>,
}

/// Checks each share against its generation's manifest and combines `threshold` valid ones.
/// The secret still has to open the custody key file (`unlock_with_shares`); a site server is
/// reached first with the recovery key derived from it (`recover --url --share`).
pub fn combine_shares(
    manifests: &[(String, Vec<u8>)],
    shares: &[ShareInput],
    place: &str,
) -> Result<Combined> {
    let mut left_out = Vec::new();
    let mut parsed = Vec::new();
    for share in shares {
        match &share.parsed {
            Ok(file) => parsed.push((share.name.as_str(), file)),
            Err(e) => left_out.push(format!("{}: corrupted: {e}", share.name)),
        }
    }
    let known = verified_manifests(manifests);
    let generation = pick_generation(&known, &parsed, &mut left_out)?;
    let (manifest, bytes) = manifest_for(generation, &known, &parsed, place)?;
    let valid = check_shares(&manifest, &bytes, &parsed, &mut left_out);
    let threshold = usize::from(manifest.threshold);
    if valid.len() < threshold {
        let short = format!("{} valid shares given, {threshold} needed", valid.len());
        if left_out.is_empty() {
            bail!("{} shares given, {threshold} needed", valid.len());
        }
        return Err(ShareIntegrityError { detail: format!("{}; {short}", left_out.join("; ")) }.into());
    }
    let records: Vec<_> = valid.values().map(|f| &f.record).take(threshold).collect();
    let secret = combine(&records, manifest.threshold)
        .ok_or_else(|| ShareIntegrityError { detail: "the shares do not combine".into() })?;
    Ok(Combined { secret, manifest, bytes, left_out })
}

/// The recovery secret for the home at `config_path`, from share files: how a home recovered
/// with shares opens before it has a password of its own (`CHANCERY_SHARES`).
pub fn secret_for_home(config_path: &std::path::Path, shares: &[ShareInput]) -> Result<RecoverySecret> {
    let config = crate::config::Config::load(config_path)?;
    let keys_dir = crate::archive::keys_dir(&config, config_path);
    let key_files = crate::archive::read_key_files(&keys_dir)?;
    let manifests = super::local_manifests(&config.state_dir(config_path).join("custody"))?;
    let unlocked = unlock_with_shares(&key_files, &manifests, shares, &keys_dir.display().to_string())?;
    for why in &unlocked.left_out {
        eprintln!("warning: share left out: {why}");
    }
    Ok(unlocked.secret)
}

/// The manifests that parse and carry a valid signature of the key they name, by generation.
fn verified_manifests(manifests: &[(String, Vec<u8>)]) -> BTreeMap<u32, (Manifest, Vec<u8>)> {
    let mut known = BTreeMap::new();
    for (place, bytes) in manifests {
        match Manifest::parse(bytes) {
            Ok(m) => {
                known.insert(m.generation, (m, bytes.clone()));
            }
            Err(e) => eprintln!("warning: {place}: {e}"),
        }
    }
    known
}

/// The generation to recover with: the newest of the manifests at hand and of the shares (a
/// site missed by the last split lacks its manifest; the share files carry it). Shares of
/// older generations are left out.
fn pick_generation(
    known: &BTreeMap<u32, (Manifest, Vec<u8>)>,
    parsed: &[(&str, &ShareFile)],
    left_out: &mut Vec<String>,
) -> Result<u32> {
    let newest_share = parsed.iter().map(|(_, f)| f.record.generation).max();
    let current = known.keys().next_back().copied().max(newest_share);
    let Some(current) = current else {
        bail!("no readable share given: {}", left_out.join("; "));
    };
    let mut stale = Vec::new();
    for (name, file) in parsed {
        if file.record.generation < current {
            stale.push(format!(
                "{name}: share of custody generation {}; the archive is at generation {current} \
                 (a newer split made it useless)",
                file.record.generation
            ));
        }
    }
    if !stale.is_empty() && stale.len() == parsed.len() {
        bail!("{}", stale.join("; "));
    }
    left_out.extend(stale);
    Ok(current)
}

/// The manifest of `generation`: the one at the place, else the one the share files carry.
fn manifest_for(
    generation: u32,
    known: &BTreeMap<u32, (Manifest, Vec<u8>)>,
    parsed: &[(&str, &ShareFile)],
    place: &str,
) -> Result<(Manifest, Vec<u8>)> {
    if let Some(found) = known.get(&generation) {
        return Ok(found.clone());
    }
    for (name, file) in parsed.iter().filter(|(_, f)| f.record.generation == generation) {
        let Some(bytes) = &file.manifest else { continue };
        match Manifest::parse(bytes) {
            Ok(m) if m.generation == generation => return Ok((m, bytes.clone())),
            _ => {
                return Err(ShareIntegrityError {
                    detail: format!("{name}: its custody manifest does not verify (corrupted or forged)"),
                }
                .into())
            }
        }
    }
    bail!(
        "{place} holds no custody manifest of generation {generation} and the shares carry none: \
         give at least one complete share file"
    )
}

/// The shares the manifest lists, by share number; the others are named in `left_out`.
fn check_shares<'a>(
    manifest: &Manifest,
    bytes: &[u8],
    parsed: &[(&str, &'a ShareFile)],
    left_out: &mut Vec<String>,
) -> BTreeMap<u8, &'a ShareFile> {
    let mut valid = BTreeMap::new();
    for (name, file) in parsed.iter().filter(|(_, f)| f.record.generation == manifest.generation) {
        let listed = manifest.share_hashes.get(usize::from(file.record.x).wrapping_sub(1));
        if file.manifest.as_deref().is_some_and(|m| m != bytes) {
            left_out.push(format!("{name}: forged or corrupted: it carries another custody manifest"));
        } else if listed != Some(&file.record.hash()) {
            left_out.push(format!(
                "{name}: forged or corrupted: not a share of custody generation {}",
                manifest.generation
            ));
        } else {
            valid.insert(file.record.x, *file);
        }
    }
    valid
}

/// Opens the manifest's custody key file with the secret, and checks where it leads.
fn open_custody_key(
    key_files: &[(ObjectId, Vec<u8>)],
    manifest: &Manifest,
    secret: &RecoverySecret,
    place: &str,
) -> Result<OpenedKey> {
    let Some((_, bytes)) = key_files.iter().find(|(id, _)| *id == manifest.key_file) else {
        bail!(
            "{place} holds no custody key file of generation {} ({}): removed by a newer split, \
             or not copied there yet",
            manifest.generation,
            manifest.key_file.short()
        )
    };
    let refused = |detail: &str| ShareIntegrityError { detail: detail.to_string() };
    let opened = open_key_file(bytes, &secret[..])
        .map_err(|_| refused("the shares combine to a secret that does not open the custody key file"))?;
    if opened.ring.derive().owner_public_key() != manifest.owner_key
        || opened.info.repo_id != manifest.repo_id
    {
        return Err(refused("the custody key file leads to another owner than signed the manifest").into());
    }
    Ok(opened)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chancery_format::custody::{new_secret, split, ShareError};
    use chancery_format::keyfile::{seal_custody_key_file, KeyInfo};
    use chancery_format::keys::{KeyRing, MasterKey, Suite};

    struct Fixture {
        key_files: Vec<(ObjectId, Vec<u8>)>,
        manifest: Vec<u8>,
        shares: Vec<ShareFile>,
    }

    fn fixture(generation: u32, master: &MasterKey) -> Fixture {
        let secret = new_secret();
        let info = KeyInfo { repo_id: [1; 32], created_sec: 0, hostname: "h".into(), label: "c".into() };
        let key_file = seal_custody_key_file(
            &KeyRing::single(MasterKey::from_bytes(*master.expose()), Suite::NEWEST),
            info,
            &secret,
        );
        let records = split(&secret, generation, 3, 5);
        let keys = master.derive();
        let manifest = Manifest {
            generation,
            threshold: 3,
            created_sec: 0,
            repo_id: [1; 32],
            owner_key: keys.owner_public_key(),
            key_file: ObjectId::of(&key_file),
            share_hashes: records.iter().map(|r| r.hash()).collect(),
        }
        .sign(&keys);
        let shares = records
            .into_iter()
            .map(|record| ShareFile { record, manifest: Some(manifest.clone()) })
            .collect();
        Fixture { key_files: vec![(ObjectId::of(&key_file), key_file)], manifest, shares }
    }

    fn inputs(files: &[ShareFile]) -> Vec<ShareInput> {
        files
            .iter()
            .enumerate()
            .map(|(i, f)| ShareInput { name: format!("s{i}"), parsed: Ok(f.clone()) })
            .collect()
    }

    #[test]
    fn three_of_five_open_and_a_forged_one_is_named_and_left_out() {
        let master = MasterKey::generate();
        let fx = fixture(1, &master);
        let at_site = vec![("site".to_string(), fx.manifest.clone())];
        let unlocked =
            unlock_with_shares(&fx.key_files, &at_site, &inputs(&fx.shares[1..4]), "site").unwrap();
        assert_eq!(unlocked.opened.ring.generations()[0].master.expose(), master.expose());
        let mut forged = fx.shares[..4].to_vec();
        forged[0].record.y[5] ^= 1;
        let unlocked = unlock_with_shares(&fx.key_files, &at_site, &inputs(&forged), "site").unwrap();
        assert_eq!(unlocked.left_out.len(), 1);
        assert!(unlocked.left_out[0].starts_with("s0: forged"), "{:?}", unlocked.left_out);
        let err = unlock_with_shares(&fx.key_files, &[], &inputs(&forged[..3]), "site").unwrap_err();
        assert!(err.is::<ShareIntegrityError>() && err.to_string().contains("s0"), "{err}");
    }

    #[test]
    fn too_few_stale_and_unreadable_shares() {
        let master = MasterKey::generate();
        let old = fixture(1, &master);
        let new = fixture(2, &master);
        let at_site = vec![("a".to_string(), old.manifest.clone()), ("b".to_string(), new.manifest.clone())];
        let err =
            unlock_with_shares(&new.key_files, &at_site, &inputs(&new.shares[..2]), "site").unwrap_err();
        assert_eq!(err.to_string(), "2 shares given, 3 needed");
        let err =
            unlock_with_shares(&new.key_files, &at_site, &inputs(&old.shares[..3]), "site").unwrap_err();
        assert!(err.to_string().contains("share of custody generation 1; the archive is at generation 2"));
        let mut given = inputs(&new.shares[..3]);
        given.push(ShareInput { name: "typo".into(), parsed: Err(ShareError::Checksum) });
        let unlocked = unlock_with_shares(&new.key_files, &at_site, &given, "site").unwrap();
        assert!(unlocked.left_out[0].starts_with("typo: corrupted"));
        // A site that missed the newer split: the share files carry its manifest.
        let behind = vec![("a".to_string(), old.manifest.clone())];
        unlock_with_shares(&new.key_files, &behind, &inputs(&new.shares[2..]), "site").unwrap();
    }
}
