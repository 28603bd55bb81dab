//! The protocol's signature test vectors (`tests/vectors/*.json`; one is a real notification
//! from the provider's test environment): every file and every vector in it, checked against
//! this module's signing, parsing and wire code. Test-only; it must not skip a vector
//! silently.

use std::path::Path;

use serde_json::Value;

use super::form::Form;
use super::notify_sign::{self, SignType, VerifyError};
use super::sign::{body_digest, body_signature, token_signature, BodySig};
use super::wire::{PaymentNotification, TokenRequest};

/// The schemes this test knows; a file with another scheme fails the test.
const SCHEMES: [&str; 3] = ["OPEN-BODY-SIG", "token-request", "notification-sign"];

fn text<'a>(vector: &'a Value, key: &str) -> &'a str {
    vector[key]
        .as_str()
        .unwrap_or_else(|| panic!("vector {} lacks {key}", vector["name"]))
}

fn check_body_sig(v: &Value) {
    let (app_id, app_key) = (text(v, "appId"), text(v, "appKey"));
    let (timestamp, nonce) = (text(v, "timestamp"), text(v, "nonce"));
    let body = text(v, "body").as_bytes();
    let authorization = text(v, "authorization");

    assert_eq!(body_digest(body), text(v, "bodySha256Hex"));
    assert_eq!(
        body_signature(app_id, app_key, timestamp, nonce, body),
        text(v, "signature")
    );
    assert_eq!(
        BodySig::sign(app_id, app_key, timestamp, nonce, body).header(),
        authorization
    );
    for header in [authorization.to_owned(), authorization.replace(", ", ",")] {
        let parsed = BodySig::parse(&header).expect("the vector's header parses");
        assert!(parsed.verify(app_key, body));
        assert!(!parsed.verify(app_key, &[body, b" ".as_slice()].concat()));
    }
}

fn check_token_request(v: &Value) {
    let (app_id, app_key) = (text(v, "appId"), text(v, "appKey"));
    let (timestamp, nonce) = (text(v, "timestamp"), text(v, "nonce"));

    let request = TokenRequest::new(app_id, app_key, timestamp, nonce);

    assert_eq!(
        token_signature(app_id, timestamp, nonce, app_key),
        text(v, "signature")
    );
    assert_eq!(request.sign_method, text(v, "signMethod"));
    assert_eq!(
        serde_json::to_string(&request).ok(),
        serde_json::to_string(&v["requestBody"]).ok()
    );
    assert!(request.verify(app_key));
}

fn check_notification_sign(v: &Value) {
    let key = text(v, "key");
    match v["formBody"].as_str() {
        Some(body) => check_notification_form(v, key, body),
        None => check_string_to_sign(v, key),
    }
}

/// A vector that gives only the string to sign and its digests.
fn check_string_to_sign(v: &Value, key: &str) {
    let expected = text(v, "stringToSign");
    let fields: Vec<(String, String)> = expected
        .strip_suffix(key)
        .expect("the string to sign ends with the key")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();

    assert_eq!(notify_sign::string_to_sign(&fields, key), expected);
    assert_eq!(
        SignType::Md5.hex_digest_upper(expected),
        text(v, "md5Upper")
    );
    assert_eq!(
        SignType::Sha256.hex_digest_upper(expected),
        text(v, "sha256Upper")
    );
}

/// A vector with a received form body, valid or tampered.
fn check_notification_form(v: &Value, key: &str, body: &str) {
    let form = Form::parse(body.as_bytes()).expect("the vector's form parses");
    let fields = form.pairs();
    let valid = v["valid"]
        .as_bool()
        .expect("a form vector says if it is valid");

    if let Some(expected) = v["stringToSign"].as_str() {
        assert_eq!(notify_sign::string_to_sign(fields, key), expected);
    }
    if let Some(expected) = v["expectedSign"].as_str() {
        let sign_type = SignType::from_field(form.get("signType"));
        assert_eq!(notify_sign::sign(fields, key, sign_type), expected);
    }
    if valid {
        assert_eq!(notify_sign::verify(fields, &[key]), Ok(0));
        assert_eq!(notify_sign::verify(fields, &["rotated-out", key]), Ok(1));
        assert!(PaymentNotification::from_form(&form).is_ok());
    } else {
        assert_eq!(
            notify_sign::verify(fields, &[key]),
            Err(VerifyError::Mismatch)
        );
    }
}

#[test]
fn every_vector_in_every_file_passes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/vectors exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let mut schemes_seen = Vec::new();
    let mut checked = 0;

    for path in &paths {
        let doc: Value = serde_json::from_slice(&std::fs::read(path).expect("readable file"))
            .expect("a vector file is JSON");
        let scheme = text(&doc, "scheme");
        let vectors = doc["vectors"].as_array().expect("a vectors array");
        let check: fn(&Value) = match scheme {
            "OPEN-BODY-SIG" => check_body_sig,
            "token-request" => check_token_request,
            "notification-sign" => check_notification_sign,
            other => panic!("{}: unknown scheme {other}", path.display()),
        };
        assert!(!vectors.is_empty(), "{}: no vectors", path.display());
        for vector in vectors {
            check(vector);
            checked += 1;
        }
        schemes_seen.push(scheme.to_owned());
    }

    schemes_seen.sort();
    let mut expected = SCHEMES.map(str::to_owned).to_vec();
    expected.sort();
    assert_eq!(schemes_seen, expected, "every scheme has exactly one file");
    // The protocol ships 4 OPEN-BODY-SIG, 1 token-request and 5 notification-sign vectors.
    assert!(checked >= 10, "only {checked} vectors were checked");
}
