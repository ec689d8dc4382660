//! The site as a witness of its tenants' ledgers (C2SP tlog-witness `add-checkpoint`).
//!
//! Each tenant's owner key signs one log, whose origin derives from that key
//! (`chancery_ledger::ledger_origin`). The site cosigns a checkpoint only if it extends the
//! last one it cosigned for that tenant, proven by a consistency proof, and it keeps every
//! checkpoint it cosigned as a `meta` object `witness-checkpoint-<size, 20 digits>` of the
//! tenant's own store: the store never overwrites, so one size can never get two roots, and
//! the newest is the largest name. The object is stored and synced before the cosignature
//! leaves the site. Owners cannot write or delete these names.

use chancery_ledger::key::{KeyType, VerifierKey};
use chancery_ledger::{check_add, ledger_origin, witness_name, AddCheckpoint, Checkpoint, Cosigner, Note};
use chancery_store::{Backend, ObjectKind, StoreError};
use ed25519_dalek::{SigningKey, VerifyingKey};

use chancery_protocol::{witness_checkpoint_name as checkpoint_name, WITNESS_CHECKPOINT_PREFIX};

/// Whether a `meta` name belongs to the witness (never written by owners).
pub(crate) fn is_witness_name(name: &str) -> bool {
    name.starts_with(WITNESS_CHECKPOINT_PREFIX)
}

/// Why a checkpoint was not cosigned.
#[derive(Debug)]
pub(crate) enum AddError {
    /// The request failed a check of the protocol.
    Refused(chancery_ledger::WitnessRefusal),
    /// The tenant's owner key is not a valid Ed25519 key.
    BadOwnerKey,
    /// Storage failed.
    Store(StoreError),
    /// A stored checkpoint does not parse (damaged storage).
    Damaged(String),
}

impl From<StoreError> for AddError {
    fn from(e: StoreError) -> Self {
        AddError::Store(e)
    }
}

/// The newest checkpoint the site cosigned for this tenant: the stored note and its body.
pub(crate) fn latest(backend: &dyn Backend) -> Result<Option<(Vec<u8>, Checkpoint)>, AddError> {
    let newest = backend.list(ObjectKind::Meta)?.into_iter().filter(|o| is_witness_name(&o.name)).max();
    let Some(newest) = newest else { return Ok(None) };
    let bytes = backend.get(ObjectKind::Meta, &newest.name)?;
    let damaged = |e: String| AddError::Damaged(format!("stored {}: {e}", newest.name));
    let note = Note::parse(&bytes).map_err(|e| damaged(e.to_string()))?;
    let checkpoint = Checkpoint::parse(note.text()).map_err(|e| damaged(e.to_string()))?;
    Ok(Some((bytes, checkpoint)))
}

/// Checks an `add-checkpoint` body for the tenant whose owner key is `owner_key`, persists
/// the checkpoint, and returns the cosignature line (`— name base64\n`).
pub(crate) fn add_checkpoint(
    backend: &dyn Backend,
    site_key: &SigningKey,
    owner_key: &[u8; 32],
    body: &[u8],
    now: u64,
) -> Result<String, AddError> {
    let request = AddCheckpoint::parse(body).map_err(AddError::Refused)?;
    let origin = ledger_origin(owner_key);
    let public = VerifyingKey::from_bytes(owner_key).map_err(|_| AddError::BadOwnerKey)?;
    let log_key = VerifierKey::new(&origin, KeyType::Ed25519, public).map_err(|_| AddError::BadOwnerKey)?;
    let latest = latest(backend)?;
    let checkpoint =
        check_add(&request, &origin, &log_key, latest.as_ref().map(|(_, c)| c)).map_err(AddError::Refused)?;
    let cosigner = Cosigner::new(&witness_name(&site_key.verifying_key().to_bytes()), site_key.clone())
        .expect("a witness name derived from a key is a valid key name");
    let line = cosigner.cosign(&checkpoint, now).map_err(|e| AddError::Damaged(e.to_string()))?;
    if latest.is_none_or(|(_, c)| c.size() != checkpoint.size()) {
        // Only the owner's signature and ours are kept: other lines are not the site's to vouch for.
        let mut kept = Note::new(request.note.text()).map_err(|e| AddError::Damaged(e.to_string()))?;
        for owner_line in request.note.signatures().iter().filter(|l| log_key.matches(l)) {
            let _ = kept.add_signature(owner_line.clone());
        }
        let _ = kept.add_signature(line.clone());
        backend.put(ObjectKind::Meta, &checkpoint_name(checkpoint.size()), kept.format().as_bytes())?;
        backend.sync()?;
    }
    Ok(line.format())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chancery_ledger::merkle::{consistency_proof, leaf_hash, root};
    use chancery_ledger::{Hash, NoteSigner, WitnessRefusal};
    use chancery_store::MemoryBackend;

    const OWNER_SECRET: [u8; 32] = [3; 32];

    fn owner_key() -> [u8; 32] {
        SigningKey::from_bytes(&OWNER_SECRET).verifying_key().to_bytes()
    }

    fn body(old: u64, leaves: &[Hash]) -> Vec<u8> {
        let signer =
            NoteSigner::new(&ledger_origin(&owner_key()), SigningKey::from_bytes(&OWNER_SECRET)).unwrap();
        let checkpoint =
            Checkpoint::new(&ledger_origin(&owner_key()), leaves.len() as u64, root(leaves)).unwrap();
        let mut note = Note::new(checkpoint.format()).unwrap();
        note.add_signature(signer.sign(note.text())).unwrap();
        let proof = if old == 0 { vec![] } else { consistency_proof(leaves, old).unwrap() };
        AddCheckpoint { old_size: old, proof, note }.format().into_bytes()
    }

    #[test]
    fn keeps_each_cosigned_checkpoint_and_refuses_a_fork() {
        let backend = MemoryBackend::new();
        let site = SigningKey::from_bytes(&[9; 32]);
        let leaves: Vec<Hash> = (0..5u8).map(|i| leaf_hash(&[i])).collect();
        add_checkpoint(&backend, &site, &owner_key(), &body(0, &leaves[..2]), 10).unwrap();
        add_checkpoint(&backend, &site, &owner_key(), &body(2, &leaves), 11).unwrap();
        let (_, newest) = latest(&backend).unwrap().unwrap();
        assert_eq!(newest.size(), 5);
        let names: Vec<String> =
            backend.list(ObjectKind::Meta).unwrap().into_iter().map(|o| o.name).collect();
        assert_eq!(names, [checkpoint_name(2), checkpoint_name(5)]);

        let mut forked = leaves.clone();
        forked[4] = leaf_hash(b"other");
        let refused = add_checkpoint(&backend, &site, &owner_key(), &body(2, &forked), 12).unwrap_err();
        assert!(matches!(refused, AddError::Refused(WitnessRefusal::SizeConflict { latest: 5, claimed: 2 })));
        let refused = add_checkpoint(&backend, &site, &owner_key(), &body(5, &forked), 12).unwrap_err();
        assert!(matches!(refused, AddError::Refused(WitnessRefusal::RootConflict(5))));
    }
}
