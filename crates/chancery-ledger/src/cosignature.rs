//! C2SP checkpoint cosignatures, Ed25519 v1 (<https://c2sp.org/tlog-cosignature>).
//!
//! A cosigner (for Chancery, a site acting as witness) states that, at a given time, this is
//! the largest checkpoint consistent with all it has seen from the log. It is a signature line
//! of a key of type `0x04` on the checkpoint note, whose payload after the key ID is
//!
//! ```text
//! timestamp (8 bytes, big-endian Unix seconds) || Ed25519 signature (64 bytes)
//! ```
//!
//! over the message `cosignature/v1\ntime <timestamp in decimal>\n` followed by the checkpoint
//! body. The header line keeps a cosignature from ever passing as a signature of the note
//! itself; the message does not name the cosigner, so one key must serve one cosigner only.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey, SIGNATURE_LENGTH};
use std::fmt;
use thiserror::Error;

use crate::checkpoint::Checkpoint;
use crate::key::{check_name, key_id, KeyError, KeyType, VerifierKey};
use crate::note::SignatureLine;

/// Length of a cosignature line's payload after the key ID: timestamp and signature.
pub const COSIGNATURE_LEN: usize = 8 + SIGNATURE_LENGTH;

/// Timestamps above this are refused (C2SP: it MUST NOT exceed 2^63 - 1).
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// Why a cosignature could not be made or did not verify.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CosignatureError {
    /// The payload after the key ID is not 72 bytes.
    #[error("cosignature is {0} bytes, expected {COSIGNATURE_LEN}")]
    Length(usize),
    /// The timestamp is above 2^63 - 1.
    #[error("cosignature timestamp {0} is too large")]
    TimestampTooLarge(u64),
    /// The Ed25519 signature does not verify over this checkpoint and timestamp.
    #[error("cosignature does not verify")]
    BadSignature,
}

/// The signed message: `cosignature/v1\ntime <timestamp>\n` then the checkpoint body.
pub fn message(body: &str, timestamp: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{body}").into_bytes()
}

/// Verifies a cosignature payload (after the key ID) over `body`; returns its timestamp.
pub fn verify(public: &VerifyingKey, body: &str, payload: &[u8]) -> Result<u64, CosignatureError> {
    let (time, signature) = match payload.split_first_chunk::<8>() {
        Some(parts) if payload.len() == COSIGNATURE_LEN => parts,
        _ => return Err(CosignatureError::Length(payload.len())),
    };
    let timestamp = u64::from_be_bytes(*time);
    if timestamp > MAX_TIMESTAMP {
        return Err(CosignatureError::TimestampTooLarge(timestamp));
    }
    let signature = Signature::from_slice(signature).map_err(|_| CosignatureError::BadSignature)?;
    public
        .verify_strict(&message(body, timestamp), &signature)
        .map_err(|_| CosignatureError::BadSignature)?;
    Ok(timestamp)
}

/// A named Ed25519 key that cosigns checkpoints (type `0x04`).
pub struct Cosigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl Cosigner {
    /// A cosigner for `key` under `name`.
    pub fn new(name: &str, key: SigningKey) -> Result<Self, KeyError> {
        check_name(name)?;
        let key_id = key_id(name, KeyType::CosignatureV1, key.verifying_key().as_bytes());
        Ok(Cosigner { name: name.to_owned(), key_id, key })
    }

    /// The key that verifies this cosigner's cosignatures.
    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey::new(&self.name, KeyType::CosignatureV1, self.key.verifying_key())
            .expect("the name was checked in Cosigner::new")
    }

    /// The cosignature line for `checkpoint` at `timestamp` (Unix seconds).
    pub fn cosign(&self, checkpoint: &Checkpoint, timestamp: u64) -> Result<SignatureLine, CosignatureError> {
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::TimestampTooLarge(timestamp));
        }
        let signature = self.key.sign(&message(&checkpoint.format(), timestamp));
        let mut payload = timestamp.to_be_bytes().to_vec();
        payload.extend_from_slice(&signature.to_bytes());
        Ok(SignatureLine { name: self.name.clone(), key_id: self.key_id, signature: payload })
    }
}

// Never print the secret key.
impl fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cosigner")
            .field("name", &self.name)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::NoteSigner;
    use crate::note::{open, Note, NoteError, Verified};

    fn checkpoint() -> Checkpoint {
        Checkpoint::new("example.com/log", 5, [9; 32]).unwrap()
    }

    fn cosigner() -> Cosigner {
        Cosigner::new("site.example/w1", SigningKey::from_bytes(&[4; 32])).unwrap()
    }

    #[test]
    fn message_layout() {
        let body = "o\n1\nAAAA\n";
        assert_eq!(message(body, 1679315147), b"cosignature/v1\ntime 1679315147\no\n1\nAAAA\n");
        assert_eq!(message(body, 0), b"cosignature/v1\ntime 0\no\n1\nAAAA\n");
    }

    #[test]
    fn cosign_and_verify() {
        let line = cosigner().cosign(&checkpoint(), 1_700_000_000).unwrap();
        assert_eq!(line.signature.len(), COSIGNATURE_LEN);
        assert_eq!(&line.signature[..8], &1_700_000_000u64.to_be_bytes());
        let key = cosigner().verifier_key();
        assert_eq!(verify(key.public(), &checkpoint().format(), &line.signature), Ok(1_700_000_000));
        let other = Checkpoint::new("example.com/log", 6, [9; 32]).unwrap();
        assert_eq!(
            verify(key.public(), &other.format(), &line.signature),
            Err(CosignatureError::BadSignature)
        );
    }

    #[test]
    fn timestamp_is_signed_and_bounded() {
        let key = cosigner().verifier_key();
        let mut line = cosigner().cosign(&checkpoint(), 10).unwrap();
        line.signature[7] = 11;
        assert_eq!(
            verify(key.public(), &checkpoint().format(), &line.signature),
            Err(CosignatureError::BadSignature)
        );
        line.signature[0] = 0x80;
        let err = verify(key.public(), &checkpoint().format(), &line.signature);
        assert!(matches!(err, Err(CosignatureError::TimestampTooLarge(_))));
        assert_eq!(
            cosigner().cosign(&checkpoint(), 1 << 63),
            Err(CosignatureError::TimestampTooLarge(1 << 63))
        );
        assert_eq!(verify(key.public(), "", &[0; 71]), Err(CosignatureError::Length(71)));
    }

    #[test]
    fn cosigned_note_verifies_both_kinds() {
        let log = NoteSigner::new("example.com/log", SigningKey::from_bytes(&[1; 32])).unwrap();
        let body = checkpoint().format();
        let mut note = Note::new(body.clone()).unwrap();
        note.add_signature(log.sign(&body)).unwrap();
        note.add_signature(cosigner().cosign(&checkpoint(), 77).unwrap()).unwrap();
        let (_, verified) =
            open(note.format().as_bytes(), &[log.verifier_key(), cosigner().verifier_key()]).unwrap();
        assert_eq!(verified[0], Verified { key: log.verifier_key(), timestamp: None });
        assert_eq!(verified[1], Verified { key: cosigner().verifier_key(), timestamp: Some(77) });
    }

    #[test]
    fn same_key_as_note_signer_is_another_key_id() {
        // Type 0x01 and 0x04 of one key have different key IDs, so neither line passes as the other.
        let signing = SigningKey::from_bytes(&[4; 32]);
        let as_log = NoteSigner::new("site.example/w1", signing).unwrap();
        assert_ne!(as_log.verifier_key().key_id(), cosigner().verifier_key().key_id());
        let body = checkpoint().format();
        let mut note = Note::new(body).unwrap();
        note.add_signature(cosigner().cosign(&checkpoint(), 1).unwrap()).unwrap();
        assert_eq!(
            open(note.format().as_bytes(), &[as_log.verifier_key()]),
            Err(NoteError::NoKnownSignature)
        );
    }
}
