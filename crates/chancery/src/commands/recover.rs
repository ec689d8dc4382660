//! `recover`.

use super::Globals;
use crate::cli::RecoverArgs;
use crate::Outcome;
use anyhow::{bail, Result};
use chancery_owner::recover::{recover_from_dir_with, recover_from_server_with, Credential, ServerAddress};

/// Rebuilds the home from one site with the password or custodians' shares; exit 10 when the
/// site's keys, ledger or config copy, or a share, do not verify.
pub fn run(g: &Globals, args: RecoverArgs) -> Result<Outcome> {
    let credential = if args.shares.is_empty() {
        Credential::Password(crate::password::password(g.password_file.as_deref())?)
    } else {
        Credential::Shares(super::custody::read_shares(&args.shares, args.identity.as_deref())?)
    };
    let report = match (&args.dir, &args.url, &args.site_key, &args.tenant, &credential) {
        (Some(dir), ..) => recover_from_dir_with(g.config(), dir, args.site.as_deref(), &credential)?,
        (None, Some(url), Some(site_key), Some(tenant), _) => {
            let address =
                ServerAddress { url: url.clone(), site_key: site_key.clone(), tenant: tenant.clone() };
            recover_from_server_with(g.config(), &address, args.site.as_deref(), &credential)?
        }
        _ => bail!("give --dir PATH, or --url URL with --site-key KEY and --tenant T"),
    };
    for why in &report.shares_left_out {
        eprintln!("warning: share left out: {why}");
    }
    if g.json {
        crate::output::json(&report)?;
    } else {
        println!(
            "recovered {} from site {}: {} key file(s), a ledger of {} entries recording {} snapshot(s)",
            report.config.display(),
            report.site,
            report.key_files,
            report.ledger_entries,
            report.snapshots
        );
        println!("sites reachable now: {}", report.sites_reachable.join(", "));
    }
    for problem in &report.tampered_elsewhere {
        eprintln!("warning: {problem} (that site is not used until it is repaired)");
    }
    if report.by_shares {
        eprintln!(
            "opened with custodians' shares: this home has no password of its own yet; add one with \
             `CHANCERY_SHARES=FILE:FILE:... chancery key add` (the shares open it until then)"
        );
    }
    let clean = report.tampered_elsewhere.is_empty() && report.shares_left_out.is_empty();
    Ok(if clean { Outcome::Success } else { Outcome::Warnings })
}
