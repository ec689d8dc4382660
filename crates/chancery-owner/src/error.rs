//! Errors the caller must react to, each with the exit code the CLI gives it.
//!
//! Policy: a failure that means "the data may have been tampered with" is an [`IntegrityError`];
//! one that means "this would break the placement policy" is a [`PolicyError`]; a refused
//! credential is an [`AuthError`]. Everything else is an `anyhow` error with context naming the
//! file, site or object involved, and a hint of what to do where there is one.

use std::fmt;
use thiserror::Error;

/// Stored bytes at a site failed verification.
#[derive(Debug, Error)]
#[error("integrity check failed at site {site}: {object}: {detail}")]
pub struct IntegrityError {
    /// The site whose copy is bad.
    pub site: String,
    /// Which object (kind and name).
    pub object: String,
    /// What was wrong.
    pub detail: String,
}

/// Several integrity problems, found by `check` (each already printed).
#[derive(Debug, Error)]
#[error("{count} integrity problem(s) found; run `chancery sync` to repair lagging sites from healthy ones")]
pub struct IntegrityProblems {
    /// How many.
    pub count: usize,
}

/// The placement policy is violated.
#[derive(Debug, Error)]
pub struct PolicyError {
    /// Each violation, in words.
    pub violations: Vec<String>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "placement policy violated: {}", self.violations.join("; "))
    }
}

/// A credential was refused.
#[derive(Debug, Error)]
#[error("{0}")]
pub struct AuthError(pub String);

/// Custodians' shares that are corrupted or forged, or that do not open the archive they claim.
#[derive(Debug, Error)]
#[error("custody shares refused: {detail}")]
pub struct ShareIntegrityError {
    /// Which share files, and what is wrong with each.
    pub detail: String,
}
