//! What a running site shares between requests: identity, tenants, their stores and usage,
//! the replay cache, metrics, and per-object write locks.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use anyhow::Context;
use chancery_store::{Backend, ObjectKind, StoreError};
use ed25519_dalek::SigningKey;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::audit_log::AuditLogs;
use crate::governance::{load_amended, Amended, Governance, Rules};
use crate::identity::{info_of, load_config, load_key, SiteInfo};
use crate::metrics::Metrics;
use crate::replay::{Refused, ReplayCache, MAX_ENTRIES};
use crate::storage::Storage;
use crate::tenants::{Access, Registry, Tenant};

/// How many locks serialise writes; writes of two objects share one only by chance.
const WRITE_STRIPES: usize = 64;
/// Memory for request bodies being received and handled, in MiB: requests beyond it wait
/// (before reading their bodies), so that many large uploads at once cannot exhaust memory.
const BODY_BUDGET_MIB: u32 = 1024;

/// One tenant's store and the bytes it holds.
#[derive(Debug)]
pub(crate) struct TenantStore {
    pub(crate) backend: Box<dyn Backend>,
    used: AtomicU64,
    /// What executed settings proposals changed, and how many settings records there are.
    amended: RwLock<(Amended, u64)>,
}

impl TenantStore {
    /// Opens the store and adds up what it holds.
    fn open(storage: &Storage, tenant: &str) -> Result<Self, StoreError> {
        let backend = storage.tenant(tenant)?;
        let mut used = 0u64;
        for kind in ObjectKind::ALL {
            used = backend.list(kind)?.iter().fold(used, |sum, o| sum.saturating_add(o.size));
        }
        let amended = RwLock::new(load_amended(&*backend)?);
        Ok(TenantStore { backend, used: AtomicU64::new(used), amended })
    }

    /// The terms and roles in force for `tenant` (whose store this is).
    pub(crate) fn rules(&self, tenant: &Tenant) -> Rules {
        Rules::of(tenant, &self.amended().0)
    }

    /// The amendments in force and the number of their record.
    pub(crate) fn amended(&self) -> (Amended, u64) {
        self.amended.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Installs amendments just recorded as record number `seq`.
    pub(crate) fn set_amended(&self, amended: Amended, seq: u64) {
        *self.amended.write().unwrap_or_else(|p| p.into_inner()) = (amended, seq);
    }

    /// Bytes stored.
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::SeqCst)
    }

    /// Counts `size` more bytes if that stays within `quota`; whether it did.
    pub(crate) fn reserve(&self, size: u64, quota: Option<u64>) -> bool {
        let fits = |used: u64| used.checked_add(size).filter(|total| quota.is_none_or(|q| *total <= q));
        self.used.fetch_update(Ordering::SeqCst, Ordering::SeqCst, fits).is_ok()
    }

    /// Counts `size` fewer bytes (a failed write, a deleted object).
    pub(crate) fn release(&self, size: u64) {
        let _ = self.used.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |u| Some(u.saturating_sub(size)));
    }
}

/// The state of a running site.
#[derive(Debug)]
pub(crate) struct Site {
    pub(crate) storage: Storage,
    pub(crate) key: SigningKey,
    pub(crate) info: SiteInfo,
    pub(crate) metrics: Metrics,
    /// When this server started (unix seconds). The replay cache lives in memory, so requests
    /// signed before the start are refused: none can be replayed across a restart.
    pub(crate) started: i64,
    /// Every tenant's audit log.
    pub(crate) audit: AuditLogs,
    /// Governance in progress.
    pub(crate) governance: Governance,
    registry: Mutex<Registry>,
    stores: RwLock<BTreeMap<String, Arc<TenantStore>>>,
    replay: Mutex<ReplayCache>,
    stripes: Vec<tokio::sync::Mutex<()>>,
    body_budget: Arc<Semaphore>,
}

impl Site {
    /// Loads the site at `data` and opens every enrolled tenant's store (blocking I/O).
    pub(crate) fn open(data: &Path) -> anyhow::Result<Self> {
        let config = load_config(data)?;
        let key = load_key(data)?;
        let registry = Registry::open(data)?;
        let storage = Storage::open(data, config.storage.as_ref())?;
        let site = Site {
            storage,
            info: info_of(&config, &key),
            key,
            metrics: Metrics::default(),
            started: crate::files::unix_now(),
            audit: AuditLogs::new(data),
            governance: Governance::default(),
            stores: RwLock::new(BTreeMap::new()),
            replay: Mutex::new(ReplayCache::new(MAX_ENTRIES)),
            stripes: (0..WRITE_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            registry: Mutex::new(registry),
            body_budget: Arc::new(Semaphore::new(BODY_BUDGET_MIB as usize)),
        };
        let names: Vec<String> = lock(&site.registry).tenants().map(|t| t.name.clone()).collect();
        for name in names {
            // Any tenant may hold a proposal still open from before a restart.
            site.governance.mark_open(&name);
            // A tenant whose folder cannot be opened is reported, and refused per request,
            // rather than keeping the whole site down.
            if let Err(e) = site.store(&name).with_context(|| format!("opening the store of tenant {name}")) {
                tracing::error!("{e:#}");
            }
        }
        Ok(site)
    }

    /// Whether `key` may act for `tenant`, after re-reading `tenants.toml` if it changed.
    pub(crate) fn access(&self, key: &[u8; 32], tenant: &str) -> Access {
        let mut registry = lock(&self.registry);
        registry.refresh();
        registry.access(key, tenant)
    }

    /// The enrolled tenant called `name`.
    pub(crate) fn tenant(&self, name: &str) -> Option<Tenant> {
        lock(&self.registry).tenants().find(|t| t.name == name).cloned()
    }

    /// The owner key of an enrolled tenant; `None` if there is no such tenant.
    pub(crate) fn tenant_key(&self, tenant: &str) -> Option<[u8; 32]> {
        lock(&self.registry).tenants().find(|t| t.name == tenant).map(|t| t.key)
    }

    /// Records a request's nonce; refused if replayed (or the cache is full).
    pub(crate) fn admit_nonce(&self, key: [u8; 32], nonce: &str, time: i64, now: i64) -> Result<(), Refused> {
        lock(&self.replay).admit(key, nonce, time, now)
    }

    /// The tenant's store, opened on first use.
    pub(crate) fn store(&self, tenant: &str) -> Result<Arc<TenantStore>, StoreError> {
        if let Some(store) = self.stores.read().unwrap_or_else(|p| p.into_inner()).get(tenant) {
            return Ok(store.clone());
        }
        let opened = Arc::new(TenantStore::open(&self.storage, tenant)?);
        let mut stores = self.stores.write().unwrap_or_else(|p| p.into_inner());
        Ok(stores.entry(tenant.to_string()).or_insert(opened).clone())
    }

    /// Bytes stored per tenant whose store is open.
    pub(crate) fn stored_bytes(&self) -> Vec<(String, u64)> {
        let stores = self.stores.read().unwrap_or_else(|p| p.into_inner());
        stores.iter().map(|(name, store)| (name.clone(), store.used())).collect()
    }

    /// Serialises writers of one object, so that "does it exist, count it, store it" is not
    /// raced by a second upload of the same name.
    pub(crate) async fn lock_object(
        &self,
        tenant: &str,
        kind: ObjectKind,
        name: &str,
    ) -> tokio::sync::MutexGuard<'_, ()> {
        let mut hasher = DefaultHasher::new();
        (tenant, kind, name).hash(&mut hasher);
        let stripe = usize::try_from(hasher.finish() % WRITE_STRIPES as u64).unwrap_or(0);
        self.stripes[stripe].lock().await
    }
}

impl Site {
    /// Waits until a body of at most `upper` bytes (unknown: the largest allowed) fits in the
    /// memory budget, and takes its share; nothing for an empty body.
    pub(crate) async fn reserve_body_memory(&self, upper: Option<u64>) -> Option<OwnedSemaphorePermit> {
        let max = crate::http::MAX_BODY_BYTES as u64;
        let bytes = upper.unwrap_or(max).min(max);
        let mib = u32::try_from(bytes.div_ceil(1 << 20)).unwrap_or(BODY_BUDGET_MIB).min(BODY_BUDGET_MIB);
        if mib == 0 {
            return None;
        }
        // The semaphore is never closed.
        self.body_budget.clone().acquire_many_owned(mib).await.ok()
    }
}

/// The guarded data stays valid whatever a panicking holder did: ignore poisoning.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_respect_the_quota() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::Folders(dir.path().into());
        storage.create_tenant("ee").unwrap();
        let store = TenantStore::open(&storage, "ee").unwrap();
        assert!(store.reserve(60, Some(100)));
        assert!(!store.reserve(41, Some(100)));
        assert!(store.reserve(40, Some(100)));
        store.release(50);
        assert_eq!(store.used(), 50);
        assert!(store.reserve(u64::MAX - 50, None));
        assert!(!store.reserve(1, None), "no overflow");
    }

    #[tokio::test]
    async fn bodies_take_their_share_of_the_memory_budget() {
        let dir = tempfile::tempdir().unwrap();
        crate::init_site(dir.path(), "s", 0.0, 0.0, "LU", 0).unwrap();
        let site = Site::open(dir.path()).unwrap();
        assert!(site.reserve_body_memory(Some(0)).await.is_none(), "an empty body is free");
        let small = site.reserve_body_memory(Some(10)).await.unwrap();
        assert_eq!(small.num_permits(), 1);
        let unknown = site.reserve_body_memory(None).await.unwrap();
        assert_eq!(unknown.num_permits(), 256, "unknown length: the largest body allowed");
        assert_eq!(site.body_budget.available_permits(), BODY_BUDGET_MIB as usize - 257);
        drop((small, unknown));
        assert_eq!(site.body_budget.available_permits(), BODY_BUDGET_MIB as usize);
    }

    #[test]
    fn usage_is_read_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::Folders(dir.path().into());
        storage.create_tenant("ee").unwrap();
        let backend = storage.tenant("ee").unwrap();
        backend.put(ObjectKind::Pack, "abcd", &[0; 10]).unwrap();
        backend.put(ObjectKind::Meta, "m", &[0; 5]).unwrap();
        assert_eq!(TenantStore::open(&storage, "ee").unwrap().used(), 15);
    }
}
