//! Recovery keys: an Ed25519 key derived from a password for one tenant at one site, with
//! which a new machine that has only the password, the site's address and its key can read
//! the key files, the ledger and the encrypted config there (see FORMAT.md "Recovery keys").
//!
//! `seed = Argon2id(password, salt, m = 64 MiB, t = 3, p = 1)` with
//! `salt = BLAKE3-derive-key("chancery 2026-11 recovery key v1", site key ‖ u16-LE length ‖ tenant)`.
//! The salt is fixed by what the user types at recovery (site key and tenant), so nothing
//! needs to be stored to derive it again; it differs per site and tenant, so one password's
//! keys cannot be linked across sites and no table of common passwords serves all owners.
//! The cost is at least that of a key file (it was the key files' default until 2026-12-06,
//! whose 46 MiB and 4 passes cost a guesser about as much): a site that holds the public key
//! can guess the password no faster than with the key files it holds anyway. This cost is
//! fixed by the format, since nothing stored names it.

use crate::keyfile::{derive_kek, KdfParams};
use ed25519_dalek::SigningKey;

/// BLAKE3 key-derivation context of the salt.
pub const RECOVERY_SALT_CONTEXT: &str = "chancery 2026-11 recovery key v1";

/// The recovery key's Argon2id cost, fixed by the format: sites hold the public keys derived
/// with it, so it stays `p = 1` although new key files use two lanes.
pub const RECOVERY_KDF: KdfParams = KdfParams { m_kib: 64 * 1024, t: 3, p: 1 };

/// The salt of the recovery keys at `site_key` for `tenant`.
pub fn recovery_salt(site_key: &[u8; 32], tenant: &str) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key(RECOVERY_SALT_CONTEXT);
    hasher.update(site_key);
    let len = u16::try_from(tenant.len()).unwrap_or(u16::MAX);
    hasher.update(&len.to_le_bytes());
    hasher.update(tenant.as_bytes());
    *hasher.finalize().as_bytes()
}

/// The recovery key of `password` for `tenant` at the site whose key is `site_key`.
pub fn recovery_signing_key(password: &[u8], site_key: &[u8; 32], tenant: &str) -> SigningKey {
    let seed = derive_kek(password, &recovery_salt(site_key, tenant), RECOVERY_KDF)
        .expect("the recovery Argon2 parameters are valid");
    SigningKey::from_bytes(&seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_depends_on_password_site_and_tenant() {
        let a = recovery_signing_key(b"pw", &[1; 32], "ee").verifying_key();
        assert_eq!(a, recovery_signing_key(b"pw", &[1; 32], "ee").verifying_key());
        assert_ne!(a, recovery_signing_key(b"pw2", &[1; 32], "ee").verifying_key());
        assert_ne!(a, recovery_signing_key(b"pw", &[2; 32], "ee").verifying_key());
        assert_ne!(a, recovery_signing_key(b"pw", &[1; 32], "lv").verifying_key());
        assert_ne!(recovery_salt(&[1; 32], "e"), recovery_salt(&[1; 32], "ee"));
    }
}
