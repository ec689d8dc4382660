//! Planning the destructive acts that governance approves: which snapshots a `forget` drops
//! ([`retention`]) and what a `prune` may then delete ([`prune`]). Both only compute a plan;
//! the plan becomes a governance proposal, and the site servers carry it out once approved.

mod calendar;
pub mod prune;
pub mod retention;
