//! `POST …/governance` (a governor submits a proposal, an approval or a cancel) and
//! `GET …/governance` (every proposal of the tenant and where it stands here).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::auth::Authed;
use super::error::{blocking, ApiError};
use crate::files::unix_now;
use crate::governance::{list, submit, Refusal};
use crate::roles::Role;
use crate::state::Site;

/// Checks and records a governance act, then answers with the state of its proposal.
pub(crate) async fn post(State(site): State<Arc<Site>>, authed: Authed) -> Result<Response, ApiError> {
    authed.require(Role::Governor, "a governance act (proposal, approval, cancel)")?;
    let worker = site.clone();
    let tenant = authed.tenant.clone();
    let (store, body) = (authed.store.clone(), authed.body.contiguous());
    let outcome = tokio::task::spawn_blocking(move || {
        let _one_at_a_time = crate::governance::guard(&worker.governance.lock);
        let rules = store.rules(&tenant);
        let to = crate::governance::Addressee {
            site_key: worker.key.verifying_key().to_bytes(),
            tenant: &tenant,
            rules: &rules,
            now: unix_now(),
        };
        let id = submit(&*store.backend, &to, &body)?;
        let mut answer = list(&*store.backend, &rules, &worker.governance, &tenant.name)?;
        answer.proposals.retain(|p| p.id == id);
        Ok::<_, Refusal>(answer)
    })
    .await
    .map_err(|e| ApiError::internal("a governance act", e))?;
    match outcome {
        Ok(answer) => {
            site.governance.mark_open(&authed.tenant.name);
            Ok((StatusCode::OK, Json(answer)).into_response())
        }
        Err(refusal) => Err(refused(refusal)),
    }
}

/// Every proposal of the tenant, with the terms in force.
pub(crate) async fn get(State(site): State<Arc<Site>>, authed: Authed) -> Result<Response, ApiError> {
    authed.require_any(&[Role::Governor, Role::Reader, Role::Auditor], "reading governance")?;
    let (store, tenant) = (authed.store.clone(), authed.tenant.clone());
    let answer = blocking("reading governance", move || {
        let rules = store.rules(&tenant);
        list(&*store.backend, &rules, &site.governance, &tenant.name)
    })
    .await?;
    Ok(Json(answer).into_response())
}

fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::BadRequest(m) => ApiError::bad_request(m),
        Refusal::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, m).reason("forbidden"),
        Refusal::NotFound(m) => ApiError::not_found(m),
        Refusal::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
        Refusal::Storage(e) => ApiError::storage("a governance act", e),
    }
}
