//! Key files: the master secret wrapped by one password. Several key files (one per password)
//! wrap the same master secret; every site keeps a copy of each, so that the password and any
//! one site are enough to open the archive.
//!
//! Layout (all integers little-endian), see FORMAT.md "Key file":
//! `magic "CHKY" | version 1 | kdf 1 (Argon2id v1.3) | 0 0 | m_kib u32 | t u32 | p u32 |
//!  salt [32] | sealed payload` where the sealing key is Argon2id(password, salt) and the AAD
//! is every byte before the sealed payload.
//!
//! A custody key file (`custody split`) has the same layout with kdf 2 (direct): it is sealed
//! with a random 32-byte recovery secret, not a password, so no costly KDF is needed and the
//! three cost words are zero.

use crate::codec::{decode_exact, encode};
use crate::error::FormatError;
use crate::kdf_memory::KdfMemory;
use crate::keys::{KeyGeneration, KeyRing, MasterKey, Suite, NONCE_LEN, SEAL_OVERHEAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Magic bytes of a key file.
pub const KEYFILE_MAGIC: [u8; 4] = *b"CHKY";
/// Key file version of an archive never rotated: the payload holds one master secret.
pub const KEYFILE_VERSION: u8 = 1;
/// Key file version after a rotation: the payload holds every generation's master secret.
pub const KEYFILE_VERSION_RING: u8 = 2;
/// Key file version of an archive with a generation under a suite other than XChaCha20-Poly1305:
/// the payload holds every generation's suite and master secret.
pub const KEYFILE_VERSION_SUITES: u8 = 3;
/// KDF identifier: Argon2id, version 0x13.
pub const KDF_ARGON2ID: u8 = 1;
/// KDF identifier: a full-entropy 32-byte secret through BLAKE3 `derive_key` (custody key files).
pub const KDF_DIRECT: u8 = 2;
/// Context string of the direct KDF (FORMAT.md "Custody key file").
const CTX_DIRECT: &str = "chancery v1 custody key file";
/// Bytes before the sealed payload.
pub const KEYFILE_HEADER_LEN: usize = 4 + 1 + 1 + 2 + 12 + 32;

/// Argon2id cost parameters, stored in each key file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl Default for KdfParams {
    /// 46 MiB, 4 passes, 2 lanes: about 0.05 s on two cores here, and costly to guess at scale.
    ///
    /// An attacker's cost per guess grows with memory times passes (the area-time product of
    /// Argon2's analysis): 46 MiB x 4 is 184 MiB-passes, within 5% of the 192 of the earlier
    /// default (64 MiB x 3, RFC 9106's choice for machines short of memory, there with 4
    /// lanes), and above OWASP's minimums (46 MiB x 1, or 19 MiB x 2). The memory is what a
    /// command's peak RSS is made of when the rest is small (a no-change backup), so it is kept
    /// under that of the peers' own KDFs. A recovery key (`recovery.rs`) still costs 64 MiB,
    /// fixed by its format: commands that register one (`site add` and the first backup or
    /// sync to a new site server, `key add`, `custody split`, `recover`) peak higher.
    /// Lanes cost an attacker nothing less (the memory and passes are the same); they only let
    /// the owner's two cores share the work. Each key file stores its own parameters, so files
    /// made with earlier defaults (64 MiB, `t = 3`, `p` 1 or 2) open as they are.
    fn default() -> Self {
        Self { m_kib: 46 * 1024, t: 4, p: 2 }
    }
}

/// What a key file protects, besides the secret: which archive it opens, and who made it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// The archive's random id.
    pub repo_id: [u8; 32],
    /// Creation time, seconds since the Unix epoch.
    pub created_sec: i64,
    /// Host on which the key was added.
    pub hostname: String,
    /// A label the user gave, or the user name.
    pub label: String,
}

#[derive(Serialize, Deserialize)]
struct Payload1 {
    info: KeyInfo,
    master: [u8; 32],
}

#[derive(Serialize, Deserialize)]
struct Payload2 {
    info: KeyInfo,
    /// Every generation's master secret, generation 0 first.
    masters: Vec<[u8; 32]>,
}

#[derive(Serialize, Deserialize)]
struct Payload3 {
    info: KeyInfo,
    /// Every generation, generation 0 first.
    generations: Vec<GenerationRecord>,
}

#[derive(Serialize, Deserialize)]
struct GenerationRecord {
    suite: u8,
    master: [u8; 32],
}

/// A key file opened with its password.
#[derive(Debug)]
pub struct OpenedKey {
    /// The master secrets of every key generation.
    pub ring: KeyRing,
    /// Its metadata.
    pub info: KeyInfo,
}

/// Wraps `master` (a new archive: one key generation, the newest suite) with `password` into
/// a new key file.
pub fn seal_key_file(master: &MasterKey, info: KeyInfo, password: &[u8], params: KdfParams) -> Vec<u8> {
    let ring = KeyRing::single(MasterKey::from_bytes(*master.expose()), Suite::NEWEST);
    seal_key_ring(&ring, info, password, params)
}

/// Wraps every generation of `ring` with `password` into a new key file, of the oldest version
/// that can hold it (see [`ring_version`]).
pub fn seal_key_ring(ring: &KeyRing, info: KeyInfo, password: &[u8], params: KdfParams) -> Vec<u8> {
    let mut salt = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let kek = derive_kek(password, &salt, params).expect("default Argon2 parameters are valid");
    seal(header(ring_version(ring), KDF_ARGON2ID, params, &salt), &kek, ring, info)
}

/// Wraps every generation of `ring` with a random 32-byte recovery secret into a custody key
/// file (kdf 2).
pub fn seal_custody_key_file(ring: &KeyRing, info: KeyInfo, secret: &[u8; 32]) -> Vec<u8> {
    let mut salt = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let kek = derive_direct(secret, &salt);
    let header = header(ring_version(ring), KDF_DIRECT, KdfParams { m_kib: 0, t: 0, p: 0 }, &salt);
    seal(header, &kek, ring, info)
}

/// A ring all of XChaCha20-Poly1305 keeps the versions that releases before suite 2 read: 1 for
/// a single generation (what releases before rotation read), 2 otherwise. A ring with any
/// other suite needs version 3.
fn ring_version(ring: &KeyRing) -> u8 {
    let generations = ring.generations();
    if generations.iter().any(|g| g.suite != Suite::XChaCha20Poly1305) {
        KEYFILE_VERSION_SUITES
    } else if generations.len() == 1 {
        KEYFILE_VERSION
    } else {
        KEYFILE_VERSION_RING
    }
}

/// Seals the payload of `out`'s version after the header `out`.
fn seal(mut out: Vec<u8>, kek: &[u8; 32], ring: &KeyRing, info: KeyInfo) -> Vec<u8> {
    let payload = Zeroizing::new(match out[4] {
        KEYFILE_VERSION => encode(&Payload1 { info, master: *ring.generations()[0].master.expose() }),
        KEYFILE_VERSION_RING => encode(&Payload2 {
            info,
            masters: ring.generations().iter().map(|g| *g.master.expose()).collect(),
        }),
        _ => encode(&Payload3 {
            info,
            generations: ring
                .generations()
                .iter()
                .map(|g| GenerationRecord { suite: g.suite.code(), master: *g.master.expose() })
                .collect(),
        }),
    });
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = cipher(kek)
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: &payload, aad: &out })
        .expect("in-memory encryption does not fail");
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// Opens a key file with a password (or, for a custody key file, the 32-byte recovery
/// secret). [`FormatError::WrongPassword`] when it does not fit.
pub fn open_key_file(bytes: &[u8], password: &[u8]) -> Result<OpenedKey, FormatError> {
    let params = parse_header(bytes)?;
    let (head, sealed) = bytes.split_at(KEYFILE_HEADER_LEN);
    let salt: [u8; 32] = head[20..52].try_into().expect("fixed slice");
    let kek = match head[5] {
        KDF_DIRECT => {
            let secret: &[u8; 32] = password.try_into().map_err(|_| FormatError::WrongPassword)?;
            derive_direct(secret, &salt)
        }
        _ => derive_kek(password, &salt, params)?,
    };
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let plain = Zeroizing::new(
        cipher(&kek)
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: head })
            .map_err(|_| FormatError::WrongPassword)?,
    );
    decode_payload(head[4], &plain)
}

/// The ring and info of an opened payload of `version`; versions 1 and 2 are XChaCha20-Poly1305
/// throughout.
fn decode_payload(version: u8, plain: &[u8]) -> Result<OpenedKey, FormatError> {
    const WHAT: &str = "key file payload";
    let xchacha = |master| KeyGeneration::new(MasterKey::from_bytes(master), Suite::XChaCha20Poly1305);
    let (info, generations) = match version {
        KEYFILE_VERSION => {
            let payload: Payload1 = decode_exact(plain, WHAT)?;
            (payload.info, vec![xchacha(payload.master)])
        }
        KEYFILE_VERSION_RING => {
            let payload: Payload2 = decode_exact(plain, WHAT)?;
            (payload.info, payload.masters.into_iter().map(xchacha).collect())
        }
        _ => {
            let payload: Payload3 = decode_exact(plain, WHAT)?;
            let generations = payload.generations.into_iter().map(|g| {
                let suite = Suite::from_code(g.suite)
                    .ok_or(FormatError::Malformed { what: WHAT, why: "unknown cipher suite" })?;
                Ok(KeyGeneration::new(MasterKey::from_bytes(g.master), suite))
            });
            (payload.info, generations.collect::<Result<Vec<_>, FormatError>>()?)
        }
    };
    let ring = KeyRing::from_generations(generations)
        .ok_or(FormatError::Malformed { what: WHAT, why: "no key generation, or too many" })?;
    Ok(OpenedKey { ring, info })
}

/// Reads the KDF parameters, checking magic, version and bounds before any costly work.
pub fn parse_header(bytes: &[u8]) -> Result<KdfParams, FormatError> {
    const WHAT: &str = "key file";
    if bytes.len() < KEYFILE_HEADER_LEN + SEAL_OVERHEAD || bytes[..4] != KEYFILE_MAGIC {
        return Err(FormatError::Malformed { what: WHAT, why: "not a Chancery key file" });
    }
    if !matches!(bytes[4], KEYFILE_VERSION | KEYFILE_VERSION_RING | KEYFILE_VERSION_SUITES) {
        return Err(FormatError::UnsupportedVersion { what: WHAT, version: bytes[4] });
    }
    if !matches!(bytes[5], KDF_ARGON2ID | KDF_DIRECT) || bytes[6..8] != [0, 0] {
        return Err(FormatError::Malformed { what: WHAT, why: "unknown key derivation function" });
    }
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let params = KdfParams { m_kib: word(8), t: word(12), p: word(16) };
    if bytes[5] == KDF_DIRECT {
        if params != (KdfParams { m_kib: 0, t: 0, p: 0 }) {
            return Err(FormatError::Malformed { what: WHAT, why: "direct KDF with cost words" });
        }
        return Ok(params);
    }
    // Refuse parameters that would let a planted key file exhaust memory or time.
    if params.m_kib > 4 * 1024 * 1024 || params.t > 64 || params.p == 0 || params.p > 64 {
        return Err(FormatError::Malformed { what: WHAT, why: "key derivation cost out of bounds" });
    }
    Ok(params)
}

/// Whether a key file is sealed with a 32-byte secret rather than a password: cheap to try.
pub fn is_custody_key_file(bytes: &[u8]) -> bool {
    parse_header(bytes).is_ok() && bytes[5] == KDF_DIRECT
}

fn header(version: u8, kdf: u8, params: KdfParams, salt: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(KEYFILE_HEADER_LEN + 96);
    out.extend_from_slice(&KEYFILE_MAGIC);
    out.extend_from_slice(&[version, kdf, 0, 0]);
    for word in [params.m_kib, params.t, params.p] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.extend_from_slice(salt);
    out
}

pub(crate) fn derive_kek(
    password: &[u8],
    salt: &[u8; 32],
    p: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, FormatError> {
    let bad = FormatError::Malformed { what: "key file", why: "invalid Argon2 parameters" };
    let params = argon2::Params::new(p.m_kib, p.t, p.p, Some(32)).map_err(|_| bad.clone())?;
    let mut memory = KdfMemory::new(params.block_count());
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut kek = Zeroizing::new([0u8; 32]);
    argon.hash_password_into_with_memory(password, salt, kek.as_mut(), memory.blocks()).map_err(|_| bad)?;
    Ok(kek)
}

/// The secret is uniformly random, so one keyed hash is as strong as any password KDF; the salt
/// still makes every custody key file's sealing key distinct.
fn derive_direct(secret: &[u8; 32], salt: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut material = Zeroizing::new([0u8; 64]);
    material[..32].copy_from_slice(secret);
    material[32..].copy_from_slice(salt);
    Zeroizing::new(blake3::derive_key(CTX_DIRECT, material.as_ref()))
}

fn cipher(kek: &[u8; 32]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(kek.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: KdfParams = KdfParams { m_kib: 64, t: 1, p: 1 };

    fn info() -> KeyInfo {
        KeyInfo { repo_id: [7; 32], created_sec: 1, hostname: "h".into(), label: "l".into() }
    }

    #[test]
    fn round_trip_and_wrong_password() {
        let master = MasterKey::generate();
        let file = seal_key_file(&master, info(), b"pw", CHEAP);
        assert_eq!(file[4], KEYFILE_VERSION_SUITES, "a new archive's generation is XAES-256-GCM");
        let opened = open_key_file(&file, b"pw").unwrap();
        assert_eq!(opened.ring.generations()[0].master.expose(), master.expose());
        assert_eq!(opened.ring.generations()[0].suite, Suite::Xaes256Gcm);
        assert_eq!(opened.info, info());
        assert_eq!(open_key_file(&file, b"px").unwrap_err(), FormatError::WrongPassword);
    }

    #[test]
    fn key_files_made_with_every_default_so_far_open_with_their_own_cost() {
        let master = MasterKey::generate();
        let current = KdfParams { m_kib: 46 * 1024, t: 4, p: 2 };
        assert_eq!(KdfParams::default(), current);
        let earlier =
            [KdfParams { m_kib: 64 * 1024, t: 3, p: 1 }, KdfParams { m_kib: 64 * 1024, t: 3, p: 2 }];
        for params in [current].into_iter().chain(earlier) {
            let file = seal_key_file(&master, info(), b"pw", params);
            assert_eq!(parse_header(&file).unwrap(), params, "each file names its own cost");
            let opened = open_key_file(&file, b"pw").unwrap();
            assert_eq!(opened.ring.generations()[0].master.expose(), master.expose());
        }
    }

    fn xchacha_ring(generations: usize) -> KeyRing {
        let one = || KeyGeneration::new(MasterKey::generate(), Suite::XChaCha20Poly1305);
        KeyRing::from_generations((0..generations).map(|_| one()).collect()).unwrap()
    }

    fn assert_same_ring(a: &KeyRing, b: &KeyRing) {
        assert_eq!(a.generations().len(), b.generations().len());
        for (a, b) in a.generations().iter().zip(b.generations()) {
            assert_eq!((a.master.expose(), a.suite), (b.master.expose(), b.suite));
        }
    }

    #[test]
    fn each_ring_round_trips_in_the_oldest_version_that_holds_it() {
        let cases = [
            (xchacha_ring(1), KEYFILE_VERSION),
            (xchacha_ring(2), KEYFILE_VERSION_RING),
            (xchacha_ring(1).rotated().unwrap(), KEYFILE_VERSION_SUITES),
            (KeyRing::single(MasterKey::generate(), Suite::Xaes256Gcm), KEYFILE_VERSION_SUITES),
        ];
        for (ring, version) in cases {
            let file = seal_key_ring(&ring, info(), b"pw", CHEAP);
            assert_eq!(file[4], version);
            let opened = open_key_file(&file, b"pw").unwrap();
            assert_same_ring(&opened.ring, &ring);
            assert_eq!(opened.info, info());
        }
        let rotated = xchacha_ring(1).rotated().unwrap();
        let suites: Vec<Suite> = rotated.generations().iter().map(|g| g.suite).collect();
        assert_eq!(
            suites,
            [Suite::XChaCha20Poly1305, Suite::Xaes256Gcm],
            "a rotation moves to the newest suite"
        );
    }

    #[test]
    fn an_unknown_suite_in_a_version_3_payload_is_malformed() {
        let plain = encode(&Payload3 {
            info: info(),
            generations: vec![GenerationRecord { suite: 9, master: [1; 32] }],
        });
        let err = decode_payload(KEYFILE_VERSION_SUITES, &plain).unwrap_err();
        assert_eq!(err, FormatError::Malformed { what: "key file payload", why: "unknown cipher suite" });
        let empty = encode(&Payload3 { info: info(), generations: vec![] });
        assert!(matches!(decode_payload(KEYFILE_VERSION_SUITES, &empty), Err(FormatError::Malformed { .. })));
    }

    #[test]
    fn custody_key_file_opens_with_its_secret_only() {
        let master = MasterKey::generate();
        let ring = KeyRing::single(MasterKey::from_bytes(*master.expose()), Suite::NEWEST);
        let file = seal_custody_key_file(&ring, info(), &[9; 32]);
        assert!(is_custody_key_file(&file));
        assert_same_ring(&open_key_file(&file, &[9; 32]).unwrap().ring, &ring);
        assert_eq!(open_key_file(&file, &[8; 32]).unwrap_err(), FormatError::WrongPassword);
        assert_eq!(open_key_file(&file, b"a password").unwrap_err(), FormatError::WrongPassword);
        let mut costly = file;
        costly[12] = 1; // a direct KDF carries no cost words
        assert!(matches!(parse_header(&costly), Err(FormatError::Malformed { .. })));
    }

    #[test]
    fn altered_header_is_refused() {
        let file = seal_key_file(&MasterKey::generate(), info(), b"pw", CHEAP);
        let mut bad = file.clone();
        bad[30] ^= 1; // salt: authenticated as AAD, and changes the KEK
        assert!(open_key_file(&bad, b"pw").is_err());
        let mut huge = file;
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(parse_header(&huge), Err(FormatError::Malformed { .. })));
        assert!(parse_header(b"CHKY").is_err());
    }
}
