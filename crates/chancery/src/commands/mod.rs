//! One module per subcommand.

mod audit;
mod audit_log;
mod backup;
mod check;
mod demo;
mod demo_data;
mod demo_sites;
mod init;
mod key;
mod ledger;
mod ls;
mod policy;
mod recover;
mod restore;
mod serve;
mod site;
mod site_admin;
mod snapshots;
mod status;
mod sync;

use crate::cli::{Cli, Command};
use crate::Outcome;
use anyhow::Result;
use chancery_owner::archive::Archive;
use std::path::{Path, PathBuf};

/// What every command may need from the global options.
pub struct Globals {
    /// Configuration file.
    pub config: PathBuf,
    /// Password file, if given.
    pub password_file: Option<PathBuf>,
    /// JSON output.
    pub json: bool,
}

impl Globals {
    /// Opens the archive with the password.
    pub fn open(&self) -> Result<Archive> {
        let password = crate::password::password(self.password_file.as_deref())?;
        let archive = Archive::open(&self.config, &password)?;
        for u in &archive.unreachable {
            eprintln!("warning: site {} is unreachable: {}", u.config.name, u.reason);
        }
        Ok(archive)
    }

    /// The config path.
    pub fn config(&self) -> &Path {
        &self.config
    }
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<Outcome> {
    let g = Globals { config: cli.config, password_file: cli.password_file, json: cli.json };
    match cli.command {
        Command::Init(args) => init::init(&g, args),
        Command::OwnerKey => init::owner_key(&g),
        Command::Site(cmd) => site::run(&g, cmd),
        Command::Policy(_) => policy::check(&g),
        Command::Backup(args) => backup::run(&g, args),
        Command::Snapshots => snapshots::run(&g),
        Command::Ls(args) => ls::run(&g, args),
        Command::Restore(args) => restore::run(&g, args),
        Command::Check(args) => check::run(&g, args),
        Command::Audit(args) => audit::run(&g, args),
        Command::AuditLog(args) => audit_log::run(&g, args),
        Command::Status => status::run(&g),
        Command::Sync(args) => sync::run(&g, args),
        Command::Key(cmd) => key::run(&g, cmd),
        Command::Ledger(cmd) => ledger::run(&g, cmd),
        Command::Recover(args) => recover::run(&g, args),
        Command::Demo(args) => demo::run(args),
        Command::SiteAdmin(cmd) => site_admin::run(&g, cmd),
        Command::Serve(args) => serve::run(args),
    }
}

/// Prints warnings and says whether there were any.
pub fn warn_all(warnings: &[String]) -> Outcome {
    for w in warnings {
        eprintln!("warning: {w}");
    }
    if warnings.is_empty() {
        Outcome::Success
    } else {
        Outcome::Warnings
    }
}
