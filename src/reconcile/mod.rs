//! The reconciler (DESIGN.md §8): finds orders still awaiting the provider, queries them,
//! and applies the answers through the state machine. Filled in by the reconciler issue.

pub mod policy;
