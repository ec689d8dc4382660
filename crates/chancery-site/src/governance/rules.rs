//! The rules in force for a tenant: enrolled terms and roles, amended by executed settings
//! proposals.

use std::collections::BTreeMap;

use chancery_ledger::Setting;
use chancery_protocol::governance::Terms;
use serde::{Deserialize, Serialize};

use crate::roles::{Role, Roles};
use crate::tenants::Tenant;

/// What executed settings proposals changed, kept by the site as
/// `meta/governance-settings-<20 digits>` (JSON; the newest applies).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Amended {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) quorum: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) time_lock_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) retention_floor_secs: Option<u64>,
    /// Key (64 hex) → its roles now; an empty list removes the key from the tenant.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) roles: BTreeMap<String, Roles>,
}

impl Amended {
    /// These amendments with `settings` applied, checked against the tenant: the result must
    /// leave at least one governor and a quorum they can reach.
    pub(crate) fn apply(&self, tenant: &Tenant, settings: &[Setting]) -> Result<Amended, String> {
        let mut next = self.clone();
        for setting in settings {
            match setting {
                Setting::Quorum(m) => next.quorum = Some(*m),
                Setting::TimeLock(s) => next.time_lock_secs = Some(*s),
                Setting::RetentionFloor(s) => next.retention_floor_secs = Some(*s),
                Setting::Roles { key, roles } => {
                    next.roles.insert(hex::encode(key), parse_role_names(roles)?);
                }
            }
        }
        let rules = Rules::of(tenant, &next);
        let n = rules.governors().len() as u32;
        if n == 0 || rules.quorum == 0 || rules.quorum > n {
            return Err(format!(
                "it would leave {n} governors with a quorum of {}: governance would become impossible",
                rules.quorum
            ));
        }
        Ok(next)
    }
}

/// Role names from a proposal, each a role that can be enrolled.
pub(crate) fn parse_role_names(names: &std::collections::BTreeSet<String>) -> Result<Roles, String> {
    let roles = names.iter().map(|n| Role::parse(n)).collect::<Result<Roles, String>>()?;
    if roles.contains(&Role::Recovery) {
        return Err("the recovery role is never given by governance; owners register recovery keys".into());
    }
    Ok(roles)
}

/// The terms and roles in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rules {
    pub(crate) roles: BTreeMap<[u8; 32], Roles>,
    pub(crate) quorum: u32,
    pub(crate) time_lock_secs: u64,
    pub(crate) retention_floor_secs: u64,
}

impl Rules {
    /// The tenant's enrolled terms with `amended` applied.
    pub(crate) fn of(tenant: &Tenant, amended: &Amended) -> Rules {
        let mut roles = tenant.roles.clone();
        for (key, new) in &amended.roles {
            let mut bytes = [0u8; 32];
            if hex::decode_to_slice(key, &mut bytes).is_err() {
                continue;
            }
            if new.is_empty() {
                roles.remove(&bytes);
            } else {
                roles.insert(bytes, new.clone());
            }
        }
        let governors = roles.values().filter(|r| r.contains(&Role::Governor)).count() as u32;
        let quorum = amended.quorum.or(tenant.terms.quorum).unwrap_or(governors / 2 + 1);
        Rules {
            roles,
            quorum,
            time_lock_secs: amended.time_lock_secs.unwrap_or(tenant.terms.time_lock_secs),
            retention_floor_secs: amended.retention_floor_secs.unwrap_or(tenant.terms.retention_floor_secs),
        }
    }

    /// The governors' keys.
    pub(crate) fn governors(&self) -> Vec<[u8; 32]> {
        self.roles.iter().filter(|(_, r)| r.contains(&Role::Governor)).map(|(k, _)| *k).collect()
    }

    /// The terms as reported on the wire.
    pub(crate) fn terms(&self) -> Terms {
        Terms {
            quorum: self.quorum,
            governors: self.governors().len() as u32,
            time_lock_secs: self.time_lock_secs,
            retention_floor_secs: self.retention_floor_secs,
        }
    }
}
