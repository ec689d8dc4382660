//! Getting one range of a pack proved, from a site server or from a local folder, and what the
//! answer says about the site's copy.

use super::{AuditFailure, Problem};
use crate::config::Endpoint;
use crate::site::{remote_backend, OwnerIdentity, Site};
use anyhow::{Context, Result};
use chancery_client::{ProveError, ProvedRange, RemoteBackend};
use chancery_format::ObjectId;
use chancery_protocol::proof::{make_proof, verify_proof};
use chancery_store::{Backend, ObjectKind, StoreError};
use std::sync::Arc;

/// Who proves ranges of a site's packs.
pub(super) enum Prover {
    /// A site server proves them: only the range and its hash path travel.
    Server(Box<RemoteBackend>),
    /// A local folder has no server: the pack is read whole and the same proof made and
    /// checked here, which costs as much as reading it.
    Folder(Arc<dyn Backend>),
}

/// What one sample found.
pub(super) struct Outcome {
    /// Bytes received for it.
    pub received: u64,
    /// What was wrong, if anything.
    pub failure: Option<AuditFailure>,
}

impl Prover {
    /// The prover for a site.
    pub fn for_site(site: &Site, owner: &OwnerIdentity) -> Result<Prover> {
        Ok(match site.config.endpoint {
            Endpoint::Server { .. } => Prover::Server(Box::new(remote_backend(&site.config, Some(owner))?)),
            Endpoint::Dir { .. } => Prover::Folder(site.backend.clone()),
        })
    }

    /// How ranges are checked, for the report.
    pub fn method(&self) -> &'static str {
        match self {
            Prover::Server(_) => "proof",
            Prover::Folder(_) => "read",
        }
    }

    fn prove(&self, pack: &ObjectId, start: u64, len: u64) -> Result<ProvedRange, ProveError> {
        match self {
            Prover::Server(remote) => remote.prove_range(ObjectKind::Pack, &pack.to_hex(), start, len),
            Prover::Folder(backend) => prove_locally(backend.as_ref(), pack, start, len),
        }
    }

    /// Asks for bytes `start..start + len` of a pack of `size` bytes and judges the answer.
    /// A site that cannot be reached or refuses the owner stops the audit (that is no finding
    /// about its data); anything else it answers is a passed or failed sample.
    pub fn sample(&self, site: &Site, pack: &ObjectId, size: u64, start: u64, len: u64) -> Result<Outcome> {
        let failure = |received, problem, detail: String| Outcome {
            received,
            failure: Some(AuditFailure { site: site.name().into(), pack: pack.to_hex(), problem, detail }),
        };
        let end = start + len.min(size.saturating_sub(start));
        Ok(match self.prove(pack, start, len) {
            Ok(proved) if start + proved.bytes.len() as u64 == end => {
                Outcome { received: proved.received, failure: None }
            }
            Ok(proved) => failure(
                proved.received,
                Problem::Short,
                format!(
                    "the pack ends at byte {}, but its index says it is {size} bytes (truncated)",
                    start + proved.bytes.len() as u64
                ),
            ),
            Err(ProveError::Proof { error, received }) => failure(
                received,
                Problem::ProofFailed,
                format!("the proof of bytes {start}..{end} did not verify: {error}"),
            ),
            Err(ProveError::Store(StoreError::NotFound { .. })) => {
                failure(0, Problem::Missing, "missing: the site does not have it".into())
            }
            Err(ProveError::Store(
                e @ (StoreError::Unavailable { .. } | StoreError::PermissionDenied { .. }),
            )) => return Err(e).with_context(|| format!("auditing site {}", site.name())),
            Err(ProveError::Store(e)) => {
                failure(0, Problem::SiteError, format!("the site could not prove bytes {start}..{end}: {e}"))
            }
        })
    }
}

/// The proof a site server would send, made from the whole pack read here, then verified.
fn prove_locally(
    backend: &dyn Backend,
    pack: &ObjectId,
    start: u64,
    len: u64,
) -> Result<ProvedRange, ProveError> {
    let bytes = backend.get(ObjectKind::Pack, &pack.to_hex())?;
    let received = bytes.len() as u64;
    let proof = make_proof(&bytes, start, len).map_err(|error| ProveError::Proof { error, received })?;
    let bytes = verify_proof(&proof.bytes, &pack.0, start, len)
        .map_err(|error| ProveError::Proof { error, received })?;
    Ok(ProvedRange { bytes, received })
}
