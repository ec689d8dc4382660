//! Standalone encrypted objects (indexes, snapshots, the owner's config): one record each.
//!
//! Layout (FORMAT.md "Object envelope"):
//! `magic "CHOB" | version 1 | type u8 | suite u8 | key generation u8 | nonce [24] | ciphertext | tag [16]`
//! The AAD is the first 8 bytes; the plaintext is the postcard record followed by zeros up to
//! its Padmé length. The object's name is the BLAKE3 hash of all its bytes.

use crate::codec::{decode_padded, encode};
use crate::error::FormatError;
use crate::keys::{Keys, Suite};
use crate::padding::padme;
use serde::{de::DeserializeOwned, Serialize};

/// Magic bytes of an object envelope.
pub const OBJECT_MAGIC: [u8; 4] = *b"CHOB";
/// Current envelope version.
pub const OBJECT_VERSION: u8 = 1;
/// Bytes before the sealed record.
pub const OBJECT_PREFIX_LEN: usize = 8;

/// What an envelope holds; the type byte is authenticated, so objects cannot be swapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectType {
    /// An index file.
    Index = 1,
    /// A signed snapshot.
    Snapshot = 2,
    /// The owner's encrypted configuration.
    Config = 3,
}

impl ObjectType {
    fn name(self) -> &'static str {
        match self {
            ObjectType::Index => "index",
            ObjectType::Snapshot => "snapshot",
            ObjectType::Config => "config",
        }
    }
}

/// Encrypts `record` into an object envelope.
pub fn seal_object<T: Serialize>(keys: &Keys, ty: ObjectType, record: &T) -> Vec<u8> {
    let mut plain = encode(record);
    plain.resize(padme(plain.len() as u64) as usize, 0);
    let prefix = prefix(ty, keys.suite(), keys.generation());
    let mut out = prefix.to_vec();
    out.extend_from_slice(&keys.seal(&prefix, &plain));
    out
}

/// Checks and decrypts an object envelope of type `ty` and decodes its record.
pub fn open_object<T: DeserializeOwned>(keys: &Keys, ty: ObjectType, bytes: &[u8]) -> Result<T, FormatError> {
    decode_padded(&open_object_plain(keys, ty, bytes)?, ty.name())
}

/// Checks and decrypts an object envelope of type `ty`, returning the padded plaintext.
pub fn open_object_plain(keys: &Keys, ty: ObjectType, bytes: &[u8]) -> Result<Vec<u8>, FormatError> {
    let what = ty.name();
    if bytes.len() < OBJECT_PREFIX_LEN || bytes[..4] != OBJECT_MAGIC {
        return Err(FormatError::Malformed { what, why: "not a Chancery object" });
    }
    if bytes[4] != OBJECT_VERSION {
        return Err(FormatError::UnsupportedVersion { what, version: bytes[4] });
    }
    // A known suite that is not the generation's fails the tag: the prefix is the AAD.
    if bytes[5] != ty as u8 || Suite::from_code(bytes[6]).is_none() {
        return Err(FormatError::Malformed { what, why: "wrong object type or cipher suite" });
    }
    let (prefix, sealed) = bytes.split_at(OBJECT_PREFIX_LEN);
    keys.open_generation(bytes[7], prefix, sealed, what)
}

fn prefix(ty: ObjectType, suite: Suite, generation: u8) -> [u8; OBJECT_PREFIX_LEN] {
    let [a, b, c, d] = OBJECT_MAGIC;
    [a, b, c, d, OBJECT_VERSION, ty as u8, suite.code(), generation]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::MasterKey;

    #[test]
    fn round_trip_and_type_confusion() {
        let keys = MasterKey::generate().derive();
        let record = (1u32, "x".to_string(), vec![9u8; 77]);
        let bytes = seal_object(&keys, ObjectType::Index, &record);
        let back: (u32, String, Vec<u8>) = open_object(&keys, ObjectType::Index, &bytes).unwrap();
        assert_eq!(back, record);
        assert!(open_object::<(u32, String, Vec<u8>)>(&keys, ObjectType::Snapshot, &bytes).is_err());
        let mut forged = bytes.clone();
        forged[5] = ObjectType::Snapshot as u8;
        assert!(open_object::<(u32, String, Vec<u8>)>(&keys, ObjectType::Snapshot, &forged).is_err());
    }
}
