//! Secret keys. One random 32-byte master secret per key generation; every working key is
//! derived from it with BLAKE3's `derive_key` under a fixed context string, so that a key file
//! only ever has to wrap 32 bytes.
//!
//! Secrets live only in zeroizing wrappers, and none of these types prints its bytes.

use crate::error::FormatError;
use crate::id::BlobId;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use rand::RngCore;
use std::fmt;
use zeroize::Zeroizing;

/// Length of the AEAD nonce (XChaCha20-Poly1305: 192 bits, so random nonces are safe far
/// beyond 2^40 messages under one key: collision chance about 2^80 / 2^193).
pub const NONCE_LEN: usize = 24;
/// Length of the Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// Bytes a sealed message adds to its plaintext.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;

const CTX_DATA: &str = "chancery v1 data encryption key";
const CTX_ID: &str = "chancery v1 blob id key";
const CTX_CHUNKER: &str = "chancery v1 chunker key";
const CTX_SIGNING: &str = "chancery v1 owner signing key";

/// The 32-byte master secret that a key file wraps.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl MasterKey {
    /// A fresh random master secret from the OS generator.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(bytes.as_mut());
        Self(bytes)
    }

    /// Wraps existing secret bytes (as unwrapped from a key file).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The secret bytes, for wrapping into a key file.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// Derives the working keys.
    pub fn derive(&self) -> Keys {
        let derive = |ctx| Zeroizing::new(blake3::derive_key(ctx, self.0.as_ref()));
        let signing_seed = derive(CTX_SIGNING);
        Keys {
            aead: XChaCha20Poly1305::new(derive(CTX_DATA).as_ref().into()),
            id_key: derive(CTX_ID),
            chunker_key: derive(CTX_CHUNKER),
            signing: SigningKey::from_bytes(&signing_seed),
        }
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<secret>)")
    }
}

/// The owner's working keys, derived from a [`MasterKey`].
pub struct Keys {
    aead: XChaCha20Poly1305,
    id_key: Zeroizing<[u8; 32]>,
    chunker_key: Zeroizing<[u8; 32]>,
    signing: SigningKey,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keys(owner {})", hex::encode(self.owner_public_key()))
    }
}

impl Keys {
    /// Keyed BLAKE3 of a blob's plaintext.
    pub fn blob_id(&self, plaintext: &[u8]) -> BlobId {
        BlobId(*blake3::keyed_hash(&self.id_key, plaintext).as_bytes())
    }

    /// The chunker's secret key (it seeds the gear table).
    pub fn chunker_key(&self) -> &[u8; 32] {
        &self.chunker_key
    }

    /// Encrypts and authenticates: `nonce (24) || ciphertext || tag (16)`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .aead
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer does not fail");
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Verifies and decrypts what [`Keys::seal`] produced with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8], what: &'static str) -> Result<Vec<u8>, FormatError> {
        if sealed.len() < SEAL_OVERHEAD {
            return Err(FormatError::Malformed { what, why: "shorter than nonce and tag" });
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        self.aead
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| FormatError::Authentication { what })
    }

    /// The owner's Ed25519 public key.
    pub fn owner_public_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// A copy of the owner's Ed25519 signing key, for signing requests to site servers
    /// (zeroized when dropped).
    pub fn owner_signing_key(&self) -> SigningKey {
        self.signing.clone()
    }

    /// Signs with the owner's Ed25519 key.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }
}

/// Verifies an Ed25519 signature made by [`Keys::sign`].
pub fn verify_signature(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(public_key) else {
        return false;
    };
    key.verify(message, &ed25519_dalek::Signature::from_bytes(signature)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper() {
        let keys = MasterKey::generate().derive();
        let sealed = keys.seal(b"aad", b"hello");
        assert_eq!(keys.open(b"aad", &sealed, "t").unwrap(), b"hello");
        assert!(keys.open(b"other", &sealed, "t").is_err());
        let mut bad = sealed.clone();
        bad[30] ^= 1;
        assert_eq!(keys.open(b"aad", &bad, "t"), Err(FormatError::Authentication { what: "t" }));
        let other = MasterKey::generate().derive();
        assert!(other.open(b"aad", &sealed, "t").is_err());
    }

    #[test]
    fn derivation_is_deterministic_and_ids_are_keyed() {
        let master = MasterKey::generate();
        let (a, b) = (master.derive(), master.derive());
        assert_eq!(a.blob_id(b"x"), b.blob_id(b"x"));
        assert_eq!(a.owner_public_key(), b.owner_public_key());
        let other = MasterKey::generate().derive();
        assert_ne!(a.blob_id(b"x"), other.blob_id(b"x"));
        let sig = a.sign(b"msg");
        assert!(verify_signature(&a.owner_public_key(), b"msg", &sig));
        assert!(!verify_signature(&a.owner_public_key(), b"msh", &sig));
    }

    #[test]
    fn debug_never_prints_secrets() {
        let master = MasterKey::generate();
        assert_eq!(format!("{master:?}"), "MasterKey(<secret>)");
        let text = format!("{:?}", master.derive());
        assert!(!text.contains(&hex::encode(master.expose())));
    }
}
