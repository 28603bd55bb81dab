//! Liveness, readiness and metrics. Readiness says whether the store takes writes (the
//! latest write's outcome, or a probe's: `Db::writable`); it must not
//! call the provider (a provider outage must not take the gateway out of rotation: the
//! reconciler exists for exactly that).

use actix_web::{web, HttpResponse};

use super::error::ApiError;
use super::AppState;
use crate::domain::order::OrderStatus;
use crate::store::{self, orders};

/// `GET /healthz`: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// `GET /readyz`: 200 while the store takes writes, on the file it was opened on; 503
/// while they fail (a full disk, a lost file), until one succeeds again.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match state.db.writable().await {
        Ok(()) => Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"}))),
        Err(why) => {
            log::warn!("readiness check failed: {why}");
            Err(ApiError::Unavailable("store is not writable".into()))
        }
    }
}

/// `GET /metrics`: Prometheus text, with the order gauges refreshed from the store.
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let now = state.now();
    let (counts, review, ages) = state
        .db
        .run(move |c| {
            let counts = orders::count_by_status(c)?;
            let review = orders::count_needing_review(c)?;
            let ages = orders::awaiting_by_age(c, now)?;
            Ok::<_, store::StoreError>((counts, review, ages))
        })
        .await?;
    for (bucket, n) in ages {
        state
            .metrics
            .pending_by_age
            .with_label_values(&[bucket])
            .set(n);
    }
    for (status, n) in counts {
        state
            .metrics
            .orders_by_status
            .with_label_values(&[OrderStatus::as_str(status)])
            .set(n);
    }
    state.metrics.orders_needing_review.set(review);
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render()))
}
