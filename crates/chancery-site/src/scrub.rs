//! [`scrub`]: re-hash every content-addressed object a site holds and list the ones whose bytes
//! no longer match their name (bit rot, a bad disk, tampering). No key is needed: the name of
//! a pack, index, snapshot or key file is the BLAKE3 hash of its stored bytes.

use std::path::Path;

use anyhow::{bail, Context};
use chancery_protocol::CONTENT_ADDRESSED;
use chancery_store::{Backend, ObjectKind, StoreError};
use serde::{Deserialize, Serialize};

use crate::identity::load_config;
use crate::storage::Storage;
use crate::tenants;

/// How much of an object is read at once.
const READ_CHUNK: u64 = 8 << 20;

/// What a scrub found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrubReport {
    /// Tenants scrubbed.
    pub tenants: usize,
    /// Objects re-hashed.
    pub objects: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Objects whose bytes do not hash to their name, or that could not be read.
    pub corrupt: Vec<CorruptObject>,
}

/// One damaged object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorruptObject {
    /// Its tenant.
    pub tenant: String,
    /// Its kind (`packs`, `index`, `snapshots`, `keys`).
    pub kind: String,
    /// Its name (the hash it should have).
    pub name: String,
}

/// Re-hashes the content-addressed objects of one enrolled tenant, or of every tenant.
/// Safe while the server runs (read-only). Damaged objects are reported, not an error.
pub fn scrub(data: &Path, tenant: Option<&str>) -> anyhow::Result<ScrubReport> {
    let config = load_config(data)?;
    let storage = Storage::open(data, config.storage.as_ref())?;
    let enrolled: Vec<String> = tenants::load(data)?.into_iter().map(|t| t.name).collect();
    let chosen = match tenant {
        Some(name) if !enrolled.iter().any(|t| t == name) => {
            bail!("tenant {name} is not enrolled at this site (enrolled: {})", enrolled.join(", "))
        }
        Some(name) => vec![name.to_string()],
        None => enrolled,
    };
    let mut report = ScrubReport::default();
    for name in chosen {
        scrub_tenant(&storage, &name, &mut report)?;
        report.tenants += 1;
    }
    Ok(report)
}

fn scrub_tenant(storage: &Storage, tenant: &str, report: &mut ScrubReport) -> anyhow::Result<()> {
    let store = storage.tenant(tenant).with_context(|| format!("opening tenant {tenant}"))?;
    let kinds = ObjectKind::ALL.into_iter().filter(|k| CONTENT_ADDRESSED.contains(&k.dir_name()));
    for kind in kinds {
        let objects = store.list(kind).with_context(|| format!("listing {kind}s of tenant {tenant}"))?;
        for object in objects {
            let damaged = match hash_object(store.as_ref(), kind, &object.name) {
                Ok((hash, bytes)) => {
                    report.bytes += bytes;
                    hash != object.name
                }
                // A key file deleted by its owner since the listing: nothing to check.
                Err(StoreError::NotFound { .. }) => continue,
                Err(e) => {
                    tracing::warn!(tenant, %kind, name = %object.name, "unreadable: {e}");
                    true
                }
            };
            report.objects += 1;
            if damaged {
                let (tenant, kind, name) = (tenant.to_string(), kind.dir_name().to_string(), object.name);
                report.corrupt.push(CorruptObject { tenant, kind, name });
            }
        }
    }
    Ok(())
}

/// The BLAKE3 hex of an object, read in chunks, and its length.
pub(crate) fn hash_object(
    store: &dyn Backend,
    kind: ObjectKind,
    name: &str,
) -> Result<(String, u64), StoreError> {
    let mut hasher = blake3::Hasher::new();
    let mut offset = 0u64;
    loop {
        let part = store.get_range(kind, name, offset, READ_CHUNK)?;
        hasher.update(&part);
        offset += part.len() as u64;
        if (part.len() as u64) < READ_CHUNK {
            return Ok((hasher.finalize().to_hex().to_string(), offset));
        }
    }
}
