//! The `contracts` table: one row per `contractNo`, holding the newest notice's state. It
//! must not let an older notice overwrite a newer one.

use crate::store::Connection;
use diesel::prelude::*;

use super::schema::contracts;
use super::{from_ms, outbox, to_ms, StoreError};
use crate::chinaums::status::ContractState;
use crate::domain::contract::{order_notice, Contract, NoticeOrder};
use crate::domain::outbox::contract_event_type;

const TABLE: &str = "contracts";

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = contracts, primary_key(contract_no), treat_none_as_null = true)]
#[diesel(check_for_backend(crate::store::MultiBackend))]
struct ContractRow {
    contract_no: String,
    mid: String,
    contract_id: Option<String>,
    contract_state: String,
    contract_signed_time: Option<String>,
    contract_expired_time: Option<String>,
    single_limit_amt: Option<String>,
    avl_num: Option<String>,
    plan_id: Option<String>,
    request_ts: i64,
    notification_id: Option<i64>,
    updated_at: i64,
}

impl From<&Contract> for ContractRow {
    fn from(c: &Contract) -> Self {
        ContractRow {
            contract_no: c.contract_no.clone(),
            mid: c.mid.clone(),
            contract_id: c.contract_id.clone(),
            contract_state: c.state.as_str().to_owned(),
            contract_signed_time: c.signed_time.clone(),
            contract_expired_time: c.expired_time.clone(),
            single_limit_amt: c.single_limit_amt.clone(),
            avl_num: c.avl_num.clone(),
            plan_id: c.plan_id.clone(),
            request_ts: to_ms(c.request_ts),
            notification_id: c.notification_id,
            updated_at: to_ms(c.updated_at),
        }
    }
}

impl TryFrom<ContractRow> for Contract {
    type Error = StoreError;
    fn try_from(r: ContractRow) -> Result<Self, StoreError> {
        Ok(Contract {
            request_ts: from_ms(TABLE, &r.contract_no, r.request_ts)?,
            updated_at: from_ms(TABLE, &r.contract_no, r.updated_at)?,
            state: ContractState::parse(&r.contract_state),
            contract_no: r.contract_no,
            mid: r.mid,
            contract_id: r.contract_id,
            signed_time: r.contract_signed_time,
            expired_time: r.contract_expired_time,
            single_limit_amt: r.single_limit_amt,
            avl_num: r.avl_num,
            plan_id: r.plan_id,
            notification_id: r.notification_id,
        })
    }
}

/// The stored state of one contract.
pub fn find(conn: &mut Connection, contract_no: &str) -> Result<Option<Contract>, StoreError> {
    // `get_result`, not `first`: see `orders::find` (a bound LIMIT defeats the statement cache).
    contracts::table
        .find(contract_no)
        .select(ContractRow::as_select())
        .get_result(conn)
        .optional()?
        .map(Contract::try_from)
        .transpose()
}

/// Stores `notice` if it is newer than what is stored for its contract, with its outbox
/// event (`domain::outbox::contract_event_type`; stamped with `notice.updated_at`). Run
/// inside a write transaction, with the notice's journal row.
pub fn upsert_if_newer(
    conn: &mut Connection,
    notice: &Contract,
) -> Result<NoticeOrder, StoreError> {
    super::lock_row(conn, super::Lockable::Contract(&notice.contract_no))?;
    let stored = find(conn, &notice.contract_no)?;
    let order = order_notice(stored.as_ref(), notice.request_ts);
    if order == NoticeOrder::Newer {
        let row = ContractRow::from(notice);
        per_backend!(conn, |c| diesel::insert_into(contracts::table)
            .values(&row)
            .on_conflict(contracts::contract_no)
            .do_update()
            .set(&row)
            .execute(c))?;
        outbox::record_contract(
            conn,
            contract_event_type(&notice.state),
            notice,
            notice.updated_at,
        )?;
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_db;
    use chrono::{TimeZone, Utc};

    fn notice(state: ContractState, minute: u32) -> Contract {
        let at = Utc.with_ymd_and_hms(2026, 11, 21, 4, minute, 0).unwrap();
        Contract {
            contract_no: "CN20261121001".into(),
            mid: "898340149000005".into(),
            contract_id: Some("abc=".into()),
            state,
            signed_time: None,
            expired_time: None,
            single_limit_amt: Some("10000".into()),
            avl_num: None,
            plan_id: Some("P1".into()),
            request_ts: at,
            notification_id: None,
            updated_at: at,
        }
    }

    #[test]
    fn a_newer_notice_replaces_the_state_and_an_older_one_does_not() {
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();

        let first = upsert_if_newer(&mut conn, &notice(ContractState::Signed, 1)).unwrap();
        let newer = upsert_if_newer(&mut conn, &notice(ContractState::Rescission, 5)).unwrap();
        let older = upsert_if_newer(&mut conn, &notice(ContractState::Signed, 3)).unwrap();
        let same = upsert_if_newer(&mut conn, &notice(ContractState::Rescission, 5)).unwrap();

        assert_eq!(
            (first, newer, older, same),
            (
                NoticeOrder::Newer,
                NoticeOrder::Newer,
                NoticeOrder::Older,
                NoticeOrder::Same
            )
        );
        let stored = find(&mut conn, "CN20261121001").unwrap().unwrap();
        assert_eq!(stored, notice(ContractState::Rescission, 5));
    }

    #[test]
    fn only_a_notice_that_is_kept_produces_an_event_and_a_termination_says_so() {
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();

        for (state, minute) in [
            (ContractState::Signed, 1),
            (ContractState::Rescission, 5),
            (ContractState::Signed, 3),
            (ContractState::Rescission, 5),
        ] {
            upsert_if_newer(&mut conn, &notice(state, minute)).unwrap();
        }

        let feed = outbox::page(
            &mut conn,
            &outbox::FeedFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
        let kinds: Vec<_> = feed.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["contract.updated", "contract.terminated"]);
        let body: serde_json::Value = serde_json::from_str(&feed[1].body).unwrap();
        assert_eq!(body["data"]["contractNo"], "CN20261121001");
        assert_eq!(body["data"]["contractState"], "RESCISSION");
    }
}
