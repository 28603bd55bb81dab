//! The gateway's domain: money, identifiers, the order state machine and everything an
//! observation does to an order. Pure types and functions; it must not depend on actix,
//! diesel or awc, nor read a clock.

pub mod contract;
pub mod ids;
pub mod money;
pub mod observe;
pub mod order;
pub mod outbox;
pub mod reading;
pub mod record;
pub mod refund;
pub mod refund_state;
pub mod schedule;
pub mod view;
