//! Payment result notifications (seed 000, docs/protocol.md §5): [`examine`] verifies a received
//! body and reads it into the state machine's evidence through `domain::reading` (pure: no
//! clock, no store), and
//! [`record`] journals it and, when it is verified and its `notifyId` new, applies the
//! evidence to the order, inside the caller's one write transaction. It must not change
//! an order except through `store::orders::apply`, nor decide a duplicate by reading: the
//! journal's unique index on the first verified copy's `notifyId` does.

use crate::store::Connection;
use chrono::{DateTime, Utc};

use super::resplit::{self, Read};
use super::{
    entry, insert_row, journal_refusal, reserve, verified_form, Outcome, Received, Refused,
    RejectReason, Rejection, Reserved, Signature, KIND_PAYMENT,
};
use crate::chinaums::form::Form;
use crate::chinaums::wire::{BillPayment, PaymentNotification};
use crate::chinaums::{INST_MID_BILL, INST_MID_MINI};
use crate::domain::ids::MerOrderId;
use crate::domain::money::Amount;
use crate::domain::observe::{Observation, Seen, Timing};
use crate::domain::order::{Decision, Source};
use crate::domain::reading;
use crate::domain::record::Order;
use crate::domain::refund::{self, Assessment, Refund};
use crate::store::notifications::{self, NewEntry};
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
    /// Its business type (`instMid`) when it is not one the provider documents: it must then
    /// be the matched order's own, or the notice is applied to nothing.
    pub odd_inst_mid: Option<String>,
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
    /// Verified, but for another merchant or terminal: journaled in the misrouted queue only.
    Misrouted {
        /// Its `notifyId`.
        notify_id: String,
        /// The order it names, for the journal.
        order_ref: Option<String>,
        /// Which field says it is not ours: `mid` or `tid`.
        field: &'static str,
        /// Whose it is: that field's value.
        value: String,
    },
    /// Refused: journaled, nothing else.
    Rejected(Refused),
}

/// The fields a refused payment notification is journaled under, first found first.
const SUBJECT_FIELDS: [&str; 2] = ["billNo", "merOrderId"];

/// What the gateway reads from a payment notification, for the re-split refusal.
const READ: Read = Read {
    fields: &PaymentNotification::READ,
    nested: &[("billPayment", &BillPayment::READ)],
};

/// The business types (`instMid`) the provider's pages document: the bill's (seed 000, 002)
/// and the mini-program order's (seed 001).
const INST_MIDS: [&str; 2] = [INST_MID_BILL, INST_MID_MINI];

/// Verifies and reads a received notification, in this order: size, syntax, `signType`,
/// signature (every key in `keys`), re-split fields, `notifyId`, merchant (`mid`), terminal
/// (`tid`), statuses, amounts. Nothing it has not verified is interpreted, except the claimed
/// `notifyId` and order kept on a refusal's journal row. `mid` and `tid` are this gateway's
/// (`provider.mid`, `provider.tid`).
pub fn examine(received: &Received, keys: &[&str], mid: &str, tid: &str) -> Verdict {
    let form = match verified_form(received, keys, Signature::Required, &SUBJECT_FIELDS) {
        Ok((form, _)) => form,
        Err(refused) => return Verdict::Rejected(refused),
    };
    match read(&form, mid, tid) {
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
fn read(form: &Form, mid: &str, tid: &str) -> Result<PaymentNotice, Verdict> {
    let refuse = |rejection: Rejection| {
        Verdict::Rejected(Refused::new(rejection, true, Some(form), &SUBJECT_FIELDS))
    };
    resplit::refuse_resplit(form, &READ).map_err(refuse)?;
    let n = PaymentNotification::from_form(form)
        .map_err(|e| refuse(Rejection::new(RejectReason::Malformed, e.to_string())))?;
    let unapplied = |reason: String| Verdict::Unapplied {
        notify_id: n.notify_id.clone(),
        names: names_of(&n),
        reason,
    };
    // Whose notice it is, before anything is applied. The provider's page calls `mid` and
    // `tid` optional, but a signing string has no escaping: either can be folded into its
    // neighbour's value without changing the signature. Without them nothing says the
    // notice is ours, so it is applied to nothing; its order is flagged and asked instead.
    for (field, ours, value) in [("mid", mid, &n.mid), ("tid", tid, &n.tid)] {
        let Some(named) = present(value.as_ref()) else {
            return Err(unapplied(format!(
                "{field}: missing, so nothing says whose notice it is"
            )));
        };
        if named != ours {
            return Err(Verdict::Misrouted {
                notify_id: n.notify_id.clone(),
                order_ref: names_of(&n).into_iter().next(),
                field,
                value: named,
            });
        }
    }
    if let Some((field, value)) = unrecognised_status(&n) {
        return Err(unapplied(format!(
            "{field}: {value:?} is not a status the provider documents"
        )));
    }
    let seen = reading::payment_notice(&n).map_err(unapplied)?;
    Ok(PaymentNotice {
        names: names_of(&n),
        attempt: reading::attempt(n.bill_payment.as_ref()),
        refund_key: present(n.refund_order_id.as_ref()),
        odd_inst_mid: present(n.inst_mid.as_ref()).filter(|m| !INST_MIDS.contains(&m.as_str())),
        notify_id: n.notify_id,
        seen,
    })
}

/// The first status field the notice carries with a value outside its vocabulary
/// (`billStatus`, `status`, `billPayment.status`), and that value: it is never mapped to
/// anything, whichever of them the reading would have taken.
fn unrecognised_status(n: &PaymentNotification) -> Option<(&'static str, String)> {
    use crate::chinaums::status::{BillStatus, TradeStatus};
    let trade = |s: Option<&TradeStatus>| match s {
        Some(TradeStatus::Unrecognised(v)) => Some(v.clone()),
        _ => None,
    };
    let bill = match &n.bill_status {
        Some(BillStatus::Unrecognised(v)) => Some(v.clone()),
        _ => None,
    };
    [
        ("billStatus", bill),
        ("status", trade(n.status.as_ref())),
        (
            "billPayment.status",
            trade(n.payment().and_then(|p| p.status.as_ref())),
        ),
    ]
    .into_iter()
    .find_map(|(field, value)| value.map(|v| (field, v)))
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
fn matched_order(conn: &mut Connection, names: &[String]) -> Result<Option<Order>, StoreError> {
    for name in names {
        // A name that is not an order id's shape cannot be one of ours.
        let Ok(id) = MerOrderId::parse_stored(name) else {
            continue;
        };
        if let Some(order) = orders::find(conn, &id)? {
            return Ok(Some(order));
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
    let before: Vec<Refund> = refunds::counted(conn, order)?
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

/// The journal's words for a verified copy of a `notifyId` an earlier copy took.
const DUPLICATE: &str = "notifyId already taken by an earlier copy; nothing changed";

/// Journals the notice and, if it is verified, names an order we hold, and is the first
/// verified copy of its `notifyId`, applies its evidence to that order. Every verified
/// notice but an orphan takes its `notifyId` (misrouted and unapplied ones too), so that a
/// second copy of the same signed notice, its fields split another way, is a duplicate.
/// Run inside one write transaction (`Db::write`): the journal row, the order and its
/// event are kept together or not at all. `now` stamps the order's change; `timing` comes
/// from the reconcile settings.
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
            field,
            value,
        } => {
            let whose = if *field == "tid" {
                "terminal"
            } else {
                "merchant"
            };
            let detail = format!(
                "{field} {value} is not this gateway's {whose}: kept in the misrouted queue, applied to nothing"
            );
            let row = NewEntry {
                notify_id: Some(notify_id),
                order_ref: order_ref.as_deref(),
                verified: true,
                outcome: Outcome::Misrouted.journal(),
                detail: Some(&detail),
                ..entry(received, KIND_PAYMENT)
            };
            let (outcome, journal_id) = match reserve(conn, &row, DUPLICATE)? {
                Reserved::First(id) => (Outcome::Misrouted, id),
                Reserved::Duplicate(id) => (Outcome::Duplicate, id),
            };
            Ok(Recorded {
                outcome,
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
                .map(|o| o.id.as_str().to_owned())
                .or_else(|| names.first().cloned());
            let order = order.map(|o| o.id);
            let notice = NotApplied {
                notify_id,
                order: order.as_ref(),
                order_ref,
                reason,
            };
            record_unapplied(conn, received, notice, timing, now)
        }
    }
}

/// A verified notice that is applied to nothing: why, and the order it names that we hold.
struct NotApplied<'a> {
    notify_id: &'a str,
    order: Option<&'a MerOrderId>,
    order_ref: Option<String>,
    reason: &'a str,
}

/// Journals a verified notice that cannot be applied, taking its `notifyId`, and flags its
/// order for review with a check now; an earlier copy of the `notifyId` makes it a
/// duplicate that changes nothing.
fn record_unapplied(
    conn: &mut Connection,
    received: &Received,
    notice: NotApplied<'_>,
    timing: &Timing,
    now: DateTime<Utc>,
) -> Result<Recorded, StoreError> {
    let row = NewEntry {
        notify_id: Some(notice.notify_id),
        order_ref: notice.order_ref.as_deref(),
        verified: true,
        outcome: Outcome::Unapplied.journal(),
        detail: Some(notice.reason),
        ..entry(received, KIND_PAYMENT)
    };
    let journal_id = match reserve(conn, &row, DUPLICATE)? {
        Reserved::First(id) => id,
        Reserved::Duplicate(id) => {
            return Ok(Recorded {
                outcome: Outcome::Duplicate,
                journal_id: id,
                order_ref: notice.order_ref,
                applied: None,
            })
        }
    };
    let applied = match notice.order {
        Some(id) => {
            let why = format!(
                "verified notification #{journal_id} could not be applied: {}",
                notice.reason
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
        order_ref: notice.order_ref,
        applied,
    })
}

fn record_verified(
    conn: &mut Connection,
    received: &Received,
    notice: &PaymentNotice,
    timing: &Timing,
    now: DateTime<Utc>,
) -> Result<Recorded, StoreError> {
    let Some(matched) = matched_order(conn, &notice.names)? else {
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
    let order = matched.id;
    let order_ref = Some(order.as_str().to_owned());
    // A business type the provider does not document is believed only as the order's own
    // (the backend may create orders with one); otherwise nothing says the notice is about
    // this order's kind of payment.
    if let Some(odd) = notice
        .odd_inst_mid
        .as_ref()
        .filter(|m| **m != matched.inst_mid)
    {
        let reason = format!(
            "instMid: {odd:?} is neither a business type the provider documents nor this order's"
        );
        let not_applied = NotApplied {
            notify_id: &notice.notify_id,
            order: Some(&order),
            order_ref,
            reason: &reason,
        };
        return record_unapplied(conn, received, not_applied, timing, now);
    }
    let first_copy = NewEntry {
        notify_id: Some(&notice.notify_id),
        order_ref: Some(order.as_str()),
        verified: true,
        // Replaced below, in this transaction: never seen by anyone.
        outcome: "received",
        ..entry(received, KIND_PAYMENT)
    };
    let journal_id = match reserve(conn, &first_copy, DUPLICATE)? {
        Reserved::First(id) => id,
        Reserved::Duplicate(journal_id) => {
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
    use crate::notify::testing::{self, received, KEY, MID, TID};
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
            ("tid", TID),
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
            let verdict = examine(&signed(&fields, KEY, SignType::Md5), &[KEY], MID, TID);

            let Verdict::Unapplied { names, reason, .. } = verdict else {
                panic!("{verdict:?}")
            };
            assert_eq!(names[0], "1017B000001");
            assert!(reason.contains(field), "{reason}");
        }
    }

    #[test]
    fn a_verified_notice_whose_mid_was_folded_into_its_neighbour_is_refused_naming_the_carrier() {
        // Arrange: signed by the provider for another merchant, then re-split so that `mid`
        // rides inside `instMid` (the signing string stays the same, so it still verifies).
        let mut fields = paid_bill();
        fields.retain(|(n, _)| *n != "mid");
        fields.push(("instMid", "QRPAYDEFAULT&mid=898340149000099"));

        // Act
        let verdict = examine(&signed(&fields, KEY, SignType::Md5), &[KEY], MID, TID);

        // Assert
        let Verdict::Rejected(refused) = verdict else {
            panic!("not refused: {verdict:?}")
        };
        assert!(refused.verified);
        assert_eq!(refused.rejection.reason, RejectReason::Malformed);
        assert!(
            refused.rejection.detail.starts_with("instMid: holds"),
            "{}",
            refused.rejection.detail
        );
        assert_eq!(refused.subject.as_deref(), Some("1017B000001"));
    }

    #[test]
    fn a_verified_notice_without_its_mid_or_tid_is_applied_to_nothing_naming_the_field() {
        for field in ["mid", "tid"] {
            let mut fields = paid_bill();
            fields.retain(|(n, _)| *n != field);

            let verdict = examine(&signed(&fields, KEY, SignType::Md5), &[KEY], MID, TID);

            let Verdict::Unapplied { names, reason, .. } = verdict else {
                panic!("{field}: not unapplied: {verdict:?}")
            };
            assert_eq!(names[0], "1017B000001");
            assert!(reason.starts_with(&format!("{field}: missing")), "{reason}");
        }
    }

    #[test]
    fn a_verified_notice_for_another_merchant_or_terminal_is_misrouted_not_refused() {
        for (field, theirs) in [("mid", "898340149000006"), ("tid", "88880099")] {
            let mut fields = paid_bill();
            fields.retain(|(n, _)| *n != field);
            fields.push((field, theirs));

            let verdict = examine(&signed(&fields, KEY, SignType::Md5), &[KEY], MID, TID);

            assert_eq!(
                verdict,
                Verdict::Misrouted {
                    notify_id: "n-1".into(),
                    order_ref: Some("1017B000001".into()),
                    field,
                    value: theirs.into(),
                }
            );
        }
    }

    #[test]
    fn a_status_outside_its_vocabulary_is_applied_to_nothing_whichever_status_field_it_is_in() {
        let payment = PAYMENT.replace("TRADE_SUCCESS", "TRADE_PAID");
        let cases = [
            ("billStatus", vec![("billStatus", "PAIDX")]),
            ("status", vec![("status", "SUCCESS")]),
            // The bill's own status would have been read; the payment's still may not be odd.
            (
                "billPayment.status",
                vec![("billPayment", payment.as_str())],
            ),
        ];

        for (field, changes) in cases {
            let mut fields = paid_bill();
            for (name, value) in changes {
                fields.retain(|(n, _)| *n != name);
                fields.push((name, value));
            }

            let verdict = examine(&signed(&fields, KEY, SignType::Md5), &[KEY], MID, TID);

            let Verdict::Unapplied { reason, .. } = verdict else {
                panic!("{field}: not unapplied: {verdict:?}")
            };
            assert!(reason.starts_with(&format!("{field}: ")), "{reason}");
        }
    }

    #[test]
    fn a_business_type_the_provider_does_not_document_is_kept_for_the_order_to_judge() {
        let with = |inst_mid: &'static str| {
            let mut fields = paid_bill();
            fields.push(("instMid", inst_mid));
            match examine(&signed(&fields, KEY, SignType::Md5), &[KEY], MID, TID) {
                Verdict::Accepted(n) => n.odd_inst_mid,
                other => panic!("{inst_mid}: {other:?}"),
            }
        };

        assert_eq!(with("QRPAYDEFAULT"), None);
        assert_eq!(with("MINIDEFAULT"), None);
        assert_eq!(with("OTHERDEFAULT"), Some("OTHERDEFAULT".to_owned()));
    }

    /// A refund of a pre-authorised bill carrying every field the gateway reads, between free
    /// text, a URL and the random field, as the provider would sign it for `mid`.
    fn every_read_field(mid: &str) -> Vec<(String, String)> {
        let payment = r#"{"merOrderId":"1017B0000010","status":"TRADE_REFUND","totalAmount":100,"paySeqId":"P1","payTime":"2026-11-21 12:01:02","settleDate":"2026-11-21","targetOrderId":"T1","targetSys":"WXPay","payDetail":"a&b=c"}"#;
        let fields = [
            ("notifyId", "n-9"),
            ("billNo", "1017B000001"),
            ("billQRCode", "https://qr.example/bills/qrCode.do?id=3194"),
            ("billDate", "2026-11-21"),
            ("billDesc", "green tea & cake"),
            ("billStatus", "REFUND"),
            ("totalAmount", "100"),
            ("seqId", "S1"),
            ("mid", mid),
            ("tid", TID),
            ("instMid", "QRPAYDEFAULT"),
            ("memo", "thanks"),
            ("billPayment", payment),
            ("refundAmount", "40"),
            ("refundOrderId", "1017R000001"),
            ("refundDesc", "partial"),
            ("authIdRespCd", "384822"),
            ("signType", "MD5"),
            ("merOrderId", "1017B000001"),
            ("status", "TRADE_REFUND"),
            ("targetOrderId", "T1"),
            ("targetSys", "WXPay"),
            ("payTime", "2026-11-21 12:01:02"),
            ("settleDate", "2026-11-21"),
            ("Qx", "AbCd"),
        ];
        testing::signed(owned(&fields), KEY, SignType::Md5)
    }

    #[test]
    fn every_field_the_gateway_reads_re_split_with_its_neighbour_is_refused_or_flagged_never_accepted(
    ) {
        use crate::notify::resplit::{refolded, Fold};
        // Arrange: genuine notices, ours and another merchant's, each carrying every field.
        for (mid, as_sent) in [(MID, "accepted"), ("898340149000099", "misrouted")] {
            let genuine = every_read_field(mid);
            let baseline = examine(&received(&genuine), &[KEY], MID, TID);
            match (&baseline, as_sent) {
                (Verdict::Accepted(_), "accepted") | (Verdict::Misrouted { .. }, "misrouted") => {}
                _ => panic!("the genuine notice for {mid} reads as {baseline:?}"),
            }

            for field in PaymentNotification::READ {
                assert!(
                    genuine.iter().any(|(n, _)| n == field),
                    "{field}: no row (the notice does not carry it)"
                );
                for fold in Fold::ALL {
                    let Some(variant) = refolded(&genuine, field, fold) else {
                        // Only the last field in the signing order has no next one.
                        assert_eq!(fold, Fold::NextIntoIt, "{field}");
                        continue;
                    };

                    // Act
                    let verdict = examine(&received(&variant), &[KEY], MID, TID);

                    // Assert: it still verifies (a `signType` that names no digest is refused
                    // before that), and is never applied as read.
                    match &verdict {
                        Verdict::Rejected(r) => assert!(
                            r.verified || r.rejection.reason == RejectReason::UnknownSignType,
                            "{field} {fold:?}: {r:?}"
                        ),
                        Verdict::Unapplied { .. } | Verdict::Misrouted { .. } => {}
                        Verdict::Accepted(n) => {
                            panic!("{mid}: {field} {fold:?} was accepted: {n:?}")
                        }
                    }
                }
            }
        }
    }

    /// A store holding the pending bill `1017B000001` of 100 fen with business type
    /// `inst_mid`.
    fn store_with_bill(
        inst_mid: &str,
    ) -> (
        crate::store::Db,
        crate::store::testing::Guard,
        DateTime<Utc>,
    ) {
        store_with_order("1017B000001", 100, inst_mid)
    }

    /// A store holding the pending order `id` of `fen` with business type `inst_mid`.
    fn store_with_order(
        id: &str,
        fen: i64,
        inst_mid: &str,
    ) -> (
        crate::store::Db,
        crate::store::testing::Guard,
        DateTime<Utc>,
    ) {
        use crate::domain::record::NewOrder;
        let (db, dir) = crate::store::testing::temp_db();
        let now = crate::clock::Clock::system().now();
        let new = NewOrder {
            id: MerOrderId::parse_stored(id).unwrap(),
            mid: MID.into(),
            tid: TID.into(),
            inst_mid: inst_mid.into(),
            qr_code_id: None,
            amount: Amount::from_fen(fen).unwrap(),
            description: None,
            preauth: false,
            expire_at: now + chrono::Duration::hours(1),
            request_digest: "test".into(),
        };
        orders::create(&mut db.conn().unwrap(), &Order::create(new, now, now)).unwrap();
        (db, dir, now)
    }

    fn timing() -> Timing {
        Timing {
            expiry_grace: std::time::Duration::from_secs(120),
            backoff: vec![std::time::Duration::from_secs(30)],
            settled_backoff: vec![std::time::Duration::from_secs(60)],
        }
    }

    fn status_of(conn: &mut Connection) -> crate::domain::order::OrderStatus {
        let id = MerOrderId::parse_stored("1017B000001").unwrap();
        orders::find(conn, &id).unwrap().unwrap().status
    }

    #[test]
    fn a_misrouted_or_unapplied_notice_takes_its_notify_id_so_a_later_copy_reading_as_ours_is_a_duplicate(
    ) {
        let mut other_mid = paid_bill();
        other_mid.retain(|(n, _)| *n != "mid");
        other_mid.push(("mid", "898340149000099"));
        let mut no_tid = paid_bill();
        no_tid.retain(|(n, _)| *n != "tid");

        for (first, outcome) in [
            (other_mid, Outcome::Misrouted),
            (no_tid, Outcome::Unapplied),
        ] {
            // Arrange: the first copy is not applied; the second, same `notifyId`, reads
            // as ours.
            let (db, _dir, now) = store_with_bill(INST_MID_BILL);
            let mut conn = db.conn().unwrap();
            let first = signed(&first, KEY, SignType::Md5);
            let second = signed(&paid_bill(), KEY, SignType::Md5);
            let (v1, v2) = (
                examine(&first, &[KEY], MID, TID),
                examine(&second, &[KEY], MID, TID),
            );
            assert!(matches!(v2, Verdict::Accepted(_)), "{v2:?}");

            // Act
            let r1 = record(&mut conn, &first, &v1, &timing(), now).unwrap();
            let r2 = record(&mut conn, &second, &v2, &timing(), now).unwrap();

            // Assert
            assert_eq!((r1.outcome, r2.outcome), (outcome, Outcome::Duplicate));
            assert_eq!(
                status_of(&mut conn),
                crate::domain::order::OrderStatus::Pending
            );
        }
    }

    #[test]
    fn every_valid_notification_vector_is_accepted_and_the_real_one_pays_its_bill() {
        // Arrange: the protocol's notification vectors (one a real notification from the
        // provider's test environment, for the test merchant and terminal).
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/vectors/notification-sign.json");
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let forms: Vec<(&str, &str, &str)> = doc["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["valid"] == true)
            .filter_map(|v| {
                Some((
                    v["name"].as_str()?,
                    v["key"].as_str()?,
                    v["formBody"].as_str()?,
                ))
            })
            .collect();
        assert!(forms.len() >= 3, "{forms:?}");
        let mut real = 0;

        for (name, key, body) in forms {
            let notice = Received {
                body: body.as_bytes().to_vec(),
                ..received(&[])
            };

            // Act
            let verdict = examine(&notice, &[key], MID, TID);

            // Assert
            let Verdict::Accepted(accepted) = &verdict else {
                panic!("{name}: {verdict:?}")
            };
            if name.starts_with("real-") {
                real += 1;
                let bill = accepted.names[0].clone();
                let (db, _dir, now) = store_with_order(&bill, 1, INST_MID_BILL);
                let mut conn = db.conn().unwrap();
                let recorded = record(&mut conn, &notice, &verdict, &timing(), now).unwrap();
                assert_eq!(recorded.outcome, Outcome::Applied, "{name}");
                let id = MerOrderId::parse_stored(&bill).unwrap();
                let paid = orders::find(&mut conn, &id).unwrap().unwrap();
                assert_eq!(paid.status, crate::domain::order::OrderStatus::Paid);
            }
        }
        assert_eq!(real, 1, "the real notification is among the vectors");
    }

    #[test]
    fn an_undocumented_business_type_is_applied_only_to_an_order_of_that_type() {
        let mut fields = paid_bill();
        fields.push(("instMid", "OTHERDEFAULT"));
        let notice = signed(&fields, KEY, SignType::Md5);
        let verdict = examine(&notice, &[KEY], MID, TID);

        for (inst_mid, outcome, status) in [
            (
                INST_MID_BILL,
                Outcome::Unapplied,
                crate::domain::order::OrderStatus::Pending,
            ),
            (
                "OTHERDEFAULT",
                Outcome::Applied,
                crate::domain::order::OrderStatus::Paid,
            ),
        ] {
            let (db, _dir, now) = store_with_bill(inst_mid);
            let mut conn = db.conn().unwrap();

            let recorded = record(&mut conn, &notice, &verdict, &timing(), now).unwrap();

            assert_eq!(recorded.outcome, outcome, "{inst_mid}");
            assert_eq!(status_of(&mut conn), status, "{inst_mid}");
        }
    }

    #[test]
    fn a_signed_bill_notification_reads_as_the_bill_status_with_the_payment_facts() {
        let notice = signed(&paid_bill(), KEY, SignType::Md5);

        let Verdict::Accepted(n) = examine(&notice, &["old-key", KEY], MID, TID) else {
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
                ("tid", TID),
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

        let Verdict::Accepted(n) = examine(&notice, &[KEY], MID, TID) else {
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

        let Verdict::Accepted(n) = examine(&signed(&fields, KEY, SignType::Md5), &[KEY], MID, TID)
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
                rejection(examine(&notice, &[KEY], MID, TID)),
                (reason, verified),
                "case {i}"
            );
        }
    }

    #[test]
    fn a_refusal_keeps_the_claimed_notify_id_and_order_for_the_journal() {
        let notice = signed(&paid_bill(), "another-key", SignType::Md5);

        let verdict = examine(&notice, &[KEY], MID, TID);

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
            rejection(examine(&big, &[KEY], MID, TID)),
            (RejectReason::TooLarge, false)
        );
        assert_eq!(
            rejection(examine(&broken, &[KEY], MID, TID)),
            (RejectReason::Malformed, false)
        );
    }
}
