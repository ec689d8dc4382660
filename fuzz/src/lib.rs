//! Shared helpers for Chancery's fuzz targets.
//!
//! Every target takes its first input byte as a mode and the rest as material:
//! - raw: the material is handed to the parser as stored bytes;
//! - mutate: a *valid* object (sealed once per process with the fixed keys below) is edited
//!   by the material read as a list of edits ([`mutate`]); authenticated formats must then
//!   refuse it unless the edits left the authenticated bytes unchanged;
//! - plaintext: the material is sealed correctly (right keys, right AAD) and then opened, so
//!   the decoders behind the AEAD see arbitrary plaintext through the public API;
//! - direct: the material goes straight to the plaintext decoders (`codec::decode_*`).
//!
//! Templates carry random nonces, salts and padding, so they differ between processes; no
//! check made before authentication depends on those bytes, and a crash input reproduces.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chancery_format::blob::{seal_blob, BlobKind};
use chancery_format::codec::encode;
use chancery_format::id::{BlobId, ObjectId};
use chancery_format::index::{IndexFile, IndexPack};
use chancery_format::keyfile::{seal_key_file, KdfParams, KeyInfo, KDF_ARGON2ID, KEYFILE_MAGIC};
use chancery_format::keys::{Keys, MasterKey, NONCE_LEN};
use chancery_format::object::{ObjectType, OBJECT_MAGIC, OBJECT_VERSION};
use chancery_format::pack::{build_pack, PackEntry, SealedBlob, PACK_MAGIC, PACK_PREFIX_LEN, PACK_VERSION};
use chancery_format::snapshot::{Snapshot, Summary, SNAPSHOT_VERSION};
use std::sync::OnceLock;

/// Password of every key file the targets build.
pub const PASSWORD: &[u8] = b"fuzz password";
/// Archive id of the template snapshot.
pub const REPO_ID: [u8; 32] = [9; 32];
/// Argon2 parameters cheap enough to run on every input.
pub const CHEAP: KdfParams = KdfParams { m_kib: 64, t: 1, p: 1 };
/// Key files whose parsed cost exceeds these are not opened (parse_header allows up to 4 GiB).
pub const MAX_FUZZ_M_KIB: u32 = 1024;
/// See [`MAX_FUZZ_M_KIB`].
pub const MAX_FUZZ_T: u32 = 2;
const SNAPSHOT_SIGNING_CONTEXT: &[u8] = b"chancery snapshot v1\0";

/// The fixed working keys: `MasterKey::from_bytes([7; 32]).derive()`.
pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| MasterKey::from_bytes([7; 32]).derive())
}

/// Splits off the mode byte.
pub fn mode(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(m, rest)| (*m, rest))
}

/// Applies edits read from `ops` in 4-byte groups `[op, pos_lo, pos_hi, value]`:
/// op % 4 = 0 xor a byte with a non-zero value, 1 truncate, 2 append `pos % 64 + 1` copies of
/// `value`, 3 overwrite a byte (which may leave it unchanged).
pub fn mutate(template: &[u8], ops: &[u8]) -> Vec<u8> {
    let mut out = template.to_vec();
    for op in ops.chunks_exact(4) {
        let pos = u16::from_le_bytes([op[1], op[2]]) as usize;
        match op[0] % 4 {
            0 if !out.is_empty() => {
                let at = pos % out.len();
                out[at] ^= op[3].max(1);
            }
            1 => out.truncate(pos % (out.len() + 1)),
            2 => out.extend(std::iter::repeat_n(op[3], pos % 64 + 1)),
            3 if !out.is_empty() => {
                let at = pos % out.len();
                out[at] = op[3];
            }
            _ => {}
        }
    }
    out
}

/// Valid objects sealed with [`keys`], built once per process.
pub struct Templates {
    /// A key file wrapping `[7; 32]` under [`PASSWORD`] with [`CHEAP`] parameters.
    pub key_file: Vec<u8>,
    /// A pack of three blobs.
    pub pack: Vec<u8>,
    /// Its entries, as `build_pack` reported them.
    pub pack_entries: Vec<PackEntry>,
    /// Bytes of the pack that `read_header` authenticates (prefix and sealed header).
    pub pack_header_end: usize,
    /// An index file describing the pack.
    pub index: Vec<u8>,
    /// The index record.
    pub index_record: IndexFile,
    /// A snapshot of archive [`REPO_ID`].
    pub snapshot: Vec<u8>,
    /// The snapshot record.
    pub snapshot_record: Snapshot,
    /// Sealed blobs: (kind, id, plaintext, sealed); the first compresses, the second does not.
    pub blobs: Vec<(BlobKind, BlobId, Vec<u8>, Vec<u8>)>,
}

/// The templates.
pub fn templates() -> &'static Templates {
    static T: OnceLock<Templates> = OnceLock::new();
    T.get_or_init(build_templates)
}

fn build_templates() -> Templates {
    let keys = keys();
    let info = KeyInfo {
        repo_id: REPO_ID,
        created_sec: 1_700_000_000,
        hostname: "fuzz-host".into(),
        label: "fuzz".into(),
    };
    let key_file = seal_key_file(&MasterKey::from_bytes([7; 32]), info, PASSWORD, CHEAP);

    let plaintexts: [(BlobKind, Vec<u8>); 3] = [
        (BlobKind::Data, b"register of lands ".repeat(40)),
        (BlobKind::Data, (0..300u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()),
        (BlobKind::Tree, b"\x01\x00".to_vec()),
    ];
    let blobs: Vec<(BlobKind, BlobId, Vec<u8>, Vec<u8>)> = plaintexts
        .into_iter()
        .map(|(kind, plain)| {
            let id = keys.blob_id(&plain);
            let sealed = seal_blob(keys, kind, &id, &plain);
            (kind, id, plain, sealed)
        })
        .collect();
    let pack = build_pack(
        keys,
        blobs
            .iter()
            .map(|(kind, id, plain, sealed)| SealedBlob {
                kind: *kind,
                id: *id,
                raw_length: plain.len() as u32,
                sealed: sealed.clone(),
            })
            .collect(),
    );
    let header_len = u32::from_le_bytes(pack.bytes[8..12].try_into().expect("4 bytes"));
    let index_record = IndexFile::new(vec![IndexPack { pack: pack.id, entries: pack.entries.clone() }]);
    let snapshot_record = Snapshot {
        version: SNAPSHOT_VERSION,
        repo_id: REPO_ID,
        time_sec: 1_700_000_000,
        time_nsec: 42,
        hostname: "fuzz-host".into(),
        username: "root".into(),
        paths: vec![b"/srv/registers".to_vec(), vec![0xff, 0xfe]],
        tags: vec!["daily".into()],
        tree: BlobId([3; 32]),
        parent: Some(ObjectId([4; 32])),
        summary: Summary { files: 3, dirs: 1, bytes: 1000, ..Summary::default() },
    };
    Templates {
        key_file,
        pack_header_end: PACK_PREFIX_LEN + header_len as usize,
        pack: pack.bytes,
        pack_entries: pack.entries,
        index: index_record.seal(keys),
        index_record,
        snapshot: snapshot_record.seal(keys),
        snapshot_record,
        blobs,
    }
}

/// An object envelope of type `ty` whose sealed plaintext is exactly `plain`.
pub fn seal_object_plaintext(ty: ObjectType, plain: &[u8]) -> Vec<u8> {
    let [a, b, c, d] = OBJECT_MAGIC;
    let prefix = [a, b, c, d, OBJECT_VERSION, ty as u8, keys().suite().code(), 0];
    let mut out = prefix.to_vec();
    out.extend_from_slice(&keys().seal(&prefix, plain));
    out
}

/// The plaintext of a snapshot object: `record` with a valid owner signature, encoded as the
/// crate's private `SignedSnapshot { record: Vec<u8>, signer: [u8; 32], signature: bytes }`.
pub fn signed_snapshot_plaintext(record: &[u8]) -> Vec<u8> {
    let keys = keys();
    let signature = keys.sign(&[SNAPSHOT_SIGNING_CONTEXT, record].concat());
    // postcard writes `serialize_bytes` as varint length + bytes, like a Vec<u8>.
    encode(&(record.to_vec(), keys.owner_public_key(), signature.to_vec()))
}

/// A pack prefix and sealed header whose plaintext is exactly `plain`.
pub fn seal_pack_header(plain: &[u8]) -> Vec<u8> {
    let sealed_len = (plain.len() + chancery_format::keys::SEAL_OVERHEAD) as u32;
    let mut prefix = [0u8; PACK_PREFIX_LEN];
    prefix[..4].copy_from_slice(&PACK_MAGIC);
    prefix[4] = PACK_VERSION;
    prefix[5] = keys().suite().code();
    prefix[8..12].copy_from_slice(&sealed_len.to_le_bytes());
    let mut out = prefix.to_vec();
    out.extend_from_slice(&keys().seal(&prefix, plain));
    out
}

/// AAD of a sealed blob (FORMAT.md): kind code then id.
pub fn blob_aad(kind: BlobKind, id: &BlobId) -> Vec<u8> {
    let mut aad = vec![kind.code()];
    aad.extend_from_slice(&id.0);
    aad
}

/// A key file of `version` with [`CHEAP`] parameters whose sealed payload is exactly `plain`,
/// openable with [`PASSWORD`]. The salt and nonce are fixed, so the key is derived once per
/// process.
pub fn seal_key_file_payload(version: u8, plain: &[u8]) -> Vec<u8> {
    static KEK: OnceLock<[u8; 32]> = OnceLock::new();
    let salt = [5u8; 32];
    let kek = KEK.get_or_init(|| {
        let params = argon2::Params::new(CHEAP.m_kib, CHEAP.t, CHEAP.p, Some(32)).expect("params");
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut kek = [0u8; 32];
        argon.hash_password_into(PASSWORD, &salt, &mut kek).expect("argon2");
        kek
    });
    let mut out = KEYFILE_MAGIC.to_vec();
    out.extend_from_slice(&[version, KDF_ARGON2ID, 0, 0]);
    for word in [CHEAP.m_kib, CHEAP.t, CHEAP.p] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.extend_from_slice(&salt);
    let nonce = [3u8; NONCE_LEN];
    let ct = XChaCha20Poly1305::new(kek.into())
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad: &out })
        .expect("in-memory encryption");
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}
