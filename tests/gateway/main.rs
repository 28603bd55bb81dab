//! The gateway's integration tests: the real application on port 0, a temporary SQLite
//! file, real HTTP. One binary, so that it is built once.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::as_conversions,
    reason = "a test fails by panicking with what it expected; its counts are small"
)]

mod helpers;

mod admin;
mod answers;
mod auth;
mod backend;
mod bills;
mod browser;
mod chaos;
mod closed_connections;
mod conformance;
mod console;
mod crash;
mod deadline;
mod demo;
mod docs;
mod flows;
mod health;
mod hostile;
mod instances;
mod limits;
mod multi;
mod notify;
mod operations;
mod orders;
mod pg_faults;
mod postgres;
mod provider;
mod reconcile;
mod resplit;
mod retention;
mod review;
mod sandbox;
mod startup;
