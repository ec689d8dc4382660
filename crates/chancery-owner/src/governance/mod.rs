//! Planning the destructive acts that governance approves: which snapshots a `forget` drops
//! ([`retention`]). It only computes a plan; the plan becomes a governance proposal, and the
//! site servers carry it out once approved.

mod calendar;
pub mod retention;
