//! Governance acts: a *proposal* to destroy data or change a tenant's rules, and its *cancel*,
//! each the text of a C2SP signed note that governors sign (FORMAT.md §20).
//!
//! A proposal names the exact objects or settings it touches, the owner's ledger (its origin)
//! and every site and tenant it is addressed to, so that a signature can be replayed neither
//! to another owner nor to another site. Its id is the BLAKE3 hash of its text. Only the
//! canonical encoding parses (sites sorted, deletions sorted, no duplicates), so one act has
//! exactly one id.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use ed25519_dalek::VerifyingKey;
use thiserror::Error;

use crate::key::{KeyType, VerifierKey};

/// First line of a proposal.
pub const PROPOSAL_HEADER: &str = "chancery-proposal v1";
/// First line of a cancel.
pub const CANCEL_HEADER: &str = "chancery-cancel v1";
/// The largest proposal text (a prune of a very large archive names many packs).
pub const MAX_PROPOSAL_BYTES: usize = 32 << 20;
/// The most sites one proposal may address.
pub const MAX_SITES: usize = 32;
/// The prefix of a governor's key name in signature lines.
pub const GOVERNOR_KEY_PREFIX: &str = "chancery.governor/";

/// What a proposal does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Act {
    /// Deletes snapshots (and, with a prune, the packs and index files only they use).
    Forget,
    /// Deletes packs and index files no snapshot uses.
    Prune,
    /// Changes the tenant's governance settings or a key's roles.
    Settings,
    /// Deletes every object of the tenant at the addressed sites (the site leaves the archive).
    RemoveSite,
    /// Deletes key files and recovery-key registrations of removed passwords.
    RemoveKeys,
}

impl Act {
    /// The act's name in the text.
    pub fn name(self) -> &'static str {
        match self {
            Act::Forget => "forget",
            Act::Prune => "prune",
            Act::Settings => "settings",
            Act::RemoveSite => "remove-site",
            Act::RemoveKeys => "remove-keys",
        }
    }

    fn parse(name: &str) -> Option<Act> {
        [Act::Forget, Act::Prune, Act::Settings, Act::RemoveSite, Act::RemoveKeys]
            .into_iter()
            .find(|a| a.name() == name)
    }
}

/// The kinds of object a proposal may delete, in the order they are listed (and deleted:
/// snapshots before the index files and packs they need).
pub const DELETABLE_KINDS: [&str; 5] = ["snapshots", "index", "packs", "keys", "meta"];
/// The only `meta` objects a proposal may delete: recovery-key registrations.
pub const RECOVERY_KEY_PREFIX: &str = "recovery-key-";

/// A setting a proposal may change.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Setting {
    /// How many governors must sign (m of n).
    Quorum(u32),
    /// Seconds between the quorum and execution, during which any governor can cancel.
    TimeLock(u64),
    /// Seconds: no object younger than this is ever deleted.
    RetentionFloor(u64),
    /// The roles of one key (`none` removes the key from the tenant).
    Roles {
        /// The key, 32 bytes.
        key: [u8; 32],
        /// Role names, sorted; empty removes the key.
        roles: BTreeSet<String>,
    },
}

impl Setting {
    fn encode(&self) -> String {
        match self {
            Setting::Quorum(m) => format!("quorum {m}"),
            Setting::TimeLock(s) => format!("time-lock {s}"),
            Setting::RetentionFloor(s) => format!("retention-floor {s}"),
            Setting::Roles { key, roles } if roles.is_empty() => format!("roles {} none", hex::encode(key)),
            Setting::Roles { key, roles } => {
                format!("roles {} {}", hex::encode(key), roles.iter().cloned().collect::<Vec<_>>().join(","))
            }
        }
    }

    fn parse(text: &str) -> Result<Setting, ProposalError> {
        let bad = || ProposalError::Line(format!("set {text}"));
        let (name, value) = text.split_once(' ').ok_or_else(bad)?;
        match name {
            "quorum" => Ok(Setting::Quorum(number(value).ok_or_else(bad)?)),
            "time-lock" => Ok(Setting::TimeLock(number(value).ok_or_else(bad)?)),
            "retention-floor" => Ok(Setting::RetentionFloor(number(value).ok_or_else(bad)?)),
            "roles" => {
                let (key, list) = value.split_once(' ').ok_or_else(bad)?;
                let key = hex32(key).ok_or_else(bad)?;
                let roles: BTreeSet<String> = if list == "none" {
                    BTreeSet::new()
                } else {
                    list.split(',').map(str::to_owned).collect()
                };
                if roles.iter().any(|r| r.is_empty() || !r.bytes().all(|b| b.is_ascii_lowercase())) {
                    return Err(bad());
                }
                Ok(Setting::Roles { key, roles })
            }
            _ => Err(bad()),
        }
    }
}

/// One object a proposal deletes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deletion {
    /// Index into [`DELETABLE_KINDS`].
    pub kind: usize,
    /// The object's name (64 lower-case hex).
    pub name: String,
}

impl Deletion {
    /// A deletion of `name` of the kind whose folder is `kind` (`snapshots`, `index`, `packs`).
    pub fn new(kind: &str, name: &str) -> Result<Deletion, ProposalError> {
        let kind = DELETABLE_KINDS
            .iter()
            .position(|k| *k == kind)
            .ok_or_else(|| ProposalError::Line(format!("delete {kind} {name}")))?;
        let valid = match DELETABLE_KINDS[kind] {
            "meta" => name.strip_prefix(RECOVERY_KEY_PREFIX).and_then(hex32).is_some(),
            _ => hex32(name).is_some(),
        };
        if !valid {
            return Err(ProposalError::Line(format!("delete {} {name}", DELETABLE_KINDS[kind])));
        }
        Ok(Deletion { kind, name: name.to_owned() })
    }

    /// The folder of the object's kind.
    pub fn kind_dir(&self) -> &'static str {
        DELETABLE_KINDS[self.kind]
    }
}

/// A governance proposal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// The owner's ledger origin (`chancery.ledger/<owner key hex>`).
    pub origin: String,
    /// Every site (its key) and the tenant name there, sorted.
    pub sites: BTreeSet<([u8; 32], String)>,
    /// When it was made (Unix seconds, the proposer's clock; informative).
    pub created: i64,
    /// What it does.
    pub act: Act,
    /// A short reason, shown to the other governors (may be empty).
    pub reason: String,
    /// The objects it deletes (forget, prune), sorted.
    pub deletions: BTreeSet<Deletion>,
    /// The settings it changes (settings), in order.
    pub settings: Vec<Setting>,
}

/// Why a proposal or cancel text does not parse.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProposalError {
    /// Not what a proposal starts with.
    #[error("not a proposal: the text must start with {PROPOSAL_HEADER:?}")]
    Header,
    /// A line that does not parse or is out of place.
    #[error("proposal line {0:?} is malformed or out of place")]
    Line(String),
    /// Too large.
    #[error("proposal larger than {MAX_PROPOSAL_BYTES} bytes")]
    TooLarge,
    /// Parses but is not the canonical encoding.
    #[error("proposal is not in canonical form (sites and deletions sorted, each once)")]
    NotCanonical,
    /// An act with what it does not take, or without what it needs.
    #[error("{0}")]
    Invalid(String),
}

impl Proposal {
    /// The text (every line ending in `\n`), which governors sign.
    pub fn encode(&self) -> String {
        let mut out = format!("{PROPOSAL_HEADER}\norigin {}\n", self.origin);
        for (key, tenant) in &self.sites {
            let _ = writeln!(out, "site {} {tenant}", hex::encode(key));
        }
        let _ = writeln!(out, "created {}\nact {}\nreason {}", self.created, self.act.name(), self.reason);
        for d in &self.deletions {
            let _ = writeln!(out, "delete {} {}", d.kind_dir(), d.name);
        }
        for s in &self.settings {
            let _ = writeln!(out, "set {}", s.encode());
        }
        out
    }

    /// The proposal's id: BLAKE3 of its text, 64 lower-case hex.
    pub fn id(&self) -> String {
        proposal_id(&self.encode())
    }

    /// Parses the canonical text of a proposal and checks that its act is well formed.
    pub fn parse(text: &str) -> Result<Proposal, ProposalError> {
        if text.len() > MAX_PROPOSAL_BYTES {
            return Err(ProposalError::TooLarge);
        }
        let body = text.strip_suffix('\n').ok_or(ProposalError::Header)?;
        let mut lines = body.split('\n').peekable();
        if lines.next() != Some(PROPOSAL_HEADER) {
            return Err(ProposalError::Header);
        }
        let origin = field(lines.next(), "origin")?.to_owned();
        let mut sites = BTreeSet::new();
        while let Some(site) = lines.peek().and_then(|l| l.strip_prefix("site ")) {
            sites.insert(parse_site(site)?);
            lines.next();
        }
        let created = field(lines.next(), "created")?;
        let created = created.parse::<i64>().ok().filter(|c| c.to_string() == created && *c >= 0);
        let created = created.ok_or_else(|| ProposalError::Line("created".into()))?;
        let act = field(lines.next(), "act")?;
        let act = Act::parse(act).ok_or_else(|| ProposalError::Line(format!("act {act}")))?;
        let reason = field(lines.next(), "reason")?.to_owned();
        let (mut deletions, mut settings) = (BTreeSet::new(), Vec::new());
        for line in lines {
            if let Some(rest) = line.strip_prefix("delete ") {
                let (kind, name) = rest.split_once(' ').ok_or_else(|| ProposalError::Line(line.into()))?;
                deletions.insert(Deletion::new(kind, name)?);
            } else if let Some(rest) = line.strip_prefix("set ") {
                settings.push(Setting::parse(rest)?);
            } else {
                return Err(ProposalError::Line(line.into()));
            }
        }
        let proposal = Proposal { origin, sites, created, act, reason, deletions, settings };
        if proposal.encode() != text {
            return Err(ProposalError::NotCanonical);
        }
        proposal.check()?;
        Ok(proposal)
    }

    /// Checks that the act has what it needs and nothing else.
    pub fn check(&self) -> Result<(), ProposalError> {
        let invalid = |m: &str| Err(ProposalError::Invalid(format!("a {} proposal {m}", self.act.name())));
        if self.sites.is_empty() || self.sites.len() > MAX_SITES {
            return invalid(&format!("must name 1 to {MAX_SITES} sites"));
        }
        if !self.origin.starts_with("chancery.ledger/") || self.reason.chars().any(char::is_control) {
            return invalid("has a bad origin or reason");
        }
        let deletes = !self.deletions.is_empty();
        let sets = !self.settings.is_empty();
        let of_kinds = |kinds: &[&str]| self.deletions.iter().all(|d| kinds.contains(&d.kind_dir()));
        match self.act {
            Act::Forget | Act::Prune if !of_kinds(&["snapshots", "index", "packs"]) => {
                invalid("deletes no key file and no registration")
            }
            Act::RemoveKeys if !deletes || sets || !of_kinds(&["keys", "meta"]) => {
                invalid("deletes key files and recovery-key registrations only")
            }
            Act::Forget if !deletes || sets => invalid("deletes snapshots and changes no setting"),
            Act::Forget if !self.deletions.iter().any(|d| d.kind_dir() == "snapshots") => {
                invalid("deletes at least one snapshot")
            }
            Act::Prune if !deletes || sets || self.deletions.iter().any(|d| d.kind_dir() == "snapshots") => {
                invalid("deletes packs or index files only")
            }
            Act::Settings if deletes || !sets => invalid("changes settings and deletes nothing"),
            Act::RemoveSite if deletes || sets => invalid("names no object and no setting"),
            _ => Ok(()),
        }
    }

    /// Whether it is addressed to the site with key `site` as tenant `tenant`.
    pub fn addressed_to(&self, site: &[u8; 32], tenant: &str) -> bool {
        self.sites.iter().any(|(k, t)| k == site && t == tenant)
    }
}

/// The text of a cancel of proposal `id` for the ledger `origin`.
pub fn cancel_text(origin: &str, id: &str) -> String {
    format!("{CANCEL_HEADER}\norigin {origin}\nproposal {id}\n")
}

/// The proposal id a cancel text names, if it is one for `origin`.
pub fn parse_cancel(text: &str) -> Result<(String, String), ProposalError> {
    let mut lines = text.strip_suffix('\n').ok_or(ProposalError::Header)?.split('\n');
    if lines.next() != Some(CANCEL_HEADER) {
        return Err(ProposalError::Header);
    }
    let origin = field(lines.next(), "origin")?.to_owned();
    let id = field(lines.next(), "proposal")?.to_owned();
    if lines.next().is_some() || hex32(&id).is_none() || cancel_text(&origin, &id) != text {
        return Err(ProposalError::NotCanonical);
    }
    Ok((origin, id))
}

/// BLAKE3 of a proposal's text, 64 lower-case hex.
pub fn proposal_id(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex().to_string()
}

/// The signed-note key name of a governor's key.
pub fn governor_key_name(key: &[u8; 32]) -> String {
    format!("{GOVERNOR_KEY_PREFIX}{}", hex::encode(key))
}

/// The verifier key of a governor (Ed25519, under [`governor_key_name`]).
pub fn governor_verifier(key: &VerifyingKey) -> VerifierKey {
    VerifierKey::new(&governor_key_name(key.as_bytes()), KeyType::Ed25519, *key)
        .expect("a governor key name is always valid")
}

fn field<'a>(line: Option<&'a str>, name: &str) -> Result<&'a str, ProposalError> {
    let line = line.ok_or_else(|| ProposalError::Line(format!("{name} (missing)")))?;
    line.strip_prefix(name).and_then(|r| r.strip_prefix(' ')).ok_or_else(|| ProposalError::Line(line.into()))
}

fn parse_site(text: &str) -> Result<([u8; 32], String), ProposalError> {
    let bad = || ProposalError::Line(format!("site {text}"));
    let (key, tenant) = text.split_once(' ').ok_or_else(bad)?;
    let key = hex32(key).ok_or_else(bad)?;
    if tenant.is_empty() || tenant.len() > 64 || tenant.contains(' ') {
        return Err(bad());
    }
    Ok((key, tenant.to_owned()))
}

fn number<T: std::str::FromStr + ToString>(text: &str) -> Option<T> {
    text.parse::<T>().ok().filter(|n| n.to_string() == text)
}

/// 64 lower-case hex digits as 32 bytes.
fn hex32(text: &str) -> Option<[u8; 32]> {
    let lower = text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let mut out = [0u8; 32];
    (lower && hex::decode_to_slice(text, &mut out).is_ok()).then_some(out)
}

#[cfg(test)]
mod tests;
