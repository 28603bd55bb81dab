//! `Amount`: money as whole fen (分). Owns parsing and checked arithmetic on money; it must
//! not offer floats, `as` casts or any arithmetic that can wrap.

use std::fmt;

use serde::{Serialize, Serializer};

/// Why a value is not an acceptable amount. The messages are shown to API callers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Below zero.
    #[error("must not be negative")]
    Negative,
    /// Zero where a payment amount is required.
    #[error("must be greater than zero")]
    Zero,
    /// Has a fractional part: amounts are whole fen.
    #[error("must be a whole number of fen (1 yuan = 100 fen)")]
    NotWhole,
    /// Not a number at all.
    #[error("must be a number of fen")]
    NotANumber,
    /// Above the limit that applies.
    #[error("must not exceed {limit} fen")]
    TooLarge {
        /// The limit, in fen.
        limit: i64,
    },
}

/// 2^63 as a float: JSON numbers at or beyond it cannot be fen in an `i64`. (Used only to
/// classify a refusal; money itself is never a float.)
const I64_LIMIT: f64 = 9_223_372_036_854_775_808.0;

/// An amount of money in fen. Never negative; arithmetic is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(i64);

impl Amount {
    /// No money.
    pub const ZERO: Amount = Amount(0);

    /// Any non-negative amount (refunded totals, paid facts).
    pub fn from_fen(fen: i64) -> Result<Self, AmountError> {
        if fen < 0 {
            return Err(AmountError::Negative);
        }
        Ok(Self(fen))
    }

    /// A payment amount: strictly positive and at most `limit` fen.
    pub fn payment(fen: i64, limit: i64) -> Result<Self, AmountError> {
        match fen {
            f if f < 0 => Err(AmountError::Negative),
            0 => Err(AmountError::Zero),
            f if f > limit => Err(AmountError::TooLarge { limit }),
            f => Ok(Self(f)),
        }
    }

    /// Parses a JSON number (integer, or a float with no fractional part is *not*
    /// accepted: `1.0` is refused as not whole, because a client sending it is probably
    /// sending yuan) or a string of ASCII digits, as the provider's wire sometimes does.
    pub fn parse_json(value: &serde_json::Value) -> Result<Self, AmountError> {
        match value {
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Self::from_fen(i)
                } else if n.as_u64().is_some() || n.as_f64().is_some_and(|f| f.abs() >= I64_LIMIT) {
                    // Integers beyond u64 arrive as floats: they are too large, not fractional.
                    Err(AmountError::TooLarge { limit: i64::MAX })
                } else {
                    Err(AmountError::NotWhole)
                }
            }
            serde_json::Value::String(s) => Self::parse_str(s),
            _ => Err(AmountError::NotANumber),
        }
    }

    /// Parses a decimal string of fen: optional `-` (refused), ASCII digits only.
    pub fn parse_str(s: &str) -> Result<Self, AmountError> {
        let t = s.trim();
        if let Some(rest) = t.strip_prefix('-') {
            return if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
                Err(AmountError::Negative)
            } else {
                Err(AmountError::NotANumber)
            };
        }
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(AmountError::NotANumber);
        }
        if let Some((whole, frac)) = t.split_once('.') {
            let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
            if !digits(whole) || !(frac.is_empty() || digits(frac)) {
                return Err(AmountError::NotANumber);
            }
            return Err(AmountError::NotWhole);
        }
        t.parse::<i64>()
            .map_err(|_| AmountError::TooLarge { limit: i64::MAX })
            .and_then(Self::from_fen)
    }

    /// The value in fen.
    pub fn fen(self) -> i64 {
        self.0
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    /// `self - other`, or `None` if the result would be negative.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).filter(|v| *v >= 0).map(Amount)
    }

    /// Whether the amount is zero.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The amount as people read it: yuan with two decimals (`¥123.45` for 12345 fen).
    pub fn yuan(self) -> String {
        yuan(self.0)
    }
}

/// Fen in one yuan.
const FEN_PER_YUAN: u64 = 100;

/// `fen` as yuan (`¥123.45`, `-¥0.01`) by integer division of its magnitude, so that no
/// value of `i64` (`i64::MIN` included) can overflow or round.
fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let magnitude = fen.unsigned_abs();
    format!(
        "{sign}¥{}.{:02}",
        magnitude / FEN_PER_YUAN,
        magnitude % FEN_PER_YUAN
    )
}

impl TryFrom<i64> for Amount {
    type Error = AmountError;
    fn try_from(fen: i64) -> Result<Self, Self::Error> {
        Self::from_fen(fen)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payment_amounts_must_be_positive_and_within_the_limit() {
        assert_eq!(Amount::payment(1, 100).unwrap().fen(), 1);
        assert_eq!(Amount::payment(100, 100).unwrap().fen(), 100);
        assert_eq!(Amount::payment(0, 100), Err(AmountError::Zero));
        assert_eq!(Amount::payment(-5, 100), Err(AmountError::Negative));
        assert_eq!(
            Amount::payment(101, 100),
            Err(AmountError::TooLarge { limit: 100 })
        );
    }

    #[test]
    fn json_numbers_and_digit_strings_parse_and_everything_else_is_refused() {
        assert_eq!(Amount::parse_json(&json!(100)).unwrap().fen(), 100);
        assert_eq!(Amount::parse_json(&json!("100")).unwrap().fen(), 100);
        assert_eq!(Amount::parse_json(&json!(1.5)), Err(AmountError::NotWhole));
        assert_eq!(Amount::parse_json(&json!(1.0)), Err(AmountError::NotWhole));
        assert_eq!(
            Amount::parse_json(&json!("1.50")),
            Err(AmountError::NotWhole)
        );
        assert_eq!(
            Amount::parse_json(&json!("12a")),
            Err(AmountError::NotANumber)
        );
        assert_eq!(Amount::parse_json(&json!("")), Err(AmountError::NotANumber));
        assert_eq!(Amount::parse_json(&json!("-3")), Err(AmountError::Negative));
        assert_eq!(Amount::parse_json(&json!(-3)), Err(AmountError::Negative));
        assert_eq!(
            Amount::parse_json(&json!(null)),
            Err(AmountError::NotANumber)
        );
        assert_eq!(
            Amount::parse_json(&json!(true)),
            Err(AmountError::NotANumber)
        );
        assert!(matches!(
            Amount::parse_json(&json!(u64::MAX)),
            Err(AmountError::TooLarge { .. })
        ));
        let beyond_u64: serde_json::Value = serde_json::from_str("18446744073709551616").unwrap();
        assert!(matches!(
            Amount::parse_json(&beyond_u64),
            Err(AmountError::TooLarge { .. })
        ));
        assert!(matches!(
            Amount::parse_json(&json!("99999999999999999999")),
            Err(AmountError::TooLarge { .. })
        ));
    }

    #[test]
    fn arithmetic_is_checked_and_never_goes_negative() {
        let a = Amount::from_fen(10).unwrap();
        let b = Amount::from_fen(3).unwrap();
        assert_eq!(a.checked_add(b).unwrap().fen(), 13);
        assert_eq!(a.checked_sub(b).unwrap().fen(), 7);
        assert_eq!(b.checked_sub(a), None);
        let max = Amount::from_fen(i64::MAX).unwrap();
        assert_eq!(max.checked_add(b), None);
    }

    #[test]
    fn an_amount_reads_as_yuan_with_its_fen_as_two_decimals() {
        let shown = |fen| Amount::from_fen(fen).unwrap().yuan();
        assert_eq!(shown(0), "¥0.00");
        assert_eq!(shown(1), "¥0.01");
        assert_eq!(shown(10), "¥0.10");
        assert_eq!(shown(100), "¥1.00");
        assert_eq!(shown(12345), "¥123.45");
        assert_eq!(shown(i64::MAX), "¥92233720368547758.07");
    }

    #[test]
    fn negative_fen_read_as_yuan_with_a_minus_and_the_smallest_does_not_overflow() {
        assert_eq!(yuan(-1), "-¥0.01");
        assert_eq!(yuan(-12345), "-¥123.45");
        assert_eq!(yuan(i64::MIN), "-¥92233720368547758.08");
    }

    #[test]
    fn rows_with_negative_money_do_not_parse_back() {
        assert!(Amount::try_from(-1).is_err());
        assert_eq!(Amount::try_from(0).unwrap(), Amount::ZERO);
    }
}
