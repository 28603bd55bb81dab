//! The gateway's domain: money, identifiers and the order state machine. Pure types and
//! functions; it must not depend on actix, diesel or awc.

pub mod contract;
pub mod ids;
pub mod money;
pub mod order;
pub mod record;
pub mod refund;
