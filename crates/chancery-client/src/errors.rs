//! HTTP and transport failures as typed storage errors, so that callers react the same way to
//! a remote site as to a local one: 401/403 and a changed site key are refusals (exit 12), 404
//! is "not found", 507 is "full", a connection failure is "unavailable".

use chancery_store::{ObjectKind, StoreError};
use reqwest::blocking::Response;
use reqwest::StatusCode;
use std::error::Error as _;
use std::io::{Error, ErrorKind};

/// The typed error for a response with an unexpected status.
pub fn status_error(location: &str, kind: ObjectKind, name: &str, response: Response) -> StoreError {
    let status = response.status();
    let body = response.bytes().unwrap_or_default();
    status_error_text(location, kind, name, status, &body)
}

/// [`status_error`] of an answer already read: its status and body.
pub fn status_error_text(
    location: &str,
    kind: ObjectKind,
    name: &str,
    status: StatusCode,
    body: &[u8],
) -> StoreError {
    let message = server_message(body);
    let location = location.to_string();
    match status {
        StatusCode::NOT_FOUND => StoreError::NotFound { location, kind, name: name.into() },
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::METHOD_NOT_ALLOWED => {
            StoreError::PermissionDenied {
                location,
                source: Error::new(
                    ErrorKind::PermissionDenied,
                    format!("site refused ({status}): {message}"),
                ),
            }
        }
        StatusCode::INSUFFICIENT_STORAGE => StoreError::StorageFull {
            location,
            source: Error::new(ErrorKind::StorageFull, format!("site quota exhausted: {message}")),
        },
        _ => StoreError::Io {
            location,
            context: format!("{kind} {name}"),
            source: Error::other(format!("site answered {status}: {message}")),
        },
    }
}

fn server_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Body {
        error: String,
    }
    serde_json::from_slice::<Body>(body)
        .map(|b| b.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned())
}

/// The typed error for a failed connection or transfer.
pub fn transport_error(location: &str, err: reqwest::Error) -> StoreError {
    let chain = chain_text(&err);
    if chain.contains("site key mismatch") {
        return StoreError::PermissionDenied {
            location: location.into(),
            source: Error::new(
                ErrorKind::PermissionDenied,
                format!("{chain}; if the site really changed its key, re-add it with the new key"),
            ),
        };
    }
    StoreError::Unavailable { location: location.into(), reason: chain }
}

fn chain_text(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
