//! A governor's signing key, kept in a file of its own (never in the owner's key files: the
//! point of governance is that whoever holds the home's password does not hold this too).
//!
//! Format: `chancery-governor-key v1\n<64 lower-case hex of the Ed25519 seed>\n`, mode 0600.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{bail, Context, Result};
use ed25519_dalek::SigningKey;
use zeroize::Zeroizing;

const HEADER: &str = "chancery-governor-key v1";

/// Creates a new governor key at `path` (which must not exist); its public key.
pub fn create(path: &Path) -> Result<[u8; 32]> {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let text = Zeroizing::new(format!("{HEADER}\n{}\n", hex::encode(key.to_bytes())));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    file.write_all(text.as_bytes()).and_then(|()| file.sync_all())?;
    Ok(key.verifying_key().to_bytes())
}

/// Reads the governor key at `path`, refusing one that others may read.
pub fn load(path: &Path) -> Result<SigningKey> {
    let meta = fs::metadata(path).with_context(|| format!("reading the governor key {}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!("{} is readable by other users; run `chmod 600 {}`", path.display(), path.display());
    }
    let text =
        Zeroizing::new(fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?);
    let mut lines = text.lines();
    let (Some(HEADER), Some(seed), None) = (lines.next(), lines.next(), lines.next()) else {
        bail!("{} is not a governor key (made by `chancery governance key --out FILE`)", path.display());
    };
    let mut bytes = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(seed, &mut *bytes)
        .with_context(|| format!("{}: the key is not 64 hex digits", path.display()))?;
    Ok(SigningKey::from_bytes(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_round_trips_and_stays_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gov.key");
        let public = create(&path).unwrap();
        assert_eq!(load(&path).unwrap().verifying_key().to_bytes(), public);
        assert!(create(&path).is_err(), "never overwritten");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("chmod 600"));
        fs::write(dir.path().join("bad"), "hello\n").unwrap();
        fs::set_permissions(dir.path().join("bad"), fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(&dir.path().join("bad")).is_err());
    }
}
