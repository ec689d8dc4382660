//! Reading a tenant's objects (GET, HEAD, listing), deleting key files, and the sync barrier.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::header::{ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chancery_protocol::listing::{
    format_digests, parse_listing_query, shard_digests, shard_of, ListedObject, ListingQuery,
};
use chancery_protocol::KINDS;
use chancery_store::{validate_name, Backend, ObjectInfo, ObjectKind};
use serde::Deserialize;

use super::auth::Authed;
use super::error::{blocking, ApiError};
use super::range::{content_range, resolve, RangeAnswer};
use super::stream::object_body;
use crate::roles::{is_recovery_key_name, recovery_may_read, Role, RECOVERY_KEY_PREFIX};
use crate::state::Site;

/// `/v1/tenants/{tenant}/{kind}/{name}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ObjectPath {
    pub(crate) kind: String,
    pub(crate) name: String,
}

/// `/v1/tenants/{tenant}/{kind}`.
#[derive(Debug, Deserialize)]
pub(crate) struct KindPath {
    kind: String,
}

/// The store's kind for a URL's kind, or 404.
pub(crate) fn object_kind(kind: &str) -> Result<ObjectKind, ApiError> {
    ObjectKind::ALL.into_iter().find(|k| k.dir_name() == kind).ok_or_else(|| {
        ApiError::not_found(format!("no object kind {kind:?}; the kinds are {}", KINDS.join(", ")))
    })
}

/// The kind and a checked name, or 404 / 400.
pub(crate) fn object_id(path: &ObjectPath) -> Result<(ObjectKind, String), ApiError> {
    let kind = object_kind(&path.kind)?;
    validate_name(&path.name).map_err(|e| ApiError::storage("checking the name", e))?;
    Ok((kind, path.name.clone()))
}

/// `GET …/{kind}/{name}`: the object, streamed as it is read, or the one range asked for.
pub(crate) async fn get_object(
    Path(path): Path<ObjectPath>,
    headers: HeaderMap,
    authed: Authed,
) -> Result<Response, ApiError> {
    let (kind, name) = object_id(&path)?;
    require_read(&authed, kind)?;
    let size = stat(&authed, kind, &name).await?;
    let octets =
        [(CONTENT_TYPE, "application/octet-stream".to_string()), (ACCEPT_RANGES, "bytes".to_string())];
    let store = authed.store.clone();
    let (start, end) = match resolve(headers.get(RANGE).and_then(|v| v.to_str().ok()), size) {
        RangeAnswer::Full => {
            let body = object_body(store, kind, name, size).await?;
            return Ok((StatusCode::OK, octets, body).into_response());
        }
        RangeAnswer::Part { start, end } => (start, end),
        RangeAnswer::Unsatisfiable => return Ok(unsatisfiable(size)),
    };
    let len = end - start + 1;
    let bytes =
        blocking("reading an object", move || store.backend.get_range(kind, &name, start, len)).await?;
    let end = start + (bytes.len() as u64).saturating_sub(1).min(end - start);
    let header = [(CONTENT_RANGE, content_range(start, end, size))];
    Ok((StatusCode::PARTIAL_CONTENT, octets, header, bytes).into_response())
}

fn unsatisfiable(size: u64) -> Response {
    let error = ApiError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        format!("the range starts at or past the end of the object ({size} bytes)"),
    );
    let mut response = error.into_response();
    if let Ok(value) = format!("bytes */{size}").parse() {
        response.headers_mut().insert(CONTENT_RANGE, value);
    }
    response
}

/// `HEAD …/{kind}/{name}`: the size, without the bytes.
pub(crate) async fn head_object(Path(path): Path<ObjectPath>, authed: Authed) -> Result<Response, ApiError> {
    let (kind, name) = object_id(&path)?;
    require_read(&authed, kind)?;
    let size = stat(&authed, kind, &name).await?;
    let headers = [(CONTENT_LENGTH, size.to_string()), (ACCEPT_RANGES, "bytes".to_string())];
    Ok((StatusCode::OK, headers).into_response())
}

/// 403 unless the key may read objects of `kind`: a reader reads all, a recovery key only
/// what recovery needs.
pub(crate) fn require_read(authed: &Authed, kind: ObjectKind) -> Result<(), ApiError> {
    if authed.roles.contains(&Role::Recovery) && recovery_may_read(kind) {
        return Ok(());
    }
    authed.require(Role::Reader, &format!("reading {kind}"))
}

/// The object's size, or 404.
async fn stat(authed: &Authed, kind: ObjectKind, name: &str) -> Result<u64, ApiError> {
    let (store, owned) = (authed.store.clone(), name.to_string());
    let size = blocking("looking up an object", move || store.backend.stat(kind, &owned)).await?;
    size.ok_or_else(|| ApiError::not_found(format!("no {kind} named {name}")))
}

/// `GET …/{kind}`: every object of a kind, sorted by name; with `?shard_bits=B`, the digest
/// of each shard of that listing, and with `&shards=i,j,…` too, the objects of those shards
/// (`chancery_protocol::listing`, FORMAT.md §12.8).
pub(crate) async fn list_objects(
    Path(path): Path<KindPath>,
    RawQuery(query): RawQuery,
    authed: Authed,
) -> Result<Response, ApiError> {
    let kind = object_kind(&path.kind)?;
    require_read(&authed, kind)?;
    let asked = parse_listing_query(query.as_deref()).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let store = authed.store.clone();
    // Hashing every name for its shard is work for the blocking pool, like the listing.
    let answer =
        blocking("listing objects", move || Ok(answer_listing(store.backend.list(kind)?, asked))).await?;
    Ok(match answer {
        Listing::Objects(objects) => Json(objects).into_response(),
        Listing::Digests(digests) => Json(digests).into_response(),
    })
}

/// What a listing request is answered with.
enum Listing {
    Objects(Vec<ListedObject>),
    Digests(Vec<String>),
}

fn answer_listing(objects: Vec<ObjectInfo>, asked: ListingQuery) -> Listing {
    let listed =
        |objects: Vec<ObjectInfo>| objects.into_iter().map(|o| ListedObject { name: o.name, size: o.size });
    match asked {
        ListingQuery::Whole => Listing::Objects(listed(objects).collect()),
        ListingQuery::Digests { bits } => {
            let digests = shard_digests(objects.iter().map(|o| (o.name.as_str(), o.size)), bits);
            Listing::Digests(format_digests(&digests))
        }
        ListingQuery::Shards { bits, shards } => {
            let wanted: std::collections::HashSet<u16> = shards.into_iter().collect();
            Listing::Objects(listed(objects).filter(|o| wanted.contains(&shard_of(&o.name, bits))).collect())
        }
    }
}

/// `DELETE …/keys/{name}` and `DELETE …/meta/recovery-key-*`: a writer removes a password's
/// key file, or the recovery key derived from it. Every other object is append-only:
/// deleting there needs governance.
pub(crate) async fn delete_object(
    State(site): State<Arc<Site>>,
    Path(path): Path<ObjectPath>,
    authed: Authed,
) -> Result<StatusCode, ApiError> {
    let (kind, name) = object_id(&path)?;
    let deletable = kind == ObjectKind::Key || (kind == ObjectKind::Meta && is_recovery_key_name(&name));
    if !deletable {
        return Err(ApiError::method_not_allowed(
            format!(
                "deletion needs governance: {} are append-only; only key files and \
                 meta/{RECOVERY_KEY_PREFIX}* may be deleted by their owner",
                path.kind
            ),
            "GET, HEAD, PUT",
        ));
    }
    authed.require(Role::Writer, "deleting a key")?;
    if !authed.store.rules(&authed.tenant).governors().is_empty() {
        // With governors, a writer only adds: a stolen home must not be able to delete every
        // password's key file and hold the archive to ransom.
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "tenant {} is governed: removing {}/{name} needs a governance proposal \
                 (`chancery governance propose --remove-old-keys`) approved by its governors",
                authed.tenant.name, path.kind
            ),
        )
        .reason("forbidden"));
    }
    let _guard = site.lock_object(&authed.tenant.name, kind, &name).await;
    let store = authed.store.clone();
    let removed = blocking("deleting a key", move || {
        let size = store.backend.stat(kind, &name)?;
        store.backend.delete(kind, &name)?;
        store.backend.sync()?;
        Ok(size)
    })
    .await?;
    authed.store.release(removed.unwrap_or(0));
    Ok(StatusCode::NO_CONTENT)
}

/// `POST …/sync`: makes every object stored so far durable, names included.
pub(crate) async fn sync_tenant(authed: Authed) -> Result<StatusCode, ApiError> {
    authed.require(Role::Writer, "syncing")?;
    let store = authed.store.clone();
    blocking("syncing", move || store.backend.sync()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_kinds_are_the_store_kinds() {
        for kind in KINDS {
            assert_eq!(object_kind(kind).unwrap().dir_name(), kind);
        }
        assert_eq!(ObjectKind::ALL.len(), KINDS.len());
        assert_eq!(object_kind("tmp").unwrap_err().status(), StatusCode::NOT_FOUND);
    }
}
