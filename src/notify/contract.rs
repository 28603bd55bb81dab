//! Contract termination notices (seed 004, docs/protocol.md §6): [`examine`] reads a received
//! notice and verifies its `sign` when it carries one (pure), and [`record`] journals it and
//! stores the contract's state keyed by `contractNo`, inside the caller's one write
//! transaction. The route's secret path token is checked before this module is reached. It
//! must not let an older notice overwrite a newer one (`store::contracts::upsert_if_newer`
//! decides, under the write lock).

use crate::store::Connection;
use chrono::{DateTime, Utc};

use super::resplit::{self, Read};
use super::{
    entry, journal_refusal, reserve, verified_form, Outcome, Received, Refused, RejectReason,
    Rejection, Reserved, Signature, KIND_CONTRACT,
};
use crate::chinaums::form::Form;
use crate::chinaums::status::ContractState;
use crate::chinaums::time;
use crate::chinaums::wire::ContractNotice;
use crate::domain::contract::{Contract, NoticeOrder};
use crate::store::notifications::{self, NewEntry};
use crate::store::{contracts, StoreError};

/// A readable contract notice, admitted by the path token and, if signed, by its `sign`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptedNotice {
    /// The state it reports (its `notification_id` and `updated_at` are set when stored).
    pub contract: Contract,
    /// Whether it carried a `sign` that verified (otherwise the token alone admitted it).
    pub signed: bool,
    /// Its `requestTimestamp`, as sent.
    pub request_timestamp: String,
}

/// What [`examine`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Admitted: verified when signed.
    Accepted(Box<AcceptedNotice>),
    /// Verified (or admitted by the token), but for another merchant than `provider.mid`:
    /// journaled in the misrouted queue (`outcome=misrouted`) for an operator, stored
    /// nowhere else, and answered `SUCCESS` like a payment for another merchant.
    Misrouted {
        /// Its `contractNo`.
        contract_no: String,
        /// Its `requestTimestamp`, as sent.
        request_timestamp: String,
        /// The merchant it names.
        mid: String,
    },
    /// Refused: journaled, nothing else.
    Rejected(Refused),
}

/// The field a refused contract notice is journaled under.
const SUBJECT_FIELDS: [&str; 1] = ["contractNo"];

/// What the gateway reads from a contract notice, for the re-split refusal.
const READ: Read = Read {
    fields: &ContractNotice::READ,
    nested: &[],
};

/// The journal's words for a second copy of a notice (the same `contractNo` and
/// `requestTimestamp`).
const DUPLICATE: &str =
    "this contractNo and requestTimestamp were already taken by an earlier copy; nothing changed";

/// The key a contract notice takes in the journal, as a payment notification takes its
/// `notifyId`: the pair that identifies a notice (seed 004).
fn notice_key(contract_no: &str, request_timestamp: &str) -> String {
    format!("{contract_no}@{request_timestamp}")
}

/// Reads a received notice: size, syntax, then the signature if it carries a `sign`
/// (against every key in `keys`; verified like a payment notification, docs/protocol.md
/// §6, assumed), then its re-split fields, fields, state and merchant. `mid` is
/// `provider.mid`: a notice without one is refused (a `mid` folded into its neighbour
/// leaves none, and nothing else says whose it is); one naming another is misrouted.
pub fn examine(received: &Received, keys: &[&str], mid: &str) -> Verdict {
    let (form, signed) = match verified_form(received, keys, Signature::IfPresent, &SUBJECT_FIELDS)
    {
        Ok(read) => read,
        Err(refused) => return Verdict::Rejected(refused),
    };
    match read(&form) {
        Ok((contract, request_timestamp)) if contract.mid != mid => Verdict::Misrouted {
            contract_no: contract.contract_no,
            request_timestamp,
            mid: contract.mid,
        },
        Ok((contract, request_timestamp)) => Verdict::Accepted(Box::new(AcceptedNotice {
            contract,
            signed,
            request_timestamp,
        })),
        Err(rejection) => Verdict::Rejected(Refused::new(
            rejection,
            signed,
            Some(&form),
            &SUBJECT_FIELDS,
        )),
    }
}

/// Reads the notice's fields into the contract state it reports: refused when they could
/// have been re-split, when `mid` is missing, or when `contractState` is not one the
/// provider documents (it is never stored as a state).
fn read(form: &Form) -> Result<(Contract, String), Rejection> {
    let malformed = |detail: String| Rejection::new(RejectReason::Malformed, detail);
    resplit::refuse_resplit(form, &READ)?;
    let n = ContractNotice::from_form(form).map_err(|e| malformed(e.to_string()))?;
    let request_ts = time::parse_body(&n.request_timestamp).ok_or_else(|| {
        malformed("requestTimestamp: must be yyyy-MM-dd HH:mm:ss in Beijing time".into())
    })?;
    if let ContractState::Unrecognised(value) = &n.contract_state {
        return Err(malformed(format!(
            "contractState: {value:?} is not a state the provider documents"
        )));
    }
    let Some(named) = n.mid.filter(|m| !m.is_empty()) else {
        return Err(malformed(
            "mid: missing, so nothing says whose contract it is".into(),
        ));
    };
    let contract = Contract {
        contract_no: n.contract_no,
        mid: named,
        contract_id: n.contract_id,
        state: n.contract_state,
        signed_time: n.contract_signed_time,
        expired_time: n.contract_expired_time,
        single_limit_amt: n.single_limit_amt,
        avl_num: n.avl_num,
        plan_id: n.plan_id,
        request_ts,
        notification_id: None,
        // Stamped when stored.
        updated_at: request_ts,
    };
    Ok((contract, n.request_timestamp))
}

/// What [`record`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The outcome, as journaled.
    pub outcome: Outcome,
    /// The journal row written.
    pub journal_id: i64,
}

/// Journals the notice and, if it was accepted and is newer than the stored state of its
/// contract, stores it. Run inside one write transaction (`Db::write`), so that the journal
/// row and the contract are kept together and two copies take turns: the later one sees
/// the earlier one's state and is a duplicate. `now` stamps the stored state.
pub fn record(
    conn: &mut Connection,
    received: &Received,
    verdict: &Verdict,
    now: DateTime<Utc>,
) -> Result<Recorded, StoreError> {
    match verdict {
        Verdict::Rejected(refused) => {
            let (outcome, journal_id) = journal_refusal(conn, received, KIND_CONTRACT, refused)?;
            Ok(Recorded {
                outcome,
                journal_id,
            })
        }
        Verdict::Misrouted {
            contract_no,
            request_timestamp,
            mid,
        } => {
            let detail = format!(
                "mid {mid} is not this gateway's merchant: kept in the misrouted queue, applied to nothing"
            );
            let key = notice_key(contract_no, request_timestamp);
            let row = NewEntry {
                notify_id: Some(&key),
                order_ref: Some(contract_no),
                verified: true,
                outcome: Outcome::Misrouted.journal(),
                detail: Some(&detail),
                ..entry(received, KIND_CONTRACT)
            };
            let (outcome, journal_id) = match reserve(conn, &row, DUPLICATE)? {
                Reserved::First(id) => (Outcome::Misrouted, id),
                Reserved::Duplicate(id) => (Outcome::Duplicate, id),
            };
            Ok(Recorded {
                outcome,
                journal_id,
            })
        }
        Verdict::Accepted(notice) => {
            let key = notice_key(&notice.contract.contract_no, &notice.request_timestamp);
            let row = NewEntry {
                notify_id: Some(&key),
                order_ref: Some(&notice.contract.contract_no),
                verified: true,
                // Replaced below, in this transaction: never seen by anyone.
                outcome: "received",
                ..entry(received, KIND_CONTRACT)
            };
            let journal_id = match reserve(conn, &row, DUPLICATE)? {
                Reserved::First(id) => id,
                Reserved::Duplicate(journal_id) => {
                    return Ok(Recorded {
                        outcome: Outcome::Duplicate,
                        journal_id,
                    })
                }
            };
            let mut contract = notice.contract.clone();
            contract.notification_id = Some(journal_id);
            contract.updated_at = now;
            let (outcome, detail) = match contracts::upsert_if_newer(conn, &contract)? {
                NoticeOrder::Newer => (
                    Outcome::Applied,
                    format!(
                        "{} as of {} ({})",
                        contract.state,
                        notice.request_timestamp,
                        if notice.signed {
                            "sign verified"
                        } else {
                            "admitted by the path token"
                        }
                    ),
                ),
                NoticeOrder::Same => (
                    Outcome::Duplicate,
                    format!(
                        "a notice of {} is already stored; nothing changed",
                        notice.request_timestamp
                    ),
                ),
                NoticeOrder::Older => (
                    Outcome::Stale,
                    format!(
                        "older than the stored notice ({}); nothing changed",
                        notice.request_timestamp
                    ),
                ),
            };
            notifications::set_outcome(conn, journal_id, outcome.journal(), Some(&detail))?;
            Ok(Recorded {
                outcome,
                journal_id,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chinaums::notify_sign::SignType;
    use crate::chinaums::status::ContractState;
    use crate::notify::testing::{received, KEY, MID};

    fn notice() -> Vec<(String, String)> {
        [
            ("requestTimestamp", "2026-11-21 12:00:00"),
            ("mid", MID),
            ("contractNo", "1017C0000001"),
            ("contractState", "RESCISSION"),
            ("planId", "P1"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
    }

    fn signed(pairs: Vec<(String, String)>, key: &str) -> Vec<(String, String)> {
        crate::notify::testing::signed(pairs, key, SignType::Md5)
    }

    /// A signed notice carrying every field the gateway reads, for `mid`.
    fn every_read_field(mid: &str) -> Vec<(String, String)> {
        let fields = [
            ("requestTimestamp", "2026-11-21 12:00:00"),
            ("mid", mid),
            ("contractNo", "1017C0000001"),
            ("contractId", "Q09OVFJBQ1QtMDAwMQ=="),
            ("contractState", "RESCISSION"),
            ("contractSignedTime", "2026-11-01 09:00:00"),
            ("contractExpiredTime", "2027-11-01 09:00:00"),
            ("singleLimitAmt", "50000"),
            ("avlNum", "10"),
            ("planId", "P1"),
            ("signType", "MD5"),
            ("Qx", "AbCd"),
        ];
        signed(
            fields
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            KEY,
        )
    }

    #[test]
    fn every_field_the_gateway_reads_re_split_with_its_neighbour_is_refused_never_stored() {
        use crate::notify::resplit::{refolded, Fold};
        // Arrange: genuine signed notices, ours and another merchant's.
        for (mid, misrouted) in [(MID, false), ("898340149000099", true)] {
            let genuine = every_read_field(mid);
            let baseline = examine(&received(&genuine), &[KEY], MID);
            assert_eq!(
                matches!(baseline, Verdict::Misrouted { .. }),
                misrouted,
                "{baseline:?}"
            );
            assert!(matches!(baseline, Verdict::Accepted(_)) != misrouted);

            for field in ContractNotice::READ {
                assert!(genuine.iter().any(|(n, _)| n == field), "{field}: no row");
                for fold in Fold::ALL {
                    let Some(variant) = refolded(&genuine, field, fold) else {
                        assert_eq!(fold, Fold::NextIntoIt, "{field}");
                        continue;
                    };

                    // Act
                    let verdict = examine(&received(&variant), &[KEY], MID);

                    // Assert: refused (or misrouted, for another merchant's), never accepted.
                    match &verdict {
                        Verdict::Rejected(r) => assert!(
                            r.verified || r.rejection.reason == RejectReason::UnknownSignType,
                            "{field} {fold:?}: {r:?}"
                        ),
                        Verdict::Misrouted { .. } => assert!(misrouted, "{field} {fold:?}"),
                        Verdict::Accepted(n) => panic!("{mid}: {field} {fold:?}: {n:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn a_notice_without_its_mid_or_with_a_state_outside_the_vocabulary_is_refused_naming_it() {
        let mut no_mid = notice();
        no_mid.retain(|(n, _)| n != "mid");
        let mut odd_state = notice();
        odd_state[3].1 = "TERMINATED".into();

        for (fields, field) in [(no_mid, "mid"), (odd_state, "contractState")] {
            let verdict = examine(&received(&signed(fields, KEY)), &[KEY], MID);

            let Verdict::Rejected(refused) = verdict else {
                panic!("{field}: not refused: {verdict:?}")
            };
            assert!(refused.verified);
            assert!(
                refused.rejection.detail.starts_with(&format!("{field}: ")),
                "{}",
                refused.rejection.detail
            );
        }
    }

    #[test]
    fn a_misrouted_notice_takes_its_contract_and_time_so_a_later_copy_reading_as_ours_is_a_duplicate(
    ) {
        // Arrange
        let (db, _dir) = crate::store::testing::temp_db();
        let mut conn = db.conn().unwrap();
        let now = crate::clock::Clock::system().now();
        let theirs = received(&every_read_field("898340149000099"));
        let ours = received(&signed(notice(), KEY));
        let misrouted = examine(&theirs, &[KEY], MID);
        let accepted = examine(&ours, &[KEY], MID);
        assert!(matches!(accepted, Verdict::Accepted(_)), "{accepted:?}");

        // Act
        let first = record(&mut conn, &theirs, &misrouted, now).unwrap();
        let second = record(&mut conn, &ours, &accepted, now).unwrap();

        // Assert
        assert_eq!(first.outcome, Outcome::Misrouted);
        assert_eq!(second.outcome, Outcome::Duplicate);
        assert_eq!(contracts::find(&mut conn, "1017C0000001").unwrap(), None);
    }

    #[test]
    fn an_unsigned_notice_is_read_on_the_token_alone() {
        let Verdict::Accepted(n) = examine(&received(&notice()), &[KEY], MID) else {
            panic!("refused")
        };

        assert!(!n.signed);
        assert_eq!(n.contract.contract_no, "1017C0000001");
        assert_eq!(n.contract.state, ContractState::Rescission);
        assert_eq!(
            n.contract.request_ts,
            time::parse_body("2026-11-21 12:00:00").unwrap()
        );
    }

    #[test]
    fn a_signed_notice_must_verify() {
        let good = examine(&received(&signed(notice(), KEY)), &[KEY], MID);
        let forged = examine(&received(&signed(notice(), "another-key")), &[KEY], MID);

        assert!(matches!(good, Verdict::Accepted(n) if n.signed));
        assert!(matches!(
            forged,
            Verdict::Rejected(Refused { rejection, subject: Some(_), .. })
                if rejection.reason == RejectReason::BadSignature
        ));
    }

    #[test]
    fn a_notice_without_its_identity_is_refused_and_one_for_another_merchant_misrouted() {
        let mut no_state = notice();
        no_state.retain(|(n, _)| n != "contractState");
        let mut other = notice();
        other[1].1 = "898340149000006".into();

        let reason = |v: Verdict| match v {
            Verdict::Rejected(r) => r.rejection.reason,
            other => panic!("not refused: {other:?}"),
        };

        assert_eq!(
            reason(examine(&received(&no_state), &[KEY], MID)),
            RejectReason::Malformed
        );
        assert_eq!(
            examine(&received(&other), &[KEY], MID),
            Verdict::Misrouted {
                contract_no: "1017C0000001".into(),
                request_timestamp: "2026-11-21 12:00:00".into(),
                mid: "898340149000006".into(),
            }
        );
    }
}
