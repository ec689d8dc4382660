//! `site add` and `site list`.

use super::Globals;
use crate::cli::{SiteAddArgs, SiteCommand};
use crate::Outcome;
use anyhow::Result;
use chancery_owner::config::{Config, Endpoint, SiteConfig};
use chancery_owner::policy;
use chancery_owner::site::OwnerIdentity;

/// Dispatches `site ...`.
pub fn run(g: &Globals, cmd: SiteCommand) -> Result<Outcome> {
    match cmd {
        SiteCommand::Add(args) => add(g, *args),
        SiteCommand::List => list(g),
    }
}

fn add(g: &Globals, args: SiteAddArgs) -> Result<Outcome> {
    let (endpoint, owner) = match (&args.dir, &args.url, &args.site_key) {
        (Some(dir), _, _) => (Endpoint::Dir { dir: std::path::absolute(dir)? }, None),
        (None, Some(url), Some(site_key)) => {
            chancery_protocol::parse_public_key("--site-key", site_key)?;
            let archive = g.open()?;
            let tenant = args.tenant.clone().unwrap_or_else(|| default_tenant(&archive.config.owner.name));
            let endpoint = Endpoint::Server { url: url.clone(), site_key: site_key.clone(), tenant };
            (endpoint, Some(OwnerIdentity::from_keys(&archive.keys)))
        }
        _ => anyhow::bail!("give --dir PATH, or --url URL with --site-key KEY"),
    };
    let site = SiteConfig {
        name: args.name,
        endpoint,
        location: args.location,
        jurisdiction: args.jurisdiction,
        tier: args.tier,
        upload_timeout_secs: args.upload_timeout,
        limit_upload_kib: args.limit_upload,
        limit_download_kib: args.limit_download,
    };
    let name = site.name.clone();
    let server = owner.is_some();
    let config = chancery_owner::admin::add_site(g.config(), site, owner.as_ref())?;
    println!("added site {name}");
    if server {
        // The password can recover from the new site too (`recover --url`).
        g.open_registering()?;
    }
    let report = policy::check(&config);
    if !report.ok() {
        for v in &report.violations {
            eprintln!("note: policy not met yet: {v}");
        }
    }
    Ok(Outcome::Success)
}

/// The owner's name as a tenant name: lower case, runs of other characters as one '-'.
fn default_tenant(owner: &str) -> String {
    let mut out = String::new();
    for c in owner.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

fn list(g: &Globals) -> Result<Outcome> {
    let config = Config::load(g.config())?;
    let report = policy::check(&config);
    if g.json {
        crate::output::json(&serde_json::json!({ "sites": config.sites, "distances": report.pairs }))?;
        return Ok(Outcome::Success);
    }
    println!("{:<16} {:<3} {:>4}  {:<20} where", "site", "cc", "tier", "location");
    for s in &config.sites {
        println!(
            "{:<16} {:<3} {:>4}  {:<20} {}",
            s.name,
            s.jurisdiction,
            s.tier,
            s.location.to_string(),
            s.endpoint
        );
    }
    println!();
    println!("distances (minimum {} km):", config.policy.min_distance_km);
    for p in &report.pairs {
        println!("  {:<16} {:<16} {:>9.1} km  {}", p.a, p.b, p.km, if p.ok { "ok" } else { "TOO CLOSE" });
    }
    Ok(Outcome::Success)
}
