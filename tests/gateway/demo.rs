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

#[test]
fn the_demo_ends_without_an_error_line_run_after_run() {
    // Three runs of the real binary: the throw-away database used to be removed while the
    // gateway was still stopping, and one run in three ended with the store's ERROR line
    // ("database file … was deleted or replaced while serving").
    for run in 1..=3 {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_umsgate"))
            .arg("demo")
            .env_remove("RUST_LOG")
            .output()
            .expect("the demo starts");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "run {run}: {text}");
        assert!(
            text.contains("forged paid notification"),
            "run {run}: {text}"
        );
        assert!(!text.contains("ERROR"), "run {run}: {text}");
    }
}
