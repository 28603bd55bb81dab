//! Contract termination notices (seed 004, docs/protocol.md §6): [`examine`] reads a received
//! notice and verifies its `sign` when it carries one (pure), and [`record`] journals it and
//! stores the contract's state keyed by `contractNo`, inside the caller's one write
//! transaction. The route's secret path token is checked before this module is reached. It
//! must not let an older notice overwrite a newer one (`store::contracts::upsert_if_newer`
//! decides, under the write lock).

use crate::store::Connection;
use chrono::{DateTime, Utc};

use super::{
    entry, insert_row, journal_refusal, verified_form, Outcome, Received, Refused, RejectReason,
    Rejection, Signature, KIND_CONTRACT,
};
use crate::chinaums::form::Form;
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
        /// The merchant it names.
        mid: String,
    },
    /// Refused: journaled, nothing else.
    Rejected(Refused),
}

/// The field a refused contract notice is journaled under.
const SUBJECT_FIELDS: [&str; 1] = ["contractNo"];

/// Reads a received notice: size, syntax, then the signature if it carries a `sign`
/// (against every key in `keys`; verified like a payment notification, docs/protocol.md
/// §6, assumed), then its fields and merchant. `mid` is `provider.mid`: a notice without
/// one is taken as ours, since only our URL was given it; one naming another is misrouted.
pub fn examine(received: &Received, keys: &[&str], mid: &str) -> Verdict {
    let (form, signed) = match verified_form(received, keys, Signature::IfPresent, &SUBJECT_FIELDS)
    {
        Ok(read) => read,
        Err(refused) => return Verdict::Rejected(refused),
    };
    match read(&form, mid) {
        Ok((contract, _)) if contract.mid != mid => Verdict::Misrouted {
            contract_no: contract.contract_no,
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

/// Reads the notice's fields into the contract state it reports.
fn read(form: &Form, mid: &str) -> Result<(Contract, String), Rejection> {
    let malformed = |detail: String| Rejection::new(RejectReason::Malformed, detail);
    let n = ContractNotice::from_form(form).map_err(|e| malformed(e.to_string()))?;
    let request_ts = time::parse_body(&n.request_timestamp).ok_or_else(|| {
        malformed("requestTimestamp: must be yyyy-MM-dd HH:mm:ss in Beijing time".into())
    })?;
    let contract = Contract {
        contract_no: n.contract_no,
        mid: n.mid.unwrap_or_else(|| mid.to_owned()),
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
        Verdict::Misrouted { contract_no, mid } => {
            let detail = format!(
                "mid {mid} is not this gateway's merchant: kept in the misrouted queue, applied to nothing"
            );
            let journal_id = insert_row(
                conn,
                &NewEntry {
                    order_ref: Some(contract_no),
                    verified: true,
                    outcome: Outcome::Misrouted.journal(),
                    detail: Some(&detail),
                    ..entry(received, KIND_CONTRACT)
                },
            )?;
            Ok(Recorded {
                outcome: Outcome::Misrouted,
                journal_id,
            })
        }
        Verdict::Accepted(notice) => {
            let journal_id = insert_row(
                conn,
                &NewEntry {
                    order_ref: Some(&notice.contract.contract_no),
                    verified: true,
                    // Replaced below, in this transaction: never seen by anyone.
                    outcome: "received",
                    ..entry(received, KIND_CONTRACT)
                },
            )?;
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
                mid: "898340149000006".into(),
            }
        );
    }
}
