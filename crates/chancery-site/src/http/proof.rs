//! `GET /v1/tenants/{tenant}/{kind}/{name}/proof/{start}/{len}`: a proof of storage, the Bao
//! slice of one byte range of a content-addressed object (FORMAT.md §12.7).
//!
//! The owner checks it against the object's name alone, so it learns that the site still holds
//! the object without downloading it. The site reads the object whole and builds BLAKE3's hash
//! tree of it for every request: nothing is kept between requests, so the proof always speaks
//! for the bytes stored now, and a copy damaged on disk cannot prove any range (its root is no
//! longer the name). The site notices that too, logs it and counts it in the metrics.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chancery_protocol::proof::{check_range, make_proof, name_hash, Proof, MAX_PROOF_RANGE};
use chancery_protocol::CONTENT_ADDRESSED;
use chancery_store::{Backend, ObjectKind};
use serde::Deserialize;

use super::auth::Authed;
use super::error::{blocking, ApiError};
use super::objects::{object_id, ObjectPath};
use crate::roles::Role;
use crate::state::Site;

/// `/v1/tenants/{tenant}/{kind}/{name}/proof/{start}/{len}`. The numbers are taken as text so
/// that a bad one gets the API's JSON error, not the router's plain text.
#[derive(Debug, Deserialize)]
pub(crate) struct ProofPath {
    kind: String,
    name: String,
    start: String,
    len: String,
}

/// Answers with the proof of the range asked for.
pub(crate) async fn prove_range(
    State(site): State<Arc<Site>>,
    Path(path): Path<ProofPath>,
    authed: Authed,
) -> Result<Response, ApiError> {
    let (kind, name) = object_id(&ObjectPath { kind: path.kind.clone(), name: path.name.clone() })?;
    authed.require_any(&[Role::Reader, Role::Auditor], "proving storage")?;
    let hash = content_addressed(kind, &name)?;
    let (start, len) = (number(&path.start, "start")?, number(&path.len, "len")?);
    check_range(start, len).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let size = stat(&authed, kind, &name).await?;
    // The object and its hash tree (64 bytes per KiB) are in memory while the proof is made.
    let _budget = site.reserve_body_memory(Some(size.saturating_add(size / 16))).await;
    let store = authed.store.clone();
    let owned = name.clone();
    let proof = blocking("proving a range", move || {
        let bytes = store.backend.get(kind, &owned)?;
        Ok(make_proof(&bytes, start, len))
    })
    .await?
    .map_err(|e| ApiError::internal("making a proof", e))?;
    note_damage(&site, &authed, kind, &name, &proof, hash);
    Ok((StatusCode::OK, [(CONTENT_TYPE, "application/octet-stream")], proof.bytes).into_response())
}

/// The hash the name spells, or 400 for a kind whose names are not hashes (`meta`).
fn content_addressed(kind: ObjectKind, name: &str) -> Result<[u8; 32], ApiError> {
    let hash = CONTENT_ADDRESSED.contains(&kind.dir_name()).then(|| name_hash(name)).flatten();
    hash.ok_or_else(|| {
        ApiError::bad_request(format!(
            "{kind} {name}: proofs are made only for content-addressed objects (kinds {}), whose \
             name is the BLAKE3 hex of their bytes",
            CONTENT_ADDRESSED.join(", ")
        ))
    })
}

/// A decimal `u64` path segment, or 400.
fn number(text: &str, what: &str) -> Result<u64, ApiError> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| text.parse().ok()).flatten().ok_or_else(|| {
        ApiError::bad_request(format!(
            "{what} must be a decimal number of bytes, not {text:?}; a proof covers 1 to {MAX_PROOF_RANGE} bytes"
        ))
    })
}

/// The object's size, or 404.
async fn stat(authed: &Authed, kind: ObjectKind, name: &str) -> Result<u64, ApiError> {
    let (store, owned) = (authed.store.clone(), name.to_string());
    let size = blocking("looking up an object", move || store.backend.stat(kind, &owned)).await?;
    size.ok_or_else(|| ApiError::not_found(format!("no {kind} named {name}")))
}

/// Counts the proof, and logs a copy that no longer hashes to its name: the owner will see the
/// proof fail, and the operator should know before `site-admin scrub` runs.
fn note_damage(site: &Site, authed: &Authed, kind: ObjectKind, name: &str, proof: &Proof, hash: [u8; 32]) {
    let intact = proof.root == hash;
    site.metrics.proof(intact);
    if !intact {
        tracing::warn!(
            tenant = %authed.tenant.name,
            %kind,
            name,
            "a proof was asked for a damaged copy: it no longer hashes to its name"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_plain_decimals() {
        assert_eq!(number("0", "start").unwrap(), 0);
        assert_eq!(number("18446744073709551615", "start").unwrap(), u64::MAX);
        for bad in ["", "-1", "+1", "1e3", "0x10", "18446744073709551616", " 1"] {
            assert_eq!(number(bad, "len").unwrap_err().status(), StatusCode::BAD_REQUEST, "{bad:?}");
        }
    }

    #[test]
    fn only_content_addressed_objects_are_proved() {
        let name = blake3::hash(b"x").to_hex().to_string();
        assert_eq!(content_addressed(ObjectKind::Pack, &name).unwrap(), *blake3::hash(b"x").as_bytes());
        assert!(content_addressed(ObjectKind::Meta, "chancery-site").is_err());
        assert!(content_addressed(ObjectKind::Pack, "not-a-hash").is_err());
    }
}
