//! `POST …/add-checkpoint` and `GET …/checkpoint`: the site witnessing its tenant's ledger.
//!
//! Statuses follow C2SP tlog-witness: 200 with the cosignature line; 400 malformed; 403 not
//! signed by the tenant's owner key; 404 another log's origin; 409 the old size is not the
//! one the site last cosigned (body: that size and a newline, `text/x.tlog.size`) or the same
//! size with another root; 422 a consistency proof that does not verify.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chancery_ledger::witness::SIZE_CONTENT_TYPE;
use chancery_ledger::WitnessRefusal;
use chancery_store::ObjectKind;

use super::auth::Authed;
use super::error::ApiError;
use crate::files::unix_now;
use crate::roles::Role;
use crate::state::Site;
use crate::witness::{add_checkpoint, latest, AddError};

const NOTE_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// Cosigns the tenant's checkpoint if it extends the last one the site cosigned.
pub(crate) async fn add(State(site): State<Arc<Site>>, authed: Authed) -> Result<Response, ApiError> {
    authed.require(Role::Writer, "submitting a checkpoint")?;
    // One add at a time per tenant: check and persist must be atomic (C2SP tlog-witness).
    let _guard = site.lock_object(&authed.tenant.name, ObjectKind::Meta, "witness").await;
    let (store, key, owner, body) =
        (authed.store.clone(), site.key.clone(), authed.tenant.key, authed.body.contiguous());
    let now = u64::try_from(unix_now()).unwrap_or(0);
    let outcome =
        tokio::task::spawn_blocking(move || add_checkpoint(&*store.backend, &key, &owner, &body, now)).await;
    match outcome.map_err(|e| ApiError::internal("witnessing a checkpoint", e))? {
        Ok(line) => Ok(([(CONTENT_TYPE, NOTE_CONTENT_TYPE)], line).into_response()),
        Err(AddError::Refused(WitnessRefusal::SizeConflict { latest, .. })) => {
            let answer = (StatusCode::CONFLICT, [(CONTENT_TYPE, SIZE_CONTENT_TYPE)], format!("{latest}\n"));
            Ok(answer.into_response())
        }
        Err(e) => Err(refusal(e)),
    }
}

/// The newest checkpoint the site cosigned for the tenant, as a signed note; 404 if none.
pub(crate) async fn get(authed: Authed) -> Result<Response, ApiError> {
    authed.require_any(&[Role::Reader, Role::Recovery], "reading the checkpoint")?;
    let store = authed.store.clone();
    let found = tokio::task::spawn_blocking(move || latest(&*store.backend))
        .await
        .map_err(|e| ApiError::internal("reading the witnessed checkpoint", e))?
        .map_err(refusal)?;
    match found {
        Some((note, _)) => Ok(([(CONTENT_TYPE, NOTE_CONTENT_TYPE)], note).into_response()),
        None => Err(ApiError::not_found(
            "this site has cosigned no checkpoint of this tenant's ledger yet; a backup submits one",
        )),
    }
}

fn refusal(error: AddError) -> ApiError {
    match error {
        AddError::Refused(refused) => {
            let status = StatusCode::from_u16(refused.status()).unwrap_or(StatusCode::BAD_REQUEST);
            ApiError::new(status, format!("checkpoint not cosigned: {refused}")).reason("witness")
        }
        AddError::BadOwnerKey => {
            ApiError::internal("witnessing", "the tenant's owner key is not a valid Ed25519 key")
        }
        AddError::Store(e) => ApiError::storage("witnessing a checkpoint", e),
        AddError::Damaged(detail) => ApiError::internal("reading the witnessed checkpoint", detail),
    }
}
