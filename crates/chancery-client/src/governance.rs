//! Governance at a site server: posting a governor's signed act, reading where every
//! proposal stands. Requests are signed with whichever key the `RemoteSite` carries: a
//! governor's key to post, any key with the reader, governor or auditor role to read.

use chancery_protocol::governance::{governance_path, ProposalList};
use chancery_store::{ObjectKind, StoreError};
use reqwest::{Method, StatusCode};

use crate::RemoteBackend;

impl RemoteBackend {
    /// Posts a signed proposal, approval or cancel (a C2SP signed note); the state of its
    /// proposal at the site afterwards.
    pub fn post_governance(&self, note: &str) -> Result<ProposalList, StoreError> {
        let path = governance_path(&self.site.tenant);
        let response = self.send(Method::POST, &path, note.as_bytes(), None)?;
        let response = self.expect(response, &[StatusCode::OK], ObjectKind::Meta, "governance")?;
        self.json(response)
    }

    /// Every proposal of the tenant at the site, and the terms in force there.
    pub fn governance(&self) -> Result<ProposalList, StoreError> {
        let response = self.send(Method::GET, &governance_path(&self.site.tenant), b"", None)?;
        let response = self.expect(response, &[StatusCode::OK], ObjectKind::Meta, "governance")?;
        self.json(response)
    }

    fn json(&self, response: reqwest::blocking::Response) -> Result<ProposalList, StoreError> {
        response.json().map_err(|e| StoreError::Io {
            location: crate::Backend::location(self),
            context: "governance".into(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
        })
    }
}
