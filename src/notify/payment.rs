//! Payment result notifications (seed 000, docs/protocol.md §5): [`examine`] verifies a received
//! body and reads it into the state machine's evidence through `domain::reading` (pure: no
//! clock, no store), and
//! [`record`] journals it and, when it is verified and its `notifyId` new, applies the
//! evidence to the order, inside the caller's one write transaction. It must not change
//! an order except through `store::orders::apply`, nor decide a duplicate by reading: the
//! journal's unique index on the first verified copy's `notifyId` does.

use crate::store::Connection;
use chrono::{DateTime, Utc};

use super::{
    entry, insert_row, journal_refusal, verified_form, Outcome, Received, Refused, RejectReason,
    Rejection, Signature, KIND_PAYMENT,
};
use crate::chinaums::form::Form;
use crate::chinaums::wire::PaymentNotification;
use crate::domain::ids::MerOrderId;
use crate::domain::money::Amount;
use crate::domain::observe::{Observation, Seen, Timing};
use crate::domain::order::{Decision, Source};
use crate::domain::reading;
use crate::domain::refund::{self, Assessment, Refund};
use crate::store::notifications::{self, Journaled, NewEntry};
use crate::store::orders::{self, Applied};
use crate::store::StoreError;
use crate::store::{attempts, refunds};

/// A verified, readable payment notification: what the journal and the state machine need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentNotice {
    /// Unique per notification, unchanged on resends.
    pub notify_id: String,
    /// The order ids it names, in the order they are tried: `billNo`,
    /// `billPayment.merOrderId`, then the top-level `merOrderId` (docs/protocol.md §5).
    pub names: Vec<String>,
    /// The payment attempt's own id (`billPayment.merOrderId`), kept for the reconciler.
    pub attempt: Option<String>,
    /// A refund's own id (`refundOrderId`), when the notice carries one.
    pub refund_key: Option<String>,
    /// What it says about the order (`domain::reading::payment_notice`).
    pub seen: Seen,
}

impl PaymentNotice {
    /// The running total refunded that it reports, if any.
    pub fn refunded(&self) -> Option<Amount> {
        match &self.seen {
            Seen::Report { evidence, .. } => evidence.refunded,
            _ => None,
        }
    }
}

/// What [`examine`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Verified and readable.
    Accepted(Box<PaymentNotice>),
    /// Verified, but it cannot be applied: journaled, its order flagged and queried.
    Unapplied {
        /// Its `notifyId`.
        notify_id: String,
        /// The order ids it names, in the order they are tried.
        names: Vec<String>,
        /// What cannot be read.
        reason: String,
    },
    /// Verified, but for another merchant: journaled in the misrouted queue only.
    Misrouted {
        /// Its `notifyId`.
        notify_id: String,
        /// The order it names, for the journal.
        order_ref: Option<String>,
        /// Whose it is.
        mid: String,
    },
    /// Refused: journaled, nothing else.
    Rejected(Refused),
}

/// The fields a refused payment notification is journaled under, first found first.
const SUBJECT_FIELDS: [&str; 2] = ["billNo", "merOrderId"];

/// Verifies and reads a received notification, in this order: size, syntax, `signType`,
/// signature (every key in `keys`), fields, merchant, status. Nothing it has not verified
/// is interpreted, except the claimed `notifyId` and order kept on a refusal's journal row.
pub fn examine(received: &Received, keys: &[&str], mid: &str) -> Verdict {
    let form = match verified_form(received, keys, Signature::Required, &SUBJECT_FIELDS) {
        Ok((form, _)) => form,
        Err(refused) => return Verdict::Rejected(refused),
    };
    match read(&form, mid) {
        Ok(notice) => Verdict::Accepted(Box::new(notice)),
        Err(not_applied) => not_applied,
    }
}

/// The order ids a notification names, in the order they are tried: `billNo`,
/// `billPayment.merOrderId`, then the top-level `merOrderId`.
fn names_of(n: &PaymentNotification) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in [
        present(n.bill_no.as_ref()),
        n.payment().and_then(|p| present(p.mer_order_id.as_ref())),
        present(n.mer_order_id.as_ref()),
    ]
    .into_iter()
    .flatten()
    {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// A non-empty value.
fn present(value: Option<&String>) -> Option<String> {
    value.filter(|v| !v.is_empty()).cloned()
}

/// Reads a verified notification (what it says about the order: `domain::reading`);
/// otherwise the verdict on it (refused, unapplied or misrouted).
fn read(form: &Form, mid: &str) -> Result<PaymentNotice, Verdict> {
    let n = PaymentNotification::from_form(form).map_err(|e| {
        let rejection = Rejection::new(RejectReason::Malformed, e.to_string());
        Verdict::Rejected(Refused::new(rejection, true, Some(form), &SUBJECT_FIELDS))
    })?;
    // Whose notice it is, before anything is applied. The provider's page calls `mid`
    // optional, but a signing string has no escaping: `mid` can be folded into its
    // neighbour's value without changing the signature. Without it nothing says the notice
    // is ours, so it is applied to nothing; its order is flagged and asked instead.
    let Some(named) = n.mid.as_deref().filter(|m| !m.is_empty()) else {
        return Err(Verdict::Unapplied {
            notify_id: n.notify_id.clone(),
            names: names_of(&n),
            reason: "mid: missing, so nothing says whose notice it is".to_owned(),
        });
    };
    if let Some(theirs) = Some(named).filter(|m| *m != mid) {
        return Err(Verdict::Misrouted {
            notify_id: n.notify_id.clone(),
            order_ref: names_of(&n).into_iter().next(),
            mid: theirs.to_owned(),
        });
    }
    let seen = reading::payment_notice(&n).map_err(|reason| Verdict::Unapplied {
        notify_id: n.notify_id.clone(),
        names: names_of(&n),
        reason,
    })?;
    Ok(PaymentNotice {
        names: names_of(&n),
        attempt: reading::attempt(n.bill_payment.as_ref()),
        refund_key: present(n.refund_order_id.as_ref()),
        notify_id: n.notify_id,
        seen,
    })
}

/// What [`record`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The outcome, as journaled.
    pub outcome: Outcome,
    /// The journal row written.
    pub journal_id: i64,
    /// The order it was matched to (or claims, when refused or orphaned).
    pub order_ref: Option<String>,
    /// What applying it did to the order, when it was applied.
    pub applied: Option<Applied>,
}

/// The first order the notice names that the gateway holds. Every name is looked up as an
/// order id: a bill's `billNo` is its order's id (`Order::bill_no`), and ids are the
/// merchant's own and unique, so an id named as `billNo` is that order whether or not it
/// was bound.
fn matched_order(
    conn: &mut Connection,
    names: &[String],
) -> Result<Option<MerOrderId>, StoreError> {
    for name in names {
        // A name that is not an order id's shape cannot be one of ours.
        let Ok(id) = MerOrderId::parse_stored(name) else {
            continue;
        };
        if orders::find(conn, &id)?.is_some() {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// Keeps the refund a notice reports (keyed by its refund order id, else its `notifyId`) and
/// says whether its readings disagree with the refunds before it (`domain::refund`): then
/// the order is flagged with both instead of applying the notice's total.
fn counted_refund(
    conn: &mut Connection,
    order: &MerOrderId,
    notice: &PaymentNotice,
    evidence_ref: &str,
    now: DateTime<Utc>,
) -> Result<Option<refund::Readings>, StoreError> {
    let Some(amount) = notice.refunded() else {
        return Ok(None);
    };
    let new = Refund {
        key: notice
            .refund_key
            .clone()
            .unwrap_or_else(|| notice.notify_id.clone()),
        amount,
        at: now,
    };
    let before: Vec<Refund> = refunds::of(conn, order)?
        .into_iter()
        .filter(|r| r.key != new.key)
        .collect();
    refunds::record(conn, order, &new, Some(evidence_ref))?;
    let paid = orders::find(conn, order)?
        .map(|o| o.paid_amount.unwrap_or(o.amount))
        .unwrap_or(amount);
    Ok(match refund::assess(&before, &new, paid) {
        Assessment::Total(_) => None,
        Assessment::Ambiguous(readings) => Some(readings),
    })
}

/// The journal's words for a decision.
fn decision_detail(applied: &Applied, decision: &Decision) -> String {
    let (before, after) = (applied.before.status, applied.after().status);
    match decision {
        Decision::Move {
            refunded: Some(r), ..
        } => format!("{before} → {after}, refunded {r} fen in total"),
        Decision::Move { .. } => format!("{before} → {after}"),
        Decision::Confirm => format!("consistent with the {before} order"),
        Decision::Ignore(reason) => format!("{}: the order is {before}", reason.as_str()),
        Decision::Review(reason) => reason.to_string(),
    }
}

/// Journals the notice and, if it is verified, names an order we hold, and is the first
/// verified copy of its `notifyId`, applies its evidence to that order. Run inside one
/// write transaction (`Db::write`): the journal row, the order and its event are kept
/// together or not at all. `now` stamps the order's change; `timing` comes from the
/// reconcile settings.
pub fn record(
    conn: &mut Connection,
    received: &Received,
    verdict: &Verdict,
    timing: &Timing,
    now: DateTime<Utc>,
) -> Result<Recorded, StoreError> {
    match verdict {
        Verdict::Rejected(refused) => {
            let (outcome, journal_id) = journal_refusal(conn, received, KIND_PAYMENT, refused)?;
            Ok(Recorded {
                outcome,
                journal_id,
                order_ref: refused.subject.clone(),
                applied: None,
            })
        }
        Verdict::Accepted(notice) => record_verified(conn, received, notice, timing, now),
        Verdict::Misrouted {
            notify_id,
            order_ref,
            mid,
        } => {
            let detail = format!(
                "mid {mid} is not this gateway's merchant: kept in the misrouted queue, applied to nothing"
            );
            let journal_id = insert_row(
                conn,
                &NewEntry {
                    notify_id: Some(notify_id),
                    order_ref: order_ref.as_deref(),
                    verified: true,
                    outcome: Outcome::Misrouted.journal(),
                    detail: Some(&detail),
                    ..entry(received, KIND_PAYMENT)
                },
            )?;
            Ok(Recorded {
                outcome: Outcome::Misrouted,
                journal_id,
                order_ref: order_ref.clone(),
                applied: None,
            })
        }
        Verdict::Unapplied {
            notify_id,
            names,
            reason,
        } => {
            let order = matched_order(conn, names)?;
            let order_ref = order
                .as_ref()
                .map(|o| o.as_str().to_owned())
                .or_else(|| names.first().cloned());
            let journal_id = insert_row(
                conn,
                &NewEntry {
                    notify_id: Some(notify_id),
                    order_ref: order_ref.as_deref(),
                    verified: true,
                    outcome: Outcome::Unapplied.journal(),
                    detail: Some(reason),
                    ..entry(received, KIND_PAYMENT)
                },
            )?;
            let applied = match &order {
                Some(id) => {
                    let why = format!(
                        "verified notification #{journal_id} could not be applied: {reason}"
                    );
                    let obs = Observation::of(
                        Seen::Unreadable(why),
                        Source::Notify,
                        Some(format!("notification:{journal_id}")),
                    );
                    orders::apply(conn, id, &obs, timing, now)?
                }
                None => None,
            };
            Ok(Recorded {
                outcome: Outcome::Unapplied,
                journal_id,
                order_ref,
                applied,
            })
        }
    }
}

fn record_verified(
    conn: &mut Connection,
    received: &Received,
    notice: &PaymentNotice,
    timing: &Timing,
    now: DateTime<Utc>,
) -> Result<Recorded, StoreError> {
    let Some(order) = matched_order(conn, &notice.names)? else {
        // An orphan applies nothing, so it does not take its notifyId: should the order
        // appear later, a resend can still apply.
        let order_ref = notice.names.first().cloned();
        let detail = if notice.names.is_empty() {
            "names no order (no billNo, billPayment.merOrderId or merOrderId)".to_owned()
        } else {
            format!("no order named {}", notice.names.join(" or "))
        };
        let journal_id = insert_row(
            conn,
            &NewEntry {
                notify_id: Some(&notice.notify_id),
                order_ref: order_ref.as_deref(),
                verified: true,
                outcome: Outcome::Orphan.journal(),
                detail: Some(&detail),
                ..entry(received, KIND_PAYMENT)
            },
        )?;
        return Ok(Recorded {
            outcome: Outcome::Orphan,
            journal_id,
            order_ref,
            applied: None,
        });
    };
    let order_ref = Some(order.as_str().to_owned());
    let first_copy = NewEntry {
        notify_id: Some(&notice.notify_id),
        first_verified_copy: true,
        order_ref: Some(order.as_str()),
        verified: true,
        // Replaced below, in this transaction: never seen by anyone.
        outcome: "received",
        ..entry(received, KIND_PAYMENT)
    };
    let journal_id = match notifications::insert(conn, &first_copy)? {
        Journaled::Row(id) => id,
        Journaled::DuplicateNotifyId => {
            let journal_id = insert_row(
                conn,
                &NewEntry {
                    first_verified_copy: false,
                    outcome: Outcome::Duplicate.journal(),
                    detail: Some("notifyId already taken by an earlier copy; nothing changed"),
                    ..first_copy
                },
            )?;
            return Ok(Recorded {
                outcome: Outcome::Duplicate,
                journal_id,
                order_ref,
                applied: None,
            });
        }
    };
    let evidence_ref = format!("notification:{journal_id}");
    let disagreement = counted_refund(conn, &order, notice, &evidence_ref, now)?
        .map(|readings| format!("refunds disagree: {readings}"));
    let observation = match &disagreement {
        Some(why) => Observation::of(
            Seen::Unreadable(why.clone()),
            Source::Notify,
            Some(evidence_ref),
        ),
        None => Observation::of(notice.seen.clone(), Source::Notify, Some(evidence_ref)),
    };
    let applied = orders::apply(conn, &order, &observation, timing, now)?;
    if let Some(attempt) = &notice.attempt {
        attempts::record(conn, &order, attempt, Source::Notify, now)?;
    }
    let (outcome, detail) = match &applied {
        Some(a) => match &a.change.decision {
            Some(d) => (Outcome::of_decision(d), decision_detail(a, d)),
            None => (Outcome::Ignored, "no evidence".to_owned()),
        },
        // Found above in this same transaction: cannot happen, but is no reason to fail.
        None => (
            Outcome::Orphan,
            "the order could not be read back".to_owned(),
        ),
    };
    let (outcome, detail) = match disagreement {
        Some(why) => (Outcome::Review, why),
        None => (outcome, detail),
    };
    notifications::set_outcome(conn, journal_id, outcome.journal(), Some(&detail))?;
    Ok(Recorded {
        outcome,
        journal_id,
        order_ref,
        applied,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chinaums::notify_sign::SignType;
    use crate::chinaums::status::{BillStatus, TradeStatus};
    use crate::domain::order::{Evidence, Report};
    use crate::domain::record::ProviderFacts;
    use crate::notify::testing::{self, received, KEY, MID};
    use crate::notify::BodyRead;

    fn owned(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    /// `fields` plus the random field, signed with `key`, form-encoded.
    fn signed(fields: &[(&str, &str)], key: &str, sign_type: SignType) -> Received {
        let mut pairs = owned(fields);
        pairs.push(("Qx".into(), "AbCd".into()));
        received(&testing::signed(pairs, key, sign_type))
    }

    const PAYMENT: &str = r#"{"merOrderId":"1017B0000010","paySeqId":"P1","totalAmount":90,"payTime":"2026-11-21 12:01:02","settleDate":"2026-11-21","status":"TRADE_SUCCESS","targetOrderId":"T1","targetSys":"WXPay"}"#;

    fn paid_bill() -> Vec<(&'static str, &'static str)> {
        vec![
            ("notifyId", "n-1"),
            ("billNo", "1017B000001"),
            ("billStatus", "PAID"),
            ("totalAmount", "100"),
            ("mid", MID),
            ("billPayment", PAYMENT),
        ]
    }

    /// What an accepted notice says; panics when it says no report.
    fn said(n: &PaymentNotice) -> (&Evidence, &ProviderFacts) {
        match &n.seen {
            Seen::Report { evidence, facts } => (evidence, facts),
            other => panic!("not a report: {other:?}"),
        }
    }

    fn evidence(n: &PaymentNotice) -> &Evidence {
        said(n).0
    }

    fn facts(n: &PaymentNotice) -> &ProviderFacts {
        said(n).1
    }

    fn rejection(v: Verdict) -> (RejectReason, bool) {
        match v {
            Verdict::Rejected(r) => (r.rejection.reason, r.verified),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn a_verified_notice_it_cannot_apply_is_unapplied_naming_what_and_its_orders() {
        let mut no_status = paid_bill();
        no_status.retain(|(n, _)| *n != "billStatus" && *n != "billPayment");
        let mut decimal = paid_bill();
        decimal.retain(|(n, _)| *n != "totalAmount");
        decimal.push(("totalAmount", "1.00"));

        for (fields, field) in [(no_status, "billStatus"), (decimal, "totalAmount")] {
            let verdict = examine(&signed(&fields, KEY, SignType::Md5), &[KEY], MID);

            let Verdict::Unapplied { names, reason, .. } = verdict else {
                panic!("{verdict:?}")
            };
            assert_eq!(names[0], "1017B000001");
            assert!(reason.contains(field), "{reason}");
        }
    }

    #[test]
    fn a_verified_notice_whose_mid_was_folded_into_its_neighbour_is_applied_to_nothing_naming_mid()
    {
        // Arrange: signed by the provider for another merchant, then re-split so that `mid`
        // rides inside `instMid` (the signing string stays the same, so it still verifies).
        let mut fields = paid_bill();
        fields.retain(|(n, _)| *n != "mid");
        fields.push(("instMid", "QRPAYDEFAULT&mid=898340149000099"));

        // Act
        let verdict = examine(&signed(&fields, KEY, SignType::Md5), &[KEY], MID);

        // Assert
        let Verdict::Unapplied { names, reason, .. } = verdict else {
            panic!("not unapplied: {verdict:?}")
        };
        assert_eq!(names[0], "1017B000001");
        assert!(reason.starts_with("mid: missing"), "{reason}");
    }

    #[test]
    fn a_verified_notice_for_another_merchant_is_misrouted_not_refused() {
        let mut fields = paid_bill();
        fields.retain(|(n, _)| *n != "mid");
        fields.push(("mid", "898340149000006"));

        let verdict = examine(&signed(&fields, KEY, SignType::Md5), &[KEY], MID);

        assert_eq!(
            verdict,
            Verdict::Misrouted {
                notify_id: "n-1".into(),
                order_ref: Some("1017B000001".into()),
                mid: "898340149000006".into(),
            }
        );
    }

    #[test]
    fn a_signed_bill_notification_reads_as_the_bill_status_with_the_payment_facts() {
        let notice = signed(&paid_bill(), KEY, SignType::Md5);

        let Verdict::Accepted(n) = examine(&notice, &["old-key", KEY], MID) else {
            panic!("refused")
        };

        assert_eq!(n.notify_id, "n-1");
        assert_eq!(n.names, ["1017B000001", "1017B0000010"]);
        assert_eq!(evidence(&n).report, Report::Bill(BillStatus::Paid));
        assert_eq!(evidence(&n).amount, Some(Amount::from_fen(100).unwrap()));
        assert!(!evidence(&n).auth_code);
        assert_eq!(facts(&n).provider_status.as_deref(), Some("PAID"));
        assert_eq!(facts(&n).seq_id.as_deref(), Some("P1"));
        assert_eq!(facts(&n).target_sys.as_deref(), Some("WXPay"));
        assert_eq!(facts(&n).pay_time.as_deref(), Some("2026-11-21 12:01:02"));
        assert_eq!(facts(&n).settle_date.as_deref(), Some("2026-11-21"));
    }

    #[test]
    fn a_mini_program_notification_reads_its_top_level_order_and_status() {
        let notice = signed(
            &[
                ("notifyId", "n-2"),
                ("mid", MID),
                ("merOrderId", "1017M000001"),
                ("status", "TRADE_REFUND"),
                ("totalAmount", "100"),
                ("refundAmount", "40"),
                ("seqId", "S1"),
                ("targetSys", "Alipay"),
                ("signType", "SHA256"),
            ],
            KEY,
            SignType::Sha256,
        );

        let Verdict::Accepted(n) = examine(&notice, &[KEY], MID) else {
            panic!("refused")
        };

        assert_eq!(n.names, ["1017M000001"]);
        assert_eq!(evidence(&n).report, Report::Trade(TradeStatus::TradeRefund));
        assert_eq!(evidence(&n).refunded, Some(Amount::from_fen(40).unwrap()));
        assert_eq!(facts(&n).seq_id.as_deref(), Some("S1"));
        assert_eq!(facts(&n).target_sys.as_deref(), Some("Alipay"));
    }

    #[test]
    fn the_payment_status_stands_in_when_the_notice_has_no_status_of_its_own() {
        let mut fields = paid_bill();
        fields.retain(|(n, _)| *n != "billStatus" && *n != "totalAmount");

        let Verdict::Accepted(n) = examine(&signed(&fields, KEY, SignType::Md5), &[KEY], MID)
        else {
            panic!("refused")
        };

        assert_eq!(
            evidence(&n).report,
            Report::Trade(TradeStatus::TradeSuccess)
        );
        assert_eq!(evidence(&n).amount, Some(Amount::from_fen(90).unwrap()));
    }

    #[test]
    fn refusals_name_their_reason_and_whether_the_signature_had_verified() {
        let with = |extra: (&'static str, &'static str)| {
            let mut f = paid_bill();
            f.retain(|(n, _)| *n != extra.0);
            f.push(extra);
            f
        };
        let mut unsigned = paid_bill();
        unsigned.push(("sign", ""));
        let mut no_status = paid_bill();
        no_status.retain(|(n, _)| *n != "billStatus" && *n != "billPayment");
        let mut no_id = paid_bill();
        no_id.retain(|(n, _)| *n != "notifyId");
        let cases: Vec<(Received, RejectReason, bool)> = vec![
            (
                signed(&with(("signType", "RSA")), KEY, SignType::Md5),
                RejectReason::UnknownSignType,
                false,
            ),
            (received(&owned(&unsigned)), RejectReason::Unsigned, false),
            (
                signed(&paid_bill(), "another-key", SignType::Md5),
                RejectReason::BadSignature,
                false,
            ),
            (
                signed(&with(("signType", "SHA256")), KEY, SignType::Md5),
                RejectReason::BadSignature,
                false,
            ),
            (
                signed(&no_id, KEY, SignType::Md5),
                RejectReason::Malformed,
                true,
            ),
        ];

        for (i, (notice, reason, verified)) in cases.into_iter().enumerate() {
            assert_eq!(
                rejection(examine(&notice, &[KEY], MID)),
                (reason, verified),
                "case {i}"
            );
        }
    }

    #[test]
    fn a_refusal_keeps_the_claimed_notify_id_and_order_for_the_journal() {
        let notice = signed(&paid_bill(), "another-key", SignType::Md5);

        let verdict = examine(&notice, &[KEY], MID);

        let Verdict::Rejected(refused) = verdict else {
            panic!("accepted")
        };
        assert_eq!(refused.notify_id.as_deref(), Some("n-1"));
        assert_eq!(refused.subject.as_deref(), Some("1017B000001"));
    }

    #[test]
    fn a_body_that_was_not_read_whole_is_refused_before_anything_is_parsed() {
        let mut big = signed(&paid_bill(), KEY, SignType::Md5);
        big.read = BodyRead::TooLarge;
        let mut broken = signed(&paid_bill(), KEY, SignType::Md5);
        broken.read = BodyRead::Failed;

        assert_eq!(
            rejection(examine(&big, &[KEY], MID)),
            (RejectReason::TooLarge, false)
        );
        assert_eq!(
            rejection(examine(&broken, &[KEY], MID)),
            (RejectReason::Malformed, false)
        );
    }
}
