//! What the book's tests share: a fixed instant, amounts, a bill to bind, a payment as
//! the buyer makes it, an authorised pre-authorisation. Test code only.

use chrono::{DateTime, TimeZone, Utc};

use crate::domain::money::Amount;

use super::{Book, NewBill, Order, PayArgs, Refusal};

/// The instant every test acts at.
pub(super) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 4, 0, 0).unwrap()
}

/// `v` fen.
pub(super) fn fen(v: i64) -> Amount {
    Amount::from_fen(v).unwrap()
}

/// A bill of `amount` fen to bind to QR code `qr`.
pub(super) fn bill(qr: &str, bill_no: &str, amount: i64, preauth: bool) -> NewBill {
    NewBill {
        qr_code_id: qr.into(),
        bill_no: bill_no.into(),
        bill_date: "2026-11-21".into(),
        amount: fen(amount),
        expire_at: None,
        notify_url: Some("http://127.0.0.1:1/notify".into()),
        preauth,
        bill_desc: None,
        member_id: None,
        counter_no: None,
        bill_qr_code: format!("https://qr.example/{qr}"),
    }
}

/// The buyer pays order `id` in full, as it asks.
pub(super) fn pay(book: &mut Book, id: &str) -> Result<Order, Refusal> {
    book.pay(
        id,
        PayArgs {
            amount: None,
            preauth: None,
        },
        t0(),
    )
    .cloned()
}

/// A pre-authorised bill, paid: its attempt id and authorisation code.
pub(super) fn authorised(book: &mut Book) -> (String, String) {
    book.bind_bill(bill("QR1", "1017AUTH0001", 100, true), t0())
        .unwrap();
    let paid = pay(book, "1017AUTH0001").unwrap();
    let payment = paid.payment.unwrap();
    (payment.attempt_id, payment.auth_code.unwrap())
}
