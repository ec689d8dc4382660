//! `backup`.

use super::{warn_all, Globals};
use crate::cli::BackupArgs;
use crate::output::bytes;
use crate::Outcome;
use anyhow::{bail, Context, Result};
use chancery_owner::backup::{backup, BackupRequest};
use chancery_owner::error::IntegrityProblems;
use chancery_owner::progress::Progress;

/// Backs up paths or stdin to every reachable site. Exit 3 when a site lags but the policy's
/// minimum number of sites hold the snapshot; 1 when fewer do.
pub fn run(g: &Globals, args: BackupArgs) -> Result<Outcome> {
    let archive = g.open_registering()?;
    let request = BackupRequest {
        paths: args.paths,
        stdin_name: if args.stdin { args.stdin_name } else { None },
        tags: args.tags,
    };
    let progress = Progress::default();
    let report =
        crate::progress::with_progress("backup", &progress, || backup(&archive, &request, &progress))?;
    if g.json {
        crate::output::json(&report)?;
    } else {
        let s = &report.summary;
        println!("snapshot {} saved", &report.snapshot[..8]);
        println!(
            "  {} files, {} dirs, {} ({} read, {} new in {} blobs)",
            s.files,
            s.dirs,
            bytes(s.bytes),
            bytes(s.bytes_read),
            bytes(s.new_bytes),
            s.new_blobs
        );
        println!("  stored at: {}", report.stored_at.join(", "));
    }
    for (site, why) in &report.lagging {
        eprintln!("warning: site {site} lags (run `chancery sync` when it is back): {why}");
    }
    let outcome = warn_all(&report.warnings);
    if let Some(ledger) = report.ledger.as_ref().filter(|_| !g.json) {
        println!("  ledger: {} entries, cosigned by {}", ledger.size, list_or_none(&ledger.cosigned_by));
    }
    if let Some(first) = report.integrity.first() {
        for problem in &report.integrity[1..] {
            eprintln!("error: {problem}");
        }
        return Err(IntegrityProblems { count: report.integrity.len() }).context(first.clone());
    }
    if !report.quorum_met {
        bail!(
            "snapshot {} is at {} site(s), fewer than the policy's minimum of {}",
            &report.snapshot[..8],
            report.stored_at.len(),
            archive.config.policy.min_sites
        );
    }
    Ok(if report.lagging.is_empty() { outcome } else { Outcome::Warnings })
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "no site server".into()
    } else {
        names.join(", ")
    }
}
