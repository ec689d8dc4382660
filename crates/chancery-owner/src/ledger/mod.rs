//! The owner's ledger: an append-only Merkle log (RFC 9162) of every change to the archive,
//! kept here ([`local`]), copied to every site as `ledger` objects, and witnessed by every site
//! server, which cosigns each new checkpoint only if it extends the last one it cosigned
//! ([`publish`]). Reading commands trust a snapshot only when the ledger records it, and the
//! ledger only as far as this machine's own copy or a quorum of site cosignatures vouches for
//! it; a site that shows another history, an older one than it cosigned, or lacks a snapshot it
//! cosigned, is reported as tampered with ([`verify`]).

pub mod local;
pub mod memory;
pub mod publish;
pub mod record;
pub mod verify;

pub use local::LocalLedger;
pub use publish::{publish, Published};
pub use record::{intend, record, republish, snapshot_events};
pub use verify::{check_site_copy, verify, LedgerView, SiteLedger, Verdict};

use crate::config::{Config, Endpoint, SiteConfig};
use crate::site::Site;
use anyhow::{Context, Result};
use chancery_format::keys::Keys;
use chancery_ledger::key::{KeyType, VerifierKey};
use chancery_ledger::{ledger_origin, witness_name, Checkpoint, Note, NoteSigner};
use chancery_protocol::WITNESS_CHECKPOINT_PREFIX;
use chancery_store::ObjectKind;

/// Who signs the log and how its signature is checked.
pub struct LogIdentity {
    /// The origin line of the owner's checkpoints.
    pub origin: String,
    signer: NoteSigner,
    /// The verifier of the owner's signature.
    pub verifier: VerifierKey,
}

impl LogIdentity {
    /// The log identity of the owner whose keys these are.
    pub fn of(keys: &Keys) -> LogIdentity {
        let origin = ledger_origin(&keys.owner_public_key());
        let signer =
            NoteSigner::new(&origin, keys.owner_signing_key()).expect("the origin is a valid key name");
        let verifier = signer.verifier_key();
        LogIdentity { origin, signer, verifier }
    }

    /// The owner-signed checkpoint note of the first `size` entries of `ledger`.
    pub fn sign(&self, ledger: &LocalLedger, size: u64) -> Note {
        let checkpoint =
            Checkpoint::new(&self.origin, size, ledger.root_at(size)).expect("the origin is a valid line");
        let mut note = Note::new(checkpoint.format()).expect("a checkpoint body is a valid note text");
        note.add_signature(self.signer.sign(note.text())).expect("one signature fits");
        note
    }
}

/// The key that verifies a site server's cosignatures, from the site key pinned in the
/// config; `None` for a local folder, which cannot witness.
pub fn witness_key(config: &SiteConfig) -> Option<VerifierKey> {
    let Endpoint::Server { site_key, .. } = &config.endpoint else { return None };
    let key = chancery_protocol::parse_public_key("site key", site_key).ok()?;
    let public = ed25519_dalek::VerifyingKey::from_bytes(&key).ok()?;
    VerifierKey::new(&witness_name(&key), KeyType::CosignatureV1, public).ok()
}

/// How many site cosignatures make a checkpoint trusted: `policy.witness_quorum` if set, else
/// the policy's minimum number of sites; never more than the site servers configured (a local
/// folder cannot witness, so an archive of folders alone rests on the owner's signature).
pub fn quorum(config: &Config) -> usize {
    let servers = config.sites.iter().filter(|s| witness_key(s).is_some()).count();
    config.policy.witness_quorum.unwrap_or(config.policy.min_sites).min(servers)
}

/// The newest checkpoint note a site holds: what a site server cosigned last, or the newest
/// one the owner stored in a local folder. `None` if there is none.
pub fn site_checkpoint(site: &Site) -> Result<Option<Vec<u8>>> {
    if let Some(server) = &site.server {
        return server
            .witnessed_checkpoint()
            .with_context(|| format!("reading site {}'s checkpoint", site.name()));
    }
    let newest = site
        .backend
        .list(ObjectKind::Meta)?
        .into_iter()
        .filter(|o| o.name.starts_with(WITNESS_CHECKPOINT_PREFIX))
        .max();
    match newest {
        Some(o) => Ok(Some(site.backend.get(ObjectKind::Meta, &o.name)?)),
        None => Ok(None),
    }
}
