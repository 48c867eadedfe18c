//! `scenario`: Rhai scripts that build container networks in fresh
//! namespaces and assert what reaches what.

pub mod exec;
pub mod explain;
pub mod facts;
pub mod graph;
pub mod junit;
pub mod keep;
pub mod lab;
pub mod netns;
pub mod network;
pub mod probe;
pub mod sandbox;
pub mod script;
pub mod select;
pub mod snapshot;
pub mod state;
pub mod stop;
pub mod suite;
pub mod watchdog;
