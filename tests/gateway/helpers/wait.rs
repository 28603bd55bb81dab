//! Waiting for what another task makes true (a notification arriving, a delivery), by
//! polling with a bound. It must not stand in for timing: tests move the clock instead.

/// Polls `check` every 20 ms until it answers `Some`, for at most 20 s, and returns what it
/// found; panics naming `what`. For conditions that another task makes true (a
/// notification arriving), not timing.
pub async fn eventually_some<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..1000 {
        if let Some(found) = check().await {
            return found;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("gave up waiting for: {what}");
}

/// [`eventually_some`] for a condition that holds or not.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually_some(what, || {
        let holds = check();
        async move { holds.await.then_some(()) }
    })
    .await
}
