//! Refunds counted, not guessed: each refund the provider reports is kept (its key, amount,
//! time), and [`assess`] says what a newly reported `refundAmount` means given the ones
//! before it. The provider's pages do not say whether `refundAmount` is the running total
//! or this refund alone; where the two readings give different totals in a way that
//! matters, the order is flagged with both. Pure: no clock, no store.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::domain::money::Amount;

/// One refund as the provider reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refund {
    /// Its refund order id when the notice carries one, else the notice's `notifyId`.
    pub key: String,
    /// The notice's `refundAmount`.
    pub amount: Amount,
    /// When it was reported.
    pub at: DateTime<Utc>,
}

/// What a newly reported refund comes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Assessment {
    /// The refunded total is this (the first refund, or a later running total that grows
    /// within the paid amount).
    Total(Amount),
    /// The two readings disagree in a way that cannot be settled here: the order is
    /// flagged for review with both.
    Ambiguous(Readings),
}

/// Both readings of the refunds reported so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readings {
    /// The new report's amount.
    pub reported: Amount,
    /// The total recorded before it (the largest running total reported).
    pub recorded: Amount,
    /// Read as running totals: the largest reported.
    pub as_running_total: Amount,
    /// Read as refunds of their own: their sum (`None` if it overflows).
    pub as_separate_refunds: Option<Amount>,
    /// What the order was paid.
    pub paid: Amount,
}

impl fmt::Display for Readings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sum = self.as_separate_refunds.map_or_else(
            || "more than can be counted".to_owned(),
            |s| format!("{s} fen"),
        );
        write!(
            f,
            "refund of {} fen reported after {} fen recorded (paid {} fen): read as a running total {} fen are refunded, read as a refund of its own {sum}",
            self.reported, self.recorded, self.paid, self.as_running_total
        )
    }
}

/// What `new` means after the refunds `before` (oldest first) on an order paid `paid`:
/// - the first refund is the total;
/// - a later amount smaller than the recorded total, or refunds whose sum exceeds the paid
///   amount, are ambiguous: flagged with both readings;
/// - otherwise the running-total reading stands (it is the one the amounts allow).
///
/// A repeated report of the same key is not a new refund: callers skip it before.
pub fn assess(before: &[Refund], new: &Refund, paid: Amount) -> Assessment {
    let Some(recorded) = before.iter().map(|r| r.amount).max() else {
        return Assessment::Total(new.amount);
    };
    let sum = before
        .iter()
        .try_fold(new.amount, |total, r| total.checked_add(r.amount));
    let readings = Readings {
        reported: new.amount,
        recorded,
        as_running_total: recorded.max(new.amount),
        as_separate_refunds: sum,
        paid,
    };
    let beyond_paid = sum.is_none_or(|s| s > paid);
    if new.amount < recorded || beyond_paid {
        Assessment::Ambiguous(readings)
    } else {
        Assessment::Total(new.amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fen(v: i64) -> Amount {
        Amount::from_fen(v).unwrap()
    }

    fn refund(key: &str, amount: i64) -> Refund {
        Refund {
            key: key.into(),
            amount: fen(amount),
            at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn the_first_refund_is_the_total() {
        assert_eq!(
            assess(&[], &refund("a", 60), fen(100)),
            Assessment::Total(fen(60))
        );
    }

    #[test]
    fn a_later_smaller_refund_is_flagged_with_both_readings() {
        let assessment = assess(&[refund("a", 60)], &refund("b", 30), fen(100));

        let Assessment::Ambiguous(readings) = assessment else {
            panic!("{assessment:?}")
        };
        assert_eq!(readings.as_running_total, fen(60));
        assert_eq!(readings.as_separate_refunds, Some(fen(90)));
        let reason = readings.to_string();
        assert!(reason.contains("running total 60 fen"), "{reason}");
        assert!(reason.contains("of its own 90 fen"), "{reason}");
    }

    #[test]
    fn refunds_summing_beyond_the_paid_amount_are_flagged() {
        let assessment = assess(&[refund("a", 60)], &refund("b", 70), fen(100));

        let Assessment::Ambiguous(readings) = assessment else {
            panic!("{assessment:?}")
        };
        assert_eq!(readings.as_running_total, fen(70));
        assert_eq!(readings.as_separate_refunds, Some(fen(130)));
    }

    #[test]
    fn a_growing_running_total_within_the_paid_amount_is_the_total() {
        assert_eq!(
            assess(&[refund("a", 30)], &refund("b", 60), fen(100)),
            Assessment::Total(fen(60))
        );
    }
}
