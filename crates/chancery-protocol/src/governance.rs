//! Governance on the wire (FORMAT.md §20): where proposals, approvals and cancels are posted,
//! how a site reports the state of each proposal, and the `meta` names that hold them at a
//! site, which only the site writes.

use serde::{Deserialize, Serialize};

use crate::API_PREFIX;

/// `meta/proposal-<id>`: a proposal's text, as the first governor submitted it.
pub const PROPOSAL_PREFIX: &str = "proposal-";
/// `meta/approval-<id>-<first 16 hex of the key>`: one governor's signature line.
pub const APPROVAL_PREFIX: &str = "approval-";
/// `meta/cancel-<id>-<first 16 hex of the key>`: one governor's signature of the cancel text.
pub const CANCEL_PREFIX: &str = "cancel-";
/// `meta/governance-…`: the site's own records (lock, outcome, settings).
pub const GOVERNANCE_PREFIX: &str = "governance-";

/// Whether a `meta` name is one of the governance records, which only the site writes.
pub fn is_governance_name(name: &str) -> bool {
    [PROPOSAL_PREFIX, APPROVAL_PREFIX, CANCEL_PREFIX, GOVERNANCE_PREFIX].iter().any(|p| name.starts_with(p))
}

/// `POST` a signed proposal or cancel here; `GET` the state of every proposal.
pub fn governance_path(tenant: &str) -> String {
    format!("{API_PREFIX}/tenants/{tenant}/governance")
}

/// Where a proposal stands at one site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Fewer valid approvals than the quorum.
    Proposed,
    /// Quorum reached; executes once `unlocks_at` has passed (any governor may cancel until then).
    Locked,
    /// The time lock has passed but an object is younger than the retention floor:
    /// executes at `floor_until`.
    Waiting,
    /// Done: what it deletes is gone, or its settings apply.
    Executed,
    /// A governor cancelled it; it never executes.
    Cancelled,
    /// The site refused to execute it (`outcome` says why); it never executes.
    Refused,
}

impl Stage {
    /// The stage's name, as in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Proposed => "proposed",
            Stage::Locked => "locked",
            Stage::Waiting => "waiting",
            Stage::Executed => "executed",
            Stage::Cancelled => "cancelled",
            Stage::Refused => "refused",
        }
    }

    /// Whether nothing more will happen to the proposal.
    pub fn is_final(self) -> bool {
        matches!(self, Stage::Executed | Stage::Cancelled | Stage::Refused)
    }
}

/// One proposal as a site sees it (`GET …/governance` answers `{"proposals": [...]}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalStatus {
    /// BLAKE3 of the text, 64 hex.
    pub id: String,
    /// The proposal's text (a reader checks that it hashes to `id`).
    pub text: String,
    /// Where it stands.
    pub stage: Stage,
    /// Governors (64 hex) whose approval verifies, in key order.
    pub approvals: Vec<String>,
    /// Governors who cancelled it.
    pub cancelled_by: Vec<String>,
    /// Approvals needed (m).
    pub quorum: u32,
    /// Governors of the tenant now (n).
    pub governors: u32,
    /// When the quorum was reached here (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_at: Option<i64>,
    /// When the time lock ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlocks_at: Option<i64>,
    /// When the youngest object it deletes passes the retention floor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor_until: Option<i64>,
    /// When it was executed, cancelled or refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<i64>,
    /// What execution did, or why it was refused.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub outcome: String,
}

/// The answer to `GET …/governance` and to a `POST` (the proposal concerned, alone).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalList {
    /// Every proposal the site holds for the tenant, by id.
    pub proposals: Vec<ProposalStatus>,
    /// The tenant's terms at this site now.
    pub terms: Terms,
}

/// A tenant's governance terms at one site: set at enrollment, changed only by governance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    /// Approvals a proposal needs (m).
    pub quorum: u32,
    /// Governors (n).
    pub governors: u32,
    /// Seconds from quorum to execution.
    pub time_lock_secs: u64,
    /// No object younger than this (seconds) is deleted.
    pub retention_floor_secs: u64,
}
