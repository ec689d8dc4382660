//! `audit`: proof of storage at one site.

use super::Globals;
use crate::cli::AuditArgs;
use crate::output::bytes;
use crate::Outcome;
use anyhow::Result;
use chancery_owner::audit::odds::Detection;
use chancery_owner::audit::{audit, AuditOptions, AuditReport, Problem};
use chancery_owner::error::IntegrityError;

/// Audits one site; exit 10 naming the site and each failed pack when any sample fails.
pub fn run(g: &Globals, args: AuditArgs) -> Result<Outcome> {
    let archive = g.open()?;
    let options = AuditOptions { samples: args.sample, assume_lost_percent: args.assume_lost };
    let report = audit(&archive, &args.site, options)?;
    if g.json {
        crate::output::json(&report)?;
    } else {
        print_report(&report);
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    for f in &report.failures {
        eprintln!("error: site {}: pack {}: {}", f.site, f.pack, f.detail);
    }
    if !report.failures.is_empty() {
        return Err(failed(&report).into());
    }
    Ok(if report.warnings.is_empty() { Outcome::Success } else { Outcome::Warnings })
}

fn print_report(r: &AuditReport) {
    let how = match r.method {
        "proof" => "proved by the site",
        _ => "read whole (a local folder cannot prove ranges)",
    };
    let verdict = match r.failures.len() {
        0 => "all passed".to_string(),
        n => format!("{} passed, {n} FAILED", r.passed),
    };
    println!(
        "site {}: {} of {} packs sampled, one 1 KiB range each, {how}: {verdict}",
        r.site, r.sampled, r.packs
    );
    println!(
        "received {} for samples of packs that weigh {}",
        bytes(r.bytes_received),
        bytes(r.bytes_of_sampled_packs)
    );
    if r.not_yet_held > 0 {
        println!(
            "{} indexed packs not yet given to this site (it lags; `chancery sync` catches it up)",
            r.not_yet_held
        );
    }
    println!("{}", odds(&r.detection, r.packs));
}

fn odds(d: &Detection, packs: usize) -> String {
    if d.assumed_lost_packs == 0 {
        return "no packs to lose: nothing to detect".to_string();
    }
    let need = |n: Option<usize>| n.map_or("-".to_string(), |n| n.to_string());
    format!(
        "if {}% of the packs were lost ({} of {packs}), {} samples would find a lost one with probability \
         {:.2}%; 95% needs {} samples, 99% needs {}",
        d.assumed_lost_percent,
        d.assumed_lost_packs,
        d.samples,
        d.probability * 100.0,
        need(d.samples_for_95),
        need(d.samples_for_99),
    )
}

/// The error that ends a failed audit: the site, and how many packs failed in which way (each
/// pack is named on its own line before it).
fn failed(r: &AuditReport) -> IntegrityError {
    let kinds = [
        (Problem::Missing, "missing"),
        (Problem::ProofFailed, "altered or damaged (the proof did not verify)"),
        (Problem::Short, "shorter than their index says"),
        (Problem::SiteError, "not proved (the site answered with an error)"),
    ];
    let count = |problem| r.failures.iter().filter(|f| f.problem == problem).count();
    let what: Vec<String> = kinds
        .iter()
        .filter(|(p, _)| count(*p) > 0)
        .map(|(p, says)| format!("{} {says}", count(*p)))
        .collect();
    IntegrityError {
        site: r.site.clone(),
        object: format!("{} of {} sampled packs", r.failures.len(), r.sampled),
        detail: format!(
            "{}; restore reads those packs from another site, `chancery sync --site {}` re-sends \
             missing ones, and `chancery check --site {} --read-data` tells more",
            what.join(", "),
            r.site,
            r.site
        ),
    }
}
