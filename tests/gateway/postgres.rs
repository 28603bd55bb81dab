//! The store with several writers at once, as PostgreSQL has them (and SQLite serialises):
//! the event feed read during many concurrent writers misses nothing. Run on the backend
//! of the suite (`UMSGATE_TEST_DATABASE_URL`): on SQLite it holds by the single writer, on
//! PostgreSQL by the feed's commit-order lock (docs/architecture.md §5).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use umsgate::domain::ids::MerOrderId;
use umsgate::domain::money::Amount;
use umsgate::domain::record::{NewOrder, Order};
use umsgate::store::{orders, outbox, write_transaction, StoreError};

use crate::helpers::TestApp;

/// Writer threads: more than the pool has connections, so writers also queue for those.
const WRITERS: usize = 12;
/// Orders each writer creates, one transaction each (each writes one event).
const ORDERS_EACH: usize = 25;

fn order(i: usize) -> Order {
    let now = umsgate::clock::Clock::system().now();
    Order::create(
        NewOrder {
            id: MerOrderId::parse_stored(&format!("1017FEED{i:08}")).expect("id"),
            mid: "898340149000005".into(),
            tid: "88880001".into(),
            inst_mid: "MINIDEFAULT".into(),
            qr_code_id: None,
            amount: Amount::from_fen(100).expect("amount"),
            description: None,
            preauth: false,
            expire_at: now + chrono::Duration::hours(1),
            request_digest: format!("feed-{i}"),
        },
        now,
        now + chrono::Duration::hours(1),
    )
}

#[actix_web::test]
async fn a_reader_following_the_feed_during_many_concurrent_writers_misses_no_event() {
    // Arrange: writers that each create orders in transactions that stay open a moment
    // after their event is written (as a payment's journal row or a slow commit would), so
    // that, without the feed's lock, a later id often commits before an earlier one.
    let app = TestApp::spawn_with(json!({"store": {"pool_size": 16}})).await;
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let db = app.db.clone();
            std::thread::spawn(move || {
                for k in 0..ORDERS_EACH {
                    let i = w * ORDERS_EACH + k;
                    let mut conn = db.conn().expect("connection");
                    write_transaction(&mut conn, |c| {
                        orders::create(c, &order(i))?;
                        std::thread::sleep(Duration::from_millis(
                            u64::try_from(i % 3).unwrap_or(0),
                        ));
                        Ok::<_, StoreError>(())
                    })
                    .expect("order written");
                }
            })
        })
        .collect();
    let finisher = {
        let done = done.clone();
        std::thread::spawn(move || {
            for w in writers {
                w.join().expect("writer");
            }
            done.store(true, Ordering::Release);
        })
    };

    // Act: follow the feed with `after=` throughout, and once more after the last commit.
    let mut seen = Vec::<String>::new();
    let mut after = "0".to_owned();
    loop {
        let finished = done.load(Ordering::Acquire);
        let (status, page) = app.get(&format!("/events?after={after}&limit=50")).await;
        assert_eq!(status, 200, "{page}");
        let events = page["events"].as_array().expect("events").clone();
        seen.extend(
            events
                .iter()
                .map(|e| e["id"].as_str().expect("id").to_owned()),
        );
        after = page["next"].as_str().expect("next").to_owned();
        if finished && events.is_empty() {
            break;
        }
        if events.is_empty() {
            actix_web::rt::time::sleep(Duration::from_millis(1)).await;
        }
    }
    finisher.join().expect("writers");

    // Assert: every event of the final table was seen, each once.
    let mut conn = app.db.conn().expect("connection");
    let table: Vec<String> = outbox::page(
        &mut conn,
        &outbox::FeedFilter {
            limit: 100_000,
            ..Default::default()
        },
    )
    .expect("feed")
    .into_iter()
    .map(|e| e.id)
    .collect();
    assert_eq!(table.len(), WRITERS * ORDERS_EACH);
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "an event was shown twice");
    let missed: Vec<&String> = table.iter().filter(|id| !unique.contains(id)).collect();
    assert!(
        missed.is_empty(),
        "the reader missed {} of {} events, e.g. {:?}",
        missed.len(),
        table.len(),
        missed.first()
    );
}
