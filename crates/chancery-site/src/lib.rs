//! The Chancery site server: one embassy that stores ciphertext for many owners (tenants).
//!
//! # What this crate owns
//!
//! - The site's identity ([`init_site`], [`site_info`]): name, location, jurisdiction, tier,
//!   and the Ed25519 site key that owners pin, which signs TLS handshakes and receipts.
//! - Tenants ([`enroll`]): which keys may act for which tenant and in which [`Role`]s, with
//!   optional quotas; recovery keys the owner registers itself (`meta/recovery-key-*`);
//!   one store per tenant: a `chancery_store::FsBackend` folder, or a prefix of an
//!   S3-compatible bucket (`chancery_store::S3Backend`) when `site.toml` says so ([`StorageConfig`]).
//! - The HTTP API v1 over TLS ([`run`], [`ROUTES`], documented in `openapi.yaml` beside this
//!   crate's `Cargo.toml`): every tenant request signed by the owner
//!   (`chancery_protocol::auth`), replays refused, append-only writes checked against their
//!   content hash, durable before the signed receipt (`chancery_protocol::receipt`) is sent.
//! - Witnessing each tenant's ledger (`witness`): C2SP tlog-witness `add-checkpoint`, every
//!   cosigned checkpoint kept in the tenant's store before the cosignature is returned.
//! - The audit log (`audit_log`): every request for a tenant, hash-chained and signed with the
//!   site key, readable by the tenant (`GET …/audit-log`) and never writable through the API.
//! - Governance (`governance`, `POST`/`GET …/governance`): proposals, approvals and cancels
//!   checked against the tenant's governors, locked at quorum, executed after the time lock.
//! - [`scrub`]: re-hashing what is stored, to find damage without any key.
//! - Metrics (`GET /metrics`, Prometheus text) and one log line per request (`tracing`).
//!
//! # What it deliberately leaves out
//!
//! - **Any way to decrypt.** A site must never hold an owner's key, and this is enforced by
//!   the dependency graph: this crate does not depend on `chancery-format` (keys, AEAD,
//!   encodings) nor on `chancery-owner`, and must never do so. It sees names, sizes and
//!   ciphertext; it checks hashes and signatures, nothing else.
//! - **Deleting on a writer's word.** A writer may delete only key files and recovery-key
//!   registrations, and only at a tenant without governors; everything else is deleted by
//!   `governance` alone: a proposal signed by m of the tenant's n governors, executed by this
//!   site after its time lock, never touching objects younger than the retention floor.
//! - A command line: the `chancery` binary parses arguments and calls these functions.
#![warn(missing_docs)]

mod audit_log;
mod files;
mod governance;
mod http;
mod identity;
mod metrics;
mod replay;
mod roles;
mod scrub;
mod server;
mod state;
mod storage;
mod tenants;
mod witness;

pub use chancery_store::S3Config;
pub use http::{Route, MAX_BODY_BYTES, ROUTES};
pub use identity::{init_site, init_site_with_storage, site_info, SiteInfo};
pub use roles::{default_owner_roles, parse_roles, show_roles, Role, Roles, RECOVERY_KEY_PREFIX};
pub use scrub::{scrub, CorruptObject, ScrubReport};
pub use server::{run, SHUTDOWN_GRACE};
pub use storage::StorageConfig;
pub use tenants::{enroll, enroll_with, Enrollment};
