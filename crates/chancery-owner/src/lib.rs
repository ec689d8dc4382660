//! placeholder
pub mod fsmeta;
