//! What only the command line needs.

pub mod output;
