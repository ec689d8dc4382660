//! Governance from the owner's side: planning the destructive acts ([`retention`] says which
//! snapshots a `forget` drops, [`prune`] what may then be deleted), turning them into
//! proposals that governors sign ([`propose`], [`post`]), approving, cancelling and following
//! them ([`review`]), and what the recorded proposals doom ([`book`]). The site servers carry
//! the proposals out once m of n governors signed and the time lock passed.

pub mod book;
mod calendar;
pub mod governor_key;
pub mod keys;
pub mod post;
pub mod propose;
pub mod prune;
pub mod retention;
pub mod review;
