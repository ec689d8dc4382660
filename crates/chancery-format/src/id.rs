//! Identifiers. Two kinds exist, and they never mix:
//! - [`BlobId`]: keyed BLAKE3 of a blob's *plaintext*; only key holders can compute it, so a
//!   site cannot test whether a known file is stored.
//! - [`ObjectId`]: unkeyed BLAKE3 of an object's *stored bytes* (pack, index, snapshot, key
//!   file); anyone, a site included, can verify an object against its name without a key.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Length in bytes of every id.
pub const ID_LEN: usize = 32;

macro_rules! id_type {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub [u8; ID_LEN]);

        impl $name {
            /// Lower-case hex, 64 characters: the form used in object names and on screen.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// Parses the 64-character hex form.
            pub fn from_hex(s: &str) -> Option<Self> {
                let mut out = [0u8; ID_LEN];
                hex::decode_to_slice(s, &mut out).ok()?;
                Some(Self(out))
            }

            /// The first 8 hex digits, for display.
            pub fn short(&self) -> String {
                hex::encode(&self.0[..4])
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
    };
}

id_type!(BlobId, "Keyed BLAKE3 of a blob's plaintext (data chunk or tree).");
id_type!(ObjectId, "Unkeyed BLAKE3 of an object's stored bytes; the object's name at a site.");

impl ObjectId {
    /// The id of stored bytes: what a site checks on every write and scrub.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// [`ObjectId::of`] the concatenation of `parts`, without joining them.
    pub fn of_parts(parts: &[Vec<u8>]) -> Self {
        let mut hasher = blake3::Hasher::new();
        for part in parts {
            hasher.update(part);
        }
        Self(*hasher.finalize().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = ObjectId::of(b"abc");
        assert_eq!(ObjectId::from_hex(&id.to_hex()), Some(id));
        assert_eq!(id.short().len(), 8);
        assert!(ObjectId::from_hex("zz").is_none());
    }
}
