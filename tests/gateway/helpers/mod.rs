//! Shared test helpers: start the gateway (or the provider sandbox alone), call it, build
//! the provider's messages, inspect its store. One file per concern; every item is
//! re-exported here, so that tests name it `helpers::…` whichever file holds it. Helpers
//! only: no test lives here.

mod app;
mod child;
mod database;
mod http;
mod json;
mod logs;
mod notices;
mod poll;
mod provider;
mod sandbox;
mod settings;
mod wait;
mod webhooks;

pub use app::*;
pub use child::*;
pub use database::*;
pub use http::*;
pub use json::*;
pub use logs::*;
pub use notices::*;
pub use poll::*;
pub use provider::*;
pub use sandbox::*;
pub use settings::*;
pub use wait::*;
pub use webhooks::*;
