//! `GET …/audit-log`, and the step of the request middleware that puts every request for an
//! enrolled tenant into that tenant's audit log (`crate::audit_log` says when it is durable).

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chancery_protocol::audit_log::{object_field, AuditPage};

use super::auth::Authed;
use super::error::ApiError;
use crate::audit_log::{role_of, Event, Since, PAGE_RECORDS};
use crate::state::Site;

const PREFIX: &str = "/v1/tenants/";
const LOG_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// The tenant's audit log from `since` (default: its first record), at most
/// [`PAGE_RECORDS`] records, and the site-signed head (FORMAT.md §19.3).
pub(crate) async fn get_log(
    State(site): State<Arc<Site>>,
    RawQuery(query): RawQuery,
    authed: Authed,
) -> Result<Response, ApiError> {
    authed.require(crate::roles::Role::Auditor, "reading the audit log")?;
    let since = parse_since(since_param(query.as_deref()))?;
    let (store, tenant) = (authed.store.clone(), authed.tenant.name.clone());
    let read =
        tokio::task::spawn_blocking(move || site.audit.read(&tenant, &*store.backend, since, PAGE_RECORDS))
            .await
            .map_err(|e| ApiError::internal("reading the audit log", e))?
            .map_err(|e| ApiError::storage("reading the audit log", e))?;
    let text = AuditPage::format(read.lines.iter().map(String::as_str), read.head.as_deref());
    Ok(([(CONTENT_TYPE, LOG_CONTENT_TYPE)], text).into_response())
}

/// The value of `since=` in the query, if any (numbers and RFC 3339 times need no decoding,
/// except `:` and `+`, which are accepted percent-encoded).
fn since_param(query: Option<&str>) -> Option<String> {
    let value = query?.split('&').find_map(|pair| pair.strip_prefix("since="))?;
    Some(value.replace("%3A", ":").replace("%3a", ":").replace("%2B", "+").replace("%2b", "+"))
}

fn parse_since(since: Option<String>) -> Result<Since, ApiError> {
    let Some(text) = since else { return Ok(Since::Seq(0)) };
    if let Ok(seq) = text.parse::<u64>() {
        return Ok(Since::Seq(seq));
    }
    let time = humantime::parse_rfc3339_weak(&text).map_err(|_| {
        ApiError::bad_request(format!(
            "since={text:?} is neither a sequence number nor an RFC 3339 time (2026-01-02T03:04:05Z)"
        ))
    })?;
    let ms = time.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    Ok(Since::TimeMs(u64::try_from(ms).unwrap_or(u64::MAX)))
}

/// What the middleware saw of one request and its answer.
pub(crate) struct Seen<'a> {
    pub(crate) method: &'a Method,
    pub(crate) path: &'a str,
    pub(crate) claimed_key: Option<&'a HeaderValue>,
    /// The roles the key was admitted with, when it was.
    pub(crate) roles: Option<&'a str>,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
}

/// Logs the request in its tenant's log, if it names an enrolled tenant, and returns the
/// answer to send: the handler's, or 503 if a record that must precede it was not written.
pub(crate) async fn record(site: &Arc<Site>, seen: Seen<'_>, response: Response) -> Response {
    let Some((tenant, rest)) = seen.path.strip_prefix(PREFIX).and_then(|p| p.split_once('/')) else {
        return response;
    };
    if site.tenant_key(tenant).is_none() {
        return response;
    }
    let key = claimed_key(seen.claimed_key);
    let status = response.status();
    let event = Event {
        key,
        role: role_of(seen.roles),
        method: seen.method.as_str().to_string(),
        object: object_field(rest),
        bytes_in: seen.bytes_in,
        bytes_out: seen.bytes_out,
        status: status.as_u16(),
    };
    let (site, tenant) = (site.clone(), tenant.to_string());
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        // After the answer: a refusal must take as long whether or not the tenant exists.
        tokio::task::spawn_blocking(move || append(&site, &tenant, &event, false));
        return response;
    }
    let durable = !matches!(*seen.method, Method::GET | Method::HEAD);
    match tokio::task::spawn_blocking(move || append(&site, &tenant, &event, durable)).await {
        Ok(true) => response,
        _ => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the site could not record this request in its audit log; retry later",
        )
        .reason("storage")
        .into_response(),
    }
}

/// Whether the record was written (failures go to the site's log).
fn append(site: &Site, tenant: &str, event: &Event, durable: bool) -> bool {
    let written = site
        .store(tenant)
        .and_then(|store| site.audit.append(tenant, &*store.backend, &site.key, event, durable));
    if let Err(e) = &written {
        tracing::error!(tenant, "writing the audit log: {e}");
    }
    written.is_ok()
}

/// The key a request claims to be signed by, if it is 64 hex digits.
fn claimed_key(header: Option<&HeaderValue>) -> Option<[u8; 32]> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(header?.as_bytes(), &mut key).ok()?;
    Some(key)
}
