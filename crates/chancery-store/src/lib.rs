//! Chancery's storage layer: bytes at rest, with no knowledge of what they mean.
//!
//! # What this crate owns
//!
//! - The [`Backend`] trait and its **durability contract** (documented on the trait): atomic,
//!   create-only puts; durable after `put` + [`Backend::sync`]; listings that never show partial
//!   objects; idempotent deletes.
//! - Object naming rules ([`validate_name`]), which also keep callers from escaping the store
//!   (no `/`, no leading `.`, so no `..`).
//! - [`FsBackend`]: a folder on a local (or mounted) file system, the "site folder".
//! - [`MemoryBackend`]: an in-memory store for unit tests of callers.
//! - [`FaultyBackend`]: a wrapper that injects failures, corruption, a full disk and crashes.
//! - `S3Backend` (feature `s3`): a bucket of an S3-compatible object store (Garage, Ceph RGW,
//!   MinIO, AWS), for large sites; see `s3`.
//! - [`ThrottledBackend`]: a wrapper that keeps uploads and downloads under a bandwidth limit.
//! - [`conformance`]: the executable form of the contract, run against every backend here and
//!   meant to be run against any future one (S3, SFTP, ...).
//!
//! # What it deliberately leaves out
//!
//! - **No cryptography.** Bytes arrive already encrypted and authenticated by the caller; the
//!   store neither encrypts nor verifies them. Names are chosen by callers (content hashes), and
//!   the store does not check that a name matches its bytes.
//! - **No parsing.** Packs, indexes, snapshots and keys are opaque byte strings here; their
//!   formats live in `chancery-format`.
//! - **No protocol of our own.** The only network code is the S3 client behind the `s3`
//!   feature (which the site server enables); Chancery's own wire protocol and its client live
//!   in `chancery-protocol` and `chancery-client`.
//! - **No caching or retry policy.** Callers decide how to react to [`StoreError`]s.
#![warn(missing_docs)]

mod backend;
pub mod conformance;
mod error;
pub mod fault;
pub mod fs;
pub mod memory;
mod name;
#[cfg(feature = "runtime")]
pub mod runtime;
#[cfg(feature = "s3")]
pub mod s3;
mod shared;
pub mod throttle;

pub use backend::{Backend, ObjectInfo, ObjectKind};
pub use error::StoreError;
pub use fault::{FaultPlan, FaultyBackend};
pub use fs::FsBackend;
pub use memory::MemoryBackend;
pub use name::{validate_name, MAX_NAME_LEN};
#[cfg(feature = "s3")]
pub use s3::{S3Backend, S3Config};
pub use shared::SharedParts;
pub use throttle::ThrottledBackend;
