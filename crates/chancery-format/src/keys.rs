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
//! Each generation names the cipher suite of its data key ([`Suite`]): generations made
//! before suite 2 existed keep XChaCha20-Poly1305, new archives and rotations use XAES-256-GCM.
//!
//! Secrets live only in zeroizing wrappers, and none of these types prints its bytes.

use crate::aead::DataCipher;
pub use crate::aead::{Suite, NONCE_LEN, TAG_LEN};
use crate::error::FormatError;
use crate::id::BlobId;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use rand::RngCore;
use std::fmt;
use zeroize::Zeroizing;

/// Bytes a sealed message adds to its plaintext: a random 192-bit nonce (safe far beyond 2^40
/// messages under one key: collision chance about 2^80 / 2^193) and the tag.
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

    /// Derives the working keys of an archive with this one generation, under the suite of
    /// new archives.
    pub fn derive(&self) -> Keys {
        self.derive_with(Suite::NEWEST)
    }

    /// Derives the working keys of an archive with this one generation under `suite`.
    pub fn derive_with(&self, suite: Suite) -> Keys {
        let derive = |ctx| Zeroizing::new(blake3::derive_key(ctx, self.0.as_ref()));
        let signing_seed = derive(CTX_SIGNING);
        Keys {
            data: vec![self.data_cipher(suite)],
            id_key: derive(CTX_ID),
            chunker_key: derive(CTX_CHUNKER),
            signing: SigningKey::from_bytes(&signing_seed),
        }
    }

    fn data_cipher(&self, suite: Suite) -> DataCipher {
        DataCipher::new(suite, &Zeroizing::new(blake3::derive_key(CTX_DATA, self.0.as_ref())))
    }
}

/// One key generation: a master secret and the suite its data key seals with.
pub struct KeyGeneration {
    /// The generation's master secret.
    pub master: MasterKey,
    /// The cipher suite of its data key.
    pub suite: Suite,
}

impl KeyGeneration {
    /// A generation of `master` under `suite`.
    pub fn new(master: MasterKey, suite: Suite) -> Self {
        KeyGeneration { master, suite }
    }

    fn copy(&self) -> Self {
        KeyGeneration::new(MasterKey::from_bytes(*self.master.expose()), self.suite)
    }
}

/// The master secrets of every key generation, oldest (generation 0) first.
pub struct KeyRing(Vec<KeyGeneration>);

/// The most generations a ring holds: the generation is one byte in pack and object headers.
pub const MAX_GENERATIONS: usize = 256;

impl KeyRing {
    /// A ring of one generation.
    pub fn single(master: MasterKey, suite: Suite) -> Self {
        KeyRing(vec![KeyGeneration::new(master, suite)])
    }

    /// A ring of these generations (at least one, at most [`MAX_GENERATIONS`]).
    pub fn from_generations(generations: Vec<KeyGeneration>) -> Option<Self> {
        (!generations.is_empty() && generations.len() <= MAX_GENERATIONS).then_some(KeyRing(generations))
    }

    /// Every generation, oldest first.
    pub fn generations(&self) -> &[KeyGeneration] {
        &self.0
    }

    /// The newest generation's number.
    pub fn current(&self) -> u8 {
        u8::try_from(self.0.len() - 1).expect("at most 256 generations")
    }

    /// This ring with a new random generation under [`Suite::NEWEST`], which then seals new
    /// data (so a rotation also moves an archive's new data to the newest suite); `None` when
    /// the ring is full.
    pub fn rotated(&self) -> Option<KeyRing> {
        let mut generations: Vec<KeyGeneration> = self.0.iter().map(KeyGeneration::copy).collect();
        generations.push(KeyGeneration::new(MasterKey::generate(), Suite::NEWEST));
        KeyRing::from_generations(generations)
    }

    /// The working keys: identity from generation 0, a data key per generation.
    pub fn derive(&self) -> Keys {
        let first = &self.0[0];
        let mut keys = first.master.derive_with(first.suite);
        keys.data = self.0.iter().map(|g| g.master.data_cipher(g.suite)).collect();
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
    data: Vec<DataCipher>,
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

    /// The suite of the generation that seals (written into pack and object headers).
    pub fn suite(&self) -> Suite {
        self.sealer().suite()
    }

    fn sealer(&self) -> &DataCipher {
        self.data.last().expect("a ring has at least one generation")
    }

    /// Encrypts and authenticates with the newest generation's data key:
    /// `nonce (24) || ciphertext || tag (16)`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(SEAL_OVERHEAD + plaintext.len());
        out.extend_from_slice(&[0; NONCE_LEN]);
        out.extend_from_slice(plaintext);
        self.seal_in_place(aad, &mut out);
        out
    }

    /// [`Keys::seal`] without copies: `buf` holds `NONCE_LEN` bytes to be overwritten by the
    /// nonce, then the plaintext; it is encrypted where it lies and the tag appended.
    pub fn seal_in_place(&self, aad: &[u8], buf: &mut Vec<u8>) {
        assert!(buf.len() >= NONCE_LEN, "room for the nonce");
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        buf[..NONCE_LEN].copy_from_slice(&nonce);
        let tag = self.sealer().seal(&nonce, aad, &mut buf[NONCE_LEN..]);
        buf.extend_from_slice(&tag);
    }

    /// [`Keys::open`] without copies: decrypts `sealed` where it lies and returns where the
    /// plaintext is in it. Each generation's key is tried newest first. A failed XAES-256-GCM
    /// attempt zeroes what it decrypted, so when another generation remains to be tried the
    /// ciphertext is kept aside first (only archives rotated at least once pay that copy).
    /// After an error, `sealed` may have been zeroed.
    pub fn open_in_place(
        &self,
        aad: &[u8],
        sealed: &mut [u8],
        what: &'static str,
    ) -> Result<std::ops::Range<usize>, FormatError> {
        let (nonce, tag) = split_sealed(sealed, what)?;
        let end = sealed.len() - TAG_LEN;
        let body = &mut sealed[NONCE_LEN..end];
        let mut kept: Option<Vec<u8>> = None;
        for (tried, cipher) in self.data.iter().rev().enumerate() {
            if let Some(kept) = &kept {
                body.copy_from_slice(kept);
            }
            let more_to_try = tried + 1 < self.data.len();
            if more_to_try && kept.is_none() && !cipher.keeps_buffer_on_failure() {
                kept = Some(body.to_vec());
            }
            if cipher.open(&nonce, aad, body, &tag) {
                return Ok(NONCE_LEN..end);
            }
        }
        Err(FormatError::Authentication { what })
    }

    /// Verifies and decrypts what [`Keys::seal`] produced with the same `aad`, under any
    /// generation's data key, newest first (a blob read by range has no header to say which).
    pub fn open(&self, aad: &[u8], sealed: &[u8], what: &'static str) -> Result<Vec<u8>, FormatError> {
        let mut buf = sealed.to_vec();
        let plaintext = self.open_in_place(aad, &mut buf, what)?;
        buf.truncate(plaintext.end);
        buf.drain(..plaintext.start);
        Ok(buf)
    }

    /// [`Keys::open`] with the data key of `generation` only (from a pack or object header).
    pub fn open_generation(
        &self,
        generation: u8,
        aad: &[u8],
        sealed: &[u8],
        what: &'static str,
    ) -> Result<Vec<u8>, FormatError> {
        let (nonce, tag) = split_sealed(sealed, what)?;
        let cipher = self.data.get(usize::from(generation)).ok_or(FormatError::UnknownKeyGeneration {
            what,
            generation,
            newest: self.generation(),
        })?;
        let mut plaintext = sealed[NONCE_LEN..sealed.len() - TAG_LEN].to_vec();
        match cipher.open(&nonce, aad, &mut plaintext, &tag) {
            true => Ok(plaintext),
            false => Err(FormatError::Authentication { what }),
        }
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

/// The nonce and the tag of a sealed message.
fn split_sealed(sealed: &[u8], what: &'static str) -> Result<([u8; NONCE_LEN], [u8; TAG_LEN]), FormatError> {
    if sealed.len() < SEAL_OVERHEAD {
        return Err(FormatError::Malformed { what, why: "shorter than nonce and tag" });
    }
    let nonce = sealed[..NONCE_LEN].try_into().expect("NONCE_LEN bytes");
    let tag = sealed[sealed.len() - TAG_LEN..].try_into().expect("TAG_LEN bytes");
    Ok((nonce, tag))
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
        for suite in [Suite::XChaCha20Poly1305, Suite::Xaes256Gcm] {
            a_rotation_from(KeyRing::single(MasterKey::generate(), suite));
        }
    }

    /// After a rotation a blob read by range is tried under each generation, newest first: a
    /// failed XAES-256-GCM attempt zeroes the buffer, which must not spoil the next attempt.
    fn a_rotation_from(ring: KeyRing) {
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
        let suites: Vec<Suite> = rotated.generations().iter().map(|g| g.suite).collect();
        assert_eq!((new.suite(), suites), (Suite::NEWEST, vec![old.suite(), Suite::NEWEST]));
        let mut in_place = sealed_old.clone();
        let plain = new.open_in_place(b"aad", &mut in_place, "t").unwrap();
        assert_eq!(&in_place[plain], b"before");
        let twice = rotated.rotated().unwrap().derive();
        assert_eq!(twice.open(b"aad", &sealed_old, "t").unwrap(), b"before", "two failed attempts first");
        assert_eq!(twice.open(b"aad", &sealed_new, "t").unwrap(), b"after");
        assert!(twice.open(b"aae", &sealed_old, "t").is_err());
    }

    #[test]
    fn a_ring_opens_what_each_suite_sealed_and_no_other() {
        let master = MasterKey::from_bytes([4; 32]);
        let (chacha, xaes) =
            (master.derive_with(Suite::XChaCha20Poly1305), master.derive_with(Suite::Xaes256Gcm));
        assert_eq!((chacha.suite(), xaes.suite()), (Suite::XChaCha20Poly1305, Suite::Xaes256Gcm));
        let (by_chacha, by_xaes) = (chacha.seal(b"aad", b"x"), xaes.seal(b"aad", b"x"));
        assert_eq!(by_xaes.len(), by_chacha.len(), "the same layout under either suite");
        assert!(xaes.open(b"aad", &by_chacha, "t").is_err(), "the same key under another suite");
        assert!(chacha.open(b"aad", &by_xaes, "t").is_err());
        assert_eq!(xaes.open_generation(0, b"aad", &by_xaes, "t").unwrap(), b"x");
        assert!(xaes.open_generation(0, b"aad", &by_chacha, "t").is_err());
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
