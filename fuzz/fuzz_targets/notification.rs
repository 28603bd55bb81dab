//! Fuzz target: any bytes as a notification body, under a content type and body-read
//! ending chosen by the first byte, through the form and JSON parsers, the signature check
//! and both notices' `examine`. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use umsgate::chinaums::form::Form;
use umsgate::chinaums::notify_sign;
use umsgate::notify::{contract, payment, BodyRead, Received};

const KEY: &str = "impARTxrQcfwmRijpDNCw6hPxaWCddKEpYxjaKXDhCaTCXJ6";
const MID: &str = "898340149000005";
const TID: &str = "88880001";

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let content_type = match selector % 5 {
        0 => None,
        1 => Some("application/x-www-form-urlencoded"),
        2 => Some("application/json; charset=utf-8"),
        3 => Some("application/vnd.ums+json"),
        _ => Some("text/plain"),
    };
    let read = match selector / 5 % 8 {
        0 => BodyRead::TooLarge,
        1 => BodyRead::Failed,
        _ => BodyRead::Whole,
    };
    for form in [Form::parse(body), Form::from_json(body)]
        .into_iter()
        .flatten()
    {
        let _ = notify_sign::verify(form.pairs(), &[KEY]);
    }
    let received = Received {
        at: chrono::Utc::now(),
        body: body.to_vec(),
        read,
        content_type: content_type.map(str::to_owned),
        remote_addr: None,
        request_id: None,
    };
    let _ = payment::examine(&received, &[KEY], MID, TID);
    let _ = contract::examine(&received, &[KEY], MID);
});
