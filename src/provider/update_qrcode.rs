//! `update-qrcode`: binding a new order's bill, with the settings' merchant (the order takes
//! it from there). It must not be retried: a bind whose outcome is unknown is resolved by
//! query.

use super::outcome::{Called, Outcome};
use super::{Operation, ProviderClient};
use crate::chinaums::wire::{UpdateQrcodeRequest, UpdateQrcodeResponse};

impl ProviderClient {
    /// `update-qrcode`. Never retried: a bind whose outcome is unknown is resolved by query.
    pub async fn update_qrcode(
        &self,
        order: &str,
        req: &UpdateQrcodeRequest,
    ) -> Called<UpdateQrcodeResponse> {
        if let Err(e) = req.validate_to_send() {
            return Called::unsent(Outcome::Invalid(e));
        }
        self.call(Operation::UpdateQrcode, Some(order), req, None)
            .await
    }
}
