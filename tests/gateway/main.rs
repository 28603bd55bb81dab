//! The gateway's integration tests: the real application on port 0, a temporary SQLite
//! file, real HTTP. One binary, so that it is built once.

mod helpers;

mod admin;
mod chaos;
mod closed_connections;
mod crash;
mod demo;
mod flows;
mod health;
mod hostile;
mod limits;
mod notify;
mod orders;
mod provider;
mod reconcile;
mod retention;
mod sandbox;
