//! `bills/query`: a bill's state at the provider, by its own identity, asked for the
//! order's own merchant. Read-only, so asked again while the outcome is unknown or
//! transient; it must not decide what the answer means for the order.

use super::answer::About;
use super::outcome::Called;
use super::{Operation, ProviderClient};
use crate::chinaums::wire::{BillQueryRequest, BillQueryResponse};
use crate::chinaums::INST_MID_BILL;

impl ProviderClient {
    /// `bills/query` for the bill `bill_no` of `bill_date` (on behalf of `order`): the
    /// bill's own state. Read-only, so made up to `attempts` times while the outcome is
    /// unknown or transient.
    pub async fn bill_query(
        &self,
        order: &str,
        bill_no: &str,
        bill_date: &str,
        attempts: u32,
    ) -> Called<BillQueryResponse> {
        let s = &self.shared.settings;
        let about = About {
            id: Some(("billNo", bill_no)),
            mid: Some(&s.mid),
            tid: Some(&s.tid),
        };
        self.read_only(Operation::BillQuery, order, about, attempts, |timestamp| {
            let req = BillQueryRequest {
                request_timestamp: timestamp,
                mid: s.mid.clone(),
                tid: s.tid.clone(),
                inst_mid: INST_MID_BILL.to_owned(),
                bill_no: bill_no.to_owned(),
                bill_date: bill_date.to_owned(),
                ..BillQueryRequest::default()
            };
            req.validate().map(|()| req)
        })
        .await
    }
}
