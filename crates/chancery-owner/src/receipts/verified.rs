//! The owner's signed note that a prefix of a receipts file has been verified, so that the
//! next reading checks the signatures of the lines added since and not all of them again
//! (each Ed25519 check costs tens of microseconds: minutes for millions of receipts). The
//! note binds the site, its pinned key, the tenant, the prefix's length and its BLAKE3 hash,
//! and is signed with the owner's key: editing the prefix, or forging the note without the
//! owner's key, makes every line be verified again (FORMAT.md §14.1).

use crate::site::OwnerIdentity;
use chancery_format::ObjectId;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// First line of the signed message.
const CONTEXT: &str = "chancery-receipts-verified-v1";

/// The note, as stored in `<site>.verified`.
#[derive(Serialize, Deserialize)]
struct Note {
    v: u32,
    bytes: u64,
    hash: String,
    signature: String,
}

/// Reads and writes the note of one receipts file.
pub(super) struct VerifiedPrefix<'a> {
    pub path: PathBuf,
    pub owner: &'a OwnerIdentity,
    pub site: &'a str,
    pub site_key: &'a [u8; 32],
    pub tenant: &'a str,
}

impl VerifiedPrefix<'_> {
    /// The note's file beside a receipts file.
    pub fn path_for(receipts: &Path) -> PathBuf {
        receipts.with_extension("verified")
    }

    fn message(&self, bytes: u64, hash: &str) -> String {
        let key = hex::encode(self.site_key);
        format!("{CONTEXT}\n{}\n{key}\n{}\n{bytes}\n{hash}", self.site, self.tenant)
    }

    /// How many leading bytes of `file` the note vouches for: 0 without a valid note.
    pub fn trusted(&self, file: &[u8]) -> usize {
        let Some(note) = std::fs::read(&self.path).ok().and_then(|b| serde_json::from_slice::<Note>(&b).ok())
        else {
            return 0;
        };
        let Ok(len) = usize::try_from(note.bytes) else { return 0 };
        let whole_lines = len == 0 || file.get(len - 1) == Some(&b'\n');
        let valid = note.v == super::RECEIPTS_VERSION
            && whole_lines
            && len <= file.len()
            && ObjectId::of(&file[..len]).to_hex() == note.hash
            && self.signed(&self.message(note.bytes, &note.hash), &note.signature);
        if valid {
            len
        } else {
            0
        }
    }

    fn signed(&self, message: &str, signature: &str) -> bool {
        let mut sig = [0u8; 64];
        let Ok(key) = VerifyingKey::from_bytes(&self.owner.public_key) else { return false };
        hex::decode_to_slice(signature, &mut sig).is_ok()
            && key.verify(message.as_bytes(), &Signature::from_bytes(&sig)).is_ok()
    }

    /// Notes that the first `len` bytes of `file` are verified. Only a shortcut: a failure
    /// to write it costs the next reading time, nothing else.
    pub fn record(&self, file: &[u8], len: usize) {
        let hash = ObjectId::of(&file[..len]).to_hex();
        let signature = hex::encode((self.owner.signer)(self.message(len as u64, &hash).as_bytes()));
        let note = Note { v: super::RECEIPTS_VERSION, bytes: len as u64, hash, signature };
        if let Ok(bytes) = serde_json::to_vec(&note) {
            let _ = crate::fsutil::write_atomic(&self.path, &bytes);
        }
    }
}
