//! The primitives of Chancery's ledger, the owner's append-only log of every change to the
//! archive: RFC 9162 Merkle tree hashing with inclusion and consistency proofs
//! ([`merkle`]), C2SP checkpoints ([`checkpoint`]), signed notes and verifier keys
//! ([`note`], [`key`]), Ed25519 checkpoint cosignatures ([`cosignature`]), the log's entries
//! ([`entry`]) and a witness's checks of C2SP `add-checkpoint` ([`witness`]).
//!
//! Pure and deterministic: no I/O, no clock, no randomness, no storage and no HTTP. Callers
//! bring keys, leaves and times; the owner and the sites wire these pieces into the ledger.
//! Every format follows its public specification byte for byte so that standard verifiers
//! (Go's `sumdb/note`, the C2SP witness ecosystem) accept what this crate writes; the tests
//! check that against published vectors.
#![warn(missing_docs)]

pub mod checkpoint;
pub mod cosignature;
pub mod entry;
pub mod key;
pub mod merkle;
pub mod note;
pub mod proposal;
pub mod witness;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use cosignature::{CosignatureError, Cosigner};
pub use entry::{Entry, EntryError, Event};
pub use key::{KeyError, KeyType, NoteSigner, VerifierKey};
pub use merkle::{Hash, MerkleError};
pub use note::{open, Note, NoteError, SignatureLine, Verified};
pub use proposal::{Act, Deletion, Proposal, ProposalError, Setting};
pub use witness::{check_add, ledger_origin, witness_name, AddCheckpoint, WitnessRefusal};
