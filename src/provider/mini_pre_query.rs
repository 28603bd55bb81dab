//! `mini-pre-query`: an order's state at the provider, asked for the order's own merchant.
//! Read-only, so asked again while the outcome is unknown or transient; it must not decide
//! what the answer means for the order.

use super::answer::About;
use super::outcome::Called;
use super::{Operation, ProviderClient};
use crate::chinaums::wire::{MiniPreQueryRequest, MiniPreQueryResponse};

impl ProviderClient {
    /// `mini-pre-query` for `mer_order_id` (on behalf of `order`). Read-only, so made up to
    /// `attempts` times while the outcome is unknown or transient.
    pub async fn mini_pre_query(
        &self,
        order: &str,
        mer_order_id: &str,
        inst_mid: Option<&str>,
        attempts: u32,
    ) -> Called<MiniPreQueryResponse> {
        let s = &self.shared.settings;
        let about = About {
            id: Some(("merOrderId", mer_order_id)),
            mid: Some(&s.mid),
            tid: Some(&s.tid),
        };
        self.read_only(
            Operation::MiniPreQuery,
            order,
            about,
            attempts,
            |timestamp| {
                let req = MiniPreQueryRequest {
                    request_timestamp: timestamp,
                    mid: s.mid.clone(),
                    tid: s.tid.clone(),
                    inst_mid: inst_mid.map(str::to_owned),
                    mer_order_id: Some(mer_order_id.to_owned()),
                    ..MiniPreQueryRequest::default()
                };
                req.validate().map(|()| req)
            },
        )
        .await
    }
}
