//! The `chancery` binary: parses arguments, runs one command from `commands/`, prints, and
//! turns the outcome into the exit codes of `shared/CLI.md`. Logic lives in the library crates.

mod cli;
mod cli_governance;
mod commands;
mod output;
mod password;
mod progress;

use chancery_owner::error::{AuthError, IntegrityError, IntegrityProblems, PolicyError, ShareIntegrityError};
use chancery_store::StoreError;
use clap::Parser;
use std::process::ExitCode;

/// Exit code: done with warnings.
pub const EXIT_WARNINGS: u8 = 3;
/// Exit code: integrity or tamper detected.
pub const EXIT_INTEGRITY: u8 = 10;
/// Exit code: placement policy violated.
pub const EXIT_POLICY: u8 = 11;
/// Exit code: authentication or permission refused.
pub const EXIT_AUTH: u8 = 12;

/// How a command that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything done.
    Success,
    /// Done, with warnings already printed.
    Warnings,
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Warnings) => ExitCode::from(EXIT_WARNINGS),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(exit_code(&err))
        }
    }
}

fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.is::<IntegrityError>()
            || cause.is::<IntegrityProblems>()
            || cause.is::<ShareIntegrityError>()
        {
            return EXIT_INTEGRITY;
        }
        if cause.is::<PolicyError>() {
            return EXIT_POLICY;
        }
        if cause.is::<AuthError>()
            || matches!(cause.downcast_ref(), Some(StoreError::PermissionDenied { .. }))
        {
            return EXIT_AUTH;
        }
    }
    1
}
