//! `PUT /v1/tenants/{tenant}/{kind}/{name}`: storing an object, append-only.
//!
//! Content-addressed kinds are checked against their name before anything is written. An
//! existing object is never replaced by other content: the same object again is acknowledged
//! (200, with a receipt), a different `meta` object refused (409). A new object is counted
//! against the quota, stored, made durable (`put` + `sync`), and acknowledged with a signed
//! receipt (201).
//!
//! Repair: when a content-addressed object is offered again, the stored copy is re-hashed
//! before it is acknowledged. If the stored bytes no longer hash to the name (damaged on
//! disk), they are replaced by the offered ones, which were just checked to hash to it: that
//! can only turn a wrong copy into the right one, so writers still cannot alter data.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chancery_protocol::governance::is_governance_name;
use chancery_protocol::receipt::Receipt;
use chancery_protocol::CONTENT_ADDRESSED;
use chancery_store::{Backend, ObjectKind};

use super::auth::Authed;
use super::error::{blocking, ApiError};
use super::objects::{object_id, ObjectPath};
use crate::audit_log::is_audit_name;
use crate::files::unix_now;
use crate::roles::{is_recovery_key_name, Role, RECOVERY_KEY_PREFIX};
use crate::scrub::hash_object;
use crate::state::Site;
use crate::witness::is_witness_name;

/// Stores one object.
pub(crate) async fn put_object(
    State(site): State<Arc<Site>>,
    Path(path): Path<ObjectPath>,
    authed: Authed,
) -> Result<Response, ApiError> {
    let (kind, name) = object_id(&path)?;
    authed.require(Role::Writer, "storing objects")?;
    if kind == ObjectKind::Meta && name.starts_with(RECOVERY_KEY_PREFIX) && !is_recovery_key_name(&name) {
        return Err(ApiError::bad_request(format!(
            "{name}: a recovery key is registered as {RECOVERY_KEY_PREFIX}<64 lower-case hex digits of its public key>"
        )));
    }
    if kind == ObjectKind::Meta && is_witness_name(&name) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{name} is the site's own record of a cosigned checkpoint; submit checkpoints to add-checkpoint"),
        )
        .reason("forbidden"));
    }
    if kind == ObjectKind::Meta && is_audit_name(&name) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "{name} is part of the site's audit log, which only the site writes; read it at …/audit-log"
            ),
        )
        .reason("forbidden"));
    }
    if kind == ObjectKind::Meta && is_governance_name(&name) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{name} is a governance record, which only the site writes; governors post acts to …/governance"),
        )
        .reason("forbidden"));
    }
    if CONTENT_ADDRESSED.contains(&kind.dir_name()) {
        check_hash(&name, authed.body.hash())?;
    }
    let _guard = site.lock_object(&authed.tenant.name, kind, &name).await;
    let (store, owned) = (authed.store.clone(), name.clone());
    let existing = blocking("looking up an object", move || store.backend.stat(kind, &owned)).await?;
    let status = match existing {
        None => store_new(&authed, kind, &name).await.map(|()| StatusCode::CREATED)?,
        Some(_) if !CONTENT_ADDRESSED.contains(&kind.dir_name()) => {
            same_meta(&authed, kind, &name).await.map(|()| StatusCode::OK)?
        }
        // Intact, it holds exactly the body: both hash to the name.
        Some(_) if intact(&authed, kind, &name).await? => StatusCode::OK,
        Some(size) => repair(&authed, kind, &name, size).await.map(|()| StatusCode::CREATED)?,
    };
    let receipt =
        Receipt::sign(&site.key, &authed.tenant.name, kind.dir_name(), &name, len(&authed), unix_now());
    Ok((status, Json(receipt)).into_response())
}

fn len(authed: &Authed) -> u64 {
    u64::try_from(authed.body.len()).unwrap_or(u64::MAX)
}

/// 400 unless the body's BLAKE3 hash is the name.
fn check_hash(name: &str, body_hash: &blake3::Hash) -> Result<(), ApiError> {
    let hash = body_hash.to_hex();
    if hash.as_str() == name {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "the body's BLAKE3 hash is {hash}, not the object's name {name}: nothing was stored; \
         the upload was corrupted or the name is wrong"
    )))
}

/// `Ok` when the stored `meta` object is the one offered again, else 409.
async fn same_meta(authed: &Authed, kind: ObjectKind, name: &str) -> Result<(), ApiError> {
    let (store, owned) = (authed.store.clone(), name.to_string());
    let stored = blocking("reading an object", move || store.backend.get(kind, &owned)).await?;
    if stored == authed.body.contiguous() {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        format!(
            "a different {kind} named {name} is already stored ({} bytes) and objects are never \
             overwritten; store the new content under a new name",
            stored.len()
        ),
    ))
}

/// Whether the stored copy of a content-addressed object still hashes to its name.
async fn intact(authed: &Authed, kind: ObjectKind, name: &str) -> Result<bool, ApiError> {
    let (store, owned) = (authed.store.clone(), name.to_string());
    let (hash, _) =
        blocking("checking a stored object", move || hash_object(&store.backend, kind, &owned)).await?;
    Ok(hash == name)
}

/// Replaces a damaged copy by the offered bytes (already checked against the name).
async fn repair(authed: &Authed, kind: ObjectKind, name: &str, damaged_size: u64) -> Result<(), ApiError> {
    tracing::warn!(tenant = %authed.tenant.name, %kind, name, "stored copy damaged; replacing it with the verified upload");
    let (store, owned, body) = (authed.store.clone(), name.to_string(), authed.body.clone());
    blocking("repairing an object", move || {
        store.backend.delete(kind, &owned)?;
        store.backend.put_parts(kind, &owned, &body.slices())?;
        store.backend.sync()
    })
    .await?;
    authed.store.release(damaged_size);
    // A repair restores what was acknowledged before: it is not held to the quota.
    authed.store.reserve(len(authed), None);
    Ok(())
}

/// Counts, stores and syncs a new object.
async fn store_new(authed: &Authed, kind: ObjectKind, name: &str) -> Result<(), ApiError> {
    let size = len(authed);
    if !authed.store.reserve(size, authed.tenant.quota_bytes) {
        return Err(over_quota(authed, size));
    }
    let (store, owned, body) = (authed.store.clone(), name.to_string(), authed.body.clone());
    let stored = blocking("storing an object", move || {
        store.backend.put_parts(kind, &owned, &body.slices())?;
        store.backend.sync()
    })
    .await;
    if stored.is_err() {
        // Whether the bytes landed is unknown; counting them as absent lets a retry through,
        // and the next start recounts from disk.
        authed.store.release(size);
    }
    stored
}

fn over_quota(authed: &Authed, size: u64) -> ApiError {
    let quota = authed.tenant.quota_bytes.unwrap_or(u64::MAX);
    ApiError::new(
        StatusCode::INSUFFICIENT_STORAGE,
        format!(
            "tenant {} is over its quota: {} of {quota} bytes used, this object needs {size} more; \
             nothing was stored; ask the site's operator for a larger quota",
            authed.tenant.name,
            authed.store.used()
        ),
    )
    .reason("quota")
}
