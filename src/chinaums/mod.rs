//! The ChinaUMS protocol as both sides speak it: signing, wire types, status vocabularies,
//! Beijing time. Shared by the gateway and the sandbox; it must not depend on actix, awc or
//! diesel, nor on anything above it.

pub mod form;
pub mod notify_sign;
pub mod operation;
pub mod sign;
pub mod status;
pub mod time;
#[cfg(test)]
mod vectors;
pub mod wire;

pub use operation::{CallOutcome, Merchant, Operation, INST_MID_BILL, INST_MID_MINI};
