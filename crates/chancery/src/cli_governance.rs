//! Arguments of the governance commands: `forget`, `prune`, `governance ...`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::cli::KeyRoles;

/// The governor's key that signs an act.
#[derive(Args, Debug, Clone)]
pub struct GovernorArg {
    /// A governor's key file (made by `governance key`); without it the owner key signs, and
    /// site servers refuse (the owner key holds no governance power).
    #[arg(long, env = "CHANCERY_GOVERNOR_KEY")]
    pub governor_key: Option<PathBuf>,
}

/// `forget`: restic's retention rules.
#[derive(Args, Debug)]
pub struct ForgetArgs {
    /// Keep the N newest snapshots.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the N newest hours that have one.
    #[arg(long, value_name = "N")]
    pub keep_hourly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest days that have one.
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the N newest weeks that have one.
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest months that have one.
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest years that have one.
    #[arg(long, value_name = "N")]
    pub keep_yearly: Option<u32>,
    /// Keep every snapshot made within this long of the newest (e.g. 30d, 2h); safer than the
    /// counts, which fake new snapshots could exhaust.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub keep_within: Option<Duration>,
    /// Consider only snapshots with this tag (repeatable); others are kept.
    #[arg(long)]
    pub tag: Vec<String>,
    /// Also delete the packs and index files only the forgotten snapshots use.
    #[arg(long)]
    pub prune: bool,
    /// Show what would be proposed; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub governor: GovernorArg,
}

/// `prune`.
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Show what would be proposed; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub governor: GovernorArg,
}

/// `governance ...`.
#[derive(Subcommand, Debug)]
pub enum GovernanceCommand {
    /// Make a governor's key file; prints its public key (for `site-admin enroll --key KEY=governor`).
    Key {
        /// Where to write it (mode 0600; never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Every proposal and where it stands at each site server.
    List,
    /// Approve a proposal (checked against the archive first).
    Approve {
        /// The proposal id (8 or more hex digits).
        id: String,
        #[command(flatten)]
        governor: GovernorArg,
    },
    /// Cancel a proposal during its time lock.
    Cancel {
        /// The proposal id (8 or more hex digits).
        id: String,
        #[command(flatten)]
        governor: GovernorArg,
    },
    /// Propose a change of the tenant's terms or roles, or the removal of a site.
    Propose(ProposeArgs),
}

/// `governance propose`.
#[derive(Args, Debug)]
pub struct ProposeArgs {
    /// Approvals a proposal needs (m of the n governors).
    #[arg(long)]
    pub quorum: Option<u32>,
    /// Time between a proposal's quorum and its execution (e.g. 72h).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub time_lock: Option<Duration>,
    /// No object younger than this is deleted (e.g. 30d).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub retention_floor: Option<Duration>,
    /// A key's new roles, KEY=ROLE[,ROLE...] or KEY=none (repeatable).
    #[arg(long, value_parser = parse_key_roles_or_none)]
    pub roles: Vec<KeyRolesChange>,
    /// Remove this site server: it deletes everything of this archive it holds.
    #[arg(long, conflicts_with_all = ["quorum", "time_lock", "retention_floor", "roles"])]
    pub remove_site: Option<String>,
    /// Remove, at every site server, the key files and recovery-key registrations of
    /// passwords this home removed (`key remove`, `key rotate`) that governed sites keep.
    #[arg(long, conflicts_with_all = ["quorum", "time_lock", "retention_floor", "roles", "remove_site"])]
    pub remove_old_keys: bool,
    #[command(flatten)]
    pub governor: GovernorArg,
}

/// `--roles KEY=ROLES` or `KEY=none`.
#[derive(Clone, Debug)]
pub struct KeyRolesChange {
    /// The key, 64 hex digits.
    pub key: String,
    /// Its roles; empty removes the key.
    pub roles: Vec<String>,
}

fn parse_key_roles_or_none(text: &str) -> Result<KeyRolesChange, String> {
    if let Some(key) = text.strip_suffix("=none") {
        return Ok(KeyRolesChange { key: key.trim().into(), roles: Vec::new() });
    }
    let KeyRoles { key, roles } = crate::cli::parse_key_roles(text)?;
    Ok(KeyRolesChange { key, roles: roles.iter().map(|r| r.name().to_string()).collect() })
}
