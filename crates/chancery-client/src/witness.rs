//! The site as a witness: submitting a checkpoint of the owner's ledger for cosigning, and
//! reading the newest checkpoint the site cosigned. The bytes are parsed and verified by the
//! caller (`chancery-ledger`); this module only carries them.

use chancery_protocol::{add_checkpoint_path, checkpoint_path};
use chancery_store::{Backend, ObjectKind, StoreError};
use reqwest::{Method, StatusCode};

use crate::errors::status_error;
use crate::RemoteBackend;

/// The longest answer read from a witness route (a note with a few signatures is far shorter).
const MAX_ANSWER: usize = 64 * 1024;

/// What a site answered to `add-checkpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WitnessAnswer {
    /// 200: its cosignature line(s), unverified.
    Cosigned(String),
    /// 409 with a size: the site last cosigned a checkpoint of this size, not the old size sent.
    SizeConflict(u64),
    /// Any other refusal (400, 404, 409 for a fork, 422): the status and the site's message.
    Refused {
        /// The HTTP status.
        status: u16,
        /// What the site said.
        message: String,
    },
}

impl RemoteBackend {
    /// Submits an `add-checkpoint` body (C2SP tlog-witness) to the site.
    pub fn add_checkpoint(&self, body: &str) -> Result<WitnessAnswer, StoreError> {
        let path = add_checkpoint_path(&self.site.tenant);
        let response = self.send(Method::POST, &path, body.as_bytes(), None)?;
        let status = response.status();
        let is_size = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(SIZE_CONTENT_TYPE.as_bytes()));
        // Refused credentials (401, 403) and failures of the site are errors like any other
        // request's; the witness's own verdicts are answers.
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) || status.is_server_error() {
            return Err(status_error(&self.location(), ObjectKind::Meta, "add-checkpoint", response));
        }
        let text = self.text(response)?;
        Ok(match status {
            StatusCode::OK => WitnessAnswer::Cosigned(text),
            StatusCode::CONFLICT if is_size => match text.strip_suffix('\n').and_then(|t| t.parse().ok()) {
                Some(size) => WitnessAnswer::SizeConflict(size),
                None => WitnessAnswer::Refused { status: 409, message: text },
            },
            other => WitnessAnswer::Refused { status: other.as_u16(), message: error_message(&text) },
        })
    }

    /// The newest checkpoint note the site cosigned for this tenant, `None` if none yet.
    pub fn witnessed_checkpoint(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let response = self.send(Method::GET, &checkpoint_path(&self.site.tenant), b"", None)?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = self.expect(response, &[StatusCode::OK], ObjectKind::Meta, "checkpoint")?;
        Ok(Some(self.text(response)?.into_bytes()))
    }

    fn text(&self, response: reqwest::blocking::Response) -> Result<String, StoreError> {
        let bytes = self.bytes(response)?;
        if bytes.len() > MAX_ANSWER {
            return Err(StoreError::Io {
                location: self.location(),
                context: "witness answer".into(),
                source: std::io::Error::other(format!("answer of {} bytes is too long", bytes.len())),
            });
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// The `Content-Type` of a 409 that states the witness's size (C2SP tlog-witness).
const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// The `error` field of a JSON error body, or the text itself.
fn error_message(text: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Body {
        error: String,
    }
    serde_json::from_str::<Body>(text).map(|b| b.error).unwrap_or_else(|_| text.to_string())
}
