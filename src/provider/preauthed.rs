//! `preauthed`: completing a pre-authorisation, for the order's own merchant (the request
//! carries it). It must not be retried: a completion whose outcome is unknown is resolved
//! by querying its own order id.

use super::outcome::{Called, Outcome};
use super::{Operation, ProviderClient};
use crate::chinaums::wire::{PreauthedRequest, PreauthedResponse};

impl ProviderClient {
    /// `preauthed`. Never retried: a completion whose outcome is unknown is resolved by
    /// querying its own order id.
    pub async fn preauthed(
        &self,
        order: &str,
        req: &PreauthedRequest,
    ) -> Called<PreauthedResponse> {
        if let Err(e) = req.validate() {
            return Called::unsent(Outcome::Invalid(e));
        }
        self.call(Operation::Preauthed, Some(order), req, None)
            .await
    }
}
