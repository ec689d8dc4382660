//! The demo's sample registers, and a tree comparison that proves the recovery.

use anyhow::{bail, Context, Result};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Writes a small, deterministic set of registers (about 6 MB).
pub fn write_registers(root: &Path) -> Result<()> {
    for dir in ["population", "land", "business", "courts/2026", "empty-archive"] {
        std::fs::create_dir_all(root.join(dir))?;
    }
    let mut seed = 0x2007_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let names = ["Mari", "Jaan", "Kadri", "Toomas", "Liis", "Andres", "Kersti", "Priit"];
    let mut people = String::from("id,name,born,county\n");
    for id in 0..60_000 {
        let n = next();
        people += &format!(
            "{id},{},19{:02}-{:02}-{:02},{}\n",
            names[(n % 8) as usize],
            n % 100,
            n % 12 + 1,
            n % 28 + 1,
            n % 15
        );
    }
    std::fs::write(root.join("population/residents.csv"), &people)?;
    let mut land = String::from("parcel,owner,area_m2\n");
    for id in 0..40_000 {
        land += &format!("{id:08},{},{}\n", next() % 60_000, next() % 100_000);
    }
    std::fs::write(root.join("land/cadastre.csv"), &land)?;
    let scans: Vec<u8> = (0..1_500_000).map(|_| next() as u8).collect();
    std::fs::write(root.join("land/survey-scans.bin"), &scans)?;
    std::fs::write(
        root.join("business/register.json"),
        b"{\"companies\": 134512, \"updated\": \"2026-11-28\"}\n",
    )?;
    for case in 0..200 {
        std::fs::write(
            root.join(format!("courts/2026/case-{case:04}.txt")),
            format!("Case {case}: ruling text {}\n", next()),
        )?;
    }
    std::os::unix::fs::symlink("population/residents.csv", root.join("current-residents"))?;
    Ok(())
}

/// Fails unless both trees hold the same entries, bytes, links and modes.
pub fn assert_same_tree(a: &Path, b: &Path) -> Result<()> {
    let (ma, mb) = (
        std::fs::symlink_metadata(a)?,
        std::fs::symlink_metadata(b).with_context(|| format!("{} missing", b.display()))?,
    );
    if ma.mode() != mb.mode() || (ma.is_file() && ma.mtime() != mb.mtime()) {
        bail!("{} differs in mode or mtime", b.display());
    }
    if ma.is_symlink() {
        if std::fs::read_link(a)? != std::fs::read_link(b)? {
            bail!("{} links elsewhere", b.display());
        }
    } else if ma.is_file() {
        if std::fs::read(a)? != std::fs::read(b)? {
            bail!("{} has other content", b.display());
        }
    } else if ma.is_dir() {
        let mut names: Vec<_> =
            std::fs::read_dir(a)?.map(|e| e.map(|e| e.file_name())).collect::<Result<_, _>>()?;
        names.sort();
        let count = std::fs::read_dir(b)?.count();
        if count != names.len() {
            bail!("{} has {count} entries, expected {}", b.display(), names.len());
        }
        for name in names {
            assert_same_tree(&a.join(&name), &b.join(&name))?;
        }
    }
    Ok(())
}
