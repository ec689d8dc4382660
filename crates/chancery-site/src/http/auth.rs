//! [`Authed`]: the extractor that admits a request to a tenant's data, or refuses it.
//!
//! Order of checks: the body is read (it is signed), then the signature, time and form
//! ([`verify_request`]), then the key's enrolment for the path's tenant (or its registration
//! as one of the tenant's recovery keys), then the nonce. An unknown key gets 401, a key
//! enrolled for another tenant 403 whether or not the tenant exists (a caller learns nothing
//! about other tenants), a seen nonce 401. Each handler then asks [`Authed::require`] for the
//! role its act needs: 403 naming the role when the key lacks it.

use std::sync::Arc;

use axum::body::{Body, HttpBody};
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use chancery_protocol::auth::{
    verify_request, AuthFailure, SignedHeaders, VerifiedRequest, HEADER_KEY, HEADER_NONCE, HEADER_SIGNATURE,
    HEADER_TIME,
};
use tokio::sync::OwnedSemaphorePermit;

use super::body::{too_large, RequestBody};
use super::error::{blocking, ApiError};
use super::observe::LogSlot;
use crate::files::unix_now;
use crate::replay::Refused;
use crate::roles::{recovery_key_name, show_roles, Role, Roles};
use crate::state::{Site, TenantStore};
use crate::tenants::{Access, Tenant};

/// The largest request body accepted (a pack is at most a few tens of MiB).
pub const MAX_BODY_BYTES: usize = 256 << 20;

/// A request admitted for a tenant, with its body.
pub(crate) struct Authed {
    /// The tenant the path names, which the key is enrolled for.
    pub(crate) tenant: Tenant,
    /// The key that signed the request.
    pub(crate) key: [u8; 32],
    /// What that key may do for the tenant.
    pub(crate) roles: Roles,
    /// Its store.
    pub(crate) store: Arc<TenantStore>,
    /// The request body (already verified by the signature), with its BLAKE3 hash.
    pub(crate) body: RequestBody,
    /// Its share of the memory budget for bodies, held until the handler is done.
    _budget: Option<OwnedSemaphorePermit>,
}

impl FromRequest<Arc<Site>> for Authed {
    type Rejection = ApiError;

    async fn from_request(req: Request, site: &Arc<Site>) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        let tenant = tenant_param(&mut parts, site).await?;
        check_length(&body)?;
        let budget = site.reserve_body_memory(body.size_hint().upper()).await;
        let body = RequestBody::read(body).await?;
        let slot = parts.extensions.get::<LogSlot>().cloned().unwrap_or_default();
        slot.received(body.len());
        let verified = verify_signature(site, &parts, body.hash())?;
        slot.caller(&tenant, &hex::encode(verified.key)[..16]);
        let (tenant, roles, store) = grant(site, &verified.key, &tenant).await?;
        slot.granted(&show_roles(&roles));
        admit_nonce(site, &verified)?;
        Ok(Authed { tenant, key: verified.key, roles, store, body, _budget: budget })
    }
}

impl Authed {
    /// 403 unless the key holds `role` (`what` says what was asked, for the message).
    pub(crate) fn require(&self, role: Role, what: &str) -> Result<(), ApiError> {
        self.require_any(&[role], what)
    }

    /// 403 unless the key holds one of `roles`.
    pub(crate) fn require_any(&self, roles: &[Role], what: &str) -> Result<(), ApiError> {
        if roles.iter().any(|r| self.roles.contains(r)) {
            return Ok(());
        }
        let needed: Vec<&str> = roles.iter().map(|r| r.name()).collect();
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "{what} needs the role {}; key {}… holds {} for tenant {}",
                needed.join(" or "),
                &hex::encode(self.key)[..16],
                show_roles(&self.roles),
                self.tenant.name
            ),
        )
        .reason("forbidden"))
    }
}

/// The raw `{tenant}` path segment (valid tenant names need no percent-decoding).
async fn tenant_param(parts: &mut Parts, site: &Arc<Site>) -> Result<String, ApiError> {
    let params = RawPathParams::from_request_parts(parts, site)
        .await
        .map_err(|e| ApiError::internal("reading the path", e))?;
    let tenant = params.iter().find(|(name, _)| *name == "tenant").map(|(_, value)| value.to_string());
    tenant.ok_or_else(|| ApiError::internal("routing", "a tenant route without {tenant}"))
}

/// 413 when the body announces (`Content-Length`) more than [`MAX_BODY_BYTES`].
fn check_length(body: &Body) -> Result<(), ApiError> {
    if body.size_hint().lower() > MAX_BODY_BYTES as u64 {
        return Err(too_large());
    }
    Ok(())
}

/// Checks the signature, its time and form; the verified request.
fn verify_signature(
    site: &Site,
    parts: &Parts,
    body_hash: &blake3::Hash,
) -> Result<VerifiedRequest, ApiError> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let signed = SignedHeaders {
        key: header(HEADER_KEY),
        time: header(HEADER_TIME),
        nonce: header(HEADER_NONCE),
        signature: header(HEADER_SIGNATURE),
    };
    let path = parts.uri.path_and_query().map_or_else(|| parts.uri.path(), |pq| pq.as_str());
    let now = unix_now();
    let site_key = site.key.verifying_key().to_bytes();
    let verified =
        verify_request(&signed, &site_key, parts.method.as_str(), path, body_hash, now).map_err(|e| {
            let clock = matches!(e, AuthFailure::ClockSkew(_));
            let error = refused(e);
            if clock {
                error.server_time(now)
            } else {
                error
            }
        })?;
    if verified.time < site.started {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "request signed before this server started (possible replay); sign it again".to_string(),
        )
        .server_time(now));
    }
    Ok(verified)
}

/// The tenant `key` may act for, its roles and the tenant's store: an enrolled key, or a
/// recovery key the tenant's owner registered in its store.
async fn grant(
    site: &Arc<Site>,
    key: &[u8; 32],
    tenant: &str,
) -> Result<(Tenant, Roles, Arc<TenantStore>), ApiError> {
    let (found, forbidden) = match site.access(key, tenant) {
        Access::Granted(found, _) => (found, false),
        Access::Forbidden(Some(found)) => (found, true),
        Access::Unknown(Some(found)) => (found, false),
        Access::Forbidden(None) => return Err(forbidden_tenant(key, tenant)),
        Access::Unknown(None) => return Err(unknown_key(key)),
    };
    // The first request of a tenant opens its store, which lists it (disk or bucket).
    let (opener, name) = (site.clone(), found.name.clone());
    let store = blocking("opening the tenant's store", move || opener.store(&name)).await?;
    // Roles as enrolled, amended by executed governance (which may add or remove a key).
    if let Some(roles) = store.rules(&found).roles.get(key) {
        return Ok((found.clone(), roles.clone(), store));
    }
    let (reader, registration) = (store.clone(), recovery_key_name(key));
    let registered = blocking("looking up a recovery key", move || {
        reader.backend.stat(chancery_store::ObjectKind::Meta, &registration)
    })
    .await?;
    match registered {
        Some(_) => Ok((found, [Role::Recovery].into(), store)),
        None if forbidden => Err(forbidden_tenant(key, tenant)),
        None => Err(unknown_key(key)),
    }
}

fn forbidden_tenant(key: &[u8; 32], tenant: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        format!(
            "key {}… may not act for tenant {tenant:?}; check the tenant name in your site configuration",
            &hex::encode(key)[..16]
        ),
    )
    .reason("forbidden")
}

fn unknown_key(key: &[u8; 32]) -> ApiError {
    unauthenticated(format!(
        "key {} is not enrolled at this site; give your owner key (`chancery owner-key`) to the site's operator to enroll",
        hex::encode(key)
    ))
}

/// Records the nonce; 401 for a replay.
fn admit_nonce(site: &Site, verified: &VerifiedRequest) -> Result<(), ApiError> {
    match site.admit_nonce(verified.key, &verified.nonce, verified.time, unix_now()) {
        Ok(()) => Ok(()),
        Err(Refused::Replayed) => Err(refused(AuthFailure::Replayed).reason("replayed")),
        Err(Refused::Full) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many recent requests to check them for replay; retry in a minute",
        )),
    }
}

fn unauthenticated(message: String) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, message).reason("unauthenticated")
}

/// The 401 for a failed check, with what to do about it.
fn refused(failure: AuthFailure) -> ApiError {
    let hint = match failure {
        AuthFailure::Malformed(_) => "sign every tenant request (chancery_protocol::auth::sign_request)",
        AuthFailure::ClockSkew(_) => "set this machine's clock right (NTP) and retry",
        AuthFailure::BadSignature => {
            "the signature must cover exactly this method, path and query, time, nonce and body; \
             check that the owner key matches the one enrolled and that no proxy rewrites the request"
        }
        AuthFailure::Replayed => "this nonce was already used; sign every request afresh",
    };
    unauthenticated(format!("{failure}: {hint}"))
}
