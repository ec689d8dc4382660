//! Snapshots: a signed, encrypted record naming one backup's root tree.
//!
//! The owner signs `"chancery snapshot v1\0" || record bytes` with Ed25519; the signature and
//! the record travel together inside the object envelope (type 2), so a site sees neither.

use crate::codec::{check_version, decode_exact, encode};
use crate::error::FormatError;
use crate::id::{BlobId, ObjectId};
use crate::keys::{verify_signature, Keys};
use crate::object::{open_object, seal_object, ObjectType};
use serde::{Deserialize, Serialize};

/// Version of the snapshot record.
pub const SNAPSHOT_VERSION: u8 = 1;
const SIGNING_CONTEXT: &[u8] = b"chancery snapshot v1\0";

/// What one backup recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Always [`SNAPSHOT_VERSION`] when written by this release.
    pub version: u8,
    /// The archive it belongs to (a snapshot cannot be replayed into another archive).
    pub repo_id: [u8; 32],
    /// When the backup started, seconds since the Unix epoch.
    pub time_sec: i64,
    /// Nanoseconds part of the start time.
    pub time_nsec: u32,
    /// Host that made it.
    pub hostname: String,
    /// User that made it.
    pub username: String,
    /// The backed-up paths as given (raw bytes), or the stdin name.
    pub paths: Vec<Vec<u8>>,
    /// User tags.
    pub tags: Vec<String>,
    /// Root tree: one entry per backed-up path.
    pub tree: BlobId,
    /// The snapshot used to skip unchanged files, if any.
    pub parent: Option<ObjectId>,
    /// Counts for listings.
    pub summary: Summary,
}

/// Counts recorded with a snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Regular files.
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Other entries (links, devices, ...).
    pub others: u64,
    /// Bytes of file content in the snapshot.
    pub bytes: u64,
    /// Bytes of content this backup actually read.
    pub bytes_read: u64,
    /// Blobs that were new to the archive.
    pub new_blobs: u64,
    /// Plaintext bytes of those new blobs.
    pub new_bytes: u64,
    /// Entries that could not be read and were left out.
    pub errors: u64,
}

#[derive(Serialize, Deserialize)]
struct SignedSnapshot {
    record: Vec<u8>,
    signer: [u8; 32],
    #[serde(with = "sig_bytes")]
    signature: [u8; 64],
}

mod sig_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(sig: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(sig)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let bytes: &[u8] = Deserialize::deserialize(d)?;
        bytes.try_into().map_err(|_| serde::de::Error::invalid_length(bytes.len(), &"64 bytes"))
    }
}

impl Snapshot {
    /// Signs and encrypts: the object's stored bytes.
    pub fn seal(&self, keys: &Keys) -> Vec<u8> {
        let record = encode(self);
        let signature = keys.sign(&signed_message(&record));
        let signed = SignedSnapshot { record, signer: keys.owner_public_key(), signature };
        seal_object(keys, ObjectType::Snapshot, &signed)
    }

    /// Decrypts, and verifies the signature against the owner's public key and the archive id.
    pub fn open(keys: &Keys, repo_id: &[u8; 32], bytes: &[u8]) -> Result<Self, FormatError> {
        let signed: SignedSnapshot = open_object(keys, ObjectType::Snapshot, bytes)?;
        let owner = keys.owner_public_key();
        if !verify_signature(&owner, &signed_message(&signed.record), &signed.signature) {
            return Err(FormatError::Authentication { what: "snapshot signature" });
        }
        Self::from_signed(signed, keys, repo_id)
    }

    /// [`Self::open`] without the signature, for bytes whose BLAKE3 hash something the owner
    /// signed already vouches for (the owner's ledger records it): bytes with that hash are
    /// the bytes signed, so their signature holds, and checking it again (about 45 µs) made
    /// listing 100,000 snapshots cost seconds. Everything else is checked as `open` does.
    pub fn open_verified_before(keys: &Keys, repo_id: &[u8; 32], bytes: &[u8]) -> Result<Self, FormatError> {
        let signed: SignedSnapshot = open_object(keys, ObjectType::Snapshot, bytes)?;
        Self::from_signed(signed, keys, repo_id)
    }

    fn from_signed(signed: SignedSnapshot, keys: &Keys, repo_id: &[u8; 32]) -> Result<Self, FormatError> {
        if signed.signer != keys.owner_public_key() {
            return Err(FormatError::Authentication { what: "snapshot signature" });
        }
        check_version(&signed.record, "snapshot", SNAPSHOT_VERSION)?;
        let snap: Snapshot = decode_exact(&signed.record, "snapshot")?;
        if &snap.repo_id != repo_id {
            return Err(FormatError::Authentication { what: "snapshot archive id" });
        }
        Ok(snap)
    }
}

fn signed_message(record: &[u8]) -> Vec<u8> {
    [SIGNING_CONTEXT, record].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::MasterKey;

    fn sample() -> Snapshot {
        Snapshot {
            version: SNAPSHOT_VERSION,
            repo_id: [1; 32],
            time_sec: 1_700_000_000,
            time_nsec: 5,
            hostname: "home".into(),
            username: "root".into(),
            paths: vec![b"/srv/registers".to_vec()],
            tags: vec!["daily".into()],
            tree: BlobId([3; 32]),
            parent: None,
            summary: Summary::default(),
        }
    }

    #[test]
    fn round_trip_and_archive_binding() {
        let keys = MasterKey::generate().derive();
        let bytes = sample().seal(&keys);
        assert_eq!(Snapshot::open(&keys, &[1; 32], &bytes).unwrap(), sample());
        assert!(Snapshot::open(&keys, &[2; 32], &bytes).is_err());
        let other = MasterKey::generate().derive();
        assert!(Snapshot::open(&other, &[1; 32], &bytes).is_err());
    }

    /// Bytes verified before skip only the signature: the key, the signer and the archive are
    /// checked as `open` checks them.
    #[test]
    fn bytes_verified_before_are_opened_without_their_signature_only() {
        let keys = MasterKey::generate().derive();
        let signed = |signer, signature| {
            let forged = SignedSnapshot { record: encode(&sample()), signer, signature };
            seal_object(&keys, ObjectType::Snapshot, &forged)
        };
        let bad_signature = signed(keys.owner_public_key(), [7; 64]);
        assert!(Snapshot::open(&keys, &[1; 32], &bad_signature).is_err());
        assert_eq!(Snapshot::open_verified_before(&keys, &[1; 32], &bad_signature).unwrap(), sample());

        let other_signer = signed([9; 32], [7; 64]);
        assert!(Snapshot::open_verified_before(&keys, &[1; 32], &other_signer).is_err());
        assert!(Snapshot::open_verified_before(&keys, &[2; 32], &bad_signature).is_err());
        let other = MasterKey::generate().derive();
        assert!(Snapshot::open_verified_before(&other, &[1; 32], &bad_signature).is_err());
    }
}
