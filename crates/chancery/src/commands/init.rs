//! `init` and `owner-key`.

use super::Globals;
use crate::cli::InitArgs;
use crate::Outcome;
use anyhow::Result;
use chancery_owner::config::Config;

/// Creates the config and the first key file.
pub fn init(g: &Globals, args: InitArgs) -> Result<Outcome> {
    let password = crate::password::new_password(g.password_file.as_deref(), "CHANCERY_PASSWORD")?;
    let config =
        chancery_owner::admin::init(g.config(), &args.owner, args.home, &args.jurisdiction, &password)?;
    println!("created {} for owner {}", g.config().display(), config.owner.name);
    println!("owner key: {}", config.owner.public_key);
    println!("next: add sites with `chancery site add NAME --dir PATH --location LAT,LON --jurisdiction CC`");
    Ok(Outcome::Success)
}

/// Prints the owner's public key; no password needed.
pub fn owner_key(g: &Globals) -> Result<Outcome> {
    let config = Config::load(g.config())?;
    if g.json {
        crate::output::json(
            &serde_json::json!({ "owner": config.owner.name, "public_key": config.owner.public_key }),
        )?;
    } else {
        println!("{}", config.owner.public_key);
    }
    Ok(Outcome::Success)
}
