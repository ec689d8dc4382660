//! One module per subcommand.

mod audit;
mod audit_log;
mod backup;
mod check;
mod custody;
mod demo;
mod demo_data;
mod demo_sites;
mod governance;
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
    /// Opens the archive with the password, or with custodians' shares when `CHANCERY_SHARES`
    /// names share files (a home recovered with shares has no password of its own yet).
    pub fn open(&self) -> Result<Archive> {
        self.open_with_password().map(|(archive, _, _)| archive)
    }

    /// Opens the archive with the password, for a command that writes to the sites: the
    /// password's recovery key is registered first at every site server that lacks it, so that
    /// the password alone can `recover --url` from any of them.
    pub fn open_registering(&self) -> Result<Archive> {
        self.open_registering_with_password().map(|(archive, _)| archive)
    }

    /// [`Globals::open_registering`], keeping the password (or the custody secret) for the
    /// command.
    pub fn open_registering_with_password(&self) -> Result<(Archive, zeroize::Zeroizing<Vec<u8>>)> {
        let (archive, password, is_password) = self.open_with_password()?;
        let key_id = archive.key_id;
        if is_password {
            if let Err(e) = chancery_owner::recovery_keys::register(&archive, &password, &key_id) {
                eprintln!("warning: the password's recovery keys are not all registered: {e:#}");
            }
        }
        Ok((archive, password))
    }

    /// The archive, what opened it, and whether that was a password (not shares).
    fn open_with_password(&self) -> Result<(Archive, zeroize::Zeroizing<Vec<u8>>, bool)> {
        let (password, is_password) = match custody::shares_from_env()? {
            Some(shares) => {
                let secret = chancery_owner::custody::unlock::secret_for_home(&self.config, &shares)?;
                (zeroize::Zeroizing::new(secret[..].to_vec()), false)
            }
            None => (crate::password::password(self.password_file.as_deref())?, true),
        };
        let archive = Archive::open(&self.config, &password)?;
        for u in &archive.unreachable {
            eprintln!("warning: site {} is unreachable: {}", u.config.name, u.reason);
        }
        Ok((archive, password, is_password))
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
        Command::Forget(args) => governance::forget(&g, args),
        Command::Prune(args) => governance::prune(&g, args),
        Command::Governance(cmd) => governance::run(&g, cmd),
        Command::Recover(args) => recover::run(&g, args),
        Command::Custody(cmd) => custody::run(&g, cmd),
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
