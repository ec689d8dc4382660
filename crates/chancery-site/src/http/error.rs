//! [`ApiError`]: every refusal as an HTTP status with a JSON body `{"error": "..."}` that tells
//! the caller what to do, and a reason counted in the metrics.
//!
//! Policy: 4xx messages say what was wrong with the request and how to fix it; they never say
//! whether another tenant exists. 5xx messages stay generic (no paths of the site's disks
//! leave it); the details go to the site's log.

use axum::http::header::ALLOW;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chancery_protocol::auth::HEADER_SERVER_TIME;
use chancery_store::StoreError;

/// Marks a response as an error for the metrics, with its reason.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ErrorReason(pub(crate) &'static str);

/// An error answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    reason: Option<&'static str>,
    allow: Option<&'static str>,
    server_time: Option<i64>,
}

impl ApiError {
    /// An error with this status and message.
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), reason: None, allow: None, server_time: None }
    }

    /// Counted under `reason` in `chancery_site_errors_total`.
    pub(crate) fn reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// Tells the caller the site's clock (a refusal for the request's time).
    pub(crate) fn server_time(mut self, now: i64) -> Self {
        self.server_time = Some(now);
        self
    }

    /// 400, counted as a bad request.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message).reason("bad_request")
    }

    /// 404.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 405 with the methods that are allowed.
    pub(crate) fn method_not_allowed(message: impl Into<String>, allow: &'static str) -> Self {
        ApiError { allow: Some(allow), ..Self::new(StatusCode::METHOD_NOT_ALLOWED, message) }
    }

    /// 500 for a failure inside the site, logged with its details.
    pub(crate) fn internal(context: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!("{context}: {detail}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "{context} failed inside the site; the operator finds the details in its log; retry later"
            ),
        )
        .reason("storage")
    }

    /// A storage failure while doing `what`.
    pub(crate) fn storage(what: &str, err: StoreError) -> Self {
        match err {
            StoreError::NotFound { kind, name, .. } => Self::not_found(format!("no {kind} named {name}")),
            StoreError::InvalidName { name } => Self::bad_request(format!(
                "invalid object name {name:?}: 1 to 128 characters of A-Z a-z 0-9 '.' '_' '-', not starting with '.'"
            )),
            StoreError::StorageFull { .. } => {
                tracing::error!("{what}: {err}");
                Self::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "the site's storage is full; nothing was stored; retry later or use another site",
                )
                .reason("storage")
            }
            StoreError::Unavailable { .. } => {
                tracing::error!("{what}: {err}");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "this tenant's storage is unavailable at the site; retry later")
                    .reason("storage")
            }
            other => Self::internal(what, other),
        }
    }

    /// The status (for tests and logs).
    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(serde_json::json!({ "error": self.message }))).into_response();
        if let Some(allow) = self.allow {
            response.headers_mut().insert(ALLOW, HeaderValue::from_static(allow));
        }
        if let Some(now) = self.server_time {
            response.headers_mut().insert(HEADER_SERVER_TIME, HeaderValue::from(now));
        }
        if let Some(reason) = self.reason {
            response.extensions_mut().insert(ErrorReason(reason));
        }
        response
    }
}

/// Runs blocking storage work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(|e| ApiError::storage(what, e)),
        Err(join) => Err(ApiError::internal(what, join)),
    }
}
