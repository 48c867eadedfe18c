//! `scenario`: Rhai scripts that build container networks in fresh
//! namespaces and assert what reaches what.
//!
//! Public: what the `scenario` binary and the tests use. The layers below
//! them (netlink, probes, captures, normalizers) are the crate's own.

pub mod cgroups;
pub mod exec;
pub mod facts;
pub mod graph;
pub mod junit;
pub mod keep;
pub mod lab;
pub mod open_files;
pub mod repeat;
pub mod report;
pub mod sandbox;
pub mod script;
pub mod select;
pub mod snapshot;
pub mod stop;
pub mod suite;
pub mod supervise;

mod explain;
mod files;
mod netns;
mod network;
mod pidns;
mod probe;
mod procs;
mod state;
mod watchdog;
