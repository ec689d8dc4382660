//! `demo`: the whole story on one machine: a home folder and two embassy sites served by real
//! site servers on loopback ports (HTTPS, pinned site keys, signed requests): set-up,
//! placement check, backups, an altered pack and a rolled-back site detected, and recovery of
//! the home (keys, config, ledger) and of the registers from the embassies after it is gone.

use crate::cli::DemoArgs;
use crate::output::bytes;
use crate::Outcome;
use anyhow::{bail, Context, Result};
use chancery_owner::archive::Archive;
use chancery_owner::backup::{backup, BackupRequest};
use chancery_owner::check::{check, ReadData};
use chancery_owner::config::{Endpoint, Location, SiteConfig, DEFAULT_UPLOAD_TIMEOUT_SECS};
use chancery_owner::progress::Progress;
use chancery_owner::recover::recover_from_dir;
use chancery_owner::restore::{restore, RestoreRequest};
use chancery_owner::site::OwnerIdentity;

use super::demo_sites::{DemoServers, Place};
use std::path::{Path, PathBuf};

const PASSWORD: &[u8] = b"demo password: never use this one";
const TALLINN: Location = Location { lat: 59.437, lon: 24.7536 };
const BISSEN: Location = Location { lat: 49.7872, lon: 6.0664 };
const STOCKHOLM: Location = Location { lat: 59.3293, lon: 18.0686 };
/// The owner's tenant name at both sites.
const TENANT: &str = "estonia";

/// Runs the demo in a temporary folder (or `--dir`).
pub fn run(args: DemoArgs) -> Result<Outcome> {
    let temp;
    let root = match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            dir
        }
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    story(&root)?;
    println!("\nThe demo's folders were in {} (removed unless --dir was given).", root.display());
    Ok(Outcome::Success)
}

fn step(n: u32, text: &str) {
    println!("\n== {n}. {text}");
}

fn story(root: &Path) -> Result<()> {
    let config = root.join("home/chancery.toml");
    let registers = root.join("home/registers");
    step(1, "Home: the Republic's registers in Tallinn (EE)");
    super::demo_data::write_registers(&registers)?;
    println!("   sample registers written to {}", registers.display());
    chancery_owner::admin::init(&config, "Republic of Estonia", TALLINN, "EE", PASSWORD)?;
    step(2, "Two embassy site servers abroad: Bissen (LU) and Stockholm (SE), on loopback ports");
    let owner_key = chancery_owner::config::Config::load(&config)?.owner.public_key;
    let places = [
        Place { name: "bissen", lat: BISSEN.lat, lon: BISSEN.lon, jurisdiction: "LU" },
        Place { name: "stockholm", lat: STOCKHOLM.lat, lon: STOCKHOLM.lon, jurisdiction: "SE" },
    ];
    let servers = DemoServers::start(root, &places, TENANT, &owner_key)?;
    let owner = OwnerIdentity::from_keys(&Archive::open(&config, PASSWORD)?.keys);
    for (place, server) in places.iter().zip(&servers.sites) {
        println!("   {:<10} {}  site key {}…", place.name, server.url, &server.site_key[..16]);
        let endpoint = Endpoint::Server {
            url: server.url.clone(),
            site_key: server.site_key.clone(),
            tenant: TENANT.into(),
        };
        let site = SiteConfig {
            name: place.name.into(),
            endpoint,
            location: Location { lat: place.lat, lon: place.lon },
            jurisdiction: place.jurisdiction.into(),
            tier: 3,
            upload_timeout_secs: DEFAULT_UPLOAD_TIMEOUT_SECS,
            limit_upload_kib: None,
            limit_download_kib: None,
        };
        chancery_owner::admin::add_site(&config, site, Some(&owner))?;
    }
    let archive = Archive::open(&config, PASSWORD)?;
    let policy = chancery_owner::policy::check(&archive.config);
    for p in &policy.pairs {
        println!("   {:<10} - {:<10} {:>7.0} km", p.a, p.b, p.km);
    }
    println!(
        "   placement policy: {}",
        if policy.ok() { "met (>= 120 km apart, copies outside EE)" } else { "VIOLATED" }
    );
    step(3, "Backups: a full one, then an incremental one after a change");
    run_backup(&archive, &registers)?;
    // The Stockholm host quietly keeps a copy of its storage as it is now.
    let stockholm = servers.site("stockholm")?.data.join("tenants").join(TENANT);
    let kept = root.join("stockholm-kept-copy");
    copy_tree(&stockholm, &kept)?;
    std::fs::write(registers.join("population/births-2026.csv"), b"id,name,born\n9001,Mari,2026-11-28\n")?;
    run_backup(&archive, &registers)?;
    let fresh = Archive::open(&config, PASSWORD)?;
    let view = fresh.ledger()?;
    println!(
        "   ledger: {} entries, checkpoint cosigned by {}",
        view.size,
        view.sites.iter().filter(|s| s.cosigned).map(|s| s.site.as_str()).collect::<Vec<_>>().join(" and ")
    );
    step(4, "Attack: an intruder at the Bissen site alters a pack on its disk");
    let victim = corrupt_largest_pack(&servers.site("bissen")?.data.join("tenants").join(TENANT))?;
    println!("   flipped one byte in pack {}", &victim[..16]);
    step(5, "Detection: check --read-data at every site");
    for site in check(&archive, None, ReadData::All)? {
        if site.problems.is_empty() {
            println!("   {}: {} packs read, no problems", site.site, site.packs_read);
        }
        for p in &site.problems {
            println!(
                "   {}: {}: {} (snapshots {})",
                p.site,
                &p.object[..21],
                p.detail,
                p.snapshots.join(", ")
            );
        }
    }
    let scrub = chancery_site::scrub(&servers.site("bissen")?.data, None)?;
    for c in &scrub.corrupt {
        println!("   the Bissen host's own scrub, without any key, also finds {} {}", c.kind, &c.name[..16]);
    }
    step(6, "Attack: the Stockholm host rolls its storage back to the copy it kept");
    let newer = root.join("stockholm-newer");
    std::fs::rename(&stockholm, &newer)?;
    std::fs::rename(&kept, &stockholm)?;
    let reopened = Archive::open(&config, PASSWORD)?;
    for problem in reopened.ledger()?.sites.iter().filter_map(|s| reopened.ledger().ok()?.problem(&s.site)) {
        println!("   ledger verification: {problem}");
    }
    std::fs::rename(&stockholm, &kept)?;
    std::fs::rename(&newer, &stockholm)?;
    println!("   (the genuine storage is put back)");
    step(7, "Disaster: home is gone, keys, config, ledger and registers; recover from Stockholm");
    let original = root.join("registers-before-disaster");
    std::fs::rename(&registers, &original)?;
    std::fs::remove_dir_all(config.parent().context("home")?)?;
    let handed_over = root.join("stockholm-tenant-copy");
    copy_tree(&stockholm, &handed_over)?;
    let config = root.join("new-home/chancery.toml");
    let recovered = recover_from_dir(&config, &handed_over, Some("stockholm"), PASSWORD)?;
    println!(
        "   a copy of the Stockholm tenant folder and the password rebuilt {} key file(s), the config \
         and a ledger of {} entries ({} snapshots)",
        recovered.key_files, recovered.ledger_entries, recovered.snapshots
    );
    let archive = Archive::open(&config, PASSWORD)?;
    let target = root.join("recovered");
    let request = RestoreRequest {
        snapshot: "latest".into(),
        target: target.clone(),
        site: Some("bissen".into()),
        include: None,
    };
    let report = restore(&archive, &request, &Progress::default())?;
    for bad in &report.bad_copies {
        println!("   bad copy skipped: {bad}");
    }
    println!("   restored {} files, {}", report.files, bytes(report.bytes));
    step(8, "Verification: the recovered registers equal the originals");
    super::demo_data::assert_same_tree(&original, &target.join("registers"))?;
    println!("   identical, byte for byte (the bad Bissen copy was detected and served from Stockholm)");
    Ok(())
}

fn run_backup(archive: &Archive, registers: &Path) -> Result<()> {
    let request =
        BackupRequest { paths: vec![registers.to_path_buf()], stdin_name: None, tags: vec!["demo".into()] };
    let report = backup(archive, &request, &Progress::default())?;
    let s = &report.summary;
    println!(
        "   snapshot {}: {} files, {} read, {} new, stored at {}",
        &report.snapshot[..8],
        s.files,
        bytes(s.bytes_read),
        bytes(s.new_bytes),
        report.stored_at.join(" and ")
    );
    if !report.lagging.is_empty() {
        bail!("a site lagged during the demo: {:?}", report.lagging);
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn corrupt_largest_pack(site: &Path) -> Result<String> {
    let mut packs: Vec<(u64, PathBuf)> = Vec::new();
    for fan in std::fs::read_dir(site.join("packs"))? {
        for pack in std::fs::read_dir(fan?.path())? {
            let pack = pack?;
            packs.push((pack.metadata()?.len(), pack.path()));
        }
    }
    let (len, path) = packs.into_iter().max().context("no pack at the site")?;
    let mut bytes = std::fs::read(&path)?;
    let at = (len / 2) as usize;
    bytes[at] ^= 0x40;
    std::fs::write(&path, bytes)?;
    Ok(path.file_name().unwrap_or_default().to_string_lossy().into_owned())
}
