//! Proofs of storage from a site server: [`RemoteBackend::prove_range`] asks for the proof of
//! one byte range of an object and verifies it against the object's name, so that the owner
//! learns that the site holds the object while receiving only that range and its hash path.

use chancery_protocol::proof::{name_hash, verify_proof, ProofError};
use chancery_protocol::proof_path;
use chancery_store::{ObjectKind, StoreError};
use reqwest::{Method, StatusCode};

use crate::RemoteBackend;

/// The verified bytes of a range.
#[derive(Debug)]
pub struct ProvedRange {
    /// Bytes `start..start + len` of the object, checked against its name; fewer only if the
    /// object ends before (its end is proved too).
    pub bytes: Vec<u8>,
    /// Bytes received for the proof (the response body).
    pub received: u64,
}

/// Why a range was not proved.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    /// The request failed, or the site answered with an error (`NotFound` when it does not
    /// have the object).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The site answered, but its proof does not verify.
    #[error("{error} ({received} bytes received)")]
    Proof {
        /// What was wrong with it.
        error: ProofError,
        /// Bytes received for it.
        received: u64,
    },
}

impl RemoteBackend {
    /// Asks the site to prove bytes `start..start + len` of a content-addressed object and
    /// verifies the answer against `name`, the BLAKE3 hex of the object.
    pub fn prove_range(
        &self,
        kind: ObjectKind,
        name: &str,
        start: u64,
        len: u64,
    ) -> Result<ProvedRange, ProveError> {
        let Some(hash) = name_hash(name) else {
            return Err(StoreError::InvalidName { name: name.to_string() }.into());
        };
        let proof = |error| ProveError::Proof { error, received: 0 };
        chancery_protocol::proof::check_range(start, len).map_err(proof)?;
        let path = proof_path(&self.site.tenant, kind.dir_name(), name, start, len);
        let response = self.send(Method::GET, &path, b"", None)?;
        let response = self.expect(response, &[StatusCode::OK], kind, name)?;
        let body = self.bytes(response)?;
        let received = body.len() as u64;
        let bytes =
            verify_proof(&body, &hash, start, len).map_err(|error| ProveError::Proof { error, received })?;
        Ok(ProvedRange { bytes, received })
    }
}
