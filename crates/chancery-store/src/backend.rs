//! The [`Backend`] trait, its durability contract, and the small types it speaks in.

use std::fmt;
use std::io;
use std::sync::Arc;

use crate::{SharedParts, StoreError};

/// Which family of objects; each lives in its own namespace.
///
/// The same name may exist under two kinds and denote two unrelated objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKind {
    /// Packs: the bulk of the data (many encrypted blobs each).
    Pack,
    /// Indexes: which blob lives in which pack.
    Index,
    /// Snapshots: one per backup run.
    Snapshot,
    /// Keys: wrapped master keys.
    Key,
    /// Meta: the store's own small descriptors (configuration, version, a witness's
    /// cosigned checkpoints).
    Meta,
    /// Ledger: the entries of the owner's ledger, one object each.
    Ledger,
}

impl ObjectKind {
    /// Every kind, in a fixed order (the order of the enum, also its `Ord`).
    pub const ALL: [ObjectKind; 6] = [
        ObjectKind::Pack,
        ObjectKind::Index,
        ObjectKind::Snapshot,
        ObjectKind::Key,
        ObjectKind::Meta,
        ObjectKind::Ledger,
    ];

    /// The folder (or key prefix) this kind lives under: `packs`, `index`, `snapshots`,
    /// `keys`, `meta` or `ledger`. Part of the on-disk format: never change these.
    pub fn dir_name(self) -> &'static str {
        match self {
            ObjectKind::Pack => "packs",
            ObjectKind::Index => "index",
            ObjectKind::Snapshot => "snapshots",
            ObjectKind::Key => "keys",
            ObjectKind::Meta => "meta",
            ObjectKind::Ledger => "ledger",
        }
    }

    /// A singular, human word for messages ("pack", "snapshot", ...).
    pub fn noun(self) -> &'static str {
        match self {
            ObjectKind::Pack => "pack",
            ObjectKind::Index => "index",
            ObjectKind::Snapshot => "snapshot",
            ObjectKind::Key => "key",
            ObjectKind::Meta => "meta",
            ObjectKind::Ledger => "ledger entry",
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.noun())
    }
}

/// One entry of a [`Backend::list`]: a complete, stored object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectInfo {
    /// The object's name (valid per [`crate::validate_name`]).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A place where objects rest: a folder, a bucket, memory.
///
/// Objects are immutable byte strings addressed by `(kind, name)`. Names are chosen by callers
/// (content hashes in practice) and must pass [`crate::validate_name`]; every method rejects
/// an invalid name with [`StoreError::InvalidName`] before touching storage.
///
/// # Durability contract
///
/// Every implementation must keep these promises; [`crate::conformance::run_all`] checks the
/// ones that can be observed from outside.
///
/// - **`put` is atomic**: a reader sees the whole object or none of it, even across a crash
///   or `kill -9` in the middle of a write.
/// - **`put` never overwrites**: if the name already exists under that kind, `put` returns
///   `Ok(())` and leaves the stored bytes as they were. The store is append-only; since
///   names are content hashes, a second put of the same name carries the same bytes anyway.
///   Concurrent puts of one name leave exactly one whole object.
/// - **After `put` returns `Ok`, the object's bytes are durable**, and its *name* becomes
///   durable at the next successful [`Backend::sync`]. An implementation may make the name
///   durable earlier (inside `put`) but callers must not rely on that: write a batch of
///   objects, then `sync`, then write whatever refers to them (an index, a snapshot).
///   ([`crate::FsBackend`] fsyncs each file before linking it into place, and defers the
///   fsync of the directories that gained entries to `sync`, so that a batch of puts pays
///   for each directory once.)
/// - **After `sync()` returns `Ok`**, every object whose `put` returned before `sync` was
///   called is on stable storage, names included; so is the removal of every object whose
///   `delete` returned before it.
/// - **`list` never shows temporary or partial objects**, and shows every object whose `put`
///   has returned `Ok` (in this process) and that has not been deleted since. Entries come
///   sorted by name. Foreign files with invalid names are skipped, not reported as errors.
/// - **`delete` of a missing object is `Ok`** (idempotent).
/// - A missing object is reported as [`StoreError::NotFound`] by `get` and `get_range`, and
///   as `Ok(None)` by `stat`.
///
/// Implementations are shared between threads (`Send + Sync`); every method takes `&self`.
pub trait Backend: Send + Sync + fmt::Debug {
    /// Where this backend stores, for messages: a path or a URL.
    fn location(&self) -> String;

    /// Stores `bytes` as `(kind, name)`, atomically and without overwriting; see the contract.
    fn put(&self, kind: ObjectKind, name: &str, bytes: &[u8]) -> Result<(), StoreError>;

    /// [`Backend::put`] of the concatenation of `parts` (a request body as it arrived in
    /// frames). The default joins them; a backend that can write them as they are (a file,
    /// vectored) overrides it to save the copy.
    fn put_parts(&self, kind: ObjectKind, name: &str, parts: &[&[u8]]) -> Result<(), StoreError> {
        match parts {
            [one] => self.put(kind, name, one),
            many => self.put(kind, name, &many.concat()),
        }
    }

    /// [`Backend::put`] of parts the caller hands over, perhaps shared with other puts (a
    /// backup's pack, written to every site). A backend that is done with them before the
    /// object is durable drops its reference then (a folder: once written, before the fsync),
    /// so that memory is not held while the disk works. The default puts the parts.
    fn put_shared(&self, kind: ObjectKind, name: &str, object: Arc<SharedParts>) -> Result<(), StoreError> {
        self.put_parts(kind, name, &object.slices())
    }

    /// Reads a whole object; [`StoreError::NotFound`] if it does not exist.
    fn get(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>, StoreError>;

    /// A whole object as a stream, for a caller that goes through it front to back and need
    /// not hold it all (`check` reading packs through a window). [`StoreError::NotFound`] and
    /// the like come when it is opened; a failure while reading is the reader's `io::Error`.
    /// The default reads the object with [`Backend::get`] and reads out of that; a folder, S3
    /// and the site server's client stream it.
    fn get_reader(&self, kind: ObjectKind, name: &str) -> Result<Box<dyn io::Read + Send + '_>, StoreError> {
        Ok(Box::new(io::Cursor::new(self.get(kind, name)?)))
    }

    /// Reads bytes `[offset, offset + len)` of an object. A range reaching past the end returns
    /// the part that exists, possibly empty; it is not an error. [`StoreError::NotFound`] if the
    /// object does not exist.
    fn get_range(&self, kind: ObjectKind, name: &str, offset: u64, len: u64) -> Result<Vec<u8>, StoreError>;

    /// Reads several ranges `(offset, len)` of one object, each as [`Backend::get_range`] would,
    /// in the order asked. The default reads them one by one; a folder overrides it to open the
    /// file once for all of them.
    fn get_ranges(
        &self,
        kind: ObjectKind,
        name: &str,
        ranges: &[(u64, u64)],
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        ranges.iter().map(|&(offset, len)| self.get_range(kind, name, offset, len)).collect()
    }

    /// The object's size if it exists, `None` if it does not.
    fn stat(&self, kind: ObjectKind, name: &str) -> Result<Option<u64>, StoreError>;

    /// When the object was stored (Unix seconds), as the storage records it (a file's
    /// modification time, an S3 object's `Last-Modified`); `None` if the object does not exist
    /// or the storage keeps no time. A site's retention floor is measured from it.
    fn written_at(&self, kind: ObjectKind, name: &str) -> Result<Option<i64>, StoreError> {
        let _ = (kind, name);
        Ok(None)
    }

    /// Every complete object of `kind`, sorted by name.
    fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>, StoreError>;

    /// Every complete object of `kind`, sorted by name, given `known`, a listing of it taken
    /// earlier (sorted by name): `None` when `known` is still what the store holds. A store
    /// that can tell which parts of its listing changed sends only those (a site server,
    /// `chancery_protocol::listing`). By default it lists afresh.
    fn relist(&self, kind: ObjectKind, known: &[ObjectInfo]) -> Result<Option<Vec<ObjectInfo>>, StoreError> {
        let _ = known;
        self.list(kind).map(Some)
    }

    /// Removes an object; removing a missing object is `Ok`.
    fn delete(&self, kind: ObjectKind, name: &str) -> Result<(), StoreError>;

    /// Makes every earlier completed `put` and `delete` durable, names included.
    fn sync(&self) -> Result<(), StoreError>;
}

/// Forwards every method to the pointee, so a `Box<dyn Backend>`, an `Arc<B>` or a `&B` is a
/// backend too and generic code (such as [`crate::FaultyBackend`]) can wrap any of them.
macro_rules! forward_backend {
    ($($ptr:ty),*) => {$(
        impl<B: Backend + ?Sized> Backend for $ptr {
            fn location(&self) -> String {
                (**self).location()
            }
            fn put(&self, kind: ObjectKind, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
                (**self).put(kind, name, bytes)
            }
            fn put_parts(&self, kind: ObjectKind, name: &str, parts: &[&[u8]]) -> Result<(), StoreError> {
                (**self).put_parts(kind, name, parts)
            }
            fn put_shared(&self, kind: ObjectKind, name: &str, object: Arc<SharedParts>) -> Result<(), StoreError> {
                (**self).put_shared(kind, name, object)
            }
            fn get(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>, StoreError> {
                (**self).get(kind, name)
            }
            fn get_reader(&self, kind: ObjectKind, name: &str) -> Result<Box<dyn std::io::Read + Send + '_>, StoreError> {
                (**self).get_reader(kind, name)
            }
            fn get_range(
                &self,
                kind: ObjectKind,
                name: &str,
                offset: u64,
                len: u64,
            ) -> Result<Vec<u8>, StoreError> {
                (**self).get_range(kind, name, offset, len)
            }
            fn get_ranges(
                &self,
                kind: ObjectKind,
                name: &str,
                ranges: &[(u64, u64)],
            ) -> Result<Vec<Vec<u8>>, StoreError> {
                (**self).get_ranges(kind, name, ranges)
            }
            fn stat(&self, kind: ObjectKind, name: &str) -> Result<Option<u64>, StoreError> {
                (**self).stat(kind, name)
            }
            fn written_at(&self, kind: ObjectKind, name: &str) -> Result<Option<i64>, StoreError> {
                (**self).written_at(kind, name)
            }
            fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>, StoreError> {
                (**self).list(kind)
            }
            fn relist(&self, kind: ObjectKind, known: &[ObjectInfo]) -> Result<Option<Vec<ObjectInfo>>, StoreError> {
                (**self).relist(kind, known)
            }
            fn delete(&self, kind: ObjectKind, name: &str) -> Result<(), StoreError> {
                (**self).delete(kind, name)
            }
            fn sync(&self) -> Result<(), StoreError> {
                (**self).sync()
            }
        }
    )*};
}

forward_backend!(Box<B>, std::sync::Arc<B>, &B);
