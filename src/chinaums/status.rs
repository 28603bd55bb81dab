//! The provider's vocabularies (docs/protocol.md §7 and the contract notice): order `status`,
//! bill `billStatus`, `contractState`, and what an `errCode` means to a caller. Owns the
//! spelling of every value; it must never panic or fail on a value it does not know.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Defines a closed vocabulary with an `Unrecognised(String)` arm, its wire spelling,
/// the list of known values, and string (de)serialisation.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this version does not know, kept as sent.
            Unrecognised(String),
        }

        impl $name {
            /// Every value this version knows.
            pub const KNOWN: &'static [$name] = &[$($name::$variant,)+];

            /// Reads a wire value; unknown values are kept, never refused.
            pub fn parse(s: &str) -> Self {
                match s {
                    $($wire => $name::$variant,)+
                    other => $name::Unrecognised(other.to_owned()),
                }
            }

            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)+
                    $name::Unrecognised(s) => s,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok($name::parse(&s))
            }
        }
    };
}

vocabulary! {
    /// An order's `status` (queries, mini-program notifications, `billPayment.status`).
    TradeStatus {
        /// Created at the provider, no payment attempt yet.
        NewOrder => "NEW_ORDER",
        /// Waiting for the buyer.
        WaitBuyerPay => "WAIT_BUYER_PAY",
        /// Paid.
        TradeSuccess => "TRADE_SUCCESS",
        /// Closed: unpaid and expired, fully refunded, or failed.
        TradeClosed => "TRADE_CLOSED",
        /// A refund happened (partial or full).
        TradeRefund => "TRADE_REFUND",
        /// Indeterminate: ask again later.
        Unknown => "UNKNOWN",
    }
}

vocabulary! {
    /// A bill's `billStatus` (bill payment notifications).
    BillStatus {
        /// Paid.
        Paid => "PAID",
        /// Not paid.
        Unpaid => "UNPAID",
        /// Refunded (partly or fully).
        Refund => "REFUND",
        /// Closed.
        Closed => "CLOSED",
        /// Indeterminate.
        Unknown => "UNKNOWN",
    }
}

vocabulary! {
    /// A contract's `contractState` (termination notices).
    ContractState {
        /// Not signed.
        Unsigned => "UNSIGNED",
        /// Signed.
        Signed => "SIGNED",
        /// Terminated.
        Rescission => "RESCISSION",
        /// Termination in progress.
        DeletingContract => "DELETING_CONTRACT",
        /// Indeterminate.
        Unknown => "UNKNOWN",
    }
}

/// What an `errCode` tells a caller to do (docs/protocol.md §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrClass {
    /// `SUCCESS`: read the answer.
    Success,
    /// The provider has no such order or bill.
    NoOrder,
    /// Passing trouble: retry later, change nothing.
    Transient,
    /// Our configuration is wrong: change nothing, alert, back off hard.
    Config,
    /// The request is wrong or refused: surface to the caller.
    Refused,
    /// A code this version does not know: treated like `Transient` by the reconciler
    /// (nothing changes) and surfaced to callers.
    Unrecognised,
}

impl ErrClass {
    /// Classifies an `errCode`.
    pub fn of(err_code: &str) -> Self {
        match err_code {
            "SUCCESS" => ErrClass::Success,
            "NO_ORDER" | "NO_BILL" => ErrClass::NoOrder,
            "TIMEOUT" | "INTERNAL_ERROR" | "NET_ERROR" | "SYSTEM_BUSY" | "ORDER_PROCESSING"
            | "TXN_DISCARDED" => ErrClass::Transient,
            "BAD_SIGN"
            | "INVALID_MSGSRC"
            | "NO_MERCHANT"
            | "INACTIVE_MERCHANT"
            | "DENIED_IP"
            | "INVLID_MERCHANT_CONFIG" => ErrClass::Config,
            "BAD_REQUEST"
            | "INVALID_ORDER"
            | "OPERATION_NOT_ALLOWED"
            | "DUP_ORDER"
            | "TARGET_FAIL" => ErrClass::Refused,
            _ => ErrClass::Unrecognised,
        }
    }

    /// A stable lower-case name, for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrClass::Success => "success",
            ErrClass::NoOrder => "no_order",
            ErrClass::Transient => "transient",
            ErrClass::Config => "config",
            ErrClass::Refused => "refused",
            ErrClass::Unrecognised => "unrecognised",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_value_round_trips_through_its_wire_spelling() {
        for v in TradeStatus::KNOWN {
            assert_eq!(&TradeStatus::parse(v.as_str()), v);
        }
        for v in BillStatus::KNOWN {
            assert_eq!(&BillStatus::parse(v.as_str()), v);
        }
        for v in ContractState::KNOWN {
            assert_eq!(&ContractState::parse(v.as_str()), v);
        }
    }

    #[test]
    fn unknown_values_are_kept_not_refused() {
        assert_eq!(
            TradeStatus::parse("TRADE_FROZEN"),
            TradeStatus::Unrecognised("TRADE_FROZEN".into())
        );
        assert_eq!(TradeStatus::parse("").as_str(), "");
        let b: BillStatus = serde_json::from_str("\"PARTIAL\"").unwrap();
        assert_eq!(b.as_str(), "PARTIAL");
        // Case matters on the wire: "paid" is not PAID.
        assert_eq!(
            BillStatus::parse("paid"),
            BillStatus::Unrecognised("paid".into())
        );
    }

    #[test]
    fn err_codes_are_classified_as_the_protocol_table_says() {
        assert_eq!(ErrClass::of("SUCCESS"), ErrClass::Success);
        assert_eq!(ErrClass::of("NO_BILL"), ErrClass::NoOrder);
        assert_eq!(ErrClass::of("SYSTEM_BUSY"), ErrClass::Transient);
        assert_eq!(ErrClass::of("INVLID_MERCHANT_CONFIG"), ErrClass::Config);
        assert_eq!(ErrClass::of("DUP_ORDER"), ErrClass::Refused);
        assert_eq!(ErrClass::of("0000"), ErrClass::Unrecognised);
    }
}
