//! [`S3Backend`]: objects in a bucket of an S3-compatible object store (Garage, Ceph RGW,
//! MinIO, AWS S3), through the `object_store` crate.
//!
//! Layout: `<prefix>/<kind dir>/<name>`, e.g. `tenants/ee/packs/3f…`. No fan-out folders:
//! object stores do not slow down with many keys under one prefix.
//!
//! How the contract is kept:
//! - **Atomic puts**: an S3 PUT is all or nothing; a failed or killed upload leaves no object
//!   (single PUTs only, no multipart, so no half-finished uploads linger either).
//! - **No overwrite**: `put` asks for the name first and does nothing if it exists; the PUT
//!   itself is conditional (`If-None-Match: *`), so that two writers racing on one name keep the
//!   first object on stores that honour the condition (AWS S3 does). Garage 2.5 ignores it
//!   (`tests/s3.rs` records that), so there the look-up is the guard, and one writer per prefix
//!   (one site server, which serialises writers of a name) keeps it exact.
//! - **Durability**: an S3 PUT or DELETE answers only once the store has made it durable by its
//!   own rules (replication, fsync); `sync` therefore has nothing left to do.
//! - **Listings** show only whole objects and are sorted here (S3 sorts by UTF-8 bytes too).
//!
//! The trait is blocking; `object_store` is async. Every call runs on the process-wide runtime
//! of [`crate::runtime`], and the caller's thread waits for the result.

use std::io;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, PutMode, PutOptions, PutPayload, RetryConfig};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::name::validate_name;
use crate::runtime::wait;

mod reader;
use crate::{Backend, ObjectInfo, ObjectKind, StoreError};
pub use reader::{S3Reader, STREAM_BATCH};

/// Where and how to reach a bucket. The secret is kept apart from what is written to files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Config {
    /// The service's base URL, e.g. `http://127.0.0.1:3900` or `https://s3.eu-west-1.amazonaws.com`.
    pub endpoint: String,
    /// The region the bucket lives in (`garage` for a default Garage, `us-east-1` for MinIO).
    pub region: String,
    /// The bucket's name; it must exist already.
    pub bucket: String,
    /// A key prefix inside the bucket ("" for the bucket's root), so that several sites or
    /// tenants can share one bucket.
    #[serde(default)]
    pub prefix: String,
    /// The access key id.
    pub access_key_id: String,
}

/// An S3 bucket (or a prefix of one) holding a Chancery store.
#[derive(Clone)]
pub struct S3Backend {
    store: Arc<AmazonS3>,
    config: S3Config,
    /// `prefix` with surrounding slashes removed; "" for the bucket's root.
    prefix: String,
}

impl std::fmt::Debug for S3Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Backend").field("location", &self.location()).finish_non_exhaustive()
    }
}

impl S3Backend {
    /// Connects to the bucket described by `config` (with `secret_access_key`) and checks that
    /// it answers, so that a wrong endpoint, bucket or key is reported now rather than at the
    /// first backup.
    pub fn open(config: &S3Config, secret_access_key: &str) -> Result<Self, StoreError> {
        let backend = Self::connect(config, secret_access_key)?;
        let store = backend.store.clone();
        let probe = ObjectPath::from(format!("{}meta", backend.key_prefix()));
        wait(async move { store.list_with_delimiter(Some(&probe)).await })
            .map_err(|e| backend.unavailable(&e, "checking that the bucket answers"))?;
        Ok(backend)
    }

    /// Builds the client without any request (for tests of configuration errors).
    fn connect(config: &S3Config, secret_access_key: &str) -> Result<Self, StoreError> {
        let secret = Zeroizing::new(secret_access_key.to_string());
        let options = ClientOptions::new()
            .with_allow_http(config.endpoint.starts_with("http://"))
            .with_connect_timeout(Duration::from_secs(10))
            .with_timeout(Duration::from_secs(300));
        let retry =
            RetryConfig { max_retries: 3, retry_timeout: Duration::from_secs(60), ..Default::default() };
        let store = AmazonS3Builder::new()
            .with_endpoint(&config.endpoint)
            .with_region(&config.region)
            .with_bucket_name(&config.bucket)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(secret.as_str())
            .with_virtual_hosted_style_request(false)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_client_options(options)
            .with_retry(retry)
            .build()
            .map_err(|e| StoreError::Unavailable {
                location: format!("{}/{}", config.endpoint, config.bucket),
                reason: format!("the S3 settings are not usable: {e}"),
            })?;
        let prefix = config.prefix.trim_matches('/').to_string();
        Ok(S3Backend { store: Arc::new(store), config: config.clone(), prefix })
    }

    /// The same bucket under `<prefix>/<sub>`: one store per tenant, one connection pool.
    pub fn child(&self, sub: &str) -> S3Backend {
        let sub = sub.trim_matches('/');
        let prefix = if self.prefix.is_empty() { sub.to_string() } else { format!("{}/{sub}", self.prefix) };
        S3Backend { store: self.store.clone(), config: self.config.clone(), prefix }
    }

    /// `prefix/` or "".
    fn key_prefix(&self) -> String {
        if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        }
    }

    fn path(&self, kind: ObjectKind, name: &str) -> Result<ObjectPath, StoreError> {
        validate_name(name)?;
        Ok(ObjectPath::from(format!("{}{}/{name}", self.key_prefix(), kind.dir_name())))
    }

    fn not_found(&self, kind: ObjectKind, name: &str) -> StoreError {
        StoreError::NotFound { location: self.location(), kind, name: name.to_string() }
    }

    fn unavailable(&self, err: &object_store::Error, doing: &str) -> StoreError {
        StoreError::Unavailable {
            location: self.location(),
            reason: format!(
                "{doing}: {err} (check the endpoint, bucket, region, access key and that the \
                 object store is running)"
            ),
        }
    }

    /// Maps an `object_store` error: a missing object is typed, a refusal of our key is a
    /// permission problem, everything else means the store cannot be used right now.
    fn error(&self, err: object_store::Error, kind: ObjectKind, name: &str, doing: &str) -> StoreError {
        match err {
            object_store::Error::NotFound { .. } => self.not_found(kind, name),
            object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
                StoreError::PermissionDenied {
                    location: self.location(),
                    source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, err.to_string()),
                }
            }
            other => self.unavailable(&other, &format!("{doing} {kind} {name}")),
        }
    }

    fn head(&self, kind: ObjectKind, name: &str) -> Result<Option<u64>, StoreError> {
        let path = self.path(kind, name)?;
        let store = self.store.clone();
        match wait(async move { store.head(&path).await }) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(e, kind, name, "looking up")),
        }
    }

    fn last_modified(&self, kind: ObjectKind, name: &str) -> Result<Option<i64>, StoreError> {
        let path = self.path(kind, name)?;
        let store = self.store.clone();
        match wait(async move { store.head(&path).await }) {
            Ok(meta) => Ok(Some(meta.last_modified.timestamp())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(e, kind, name, "looking up")),
        }
    }

    fn ranged(&self, kind: ObjectKind, name: &str, range: Range<u64>) -> Result<Vec<u8>, StoreError> {
        let path = self.path(kind, name)?;
        let store = self.store.clone();
        match wait(async move { store.get_range(&path, range).await }) {
            Ok(bytes) => Ok(bytes.to_vec()),
            Err(e) => Err(self.error(e, kind, name, "reading")),
        }
    }
}

impl S3Backend {
    /// A whole object's body as it arrives, never more than about [`STREAM_BATCH`] of it held
    /// (what [`Backend::get_reader`] returns). A missing object and the like are reported now;
    /// a failure later in the body is the reader's `io::Error`.
    pub fn get_stream(&self, kind: ObjectKind, name: &str) -> Result<S3Reader, StoreError> {
        let path = self.path(kind, name)?;
        let (store, at) = (self.store.clone(), path.clone());
        let opened = wait(async move { store.get(&at).await });
        let got = opened.map_err(|e| self.error(e, kind, name, "reading"))?;
        let what = format!("{kind} {name} at {}", self.location());
        Ok(S3Reader::new(self.store.clone(), path, got, what))
    }
}

impl Backend for S3Backend {
    fn location(&self) -> String {
        let endpoint = self.config.endpoint.trim_end_matches('/');
        match self.prefix.as_str() {
            "" => format!("{endpoint}/{}", self.config.bucket),
            prefix => format!("{endpoint}/{}/{prefix}", self.config.bucket),
        }
    }

    fn put(&self, kind: ObjectKind, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.path(kind, name)?;
        if self.head(kind, name)?.is_some() {
            return Ok(());
        }
        let store = self.store.clone();
        let payload = PutPayload::from(bytes.to_vec());
        let options = PutOptions { mode: PutMode::Create, ..Default::default() };
        match wait(async move { store.put_opts(&path, payload, options).await }) {
            // Someone else stored the name between our look-up and our write: it stays.
            Ok(_)
            | Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                Ok(())
            }
            Err(e) => Err(self.error(e, kind, name, "storing")),
        }
    }

    fn get(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path(kind, name)?;
        let store = self.store.clone();
        let result = wait(async move {
            let got = store.get(&path).await?;
            got.bytes().await
        });
        result.map(|b| b.to_vec()).map_err(|e| self.error(e, kind, name, "reading"))
    }

    fn get_reader(&self, kind: ObjectKind, name: &str) -> Result<Box<dyn io::Read + Send + '_>, StoreError> {
        Ok(Box::new(self.get_stream(kind, name)?))
    }

    fn get_range(&self, kind: ObjectKind, name: &str, offset: u64, len: u64) -> Result<Vec<u8>, StoreError> {
        // S3 refuses a range that starts at or past the end (416), and object_store checks the
        // length it gets back; the contract wants the part that exists. Asking for the size
        // first costs a round trip but keeps every edge exact.
        let size = self.head(kind, name)?.ok_or_else(|| self.not_found(kind, name))?;
        let end = offset.saturating_add(len).min(size);
        if offset >= end {
            return Ok(Vec::new());
        }
        self.ranged(kind, name, offset..end)
    }

    fn stat(&self, kind: ObjectKind, name: &str) -> Result<Option<u64>, StoreError> {
        self.head(kind, name)
    }

    fn written_at(&self, kind: ObjectKind, name: &str) -> Result<Option<i64>, StoreError> {
        self.last_modified(kind, name)
    }

    fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>, StoreError> {
        let dir = format!("{}{}/", self.key_prefix(), kind.dir_name());
        let store = self.store.clone();
        let prefix = ObjectPath::from(dir.trim_end_matches('/'));
        let metas = wait(async move { store.list(Some(&prefix)).try_collect::<Vec<_>>().await })
            .map_err(|e| self.unavailable(&e, &format!("listing {}s", kind.noun())))?;
        let mut objects: Vec<ObjectInfo> = metas
            .into_iter()
            .filter_map(|meta| {
                let name = meta.location.as_ref().strip_prefix(dir.as_str())?.to_string();
                // Foreign keys (nested folders, odd names) are skipped, as on a file system.
                validate_name(&name).ok()?;
                Some(ObjectInfo { name, size: meta.size })
            })
            .collect();
        objects.sort();
        Ok(objects)
    }

    fn delete(&self, kind: ObjectKind, name: &str) -> Result<(), StoreError> {
        let path = self.path(kind, name)?;
        let store = self.store.clone();
        match wait(async move { store.delete(&path).await }) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(e, kind, name, "deleting")),
        }
    }

    fn sync(&self) -> Result<(), StoreError> {
        // Every PUT and DELETE was durable when it returned.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(prefix: &str) -> S3Config {
        S3Config {
            endpoint: "http://127.0.0.1:9".into(),
            region: "garage".into(),
            bucket: "b".into(),
            prefix: prefix.into(),
            access_key_id: "id".into(),
        }
    }

    #[test]
    fn keys_are_prefix_kind_name() {
        let root = S3Backend::connect(&config(""), "s").unwrap();
        assert_eq!(root.path(ObjectKind::Pack, "ab").unwrap().as_ref(), "packs/ab");
        let site = S3Backend::connect(&config("/site-a/"), "s").unwrap();
        let tenant = site.child("tenants/ee");
        assert_eq!(
            tenant.path(ObjectKind::Snapshot, "cd").unwrap().as_ref(),
            "site-a/tenants/ee/snapshots/cd"
        );
        assert_eq!(tenant.location(), "http://127.0.0.1:9/b/site-a/tenants/ee");
        assert!(matches!(tenant.path(ObjectKind::Pack, "../x"), Err(StoreError::InvalidName { .. })));
    }

    #[test]
    fn an_unreachable_store_is_reported_as_unavailable() {
        let err = S3Backend::open(&config(""), "s").unwrap_err();
        assert!(matches!(err, StoreError::Unavailable { .. }), "{err}");
        assert!(err.to_string().contains("check the endpoint"), "{err}");
    }
}
