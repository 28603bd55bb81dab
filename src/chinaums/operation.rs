//! The operations' vocabulary, defined once for the gateway, the sandbox and the metrics:
//! each operation's name and path, the business types (`instMid`), the merchant a call is
//! about, and the names of what a call came to. It must not send, sign or decide anything.

/// Business type of a bill bound to a QR code (seed 002's `instMid`; the bill query's too).
pub const INST_MID_BILL: &str = "QRPAYDEFAULT";
/// Business type of a tracked (mini-program) order (seed 001's example `instMid`).
pub const INST_MID_MINI: &str = "MINIDEFAULT";

/// One of the provider's operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Bind a bill to a QR code.
    UpdateQrcode,
    /// Ask for an order's state.
    MiniPreQuery,
    /// Ask for a bill's state, by its own identity.
    BillQuery,
    /// Complete a pre-authorisation.
    Preauthed,
    /// Fetch an access token.
    Token,
}

impl Operation {
    /// Every operation, for label sets that must not miss one.
    pub const ALL: [Operation; 5] = [
        Operation::UpdateQrcode,
        Operation::MiniPreQuery,
        Operation::BillQuery,
        Operation::Preauthed,
        Operation::Token,
    ];

    /// Name in logs, metrics and the call log.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::UpdateQrcode => "update-qrcode",
            Operation::MiniPreQuery => "mini-pre-query",
            Operation::BillQuery => "bill-query",
            Operation::Preauthed => "preauthed",
            Operation::Token => "token",
        }
    }

    /// The route at the provider.
    pub fn path(self) -> &'static str {
        match self {
            Operation::UpdateQrcode => "/v1/netpay/bills/update-qrcode",
            Operation::MiniPreQuery => "/v1/netpay/wx/mini-pre-query",
            Operation::BillQuery => "/v1/netpay/bills/query",
            Operation::Preauthed => "/v1/netpay/preauthed",
            Operation::Token => "/v1/token/access",
        }
    }
}

/// The merchant a call is about: `mid`, `tid` and the business type `instMid`. A call
/// about an existing order carries the order's own (stored when it was created); only a
/// new order takes the settings'.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merchant {
    /// Merchant number.
    pub mid: String,
    /// Terminal number.
    pub tid: String,
    /// Business type ([`INST_MID_BILL`], [`INST_MID_MINI`], …).
    pub inst_mid: String,
}

/// What a call came to, as the call log and the metrics name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallOutcome {
    /// `errCode = SUCCESS`.
    Ok,
    /// The provider knows no such order or bill.
    NoOrder,
    /// The provider's trouble, for now.
    Transient,
    /// Any other business refusal.
    Refused,
    /// Our credentials or configuration were refused.
    Config,
    /// No usable answer: whether the provider acted is unknown.
    Unknown,
    /// The request broke the provider's rules before it was sent.
    InvalidRequest,
    /// No connection could be made: the request never left this machine.
    NotSent,
}

impl CallOutcome {
    /// Every outcome, for label sets that must not miss one.
    pub const ALL: [CallOutcome; 8] = [
        CallOutcome::Ok,
        CallOutcome::NoOrder,
        CallOutcome::Transient,
        CallOutcome::Refused,
        CallOutcome::Config,
        CallOutcome::Unknown,
        CallOutcome::InvalidRequest,
        CallOutcome::NotSent,
    ];

    /// The stable name in the call log and the metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::NoOrder => "no_order",
            CallOutcome::Transient => "transient",
            CallOutcome::Refused => "refused",
            CallOutcome::Config => "config",
            CallOutcome::Unknown => "unknown",
            CallOutcome::InvalidRequest => "invalid_request",
            CallOutcome::NotSent => "not_sent",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_its_own_name_and_path() {
        let mut names: Vec<_> = Operation::ALL.iter().map(|o| o.as_str()).collect();
        let mut paths: Vec<_> = Operation::ALL.iter().map(|o| o.path()).collect();
        names.sort_unstable();
        names.dedup();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(names.len(), Operation::ALL.len());
        assert_eq!(paths.len(), Operation::ALL.len());
    }

    #[test]
    fn every_call_outcome_has_its_own_name() {
        let mut names: Vec<_> = CallOutcome::ALL.iter().map(|o| o.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CallOutcome::ALL.len());
    }
}
