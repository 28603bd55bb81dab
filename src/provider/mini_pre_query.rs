//! `mini-pre-query`: an order's state at the provider, asked for the order's own merchant.
//! Read-only, so asked again while the outcome is unknown or transient; it must not decide
//! what the answer means for the order.

use super::answer::About;
use super::outcome::Called;
use super::{Merchant, Operation, ProviderClient};
use crate::chinaums::wire::{MiniPreQueryRequest, MiniPreQueryResponse};

impl ProviderClient {
    /// `mini-pre-query` for `mer_order_id` (on behalf of `order`), asked as `merchant` (the
    /// order's own). Read-only, so made up to `attempts` times while the outcome is unknown
    /// or transient.
    pub async fn mini_pre_query(
        &self,
        order: &str,
        mer_order_id: &str,
        merchant: &Merchant,
        attempts: u32,
    ) -> Called<MiniPreQueryResponse> {
        let about = About {
            id: Some(("merOrderId", mer_order_id)),
            mid: Some(&merchant.mid),
            tid: Some(&merchant.tid),
        };
        self.read_only(
            Operation::MiniPreQuery,
            order,
            about,
            attempts,
            |timestamp| {
                let req = MiniPreQueryRequest {
                    request_timestamp: timestamp,
                    mid: merchant.mid.clone(),
                    tid: merchant.tid.clone(),
                    inst_mid: Some(merchant.inst_mid.clone()),
                    mer_order_id: Some(mer_order_id.to_owned()),
                    ..MiniPreQueryRequest::default()
                };
                req.validate().map(|()| req)
            },
        )
        .await
    }
}
