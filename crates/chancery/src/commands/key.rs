//! `key add|list|remove|rotate`.

use super::Globals;
use crate::cli::KeyCommand;
use crate::output::time;
use crate::Outcome;
use anyhow::Result;
use chancery_owner::admin;

/// Dispatches `key ...`.
pub fn run(g: &Globals, cmd: KeyCommand) -> Result<Outcome> {
    let (archive, password) = g.open_registering_with_password()?;
    match cmd {
        KeyCommand::Add(args) => {
            let pw =
                crate::password::new_password(args.new_password_file.as_deref(), "CHANCERY_NEW_PASSWORD")?;
            let id = admin::add_key(&archive, &pw, &args.label)?;
            chancery_owner::recovery_keys::register(&archive, &pw, &id)?;
            println!("added key {} (local and at {} site(s))", id.short(), archive.sites.len());
        }
        KeyCommand::List => {
            let keys = admin::list_keys(&archive)?;
            if g.json {
                crate::output::json(&keys)?;
            } else {
                for k in keys {
                    let mark = if k.current { "*" } else { " " };
                    let created = k.created_sec.map(time).unwrap_or_else(|| "-".into());
                    println!(
                        "{mark} {}  {created:<20}  {:<12}  {:<12}  sites: {}",
                        &k.id[..8],
                        k.hostname.unwrap_or_default(),
                        k.label.unwrap_or_default(),
                        k.sites.join(",")
                    );
                }
            }
        }
        KeyCommand::Remove(args) => {
            let id = admin::remove_key(&archive, &args.id)?;
            println!("removed key {} locally and at {} site(s)", id.short(), archive.sites.len());
        }
        KeyCommand::Rotate => {
            let rotation = admin::rotate_key(&archive, &password)?;
            if g.json {
                crate::output::json(&rotation)?;
            } else {
                println!(
                    "key generation {} seals new data from now on; key file {} holds every generation",
                    rotation.generation,
                    &rotation.key_file[..16]
                );
                for old in &rotation.removed {
                    println!("removed key file {} (its password opens only the old generations): add it again with `key add`", &old[..16]);
                }
            }
        }
    }
    let kept = kept_by_governed_sites(&archive)?;
    super::warn_all(&kept);
    Ok(if archive.unreachable.is_empty() && kept.is_empty() { Outcome::Success } else { Outcome::Warnings })
}

/// Warnings about key files and registrations of removed passwords that governed sites keep
/// until governors approve their removal.
pub fn kept_by_governed_sites(archive: &chancery_owner::archive::Archive) -> Result<Vec<String>> {
    let kept = chancery_owner::governance::keys::kept_at_sites(archive)?;
    let warnings: Vec<String> = kept
        .iter()
        .map(|(site, object)| {
            format!(
                "site {site} keeps {object} of a removed password until governors approve its removal \
                 (`chancery governance propose --remove-old-keys`)"
            )
        })
        .collect();
    Ok(warnings)
}
