//! [`MemoryBackend`]: objects in a map, for unit tests of callers.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::name::validate_name;
use crate::{Backend, ObjectInfo, ObjectKind, StoreError};

type Objects = BTreeMap<(ObjectKind, String), Arc<Vec<u8>>>;

/// Tells stores apart in messages when a test uses several.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// An in-memory store.
///
/// It keeps the whole [`Backend`] contract except durability, which is moot: nothing survives
/// the process, and `sync` does nothing. Clones share the same objects, so a test can hand one
/// clone to the code under test (or to a [`crate::FaultyBackend`]) and inspect or damage the
/// store through another, with [`MemoryBackend::corrupt`] and [`MemoryBackend::remove`].
#[derive(Clone, Debug)]
pub struct MemoryBackend {
    id: u64,
    objects: Arc<Mutex<Objects>>,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBackend {
    /// An empty store.
    pub fn new() -> Self {
        MemoryBackend {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            objects: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    /// Changes a stored object in place through `f`, bypassing the no-overwrite rule, to test
    /// how callers detect damaged data. [`StoreError::NotFound`] if there is no such object.
    pub fn corrupt(
        &self,
        kind: ObjectKind,
        name: &str,
        f: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), StoreError> {
        let mut objects = self.objects();
        match objects.get_mut(&(kind, name.to_string())) {
            // Copy-on-write: bytes already handed out by `get` stay as they were read.
            Some(bytes) => {
                f(Arc::make_mut(bytes));
                Ok(())
            }
            None => Err(self.not_found(kind, name)),
        }
    }

    /// Removes an object without any checks, as a lost file would; returns its bytes if it
    /// existed. Unlike [`Backend::delete`] this accepts any name, for tests of odd states.
    pub fn remove(&self, kind: ObjectKind, name: &str) -> Option<Vec<u8>> {
        let removed = self.objects().remove(&(kind, name.to_string()))?;
        Some(Arc::unwrap_or_clone(removed))
    }

    /// How many objects of all kinds are stored.
    pub fn len(&self) -> usize {
        self.objects().len()
    }

    /// Whether no object of any kind is stored.
    pub fn is_empty(&self) -> bool {
        self.objects().is_empty()
    }

    /// The sum of all objects' sizes, in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.objects().values().map(|b| b.len() as u64).sum()
    }

    fn objects(&self) -> MutexGuard<'_, Objects> {
        // Every operation leaves the map consistent, so a panic elsewhere does not matter.
        self.objects.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A shared handle on an object's bytes, without copying them.
    fn shared(&self, kind: ObjectKind, name: &str) -> Result<Arc<Vec<u8>>, StoreError> {
        validate_name(name)?;
        let found = self.objects().get(&(kind, name.to_string())).cloned();
        found.ok_or_else(|| self.not_found(kind, name))
    }

    fn not_found(&self, kind: ObjectKind, name: &str) -> StoreError {
        StoreError::NotFound { location: self.location(), kind, name: name.to_string() }
    }
}

impl Backend for MemoryBackend {
    fn location(&self) -> String {
        format!("memory:{}", self.id)
    }

    fn put(&self, kind: ObjectKind, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        validate_name(name)?;
        // Copy outside the lock so that large puts from several threads do not serialise.
        let bytes = Arc::new(bytes.to_vec());
        self.objects().entry((kind, name.to_string())).or_insert(bytes);
        Ok(())
    }

    fn get(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>, StoreError> {
        Ok(self.shared(kind, name)?.as_ref().clone())
    }

    fn get_range(&self, kind: ObjectKind, name: &str, offset: u64, len: u64) -> Result<Vec<u8>, StoreError> {
        let bytes = self.shared(kind, name)?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
        let end = start.saturating_add(usize::try_from(len).unwrap_or(usize::MAX)).min(bytes.len());
        Ok(bytes[start..end].to_vec())
    }

    fn stat(&self, kind: ObjectKind, name: &str) -> Result<Option<u64>, StoreError> {
        validate_name(name)?;
        Ok(self.objects().get(&(kind, name.to_string())).map(|b| b.len() as u64))
    }

    fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>, StoreError> {
        // The map is ordered by (kind, name), so this comes out sorted by name.
        let objects = self.objects();
        let of_kind = objects.iter().filter(|((k, _), _)| *k == kind);
        Ok(of_kind
            .map(|((_, name), bytes)| ObjectInfo { name: name.clone(), size: bytes.len() as u64 })
            .collect())
    }

    fn delete(&self, kind: ObjectKind, name: &str) -> Result<(), StoreError> {
        validate_name(name)?;
        self.objects().remove(&(kind, name.to_string()));
        Ok(())
    }

    fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_changes_stored_bytes_but_not_bytes_already_read() {
        let store = MemoryBackend::new();
        store.put(ObjectKind::Pack, "ab", b"hello").unwrap();
        let before = store.get(ObjectKind::Pack, "ab").unwrap();
        store.corrupt(ObjectKind::Pack, "ab", |b| b[0] ^= 0xff).unwrap();
        assert_eq!(before, b"hello");
        assert_ne!(store.get(ObjectKind::Pack, "ab").unwrap(), b"hello");
        assert!(store.corrupt(ObjectKind::Pack, "zz", |_| {}).unwrap_err().is_not_found());
    }

    #[test]
    fn clones_share_objects_and_remove_simulates_loss() {
        let store = MemoryBackend::new();
        let view = store.clone();
        store.put(ObjectKind::Index, "i1", b"x").unwrap();
        assert_eq!(view.len(), 1);
        assert_eq!(view.total_bytes(), 1);
        assert_eq!(view.remove(ObjectKind::Index, "i1"), Some(b"x".to_vec()));
        assert!(store.is_empty());
        assert_eq!(view.remove(ObjectKind::Index, "i1"), None);
    }
}
