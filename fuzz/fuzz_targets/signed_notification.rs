//! Fuzz target: any form body, re-signed with the notification key (the digest its own
//! `signType` selects) so that it passes the signature check, then examined as a payment
//! notification and a contract notice: reaches the field reading that only verified
//! notices get. Must never panic, and an accepted payment notice has a `notifyId`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use umsgate::chinaums::form::Form;
use umsgate::chinaums::notify_sign::{self, SignType};
use umsgate::notify::{contract, payment, BodyRead, Received};

const KEY: &str = "impARTxrQcfwmRijpDNCw6hPxaWCddKEpYxjaKXDhCaTCXJ6";
const MID: &str = "898340149000005";
const TID: &str = "88880001";

fuzz_target!(|data: &[u8]| {
    let Ok(form) = Form::parse(data) else {
        return;
    };
    let unsigned: Vec<(String, String)> = form
        .pairs()
        .iter()
        .filter(|(name, _)| name != notify_sign::SIGN_FIELD)
        .cloned()
        .collect();
    let sign_type = SignType::from_field(form.get(notify_sign::SIGN_TYPE_FIELD));
    let received = Received {
        at: chrono::Utc::now(),
        body: notify_sign::signed_form(&unsigned, KEY, sign_type).into_bytes(),
        read: BodyRead::Whole,
        content_type: Some("application/x-www-form-urlencoded".to_owned()),
        remote_addr: None,
        request_id: None,
    };
    if let payment::Verdict::Accepted(notice) = payment::examine(&received, &[KEY], MID, TID) {
        assert!(!notice.notify_id.is_empty());
    }
    let _ = contract::examine(&received, &[KEY], MID);
});
