//! The owner's side of Chancery: configuration, placement policy, backup, restore, check,
//! audit (proof of storage), sync and status, against sites reached through `chancery-store`
//! backends, and the receipts that site servers return.
//!
//! Deliberately left out: argument parsing and printing (the `chancery` binary), byte layouts
//! and crypto (`chancery-format`), how bytes are kept (`chancery-store`).
#![warn(missing_docs)]

pub mod admin;
pub mod archive;
pub mod audit;
pub mod audit_log;
pub mod backup;
pub mod check;
pub mod config;
pub mod config_copy;
pub mod custody;
pub mod error;
pub mod fsmeta;
pub mod fsutil;
pub mod governance;
pub mod index;
pub mod ledger;
pub mod listings;
pub mod needs;
pub mod object_cache;
pub mod objects;
pub mod policy;
pub mod progress;
pub mod reader;
pub mod receipted;
pub mod receipts;
pub mod recover;
pub mod recovery_keys;
pub mod restore;
pub mod site;
pub mod snapshots;
pub mod status;
pub mod sync;
