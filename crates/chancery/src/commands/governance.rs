//! `forget`, `prune` and `governance key|list|approve|cancel|propose`.

use anyhow::{Context, Result};
use chancery_ledger::Setting;
use chancery_owner::governance::post::Posted;
use chancery_owner::governance::propose::{self, Proposed};
use chancery_owner::governance::retention::RetentionRules;
use chancery_owner::governance::{governor_key, review};
use ed25519_dalek::SigningKey;

use super::{warn_all, Globals};
use crate::cli_governance::{ForgetArgs, GovernanceCommand, GovernorArg, ProposeArgs, PruneArgs};
use crate::output::bytes;
use crate::Outcome;

/// `forget`.
pub fn forget(g: &Globals, args: ForgetArgs) -> Result<Outcome> {
    let rules = RetentionRules {
        keep_last: args.keep_last,
        keep_hourly: args.keep_hourly,
        keep_daily: args.keep_daily,
        keep_weekly: args.keep_weekly,
        keep_monthly: args.keep_monthly,
        keep_yearly: args.keep_yearly,
        keep_within_sec: args.keep_within.map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        tags: args.tag,
    };
    let governor = governor(&args.governor)?;
    let archive = g.open()?;
    let proposed = propose::forget(&archive, &rules, args.prune, governor.as_ref(), args.dry_run)?;
    report(g, &proposed, args.dry_run)
}

/// `prune`.
pub fn prune(g: &Globals, args: PruneArgs) -> Result<Outcome> {
    let governor = governor(&args.governor)?;
    let archive = g.open()?;
    let proposed = propose::prune(&archive, governor.as_ref(), args.dry_run)?;
    report(g, &proposed, args.dry_run)
}

/// `governance ...`.
pub fn run(g: &Globals, cmd: GovernanceCommand) -> Result<Outcome> {
    if let GovernanceCommand::Key { out } = &cmd {
        let public = governor_key::create(out)?;
        println!("{}", hex::encode(public));
        eprintln!(
            "governor key written to {}; give the line above to each site's operator \
             (site-admin enroll ... --key KEY=governor)",
            out.display()
        );
        return Ok(Outcome::Success);
    }
    let archive = g.open()?;
    let posted = match cmd {
        GovernanceCommand::Key { .. } => unreachable!("handled above"),
        GovernanceCommand::List => return list(g, &archive),
        GovernanceCommand::Approve { id, governor: key } => {
            review::approve(&archive, &id, governor(&key)?.as_ref())?
        }
        GovernanceCommand::Cancel { id, governor: key } => {
            review::cancel(&archive, &id, governor(&key)?.as_ref())?
        }
        GovernanceCommand::Propose(args) => propose_change(&archive, args)?,
    };
    print_posted(g, &posted)
}

fn propose_change(archive: &chancery_owner::archive::Archive, args: ProposeArgs) -> Result<Posted> {
    let key = governor(&args.governor)?;
    if let Some(site) = &args.remove_site {
        return propose::remove_site(archive, site, key.as_ref());
    }
    if args.remove_old_keys {
        let posted = chancery_owner::governance::keys::propose_removal(archive, key.as_ref())?;
        return posted
            .ok_or_else(|| anyhow::anyhow!("no site server keeps a key file of a removed password"));
    }
    let mut settings = Vec::new();
    settings.extend(args.quorum.map(Setting::Quorum));
    settings.extend(args.time_lock.map(|d| Setting::TimeLock(d.as_secs())));
    settings.extend(args.retention_floor.map(|d| Setting::RetentionFloor(d.as_secs())));
    for change in args.roles {
        let key = chancery_protocol::parse_public_key("key", &change.key)?;
        settings.push(Setting::Roles { key, roles: change.roles.into_iter().collect() });
    }
    propose::change_settings(archive, settings, key.as_ref())
}

fn governor(arg: &GovernorArg) -> Result<Option<SigningKey>> {
    arg.governor_key.as_deref().map(governor_key::load).transpose().context("loading the governor key")
}

fn report(g: &Globals, proposed: &Proposed, dry_run: bool) -> Result<Outcome> {
    if g.json {
        crate::output::json(proposed)?;
        return Ok(warn_all(&proposed.warnings));
    }
    if let Some(selection) = &proposed.selection {
        for d in &selection.decisions {
            let verdict = if d.keep { "keep  " } else { "forget" };
            println!("{verdict} {}  {}", d.id.short(), d.reasons.join(", "));
        }
    }
    let Some(id) = &proposed.id else {
        println!("nothing to delete; no proposal made");
        return Ok(warn_all(&proposed.warnings));
    };
    println!(
        "proposal {id}: forget {} snapshots, delete {} packs and {} index files ({}), after storing {} new index files",
        proposed.forget.len(),
        proposed.delete_packs,
        proposed.delete_index,
        bytes(proposed.freed_bytes),
        proposed.new_index
    );
    if dry_run {
        println!("dry run: nothing sent");
    }
    if let Some(posted) = &proposed.posted {
        print_sites(posted);
    }
    Ok(warn_all(&proposed.warnings))
}

fn print_posted(g: &Globals, posted: &Posted) -> Result<Outcome> {
    if g.json {
        crate::output::json(posted)?;
    } else {
        println!("proposal {}", posted.id);
        print_sites(posted);
    }
    let warnings: Vec<String> = posted.failed.iter().map(|(s, why)| format!("site {s}: {why}")).collect();
    Ok(warn_all(&warnings))
}

fn print_sites(posted: &Posted) {
    let now = chancery_owner::fsutil::unix_now();
    for (site, status) in &posted.accepted {
        println!("  {site}: {}", review::stage_text(status, now));
    }
}

fn list(g: &Globals, archive: &chancery_owner::archive::Archive) -> Result<Outcome> {
    let book = review::list(archive)?;
    if g.json {
        crate::output::json(&book)?;
    } else {
        for (site, t) in &book.terms {
            println!(
                "site {site}: quorum {} of {} governors, time lock {} s, retention floor {} s",
                t.quorum, t.governors, t.time_lock_secs, t.retention_floor_secs
            );
        }
        let now = chancery_owner::fsutil::unix_now();
        for p in &book.proposals {
            println!("{} {} ({} objects): {}", &p.id[..16], p.act, p.deletes, p.reason);
            for (site, status) in &p.sites {
                println!("  {site}: {}", review::stage_text(status, now));
            }
        }
        if book.proposals.is_empty() {
            println!("no proposals");
        }
    }
    let warnings: Vec<String> = book.failed.iter().map(|(s, why)| format!("site {s}: {why}")).collect();
    Ok(warn_all(&warnings))
}
