//! `bills/query`: a bill's state at the provider, by its own identity, asked for the
//! order's own merchant. Read-only, so asked again while the outcome is unknown or
//! transient; it must not decide what the answer means for the order.

use super::answer::About;
use super::outcome::Called;
use super::{Merchant, Operation, ProviderClient};
use crate::chinaums::wire::{BillQueryRequest, BillQueryResponse};

impl ProviderClient {
    /// `bills/query` for the bill `bill_no` of `bill_date` (on behalf of `order`): the
    /// bill's own state, asked as `merchant` (the order's own). Read-only, so made up to
    /// `attempts` times while the outcome is unknown or transient.
    pub async fn bill_query(
        &self,
        order: &str,
        merchant: &Merchant,
        bill_no: &str,
        bill_date: &str,
        attempts: u32,
    ) -> Called<BillQueryResponse> {
        let about = About {
            id: Some(("billNo", bill_no)),
            mid: Some(&merchant.mid),
            tid: Some(&merchant.tid),
        };
        self.read_only(Operation::BillQuery, order, about, attempts, |timestamp| {
            let req = BillQueryRequest {
                request_timestamp: timestamp,
                mid: merchant.mid.clone(),
                tid: merchant.tid.clone(),
                inst_mid: merchant.inst_mid.clone(),
                bill_no: bill_no.to_owned(),
                bill_date: bill_date.to_owned(),
                ..BillQueryRequest::default()
            };
            req.validate().map(|()| req)
        })
        .await
    }
}
