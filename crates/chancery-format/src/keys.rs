//! Secret keys. One random 32-byte master secret per key generation; every working key is
//! derived from one with BLAKE3's `derive_key` under a fixed context string, so that a key file
//! only ever has to wrap 32 bytes per generation.
//!
//! Key generations ([`KeyRing`]): `chancery key rotate` adds a new master secret, whose data
//! key seals everything written from then on; the data keys of earlier generations stay, to
//! open what they sealed. The blob-id key, the chunker key and the owner's signing key come
//! from generation 0 for the archive's life: they name data (dedup across generations goes on)
//! and identify the owner to the sites and in the ledger, which a rotation must not change.
//!
//! Secrets live only in zeroizing wrappers, and none of these types prints its bytes.

use crate::error::FormatError;
use crate::id::BlobId;
use chacha20poly1305::aead::{Aead, AeadInPlace, KeyInit, Payload};
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

    /// Derives the working keys of an archive with this one generation.
    pub fn derive(&self) -> Keys {
        let derive = |ctx| Zeroizing::new(blake3::derive_key(ctx, self.0.as_ref()));
        let signing_seed = derive(CTX_SIGNING);
        Keys {
            data: vec![self.data_cipher()],
            id_key: derive(CTX_ID),
            chunker_key: derive(CTX_CHUNKER),
            signing: SigningKey::from_bytes(&signing_seed),
        }
    }

    fn data_cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(Zeroizing::new(blake3::derive_key(CTX_DATA, self.0.as_ref())).as_ref().into())
    }
}

/// The master secrets of every key generation, oldest (generation 0) first.
pub struct KeyRing(Vec<MasterKey>);

/// The most generations a ring holds: the generation is one byte in pack and object headers.
pub const MAX_GENERATIONS: usize = 256;

impl KeyRing {
    /// A ring of one generation.
    pub fn single(master: MasterKey) -> Self {
        KeyRing(vec![master])
    }

    /// A ring of these generations (at least one, at most [`MAX_GENERATIONS`]).
    pub fn from_generations(masters: Vec<MasterKey>) -> Option<Self> {
        (!masters.is_empty() && masters.len() <= MAX_GENERATIONS).then_some(KeyRing(masters))
    }

    /// Every generation's master secret, oldest first.
    pub fn generations(&self) -> &[MasterKey] {
        &self.0
    }

    /// The newest generation's number.
    pub fn current(&self) -> u8 {
        u8::try_from(self.0.len() - 1).expect("at most 256 generations")
    }

    /// This ring with a new random generation, which then seals new data; `None` when the
    /// ring is full.
    pub fn rotated(&self) -> Option<KeyRing> {
        let mut masters: Vec<MasterKey> = self.0.iter().map(|m| MasterKey::from_bytes(*m.expose())).collect();
        masters.push(MasterKey::generate());
        KeyRing::from_generations(masters)
    }

    /// The working keys: identity from generation 0, a data key per generation.
    pub fn derive(&self) -> Keys {
        let mut keys = self.0[0].derive();
        keys.data = self.0.iter().map(MasterKey::data_cipher).collect();
        keys
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyRing({} generation(s), <secret>)", self.0.len())
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<secret>)")
    }
}

/// The owner's working keys, derived from a [`MasterKey`] or a [`KeyRing`].
pub struct Keys {
    /// The data key of each generation; the last one seals.
    data: Vec<XChaCha20Poly1305>,
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

    /// The generation whose data key seals (written into pack and object headers).
    pub fn generation(&self) -> u8 {
        u8::try_from(self.data.len() - 1).expect("at most 256 generations")
    }

    /// Encrypts and authenticates with the newest generation's data key:
    /// `nonce (24) || ciphertext || tag (16)`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self.data[self.data.len() - 1]
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer does not fail");
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// [`Keys::seal`] without copies: `buf` holds `NONCE_LEN` bytes to be overwritten by the
    /// nonce, then the plaintext; it is encrypted where it lies and the tag appended.
    pub fn seal_in_place(&self, aad: &[u8], buf: &mut Vec<u8>) {
        assert!(buf.len() >= NONCE_LEN, "room for the nonce");
        let (nonce, plaintext) = buf.split_at_mut(NONCE_LEN);
        rand::rngs::OsRng.fill_bytes(nonce);
        let tag = self.data[self.data.len() - 1]
            .encrypt_in_place_detached(XNonce::from_slice(nonce), aad, plaintext)
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer does not fail");
        buf.extend_from_slice(&tag);
    }

    /// [`Keys::open`] without copies: decrypts `sealed` where it lies and returns where the
    /// plaintext is in it. Each generation's key is tried newest first; a wrong one leaves the
    /// buffer as it was, since the tag is checked before anything is decrypted.
    pub fn open_in_place(
        &self,
        aad: &[u8],
        sealed: &mut [u8],
        what: &'static str,
    ) -> Result<std::ops::Range<usize>, FormatError> {
        split_sealed(sealed, what)?;
        let end = sealed.len() - TAG_LEN;
        let (head, tag) = sealed.split_at_mut(end);
        let (nonce, ciphertext) = head.split_at_mut(NONCE_LEN);
        let tag = chacha20poly1305::Tag::from_slice(tag);
        let opened = self.data.iter().rev().any(|cipher| {
            cipher.decrypt_in_place_detached(XNonce::from_slice(nonce), aad, ciphertext, tag).is_ok()
        });
        opened.then_some(NONCE_LEN..end).ok_or(FormatError::Authentication { what })
    }

    /// Verifies and decrypts what [`Keys::seal`] produced with the same `aad`, under any
    /// generation's data key, newest first (a blob read by range has no header to say which;
    /// a wrong key costs one Poly1305 pass, as the tag is checked before decrypting).
    pub fn open(&self, aad: &[u8], sealed: &[u8], what: &'static str) -> Result<Vec<u8>, FormatError> {
        let (nonce, ct) = split_sealed(sealed, what)?;
        self.data
            .iter()
            .rev()
            .find_map(|cipher| cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad }).ok())
            .ok_or(FormatError::Authentication { what })
    }

    /// [`Keys::open`] with the data key of `generation` only (from a pack or object header).
    pub fn open_generation(
        &self,
        generation: u8,
        aad: &[u8],
        sealed: &[u8],
        what: &'static str,
    ) -> Result<Vec<u8>, FormatError> {
        let (nonce, ct) = split_sealed(sealed, what)?;
        let cipher = self.data.get(usize::from(generation)).ok_or(FormatError::UnknownKeyGeneration {
            what,
            generation,
            newest: self.generation(),
        })?;
        cipher
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

fn split_sealed<'a>(sealed: &'a [u8], what: &'static str) -> Result<(&'a [u8], &'a [u8]), FormatError> {
    if sealed.len() < SEAL_OVERHEAD {
        return Err(FormatError::Malformed { what, why: "shorter than nonce and tag" });
    }
    Ok(sealed.split_at(NONCE_LEN))
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
    #[test]
    fn a_rotation_seals_with_the_new_generation_and_opens_every_one() {
        let ring = KeyRing::single(MasterKey::generate());
        let old = ring.derive();
        let rotated = ring.rotated().unwrap();
        let new = rotated.derive();
        assert_eq!((old.generation(), new.generation()), (0, 1));
        assert_eq!(old.owner_public_key(), new.owner_public_key(), "identity stays");
        assert_eq!(old.blob_id(b"x"), new.blob_id(b"x"), "ids stay, so dedup goes on");
        let sealed_old = old.seal(b"aad", b"before");
        let sealed_new = new.seal(b"aad", b"after");
        assert_eq!(new.open(b"aad", &sealed_old, "t").unwrap(), b"before");
        assert!(old.open(b"aad", &sealed_new, "t").is_err(), "the old key cannot read new data");
        assert_eq!(new.open_generation(0, b"aad", &sealed_old, "t").unwrap(), b"before");
        assert!(new.open_generation(1, b"aad", &sealed_old, "t").is_err());
        assert!(matches!(
            old.open_generation(1, b"aad", &sealed_new, "t"),
            Err(FormatError::UnknownKeyGeneration { generation: 1, newest: 0, .. })
        ));
    }

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
