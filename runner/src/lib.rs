//! `scenario`: Rhai scripts that build container networks in fresh
//! namespaces and assert what reaches what.

pub mod exec;
pub mod lab;
pub mod netns;
pub mod network;
pub mod probe;
pub mod script;
pub mod snapshot;
pub mod state;
pub mod suite;
