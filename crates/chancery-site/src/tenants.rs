//! Tenants: the owners a site admits, listed in `tenants.toml`, and [`enroll`] to add one.
//!
//! ```toml
//! [[tenant]]
//! name = "ee"
//! owner_key = "64 hex digits"
//! quota_bytes = 1099511627776   # optional; no quota when absent
//! enrolled_at = "2026-01-02T03:04:05Z"
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chancery_protocol::{parse_public_key, valid_tenant};
use serde::{Deserialize, Serialize};

use crate::files::{rfc3339_now, write_atomic, Existing, SITE_TOML, TENANTS_TOML};
use crate::identity::load_config;
use crate::storage::Storage;

/// One `[[tenant]]` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TenantEntry {
    pub(crate) name: String,
    pub(crate) owner_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) quota_bytes: Option<u64>,
    pub(crate) enrolled_at: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TenantsFile {
    #[serde(default)]
    tenant: Vec<TenantEntry>,
}

/// A checked tenant: what the server needs per request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tenant {
    pub(crate) name: String,
    pub(crate) key: [u8; 32],
    pub(crate) quota_bytes: Option<u64>,
}

/// Admits an owner to the site as `tenant`, authenticated by `owner_key` (64 hex digits), with
/// an optional storage quota; creates the tenant's store folder.
///
/// `tenants.toml` is replaced atomically with the new entry appended (comments kept). A
/// running server picks the change up at its next request. Refuses a tenant name that is
/// already enrolled; one owner key may hold several tenants.
pub fn enroll(data: &Path, tenant: &str, owner_key: &str, quota_bytes: Option<u64>) -> anyhow::Result<()> {
    if !valid_tenant(tenant) {
        bail!("{tenant:?} is not a valid tenant name: 1 to 64 characters of A-Z a-z 0-9 '-' '_' '.', not starting with '.'");
    }
    let key = parse_public_key("owner key", owner_key)?;
    if !data.join(SITE_TOML).exists() {
        bail!("{} holds no site; create one first with `site-admin init`", data.display());
    }
    let path = data.join(TENANTS_TOML);
    let existing = read_text(&path)?;
    if parse(&existing, &path)?.iter().any(|t| t.name == tenant) {
        bail!("tenant {tenant} is already enrolled at this site; choose another name");
    }
    let entry = TenantEntry {
        name: tenant.into(),
        owner_key: hex::encode(key),
        quota_bytes,
        enrolled_at: rfc3339_now(),
    };
    let text = append_entry(&existing, &entry)?;
    parse(&text, &path).context("the new tenants.toml would not parse (this is a bug)")?;
    let config = load_config(data)?;
    Storage::open(data, config.storage.as_ref())?
        .create_tenant(tenant)
        .with_context(|| format!("creating the store of {tenant}"))?;
    write_atomic(&path, text.as_bytes(), 0o644, Existing::Replace)
}

fn append_entry(existing: &str, entry: &TenantEntry) -> anyhow::Result<String> {
    let body = toml::to_string(entry).context("encoding the tenant entry")?;
    let mut text = existing.to_string();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str("[[tenant]]\n");
    text.push_str(&body);
    Ok(text)
}

/// The file's text; empty when it does not exist yet.
fn read_text(path: &Path) -> anyhow::Result<String> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Parses and checks every entry: names valid and unique, keys well formed.
fn parse(text: &str, path: &Path) -> anyhow::Result<Vec<Tenant>> {
    let file: TenantsFile = toml::from_str(text).with_context(|| format!("parsing {}", path.display()))?;
    let mut seen = BTreeMap::new();
    for entry in &file.tenant {
        if !valid_tenant(&entry.name) {
            bail!("{}: {:?} is not a valid tenant name", path.display(), entry.name);
        }
        let key = parse_public_key("owner_key", &entry.owner_key)
            .with_context(|| format!("{}: tenant {}", path.display(), entry.name))?;
        let tenant = Tenant { name: entry.name.clone(), key, quota_bytes: entry.quota_bytes };
        if seen.insert(entry.name.clone(), tenant).is_some() {
            bail!("{}: tenant {} is listed twice", path.display(), entry.name);
        }
    }
    Ok(seen.into_values().collect())
}

/// Reads `tenants.toml` from a site folder (empty when there is none).
pub(crate) fn load(data: &Path) -> anyhow::Result<Vec<Tenant>> {
    let path = data.join(TENANTS_TOML);
    parse(&read_text(&path)?, &path)
}

/// What identifies one version of `tenants.toml`: an atomic replace makes a new inode, and an
/// edit in place changes the modification time or the size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    inode: u64,
    mtime_ns: i128,
    len: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = fs::metadata(path).ok()?;
    let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
    Some(Stamp { inode: meta.ino(), mtime_ns, len: meta.len() })
}

/// Whom a key may act for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// The key is enrolled for the tenant asked for.
    Granted(Tenant),
    /// The key is enrolled here, but not for that tenant (or that tenant does not exist).
    Forbidden,
    /// The key is not enrolled at this site.
    Unknown,
}

/// The enrolled tenants as the server sees them, re-read when `tenants.toml` changes.
#[derive(Debug)]
pub(crate) struct Registry {
    path: PathBuf,
    stamp: Option<Stamp>,
    tenants: BTreeMap<String, Tenant>,
    keys: HashMap<[u8; 32], Vec<String>>,
}

impl Registry {
    /// Loads the registry of the site at `data`.
    pub(crate) fn open(data: &Path) -> anyhow::Result<Self> {
        let mut registry = Registry {
            path: data.join(TENANTS_TOML),
            stamp: None,
            tenants: BTreeMap::new(),
            keys: HashMap::new(),
        };
        let stamp = stamp(&registry.path);
        registry.install(load(data)?, stamp);
        Ok(registry)
    }

    /// Re-reads the file if it changed; returns the tenants when it did. A file that no longer
    /// parses is reported and the previous list kept (an operator may be half-way through an
    /// edit).
    pub(crate) fn refresh(&mut self) -> Option<Vec<Tenant>> {
        let now = stamp(&self.path);
        if now == self.stamp {
            return None;
        }
        match read_text(&self.path).and_then(|text| parse(&text, &self.path)) {
            Ok(tenants) => {
                self.install(tenants.clone(), now);
                tracing::info!(tenants = tenants.len(), "tenants.toml re-read");
                Some(tenants)
            }
            Err(e) => {
                tracing::error!("keeping the previous tenant list: {e:#}");
                self.stamp = now;
                None
            }
        }
    }

    fn install(&mut self, tenants: Vec<Tenant>, stamp: Option<Stamp>) {
        self.keys.clear();
        for t in &tenants {
            self.keys.entry(t.key).or_default().push(t.name.clone());
        }
        self.tenants = tenants.into_iter().map(|t| (t.name.clone(), t)).collect();
        self.stamp = stamp;
    }

    /// Every tenant, by name.
    pub(crate) fn tenants(&self) -> impl Iterator<Item = &Tenant> {
        self.tenants.values()
    }

    /// Whether `key` may act for `tenant`.
    pub(crate) fn access(&self, key: &[u8; 32], tenant: &str) -> Access {
        match self.tenants.get(tenant) {
            Some(t) if &t.key == key => Access::Granted(t.clone()),
            _ if self.keys.contains_key(key) => Access::Forbidden,
            _ => Access::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init_site;

    const KEY_A: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const KEY_B: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";

    fn site() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        init_site(dir.path(), "s", 0.0, 0.0, "LU", 1).unwrap();
        dir
    }

    #[test]
    fn enroll_appends_keeps_comments_and_refuses_duplicates() {
        let dir = site();
        fs::write(dir.path().join(TENANTS_TOML), "# operator notes\n").unwrap();
        enroll(dir.path(), "ee", KEY_A, Some(1000)).unwrap();
        enroll(dir.path(), "lv", KEY_A, None).unwrap();
        let text = fs::read_to_string(dir.path().join(TENANTS_TOML)).unwrap();
        assert!(text.starts_with("# operator notes\n"), "{text}");
        let tenants = load(dir.path()).unwrap();
        assert_eq!(tenants.len(), 2);
        assert_eq!(tenants[0].quota_bytes, Some(1000));
        assert!(crate::files::tenant_dir(dir.path(), "lv").join("packs").is_dir());
        let dup = enroll(dir.path(), "ee", KEY_B, None).unwrap_err();
        assert!(dup.to_string().contains("already enrolled"), "{dup}");
        assert!(enroll(dir.path(), "../x", KEY_B, None).is_err());
        assert!(enroll(dir.path(), "x", "abc", None).is_err());
    }

    #[test]
    fn enroll_needs_a_site() {
        let dir = tempfile::tempdir().unwrap();
        assert!(enroll(dir.path(), "ee", KEY_A, None).unwrap_err().to_string().contains("holds no site"));
    }

    #[test]
    fn access_distinguishes_own_other_and_unknown_keys() {
        let dir = site();
        enroll(dir.path(), "ee", KEY_A, None).unwrap();
        let mut registry = Registry::open(dir.path()).unwrap();
        let a = parse_public_key("k", KEY_A).unwrap();
        let b = parse_public_key("k", KEY_B).unwrap();
        assert!(matches!(registry.access(&a, "ee"), Access::Granted(_)));
        assert_eq!(registry.access(&a, "lv"), Access::Forbidden);
        assert_eq!(registry.access(&b, "ee"), Access::Unknown);
        assert!(registry.refresh().is_none(), "unchanged file is not re-read");
        enroll(dir.path(), "lv", KEY_B, None).unwrap();
        assert_eq!(registry.refresh().map(|t| t.len()), Some(2));
        assert_eq!(registry.access(&b, "ee"), Access::Forbidden);
        fs::write(dir.path().join(TENANTS_TOML), "[[tenant]]\nname = 1\n").unwrap();
        assert!(registry.refresh().is_none(), "a broken file keeps the old list");
        assert!(matches!(registry.access(&b, "lv"), Access::Granted(_)));
    }
}
