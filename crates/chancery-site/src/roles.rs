//! Roles: what a key may do for its tenant.
//!
//! A tenant's keys are set at enrollment (`tenants.toml`), each with its roles. The owner's own
//! key (the backup agent at home) is by default `writer`, `reader` and `auditor`: it adds data
//! and reads it back, but holds no governance power, so that a stolen home cannot destroy the
//! embassy copies. `recovery` is never enrolled: it is the role of a key the owner registers
//! as `meta/recovery-key-<key>` (derived from a password), which may read only what recovery
//! needs (key files, ledger, meta, the witnessed checkpoint).

use std::collections::BTreeSet;
use std::fmt;

use chancery_store::ObjectKind;
use serde::{Deserialize, Serialize};

/// One role of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Adds objects, submits checkpoints, removes its own key files and recovery keys.
    Writer,
    /// Reads and lists every object, asks for proofs of storage.
    Reader,
    /// Signs governance acts.
    Governor,
    /// Reads the site's audit log of the tenant.
    Auditor,
    /// Reads what recovery needs; only for keys registered by the owner.
    Recovery,
}

impl Role {
    /// Every role, in the order they are shown.
    pub const ALL: [Role; 5] = [Role::Writer, Role::Reader, Role::Governor, Role::Auditor, Role::Recovery];

    /// The role's name in `tenants.toml` and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Role::Writer => "writer",
            Role::Reader => "reader",
            Role::Governor => "governor",
            Role::Auditor => "auditor",
            Role::Recovery => "recovery",
        }
    }

    /// The role called `name`.
    pub fn parse(name: &str) -> Result<Role, String> {
        Role::ALL.into_iter().find(|r| r.name() == name.trim()).ok_or_else(|| {
            let names: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
            format!("no role {name:?}; the roles are {}", names.join(", "))
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The roles of one key.
pub type Roles = BTreeSet<Role>;

/// The owner key's roles when enrollment names none.
pub fn default_owner_roles() -> Roles {
    [Role::Writer, Role::Reader, Role::Auditor].into()
}

/// Parses a comma-separated list such as `writer,reader`.
pub fn parse_roles(list: &str) -> Result<Roles, String> {
    let roles =
        list.split(',').filter(|s| !s.trim().is_empty()).map(Role::parse).collect::<Result<Roles, _>>()?;
    if roles.is_empty() {
        return Err("name at least one role".into());
    }
    Ok(roles)
}

/// The roles as `writer,reader`.
pub fn show_roles(roles: &Roles) -> String {
    roles.iter().map(|r| r.name()).collect::<Vec<_>>().join(",")
}

pub use chancery_protocol::RECOVERY_KEY_PREFIX;

/// Whether `name` is a well-formed recovery key registration: the prefix and 64 hex digits.
pub(crate) fn is_recovery_key_name(name: &str) -> bool {
    name.strip_prefix(RECOVERY_KEY_PREFIX).is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The registration object's name for `key`.
pub(crate) fn recovery_key_name(key: &[u8; 32]) -> String {
    format!("{RECOVERY_KEY_PREFIX}{}", hex::encode(key))
}

/// Whether the `recovery` role may read objects of `kind`: the key files to open, the ledger
/// to verify, and `meta` (the archive marker, the encrypted config, what sites vouched for).
pub(crate) fn recovery_may_read(kind: ObjectKind) -> bool {
    matches!(kind, ObjectKind::Key | ObjectKind::Ledger | ObjectKind::Meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_and_show() {
        let roles = parse_roles("reader, writer").unwrap();
        assert_eq!(show_roles(&roles), "writer,reader");
        assert!(parse_roles("").is_err());
        assert!(parse_roles("admin").unwrap_err().contains("the roles are writer"));
    }

    #[test]
    fn recovery_key_names_are_exact() {
        let name = recovery_key_name(&[0xab; 32]);
        assert!(is_recovery_key_name(&name));
        assert!(!is_recovery_key_name(&name[..name.len() - 1]));
        assert!(!is_recovery_key_name(&name.to_uppercase()));
        assert!(!is_recovery_key_name("recovery-key-"));
    }
}
