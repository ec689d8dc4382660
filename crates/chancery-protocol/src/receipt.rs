//! Receipts: after a site has stored an object durably it answers with a receipt signed by its
//! Ed25519 site key. The owner keeps receipts as proof of what each site acknowledged.
//!
//! Signed message (UTF-8, `\n`-separated): `chancery-receipt-v1 | tenant | kind | name | size |
//! stored_at (unix seconds) | site key (64 hex)`.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

const CONTEXT: &str = "chancery-receipt-v1";

/// A site's signed acknowledgement that it durably holds an object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The tenant.
    pub tenant: String,
    /// Object kind (`packs`, ...).
    pub kind: String,
    /// Object name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was stored (unix seconds).
    pub stored_at: i64,
    /// The signing site's public key, hex.
    pub site_key: String,
    /// Ed25519 signature, hex.
    pub signature: String,
}

impl Receipt {
    fn message(&self) -> Vec<u8> {
        format!(
            "{CONTEXT}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.tenant, self.kind, self.name, self.size, self.stored_at, self.site_key
        )
        .into_bytes()
    }

    /// Makes and signs a receipt.
    pub fn sign(site: &SigningKey, tenant: &str, kind: &str, name: &str, size: u64, stored_at: i64) -> Self {
        let mut receipt = Receipt {
            tenant: tenant.into(),
            kind: kind.into(),
            name: name.into(),
            size,
            stored_at,
            site_key: hex::encode(site.verifying_key().to_bytes()),
            signature: String::new(),
        };
        receipt.signature = hex::encode(site.sign(&receipt.message()).to_bytes());
        receipt
    }

    /// True when signed by `site_key` and about exactly this object.
    pub fn verify(&self, site_key: &[u8; 32], tenant: &str, kind: &str, name: &str, size: u64) -> bool {
        if self.site_key != hex::encode(site_key)
            || (self.tenant.as_str(), self.kind.as_str(), self.name.as_str(), self.size)
                != (tenant, kind, name, size)
        {
            return false;
        }
        let mut sig = [0u8; 64];
        if hex::decode_to_slice(&self.signature, &mut sig).is_err() {
            return false;
        }
        let Ok(key) = VerifyingKey::from_bytes(site_key) else { return false };
        key.verify(&self.message(), &Signature::from_bytes(&sig)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_verify_only_for_their_object_and_site() {
        let site = SigningKey::from_bytes(&[3; 32]);
        let key = site.verifying_key().to_bytes();
        let r = Receipt::sign(&site, "ee", "packs", "ab", 10, 5);
        assert!(r.verify(&key, "ee", "packs", "ab", 10));
        assert!(!r.verify(&key, "ee", "packs", "ab", 11));
        assert!(!r.verify(&key, "lv", "packs", "ab", 10));
        assert!(!r.verify(
            &SigningKey::from_bytes(&[4; 32]).verifying_key().to_bytes(),
            "ee",
            "packs",
            "ab",
            10
        ));
        let mut forged = r.clone();
        forged.stored_at = 6;
        assert!(!forged.verify(&key, "ee", "packs", "ab", 10));
    }
}
