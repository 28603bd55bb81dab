//! Re-split notices at the real gateway (issue 25 item 2): a genuine signed notice whose
//! fields are split another way keeps its signature, since the signing string has no
//! escaping. Posted raw, each one is refused or flagged, never applied, and the genuine
//! notice it came from still pays the bill. Owns that promise over the wire; the rules and
//! a row for every field the gateway reads are `notify::resplit`'s and `notify::payment`'s
//! unit tests.

use serde_json::Value;
use umsgate::chinaums::form::Form;
use umsgate::chinaums::wire::PaymentNotification;
use umsgate::notify::resplit::{refolded, Fold};

use crate::helpers::{raw_http, PaidBill, TestApp};

/// Another merchant than `provider.mid` (the issue's).
const THEIR_MID: &str = "898340149000099";

/// The signed fields of `bill`, as the provider posts them (`sign` among them).
fn signed_pairs(bill: &PaidBill) -> Vec<(String, String)> {
    Form::parse(&bill.form())
        .expect("a signed notice is a form")
        .pairs()
        .to_vec()
}

/// `pairs` posted to `/notify/payment` by a raw peer: the status and the reply.
async fn post_raw(app: &TestApp, pairs: &[(String, String)]) -> (u16, String) {
    let body = Form::encode(pairs);
    let request = format!(
        "POST /notify/payment HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = raw_http(&app.notify, request.into_bytes()).await;
    (
        answer.status,
        String::from_utf8_lossy(&answer.body).into_owned(),
    )
}

/// The journal rows about `order`.
async fn journal(app: &TestApp, order: &str) -> Vec<Value> {
    let (_, body) = app
        .admin_get(&format!("/admin/notifications?order={order}&limit=500"))
        .await;
    body["notifications"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Creates a tracked order of 100 fen.
async fn create(app: &TestApp, id: &str) {
    let (status, body) = app
        .post_json(
            "/orders",
            &serde_json::json!({"merOrderId": id, "amount": 100}),
        )
        .await;
    assert_eq!(status.as_u16(), 201, "{body}");
}

#[actix_web::test]
async fn another_merchants_notice_with_its_mid_folded_into_inst_mid_is_refused_and_pays_nothing() {
    // Arrange: a bill of ours, and a genuine notice signed with our key for another merchant
    // that names it; the re-split copy: `mid` folded into `instMid`.
    let app = TestApp::spawn().await;
    let id = "1017RSPLIT001";
    create(&app, id).await;
    let before = app.order(id).await;
    let genuine = signed_pairs(&PaidBill::new(id).field("mid", THEIR_MID));
    let resplit = refolded(&genuine, "mid", Fold::IntoPrevious).expect("mid has a neighbour");
    assert!(resplit.contains(&("instMid".into(), format!("QRPAYDEFAULT&mid={THEIR_MID}"))));

    // Act: the re-split copy, the genuine notice, then the re-split copy again.
    let first = post_raw(&app, &resplit).await;
    let misrouted = post_raw(&app, &genuine).await;
    let again = post_raw(&app, &resplit).await;

    // Assert: refused as the project refuses a bad notice, the genuine one kept as
    // misrouted, and the bill exactly as it was.
    assert_eq!(first, (400, "FAILED".to_owned()));
    assert_eq!(misrouted, (200, "SUCCESS".to_owned()));
    assert_eq!(again, (400, "FAILED".to_owned()));
    assert_eq!(app.order(id).await, before);
    let rows = journal(&app, id).await;
    let outcomes: Vec<&str> = rows
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["rejected", "misrouted", "rejected"]);
    let detail = rows[0]["detail"].as_str().unwrap();
    assert!(detail.starts_with("malformed: instMid: holds"), "{detail}");
    assert_eq!(rows[0]["verified"], true);
}

#[actix_web::test]
async fn each_field_a_paid_bill_carries_re_split_either_way_leaves_the_bill_unpaid_until_the_genuine_notice(
) {
    // Arrange: a bill of ours; every field the gateway reads that a paid bill's notice
    // carries (the unit tests add the rest), with `signType` sent too.
    let app = TestApp::spawn().await;
    let id = "1017RSPLIT002";
    create(&app, id).await;
    let paid = || PaidBill::new(id).field("signType", "MD5");
    let carried: Vec<&str> = PaymentNotification::READ
        .into_iter()
        .filter(|field| !paid().get(field).is_empty())
        .collect();
    assert!(carried.len() >= 10, "{carried:?}");

    for field in carried {
        for fold in Fold::ALL {
            // A fresh genuine notice each time: its own notifyId.
            let Some(variant) = refolded(&signed_pairs(&paid()), field, fold) else {
                continue;
            };

            // Act
            let (status, reply) = post_raw(&app, &variant).await;

            // Assert: refused (400) or kept and flagged (200), never applied.
            assert!(
                (status, reply.as_str()) == (400, "FAILED")
                    || (status, reply.as_str()) == (200, "SUCCESS"),
                "{field} {fold:?}: {status} {reply}"
            );
            assert_eq!(app.order(id).await["status"], "PENDING", "{field} {fold:?}");
        }
    }
    let rows = journal(&app, id).await;
    assert!(rows.iter().all(|r| r["outcome"] != "applied"), "{rows:?}");

    // The genuine notice is still applied.
    assert_eq!(post_raw(&app, &signed_pairs(&paid())).await.0, 200);
    assert_eq!(app.order(id).await["status"], "PAID");
}
