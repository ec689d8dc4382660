//! Chancery's stored formats, byte for byte as FORMAT.md draws them.
//!
//! Scope: ids, secret keys and key files, authenticated encryption, the keyed content-defined
//! chunker, compression, padding, packs, indexes, trees and snapshots, each versioned.
//! Deliberately left out: any I/O of its own, threads or async. Callers hand in bytes (or, to
//! walk a pack front to back, an `io::Read` of them) and get bytes or typed errors back, so
//! every parser here can be fuzzed in isolation (see `fuzz/`).
#![warn(missing_docs)]

pub mod aead;
pub mod blob;
pub mod chunker;
pub mod codec;
pub mod compress;
pub mod custody;
pub mod error;
pub mod id;
pub mod index;
mod kdf_memory;
pub mod keyfile;
pub mod keys;
pub mod object;
pub mod pack;
pub mod pack_walk;
pub mod padding;
pub mod recovery;
pub mod snapshot;
pub mod tree;

pub use error::FormatError;
pub use id::{BlobId, ObjectId, ID_LEN};
