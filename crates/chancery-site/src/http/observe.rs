//! The middleware that logs one line per request and counts it in the metrics.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::HttpBody;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::audit_log::{record, Seen};
use super::error::ErrorReason;
use crate::metrics::method_label;
use crate::state::Site;

/// What the handlers learn about the caller, for the log line (shared with the middleware
/// through the request's extensions).
#[derive(Clone, Debug, Default)]
pub(crate) struct LogSlot(Arc<Mutex<Caller>>);

#[derive(Clone, Debug, Default)]
struct Caller {
    tenant: String,
    key_prefix: String,
    bytes_in: u64,
    /// The key's roles for the tenant, once it was admitted (`writer,reader`).
    roles: Option<String>,
}

impl LogSlot {
    /// The tenant asked for and the (verified) key's first hex digits.
    pub(crate) fn caller(&self, tenant: &str, key_prefix: &str) {
        let mut caller = self.lock();
        caller.tenant = tenant.to_string();
        caller.key_prefix = key_prefix.to_string();
    }

    /// The roles the key was admitted with.
    pub(crate) fn granted(&self, roles: &str) {
        self.lock().roles = Some(roles.to_string());
    }

    /// The request body's size.
    pub(crate) fn received(&self, bytes: usize) {
        self.lock().bytes_in = u64::try_from(bytes).unwrap_or(u64::MAX);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Caller> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Logs and counts every request.
pub(crate) async fn observe(State(site): State<Arc<Site>>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let slot = LogSlot::default();
    req.extensions_mut().insert(slot.clone());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let claimed_key = req.headers().get(chancery_protocol::auth::HEADER_KEY).cloned();
    let response = next.run(req).await;
    let took = start.elapsed();
    let caller = slot.lock().clone();
    let bytes_out = response.body().size_hint().exact().unwrap_or(0);
    let seen = Seen {
        method: &method,
        path: &path,
        claimed_key: claimed_key.as_ref(),
        roles: caller.roles.as_deref(),
        bytes_in: caller.bytes_in,
        bytes_out,
    };
    let response = record(&site, seen, response).await;
    let status = response.status().as_u16();
    if let Some(ErrorReason(reason)) = response.extensions().get::<ErrorReason>() {
        site.metrics.error(reason);
    }
    site.metrics.request(method_label(&method), status, caller.bytes_in, bytes_out, took);
    tracing::info!(
        tenant = %caller.tenant,
        key = %caller.key_prefix,
        %method,
        %path,
        status,
        bytes_in = caller.bytes_in,
        bytes_out,
        ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        "request"
    );
    response
}
