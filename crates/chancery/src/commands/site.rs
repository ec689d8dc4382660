//! `site add` and `site list`.

use super::Globals;
use crate::cli::{SiteAddArgs, SiteCommand};
use crate::Outcome;
use anyhow::Result;
use chancery_owner::config::{Config, SiteConfig};
use chancery_owner::policy;

/// Dispatches `site ...`.
pub fn run(g: &Globals, cmd: SiteCommand) -> Result<Outcome> {
    match cmd {
        SiteCommand::Add(args) => add(g, args),
        SiteCommand::List => list(g),
    }
}

fn add(g: &Globals, args: SiteAddArgs) -> Result<Outcome> {
    let dir = std::path::absolute(&args.dir)?;
    let site = SiteConfig {
        name: args.name,
        dir,
        location: args.location,
        jurisdiction: args.jurisdiction,
        tier: args.tier,
    };
    let name = site.name.clone();
    let config = chancery_owner::admin::add_site(g.config(), site)?;
    println!("added site {name}");
    let report = policy::check(&config);
    if !report.ok() {
        for v in &report.violations {
            eprintln!("note: policy not met yet: {v}");
        }
    }
    Ok(Outcome::Success)
}

fn list(g: &Globals) -> Result<Outcome> {
    let config = Config::load(g.config())?;
    let report = policy::check(&config);
    if g.json {
        crate::output::json(&serde_json::json!({ "sites": config.sites, "distances": report.pairs }))?;
        return Ok(Outcome::Success);
    }
    println!("{:<16} {:<3} {:>4}  {:<20} location", "site", "cc", "tier", "");
    for s in &config.sites {
        println!(
            "{:<16} {:<3} {:>4}  {:<20} {}",
            s.name,
            s.jurisdiction,
            s.tier,
            s.location,
            s.dir.display()
        );
    }
    println!();
    println!("distances (minimum {} km):", config.policy.min_distance_km);
    for p in &report.pairs {
        println!("  {:<16} {:<16} {:>9.1} km  {}", p.a, p.b, p.km, if p.ok { "ok" } else { "TOO CLOSE" });
    }
    Ok(Outcome::Success)
}
