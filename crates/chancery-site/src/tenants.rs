//! Tenants: the owners a site admits, listed in `tenants.toml`, and [`enroll`] to add one.
//!
//! ```toml
//! [[tenant]]
//! name = "ee"
//! owner_key = "64 hex digits"
//! owner_roles = ["writer", "reader", "auditor"]   # optional; these when absent
//! quota_bytes = 1099511627776   # optional; no quota when absent
//! enrolled_at = "2026-01-02T03:04:05Z"
//!
//! [[tenant.key]]                # optional: more keys of the same owner, by role
//! key = "64 hex digits"
//! roles = ["governor"]
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chancery_protocol::{parse_public_key, valid_tenant};
use serde::{Deserialize, Serialize};

use crate::files::{rfc3339_now, write_atomic, Existing, SITE_TOML, TENANTS_TOML};
use crate::governance::{DEFAULT_RETENTION_FLOOR_SECS, DEFAULT_TIME_LOCK_SECS};
use crate::identity::load_config;
use crate::roles::{default_owner_roles, Role, Roles};
use crate::storage::Storage;

/// One `[[tenant]]` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TenantEntry {
    pub(crate) name: String,
    pub(crate) owner_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) owner_roles: Option<Roles>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) quota_bytes: Option<u64>,
    pub(crate) enrolled_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) quorum: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) time_lock_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) retention_floor_secs: Option<u64>,
    #[serde(default, rename = "key", skip_serializing_if = "Vec::is_empty")]
    pub(crate) keys: Vec<KeyEntry>,
}

/// One `[[tenant.key]]` entry: another key of the tenant's owner and what it may do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyEntry {
    pub(crate) key: String,
    pub(crate) roles: Roles,
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
    /// The owner's key: the one that signs the tenant's ledger.
    pub(crate) key: [u8; 32],
    /// Every enrolled key of the tenant (the owner's included) and its roles.
    pub(crate) roles: BTreeMap<[u8; 32], Roles>,
    pub(crate) quota_bytes: Option<u64>,
    /// Governance terms agreed at enrollment (governance may change them since).
    pub(crate) terms: EnrolledTerms,
}

/// The governance terms in `tenants.toml`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct EnrolledTerms {
    /// Approvals a proposal needs; a majority of the governors when `None`.
    pub(crate) quorum: Option<u32>,
    pub(crate) time_lock_secs: u64,
    pub(crate) retention_floor_secs: u64,
}

/// What `site-admin enroll` admits.
#[derive(Clone, Debug, Default)]
pub struct Enrollment {
    /// The tenant's name at this site.
    pub tenant: String,
    /// The owner's public key (64 hex digits).
    pub owner_key: String,
    /// The owner key's roles; `writer,reader,auditor` when `None`.
    pub owner_roles: Option<Roles>,
    /// More keys of the owner (64 hex digits each), with their roles.
    pub keys: Vec<(String, Roles)>,
    /// Storage quota in bytes.
    pub quota_bytes: Option<u64>,
    /// Governor approvals a proposal needs (m); a majority of the governors when `None`.
    pub quorum: Option<u32>,
    /// Seconds between a proposal's quorum and its execution; 72 hours when `None`.
    pub time_lock_secs: Option<u64>,
    /// No object younger than this many seconds is ever deleted; 30 days when `None`.
    pub retention_floor_secs: Option<u64>,
}

/// Admits an owner to the site as `tenant`, authenticated by `owner_key` (64 hex digits), with
/// the default roles and an optional storage quota; see [`enroll_with`].
pub fn enroll(data: &Path, tenant: &str, owner_key: &str, quota_bytes: Option<u64>) -> anyhow::Result<()> {
    let enrollment =
        Enrollment { tenant: tenant.into(), owner_key: owner_key.into(), quota_bytes, ..Default::default() };
    enroll_with(data, &enrollment)
}

/// Admits an owner to the site with its keys and their roles; creates the tenant's store folder.
///
/// `tenants.toml` is replaced atomically with the new entry appended (comments kept). A
/// running server picks the change up at its next request. Refuses a tenant name that is
/// already enrolled; one owner key may hold several tenants.
pub fn enroll_with(data: &Path, enrollment: &Enrollment) -> anyhow::Result<()> {
    let tenant = enrollment.tenant.as_str();
    if !valid_tenant(tenant) {
        bail!("{tenant:?} is not a valid tenant name: 1 to 64 characters of A-Z a-z 0-9 '-' '_' '.', not starting with '.'");
    }
    if !data.join(SITE_TOML).exists() {
        bail!("{} holds no site; create one first with `site-admin init`", data.display());
    }
    let entry = entry_of(enrollment)?;
    let path = data.join(TENANTS_TOML);
    let existing = read_text(&path)?;
    if parse(&existing, &path)?.iter().any(|t| t.name == tenant) {
        bail!("tenant {tenant} is already enrolled at this site; choose another name");
    }
    let text = append_entry(&existing, &entry)?;
    parse(&text, &path).context("the new tenants.toml would not parse (this is a bug)")?;
    let config = load_config(data)?;
    Storage::open(data, config.storage.as_ref())?
        .create_tenant(tenant)
        .with_context(|| format!("creating the store of {tenant}"))?;
    write_atomic(&path, text.as_bytes(), 0o644, Existing::Replace)
}

/// The `tenants.toml` entry of an enrollment, its keys checked.
fn entry_of(enrollment: &Enrollment) -> anyhow::Result<TenantEntry> {
    let owner = parse_public_key("owner key", &enrollment.owner_key)?;
    let mut keys = Vec::new();
    for (key, roles) in &enrollment.keys {
        let key = parse_public_key("key", key)?;
        if key == owner {
            bail!("the owner key is given twice; set its roles with the owner's roles instead");
        }
        keys.push(KeyEntry { key: hex::encode(key), roles: roles.clone() });
    }
    Ok(TenantEntry {
        name: enrollment.tenant.clone(),
        owner_key: hex::encode(owner),
        owner_roles: enrollment.owner_roles.clone(),
        quota_bytes: enrollment.quota_bytes,
        enrolled_at: rfc3339_now(),
        quorum: enrollment.quorum,
        time_lock_secs: enrollment.time_lock_secs,
        retention_floor_secs: enrollment.retention_floor_secs,
        keys,
    })
}

fn append_entry(existing: &str, entry: &TenantEntry) -> anyhow::Result<String> {
    // Encoded as a file of one tenant, so that its keys come out as `[[tenant.key]]`.
    let one = TenantsFile { tenant: vec![entry.clone()] };
    let body = toml::to_string(&one).context("encoding the tenant entry")?;
    let mut text = existing.to_string();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if !text.is_empty() {
        text.push('\n');
    }
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
        let tenant =
            tenant_of(entry).with_context(|| format!("{}: tenant {}", path.display(), entry.name))?;
        if seen.insert(entry.name.clone(), tenant).is_some() {
            bail!("{}: tenant {} is listed twice", path.display(), entry.name);
        }
    }
    Ok(seen.into_values().collect())
}

/// The checked tenant of one entry: keys well formed, each listed once, roles enrollable.
fn tenant_of(entry: &TenantEntry) -> anyhow::Result<Tenant> {
    let key = parse_public_key("owner_key", &entry.owner_key)?;
    let mut roles = BTreeMap::new();
    roles.insert(key, entry.owner_roles.clone().unwrap_or_else(default_owner_roles));
    for other in &entry.keys {
        let other_key = parse_public_key("key", &other.key)?;
        if roles.insert(other_key, other.roles.clone()).is_some() {
            bail!("key {} is listed twice", other.key);
        }
    }
    for (k, r) in &roles {
        if r.contains(&Role::Recovery) {
            bail!(
                "key {}: the recovery role is not enrolled; owners register recovery keys themselves",
                hex::encode(k)
            );
        }
        if r.is_empty() {
            bail!("key {} has no role", hex::encode(k));
        }
    }
    let governors = roles.values().filter(|r| r.contains(&Role::Governor)).count();
    if let Some(m) = entry.quorum {
        if m == 0 || m as usize > governors {
            bail!("quorum {m} needs 1 to {governors} governors (keys with the role governor)");
        }
    }
    let terms = EnrolledTerms {
        quorum: entry.quorum,
        time_lock_secs: entry.time_lock_secs.unwrap_or(DEFAULT_TIME_LOCK_SECS),
        retention_floor_secs: entry.retention_floor_secs.unwrap_or(DEFAULT_RETENTION_FLOOR_SECS),
    };
    Ok(Tenant { name: entry.name.clone(), key, roles, quota_bytes: entry.quota_bytes, terms })
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
    /// The key is enrolled for the tenant asked for, in these roles.
    Granted(Tenant, Roles),
    /// The key is enrolled here, but not for that tenant (or that tenant does not exist); the
    /// tenant when it exists (the key may be one of its registered recovery keys).
    Forbidden(Option<Tenant>),
    /// The key is not enrolled at this site; the tenant asked for, when it exists.
    Unknown(Option<Tenant>),
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
            for key in t.roles.keys() {
                self.keys.entry(*key).or_default().push(t.name.clone());
            }
        }
        self.tenants = tenants.into_iter().map(|t| (t.name.clone(), t)).collect();
        self.stamp = stamp;
    }

    /// Every tenant, by name.
    pub(crate) fn tenants(&self) -> impl Iterator<Item = &Tenant> {
        self.tenants.values()
    }

    /// Whether `key` may act for `tenant`, and in which roles.
    pub(crate) fn access(&self, key: &[u8; 32], tenant: &str) -> Access {
        let found = self.tenants.get(tenant);
        match found.and_then(|t| t.roles.get(key)) {
            Some(roles) => Access::Granted(found.cloned().expect("found"), roles.clone()),
            None if self.keys.contains_key(key) => Access::Forbidden(found.cloned()),
            None => Access::Unknown(found.cloned()),
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
        assert!(
            matches!(registry.access(&a, "ee"), Access::Granted(_, roles) if roles == default_owner_roles())
        );
        assert_eq!(registry.access(&a, "lv"), Access::Forbidden(None));
        assert!(matches!(registry.access(&b, "ee"), Access::Unknown(Some(t)) if t.name == "ee"));
        assert!(registry.refresh().is_none(), "unchanged file is not re-read");
        enroll(dir.path(), "lv", KEY_B, None).unwrap();
        assert_eq!(registry.refresh().map(|t| t.len()), Some(2));
        assert!(matches!(registry.access(&b, "ee"), Access::Forbidden(Some(_))));
        fs::write(dir.path().join(TENANTS_TOML), "[[tenant]]\nname = 1\n").unwrap();
        assert!(registry.refresh().is_none(), "a broken file keeps the old list");
        assert!(matches!(registry.access(&b, "lv"), Access::Granted(..)));
    }

    #[test]
    fn keys_are_enrolled_with_their_roles() {
        let dir = site();
        let governor: Roles = [Role::Governor].into();
        let enrollment = Enrollment {
            tenant: "ee".into(),
            owner_key: KEY_A.into(),
            owner_roles: Some([Role::Writer].into()),
            keys: vec![(KEY_B.into(), governor.clone())],
            ..Default::default()
        };
        enroll_with(dir.path(), &enrollment).unwrap();
        let registry = Registry::open(dir.path()).unwrap();
        let b = parse_public_key("k", KEY_B).unwrap();
        assert!(matches!(registry.access(&b, "ee"), Access::Granted(_, roles) if roles == governor));
        let a = parse_public_key("k", KEY_A).unwrap();
        assert!(
            matches!(registry.access(&a, "ee"), Access::Granted(t, roles) if roles == [Role::Writer].into() && t.key == a)
        );
        let twice = Enrollment { tenant: "lv".into(), keys: vec![(KEY_A.into(), governor)], ..enrollment };
        assert!(enroll_with(dir.path(), &twice).unwrap_err().to_string().contains("twice"));
        fs::write(
            dir.path().join(TENANTS_TOML),
            format!("[[tenant]]\nname = \"x\"\nowner_key = \"{KEY_A}\"\nowner_roles = [\"recovery\"]\nenrolled_at = \"t\"\n"),
        )
        .unwrap();
        assert!(format!("{:#}", load(dir.path()).unwrap_err()).contains("recovery role is not enrolled"));
    }
}
