//! `umsgate demo` plays its four scenarios to their expected ends, and shows the webhooks
//! each order produced.

use std::path::Path;

#[actix_web::test]
async fn the_demo_pays_recovers_closes_and_refuses_as_it_says() {
    let rows = umsgate::demo::run(Some(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config")))
        .await
        .expect("demo runs");

    let ends: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.outcome.as_str(), r.via.as_str()))
        .collect();
    assert_eq!(ends.len(), 4);
    assert_eq!(ends[0], ("PAID", "notify (provider)"));
    assert_eq!(ends[1], ("PAID", "query (provider)"));
    assert_eq!(ends[2].0, "CLOSED");
    assert!(
        ends[3].0.starts_with("FAILED (order stays PENDING)"),
        "{:?}",
        ends[3]
    );
    // The webhooks each order produced reached the demo's receiver, signed.
    let hooks: Vec<&str> = rows.iter().map(|r| r.webhooks.as_str()).collect();
    assert!(
        hooks.iter().all(|h| h.starts_with("created +")),
        "{hooks:?}"
    );
    assert!(
        hooks[0].contains("paid +") && hooks[1].contains("paid +"),
        "{hooks:?}"
    );
    assert!(hooks[2].contains("closed +"), "{hooks:?}");
    assert!(!hooks[3].contains("paid"), "{hooks:?}");
    assert!(
        !hooks.iter().any(|h| h.contains("BAD SIGNATURE")),
        "{hooks:?}"
    );
}
