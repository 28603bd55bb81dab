//! The token endpoint's request and answer (docs/protocol.md §3) and the auth layer's error
//! shape. Owns their fields; it must not cache tokens or read the clock.

use serde::{Deserialize, Serialize};

use super::{expose, expose_opt, int, text, FieldError};
use crate::chinaums::sign::{token_signature, TOKEN_SIGN_METHOD};
use crate::chinaums::time;
use crate::secret::Secret;

/// The token endpoint's success code (not `SUCCESS`, unlike the business operations).
pub const TOKEN_SUCCESS: &str = "0000";
/// The protocol's nonce limit (§2).
const MAX_NONCE_LEN: usize = 128;

/// `POST /v1/token/access`. `Debug` hides the signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRequest {
    /// The caller's appId.
    #[serde(default)]
    pub app_id: String,
    /// `yyyyMMddHHmmss`, Beijing time.
    #[serde(default)]
    pub timestamp: String,
    /// Random, ≤128 characters.
    #[serde(default)]
    pub nonce: String,
    /// Always `SHA256`.
    #[serde(default)]
    pub sign_method: String,
    /// See [`token_signature`].
    #[serde(serialize_with = "expose", default = "empty_secret")]
    pub signature: Secret,
}

fn empty_secret() -> Secret {
    Secret::new("")
}

impl TokenRequest {
    /// A signed token request.
    pub fn new(app_id: &str, app_key: &str, timestamp: &str, nonce: &str) -> Self {
        TokenRequest {
            app_id: app_id.to_owned(),
            timestamp: timestamp.to_owned(),
            nonce: nonce.to_owned(),
            sign_method: TOKEN_SIGN_METHOD.to_owned(),
            signature: Secret::new(token_signature(app_id, timestamp, nonce, app_key)),
        }
    }

    /// Checks the fields are present and well-formed (not the signature's value).
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.app_id.is_empty() {
            return Err(FieldError::new("appId", "is required"));
        }
        if time::parse_compact(&self.timestamp).is_none() {
            return Err(FieldError::new("timestamp", "must be yyyyMMddHHmmss"));
        }
        text("nonce", &self.nonce, 1..=MAX_NONCE_LEN)?;
        if self.sign_method != TOKEN_SIGN_METHOD {
            return Err(FieldError::new("signMethod", "must be SHA256"));
        }
        if self.signature.is_empty() {
            return Err(FieldError::new("signature", "is required"));
        }
        Ok(())
    }

    /// Whether the signature is the one `app_key` gives. Constant-time.
    pub fn verify(&self, app_key: &str) -> bool {
        let expected = token_signature(&self.app_id, &self.timestamp, &self.nonce, app_key);
        Secret::new(expected).matches(self.signature.expose().as_bytes())
    }
}

/// The token endpoint's answer. `Debug` hides the token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    /// [`TOKEN_SUCCESS`] or an error code.
    pub err_code: String,
    /// The code's text.
    #[serde(default)]
    pub err_info: String,
    /// The token, on success.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        serialize_with = "expose_opt"
    )]
    pub access_token: Option<Secret>,
    /// Seconds the token lives.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "int::opt"
    )]
    pub expires_in: Option<i64>,
}

impl TokenResponse {
    /// Whether a token was issued: `errCode` is `0000` and a token is present.
    pub fn is_success(&self) -> bool {
        self.err_code == TOKEN_SUCCESS && self.access_token.as_ref().is_some_and(|t| !t.is_empty())
    }
}

/// What the auth layer answers (with a non-200 status): a numeric-string `errCode` and
/// `errInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthError {
    /// A numeric string, e.g. `1000`.
    pub err_code: String,
    /// The code's text.
    #[serde(default)]
    pub err_info: String,
}

#[cfg(test)]
mod tests {
    use super::super::{from_json, Breakage};
    use super::*;

    const APP_KEY: &str = "1c4e3b16066244ae9b236a09e5b312e8";

    fn request() -> TokenRequest {
        TokenRequest::new(
            "10037e6f6823b20801682b6a5e5a0006",
            APP_KEY,
            "20240101120000",
            "0123456789abcdef0123456789abcdef",
        )
    }

    #[test]
    fn a_token_request_validates_and_verifies_with_its_key_only() {
        let sent = request();

        assert_eq!(sent.validate(), Ok(()));
        assert!(sent.verify(APP_KEY));
        assert!(!sent.verify("another-key"));
        assert!(!format!("{sent:?}").contains(sent.signature.expose()));
    }

    #[test]
    fn a_token_request_with_bad_fields_is_refused_naming_the_field() {
        let cases: Vec<Breakage<TokenRequest>> = vec![
            ("appId", |r| r.app_id.clear()),
            ("timestamp", |r| r.timestamp = "2024-01-01 12:00:00".into()),
            ("nonce", |r| r.nonce = "n".repeat(129)),
            ("signMethod", |r| r.sign_method = "MD5".into()),
            ("signature", |r| r.signature = Secret::new("")),
        ];

        for (field, break_it) in cases {
            let mut sent = request();
            break_it(&mut sent);

            assert_eq!(sent.validate().map_err(|e| e.field), Err(field.to_owned()));
        }
        let unsigned: TokenRequest = from_json(br#"{"appId":"a"}"#).unwrap();
        assert!(unsigned.validate().is_err());
    }

    #[test]
    fn a_token_answer_is_a_success_only_with_0000_and_a_token() {
        let issued: TokenResponse = from_json(
            r#"{"errCode":"0000","errInfo":"正常","accessToken":"tok-1","expiresIn":"3600"}"#
                .as_bytes(),
        )
        .unwrap();
        let refused: TokenResponse =
            from_json(br#"{"errCode":"1000","errInfo":"invalid"}"#).unwrap();

        assert!(issued.is_success());
        assert_eq!(issued.expires_in, Some(3600));
        assert!(!format!("{issued:?}").contains("tok-1"));
        assert!(serde_json::to_string(&issued)
            .unwrap()
            .contains("\"accessToken\":\"tok-1\""));
        assert!(!refused.is_success());
    }
}
