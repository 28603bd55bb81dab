//! Identifiers: the merchant's source id (`msgSrcId`) and order ids (`merOrderId`, also used
//! as `billNo`). Owns their validation and generation; it must not touch storage.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

use crate::chinaums::time::beijing;

/// Why a string is not a valid identifier. Messages are shown to API callers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Wrong length.
    #[error("must be {min} to {max} characters long")]
    Length {
        /// Minimum length.
        min: usize,
        /// Maximum length.
        max: usize,
    },
    /// A character outside `[0-9A-Za-z]`.
    #[error("must contain only letters and digits")]
    Charset,
    /// Does not start with the merchant's source id.
    #[error("must start with the merchant's source id {0}")]
    Prefix(String),
}

fn alnum(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The merchant's 4-character source id: every order id starts with it (docs/protocol.md §8).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MsgSrcId(String);

impl MsgSrcId {
    /// Length fixed by the provider.
    pub const LEN: usize = 4;

    /// Validates a source id.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.len() != Self::LEN {
            return Err(IdError::Length {
                min: Self::LEN,
                max: Self::LEN,
            });
        }
        if !alnum(s) {
            return Err(IdError::Charset);
        }
        Ok(Self(s.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An order id as the provider accepts it: 6..32 letters and digits, starting with the
/// merchant's source id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MerOrderId(String);

/// Sequence behind the generated ids' last 7 digits: process-wide, started at a random
/// point so that two processes started in the same millisecond rarely collide (and the
/// primary key refuses the rare collision rather than overwriting).
fn sequence() -> &'static AtomicU64 {
    static SEQ: OnceLock<AtomicU64> = OnceLock::new();
    SEQ.get_or_init(|| AtomicU64::new(rand::random_range(0..MerOrderId::SEQ_MODULUS)))
}

impl MerOrderId {
    /// Shortest id the provider accepts.
    pub const MIN_LEN: usize = 6;
    /// Longest id the provider accepts (`merOrderId` 6..32).
    pub const MAX_LEN: usize = 32;
    /// Longest `billNo` the provider accepts (update-qrcode: ≤31). A bound order's id is
    /// its bill number, so it must fit.
    pub const MAX_BILL_NO_LEN: usize = 31;
    /// 7 digits of sequence, as docs/protocol.md §8 recommends.
    const SEQ_MODULUS: u64 = 10_000_000;

    /// Validates an id given by a caller for this merchant.
    pub fn parse(s: &str, src: &MsgSrcId) -> Result<Self, IdError> {
        let id = Self::parse_stored(s)?;
        if !s.starts_with(src.as_str()) {
            return Err(IdError::Prefix(src.as_str().to_owned()));
        }
        Ok(id)
    }

    /// Validates the shape only: for ids read back from the store, which may predate a
    /// change of source id.
    pub fn parse_stored(s: &str) -> Result<Self, IdError> {
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&s.len()) {
            return Err(IdError::Length {
                min: Self::MIN_LEN,
                max: Self::MAX_LEN,
            });
        }
        if !alnum(s) {
            return Err(IdError::Charset);
        }
        Ok(Self(s.to_owned()))
    }

    /// A fresh id: source id + `yyyyMMddHHmmssSSS` (Beijing) + 7 sequence digits = 28
    /// characters. Unique within a process unless ten million are made in one millisecond.
    pub fn generate(src: &MsgSrcId, now: DateTime<Utc>) -> Self {
        let seq = sequence().fetch_add(1, Ordering::Relaxed) % Self::SEQ_MODULUS;
        let stamp = now.with_timezone(&beijing()).format("%Y%m%d%H%M%S%3f");
        Self(format!("{}{stamp}{seq:07}", src.as_str()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MerOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for MerOrderId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn src() -> MsgSrcId {
        MsgSrcId::parse("1017").unwrap()
    }

    #[test]
    fn ids_must_start_with_the_source_id_and_be_6_to_32_letters_or_digits() {
        assert!(MerOrderId::parse("1017ab", &src()).is_ok());
        assert!(MerOrderId::parse(&format!("1017{}", "9".repeat(28)), &src()).is_ok());
        assert_eq!(
            MerOrderId::parse("1017a", &src()),
            Err(IdError::Length { min: 6, max: 32 })
        );
        assert!(MerOrderId::parse(&format!("1017{}", "9".repeat(29)), &src()).is_err());
        assert_eq!(MerOrderId::parse("1017-abc", &src()), Err(IdError::Charset));
        assert_eq!(
            MerOrderId::parse("1017订单号", &src()),
            Err(IdError::Charset)
        );
        assert_eq!(
            MerOrderId::parse("2000abcdef", &src()),
            Err(IdError::Prefix("1017".into()))
        );
    }

    #[test]
    fn source_ids_are_four_letters_or_digits() {
        assert!(MsgSrcId::parse("1017").is_ok());
        assert!(MsgSrcId::parse("3194").is_ok());
        assert!(MsgSrcId::parse("101").is_err());
        assert!(MsgSrcId::parse("10-7").is_err());
    }

    #[test]
    fn generated_ids_have_the_28_character_shape_and_parse() {
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 21, 4, 0, 0).unwrap();
        let id = MerOrderId::generate(&src(), now);
        assert_eq!(id.as_str().len(), 28);
        assert!(id.as_str().starts_with("101720261121120000000"));
        assert!(MerOrderId::parse(id.as_str(), &src()).is_ok());
        assert!(id.as_str().len() <= MerOrderId::MAX_BILL_NO_LEN);
    }

    #[test]
    fn generated_ids_are_unique_under_concurrency() {
        let now = crate::clock::Clock::system().now();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                std::thread::spawn(move || {
                    (0..5_000)
                        .map(|_| MerOrderId::generate(&src(), now))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut seen = HashSet::new();
        for h in handles {
            for id in h.join().unwrap() {
                assert!(seen.insert(id), "duplicate id generated");
            }
        }
        assert_eq!(seen.len(), 40_000);
    }
}
