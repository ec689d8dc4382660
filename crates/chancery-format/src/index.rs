//! Index files: which blobs each pack holds, so that a backup knows what is already stored
//! and a restore knows where to read. An index file is an encrypted object (type 1); the
//! same information also sits in each pack's own header, from which a lost or missing index
//! is rebuilt (that is how an interrupted backup resumes without re-sending its packs).

use crate::codec::{check_version, decode_padded};
use crate::error::FormatError;
use crate::id::ObjectId;
use crate::keys::Keys;
use crate::object::{open_object_plain, seal_object, ObjectType};
use crate::pack::PackEntry;
use serde::{Deserialize, Serialize};

/// Version of the index record.
pub const INDEX_VERSION: u8 = 1;

/// One pack's entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexPack {
    /// The pack's name.
    pub pack: ObjectId,
    /// The pack's blobs.
    pub entries: Vec<PackEntry>,
}

/// An index file's record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexFile {
    /// Always [`INDEX_VERSION`] when written by this release.
    pub version: u8,
    /// The packs it describes.
    pub packs: Vec<IndexPack>,
}

impl IndexFile {
    /// A new index record.
    pub fn new(packs: Vec<IndexPack>) -> Self {
        Self { version: INDEX_VERSION, packs }
    }

    /// The stored bytes.
    pub fn seal(&self, keys: &Keys) -> Vec<u8> {
        seal_object(keys, ObjectType::Index, self)
    }

    /// Opens stored bytes.
    pub fn open(keys: &Keys, bytes: &[u8]) -> Result<Self, FormatError> {
        let plain = open_object_plain(keys, ObjectType::Index, bytes)?;
        check_version(&plain, "index", INDEX_VERSION)?;
        decode_padded(&plain, "index")
    }
}
