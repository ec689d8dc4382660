//! Reading the site's audit log of this tenant, one page at a time. The text is parsed and
//! verified by the owner (`chancery_protocol::audit_log`); this module only carries it.

use chancery_protocol::audit_log_path;
use chancery_store::{Backend, ObjectKind, StoreError};
use reqwest::{Method, StatusCode};

use crate::RemoteBackend;

/// The longest page read (a page holds at most 10 000 records of well under 1 KiB).
const MAX_PAGE_BYTES: usize = 32 << 20;

impl RemoteBackend {
    /// The answer of `GET …/audit-log?since=<since>`: records from that sequence number on,
    /// as many as the site gives in one page, and its signed head (FORMAT.md §19.3).
    pub fn audit_log_page(&self, since: u64) -> Result<String, StoreError> {
        let response = self.send(Method::GET, &audit_log_path(&self.site.tenant, since), b"", None)?;
        let response = self.expect(response, &[StatusCode::OK], ObjectKind::Meta, "audit-log")?;
        let bytes = self.bytes(response)?;
        if bytes.len() > MAX_PAGE_BYTES {
            return Err(StoreError::Io {
                location: self.location(),
                context: "audit log".into(),
                source: std::io::Error::other(format!("a page of {} bytes is too long", bytes.len())),
            });
        }
        // Invalid UTF-8 is kept visible (U+FFFD) for the owner's parser to refuse.
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}
