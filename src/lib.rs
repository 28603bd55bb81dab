//! umsgate: a reconciliation gateway for ChinaUMS payments. The library holds everything;
//! `main.rs` only parses the command line.

pub mod chinaums;
pub mod clock;
pub mod config;
pub mod console;
pub mod demo;
pub mod domain;
pub mod flows;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod operators;
pub mod provider;
pub mod reconcile;
pub mod retention;
pub mod sandbox;
pub mod secret;
pub mod startup;
pub mod store;
pub mod webhooks;
