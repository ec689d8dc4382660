//! `restore`.

use super::{warn_all, Globals};
use crate::cli::RestoreArgs;
use crate::output::bytes;
use crate::Outcome;
use anyhow::Result;
use chancery_owner::progress::Progress;
use chancery_owner::restore::{restore, RestoreRequest};

/// Restores a snapshot; exit 3 when a site's bad copy had to be replaced by another site's.
pub fn run(g: &Globals, args: RestoreArgs) -> Result<Outcome> {
    let archive = g.open()?;
    let request = RestoreRequest {
        snapshot: args.snapshot,
        target: args.target,
        site: args.site,
        include: args.include,
    };
    let progress = Progress::default();
    let report =
        crate::progress::with_progress("restore", &progress, || restore(&archive, &request, &progress))?;
    if g.json {
        crate::output::json(&report)?;
    } else {
        println!(
            "restored snapshot {} to {}: {} files, {}",
            &report.snapshot[..8],
            request.target.display(),
            report.files,
            bytes(report.bytes)
        );
    }
    let mut warnings = report.bad_copies.clone();
    if !report.bad_copies.is_empty() {
        warnings.push(
            "run `chancery check --read-data` and `chancery sync` to repair the sites named above".into(),
        );
    }
    warnings.extend(report.warnings.iter().cloned());
    Ok(warn_all(&warnings))
}
