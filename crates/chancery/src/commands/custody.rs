//! `custody split|status`, and reading share files for `recover --share` and `CHANCERY_SHARES`.

use super::Globals;
use crate::cli::{Cli, CustodyCommand, CustodySplitArgs};
use crate::output::time;
use crate::Outcome;
use anyhow::Result;
use chancery_owner::custody::{self, parse_recipient, read_identities, read_share_file, ShareInput};
use clap::CommandFactory;
use std::path::{Path, PathBuf};

/// Dispatches `custody ...`.
pub fn run(g: &Globals, cmd: CustodyCommand) -> Result<Outcome> {
    if let CustodyCommand::Split(args) = &cmd {
        check_shape(args);
    }
    let archive = g.open()?;
    match cmd {
        CustodyCommand::Split(args) => {
            let recipients = args.age_recipients.iter().map(|r| parse_recipient(r)).collect::<Result<_>>()?;
            let opts = custody::SplitOptions {
                shares: args.shares,
                threshold: args.threshold,
                out: args.out,
                recipients,
            };
            let report = custody::split(&archive, &opts)?;
            if g.json {
                crate::output::json(&report)?;
            } else {
                print_split(&report);
            }
        }
        CustodyCommand::Status => {
            let status = custody::status(&archive)?;
            if g.json {
                crate::output::json(&status)?;
            } else {
                print_status(&status);
            }
        }
    }
    Ok(if archive.unreachable.is_empty() { Outcome::Success } else { Outcome::Warnings })
}

/// A threshold that cannot work is a usage error (exit 2), found before the password is asked.
fn check_shape(args: &CustodySplitArgs) {
    if args.threshold < 2 {
        shape_error("--threshold must be at least 2 (with 1, every share alone would open the archive)");
    }
    if args.threshold > args.shares {
        shape_error("--threshold must not exceed --shares");
    }
    if !args.age_recipients.is_empty() && args.age_recipients.len() != usize::from(args.shares) {
        shape_error("give one --age-recipient per share, in order, or none");
    }
}

fn shape_error(msg: &str) -> ! {
    Cli::command().error(clap::error::ErrorKind::InvalidValue, msg).exit()
}

fn print_split(r: &custody::SplitReport) {
    println!(
        "custody generation {}: {} shares, any {} open the archive; the custody key file {} is stored \
         locally and at {} site(s)",
        r.generation,
        r.shares,
        r.threshold,
        &r.key_file[..8],
        r.sites.len()
    );
    for file in &r.files {
        println!("  {} (and its QR code .png)", file.display());
    }
    if let Some(old) = &r.removed {
        println!(
            "the previous generation's custody key file {} is removed: its shares no longer work",
            &old[..8]
        );
    }
    println!("hand each share to one custodian, and delete it from this machine");
}

fn print_status(s: &custody::CustodyStatus) {
    let (Some(generation), Some(created), Some(key)) = (s.generation, s.created_sec, &s.key_file) else {
        println!("not split: no custodian holds a share (`chancery custody split --shares N --threshold K --out DIR`)");
        return;
    };
    println!(
        "custody generation {generation}, split {}: {} shares, threshold {}",
        time(created),
        s.shares.unwrap_or_default(),
        s.threshold.unwrap_or_default()
    );
    println!("custody key file {}: {}", &key[..8], if s.local { "held locally" } else { "NOT held locally" });
    println!("held at: {}", if s.sites.is_empty() { "-".into() } else { s.sites.join(", ") });
    if !s.missing_at.is_empty() {
        println!("missing at: {}", s.missing_at.join(", "));
    }
}

/// Reads share files, decrypting age-encrypted ones with the identity file.
pub fn read_shares(paths: &[PathBuf], identity: Option<&Path>) -> Result<Vec<ShareInput>> {
    let identities = match identity {
        Some(path) => read_identities(path)?,
        None => Vec::new(),
    };
    paths.iter().map(|p| read_share_file(p, &identities)).collect()
}

/// Share files from `CHANCERY_SHARES` (a path list, `:`-separated), if set.
pub fn shares_from_env() -> Result<Option<Vec<ShareInput>>> {
    let Some(list) = std::env::var_os("CHANCERY_SHARES").filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let paths: Vec<PathBuf> = std::env::split_paths(&list).collect();
    let identity = std::env::var_os("CHANCERY_IDENTITY").map(PathBuf::from);
    read_shares(&paths, identity.as_deref()).map(Some)
}
