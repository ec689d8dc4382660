//! `site-admin init|enroll|scrub`: the site operator's commands. No owner key is involved.

use super::Globals;
use crate::cli::{S3StorageArgs, SiteAdminCommand};
use crate::output::bytes;
use crate::Outcome;
use anyhow::{Context, Result};
use chancery_owner::error::IntegrityProblems;
use chancery_site::{S3Config, StorageConfig};

/// Dispatches `site-admin ...`.
pub fn run(g: &Globals, cmd: SiteAdminCommand) -> Result<Outcome> {
    match cmd {
        SiteAdminCommand::Init(a) => {
            let (lat, lon) = (a.location.lat, a.location.lon);
            let storage = s3_storage(&a.s3)?;
            let storage = storage.as_ref().map(|(config, secret)| (config, secret.as_str()));
            let key = chancery_site::init_site_with_storage(
                &a.data,
                &a.name,
                lat,
                lon,
                &a.jurisdiction,
                a.tier,
                storage,
            )?;
            if g.json {
                crate::output::json(&serde_json::json!({ "site": a.name, "site_key": key }))?;
            } else {
                println!("site {} created in {}", a.name, a.data.display());
                println!("site key (owners pin it with `site add --site-key`): {key}");
            }
        }
        SiteAdminCommand::Enroll(a) => {
            let enrollment = chancery_site::Enrollment {
                tenant: a.tenant.clone(),
                owner_key: a.owner_key,
                owner_roles: a.owner_roles,
                keys: a.key.into_iter().map(|k| (k.key, k.roles)).collect(),
                quota_bytes: a.quota,
                quorum: a.quorum,
                time_lock_secs: a.time_lock.map(|d| d.as_secs()),
                retention_floor_secs: a.retention_floor.map(|d| d.as_secs()),
            };
            chancery_site::enroll_with(&a.data, &enrollment)?;
            println!("tenant {} enrolled", a.tenant);
        }
        SiteAdminCommand::Scrub(a) => {
            let report = chancery_site::scrub(&a.data, a.tenant.as_deref())?;
            if g.json {
                crate::output::json(&report)?;
            } else {
                println!("scrubbed {} objects, {}", report.objects, bytes(report.bytes));
            }
            for c in &report.corrupt {
                eprintln!(
                    "error: tenant {}: {} {}: content does not match its name",
                    c.tenant, c.kind, c.name
                );
            }
            if !report.corrupt.is_empty() {
                return Err(IntegrityProblems { count: report.corrupt.len() }.into());
            }
        }
    }
    Ok(Outcome::Success)
}

/// The bucket named by `--s3-*`, with its secret; `None` for folder storage.
fn s3_storage(args: &S3StorageArgs) -> Result<Option<(StorageConfig, String)>> {
    let Some(endpoint) = &args.s3_endpoint else { return Ok(None) };
    let secret = args
        .s3_secret_access_key
        .clone()
        .context("set CHANCERY_S3_SECRET_ACCESS_KEY to the secret of --s3-access-key-id")?;
    let config = S3Config {
        endpoint: endpoint.clone(),
        region: args.s3_region.clone(),
        bucket: args.s3_bucket.clone().unwrap_or_default(),
        prefix: args.s3_prefix.clone(),
        access_key_id: args.s3_access_key_id.clone().unwrap_or_default(),
    };
    Ok(Some((StorageConfig::S3(config), secret)))
}
