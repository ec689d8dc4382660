//! `ledger show` and `ledger verify`.

use super::{warn_all, Globals};
use crate::cli::{LedgerArgs, LedgerCommand};
use crate::Outcome;
use anyhow::{Context, Result};
use chancery_owner::archive::Archive;
use chancery_owner::error::IntegrityProblems;
use chancery_owner::ledger::{check_site_copy, LedgerView, SiteLedger};
use chancery_owner::objects::list_ids;
use chancery_owner::snapshots::ledger_problems;
use chancery_store::ObjectKind;

/// Runs `ledger show` or `ledger verify`.
pub fn run(g: &Globals, cmd: LedgerCommand) -> Result<Outcome> {
    let archive = g.open()?;
    match cmd {
        LedgerCommand::Show(args) => show(g, &archive, &args),
        LedgerCommand::Verify(args) => verify(g, &archive, &args),
    }
}

fn selected<'a>(view: &'a LedgerView, archive: &Archive, args: &LedgerArgs) -> Result<Vec<&'a SiteLedger>> {
    if let Some(name) = &args.site {
        archive.site(name)?;
    }
    Ok(view.sites.iter().filter(|s| args.site.as_ref().is_none_or(|n| *n == s.site)).collect())
}

fn show(g: &Globals, archive: &Archive, args: &LedgerArgs) -> Result<Outcome> {
    let view = archive.ledger()?;
    let sites = selected(view, archive, args)?;
    if g.json {
        #[derive(serde::Serialize)]
        struct Entry {
            index: u64,
            time: u64,
            event: String,
            argument: String,
        }
        let entries: Vec<Entry> = view
            .entries
            .iter()
            .map(|e| Entry {
                index: e.index,
                time: e.time,
                event: e.event.word().into(),
                argument: e.event.argument().into(),
            })
            .collect();
        crate::output::json(
            &serde_json::json!({ "size": view.size, "quorum": view.quorum, "entries": entries, "sites": sites }),
        )?;
        return Ok(Outcome::Success);
    }
    println!(
        "ledger: {} entries; a checkpoint is trusted with {} site cosignature(s)",
        view.size, view.quorum
    );
    for e in &view.entries {
        println!(
            "  {:>5}  {}  {}",
            e.index,
            crate::output::time(i64::try_from(e.time).unwrap_or(0)),
            e.event
        );
    }
    for s in sites {
        println!("site {}: {}", s.site, describe(s));
    }
    Ok(Outcome::Success)
}

fn describe(s: &SiteLedger) -> String {
    let size = s.size.map_or("checkpoint unknown".to_string(), |n| format!("checkpoint size {n}"));
    let cosigned = match s.cosigned_at {
        Some(t) => format!(", cosigned {}", crate::output::time(i64::try_from(t).unwrap_or(0))),
        None if s.size.unwrap_or(0) > 0 => ", owner-signed (a folder does not witness)".into(),
        None => String::new(),
    };
    let state = match (&s.problem, &s.remark) {
        (Some(p), _) => format!("; TAMPERED: {p}"),
        (None, Some(r)) => format!("; {r}"),
        (None, None) => "; consistent".into(),
    };
    format!("{size}{cosigned}{state}")
}

fn verify(g: &Globals, archive: &Archive, args: &LedgerArgs) -> Result<Outcome> {
    let view = archive.ledger()?;
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    for s in selected(view, archive, args)? {
        if let Some(p) = &s.problem {
            problems.push(format!("site {}: ledger: {p}", s.site));
            continue;
        }
        if let Some(r) = &s.remark {
            warnings.push(format!("site {}: {r}", s.site));
        }
        let site = archive.site(&s.site)?;
        for p in check_site_copy(site, view)? {
            problems.push(format!("site {}: {p}", s.site));
        }
        let ids = list_ids(site, ObjectKind::Snapshot).with_context(|| format!("listing site {}", s.site))?;
        let forgotten = chancery_owner::governance::book::doomed(archive)?.snapshots;
        let found = ledger_problems(view, &forgotten, site, &ids, &mut warnings);
        problems.extend(found.iter().map(|p| p.to_string()));
        if !g.json {
            println!("site {}: {}", s.site, describe(s));
        }
    }
    if g.json {
        crate::output::json(
            &serde_json::json!({ "size": view.size, "sites": view.sites, "problems": problems }),
        )?;
    }
    for p in &problems {
        eprintln!("error: {p}");
    }
    if !problems.is_empty() {
        return Err(IntegrityProblems { count: problems.len() }.into());
    }
    let mut outcome = warn_all(&warnings);
    if !archive.unreachable.is_empty() && args.site.is_none() {
        outcome = Outcome::Warnings;
    }
    Ok(outcome)
}
