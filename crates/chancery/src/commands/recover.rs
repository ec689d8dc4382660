//! `recover`.

use super::Globals;
use crate::cli::RecoverArgs;
use crate::Outcome;
use anyhow::{bail, Result};
use chancery_owner::recover::{recover_from_dir, recover_from_server, ServerAddress};

/// Rebuilds the home from one site with the password; exit 10 when the site's keys, ledger or
/// config copy do not verify.
pub fn run(g: &Globals, args: RecoverArgs) -> Result<Outcome> {
    let password = crate::password::password(g.password_file.as_deref())?;
    let report = match (&args.dir, &args.url, &args.site_key, &args.tenant) {
        (Some(dir), ..) => recover_from_dir(g.config(), dir, args.site.as_deref(), &password)?,
        (None, Some(url), Some(site_key), Some(tenant)) => {
            let address =
                ServerAddress { url: url.clone(), site_key: site_key.clone(), tenant: tenant.clone() };
            recover_from_server(g.config(), &address, args.site.as_deref(), &password)?
        }
        _ => bail!("give --dir PATH, or --url URL with --site-key KEY and --tenant T"),
    };
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
    Ok(if report.tampered_elsewhere.is_empty() { Outcome::Success } else { Outcome::Warnings })
}
