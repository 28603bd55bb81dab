//! Request authentication (docs/protocol.md §2–3): the OPEN-BODY-SIG header and the access-token
//! signature and header. Owns computing, formatting, parsing and checking them; it must not
//! read the clock, hold credentials, or ever put a key, token or signature in a message.

use std::fmt;

use base64::{engine::general_purpose::STANDARD, Engine as _};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::secret::{Secret, REDACTED};

/// The authorization scheme of a body-signed request.
pub const BODY_SIG_SCHEME: &str = "OPEN-BODY-SIG";
/// The authorization scheme of a token-authenticated request.
pub const ACCESS_TOKEN_SCHEME: &str = "OPEN-ACCESS-TOKEN";
/// The only `signMethod` the token endpoint knows.
pub const TOKEN_SIGN_METHOD: &str = "SHA256";

/// A fresh nonce: 32 lowercase hex characters from 16 random bytes (well inside the
/// protocol's 128-character limit, and unguessable).
pub fn new_nonce() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Lowercase hex SHA-256 of the exact body bytes (the `bodyDigest` of §2).
pub fn body_digest(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The OPEN-BODY-SIG signature: standard Base64 of HMAC-SHA256 keyed with the appKey's
/// UTF-8 bytes over `appId + timestamp + nonce + bodyDigest`.
pub fn body_signature(
    app_id: &str,
    app_key: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> String {
    #[expect(
        clippy::expect_used,
        reason = "HMAC takes keys of any length: cannot fail"
    )]
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(app_key.as_bytes())
        .expect("HMAC accepts keys of any length");
    for part in [app_id, timestamp, nonce, &body_digest(body)] {
        mac.update(part.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The token endpoint's signature: lowercase hex SHA-256 of
/// `appId + timestamp + nonce + appKey`.
pub fn token_signature(app_id: &str, timestamp: &str, nonce: &str, app_key: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [app_id, timestamp, nonce, app_key] {
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// `OPEN-ACCESS-TOKEN AccessToken=<token>`.
pub fn access_token_header(token: &str) -> String {
    format!("{ACCESS_TOKEN_SCHEME} AccessToken={token}")
}

/// The token of an `OPEN-ACCESS-TOKEN AccessToken=<token>` header; `None` for any other
/// shape (other scheme, other parameter, empty token, whitespace or a comma in it).
pub fn parse_access_token_header(h: &str) -> Option<&str> {
    let token = h
        .trim()
        .strip_prefix(ACCESS_TOKEN_SCHEME)?
        .strip_prefix(' ')?
        .trim_start()
        .strip_prefix("AccessToken=")?;
    let well_formed = !token.is_empty()
        && !token
            .chars()
            .any(|c| c.is_whitespace() || c == ',' || c.is_control());
    well_formed.then_some(token)
}

/// Why an OPEN-BODY-SIG header was refused. Messages name parameters, never their values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthHeaderError {
    /// The header does not start with `OPEN-BODY-SIG `.
    #[error("authorization scheme is not OPEN-BODY-SIG")]
    WrongScheme,
    /// A parameter is not `Name="value"` with a non-empty value and no inner quote.
    #[error("authorization parameter {position} is not Name=\"value\"")]
    Malformed {
        /// 1-based position of the parameter in the header.
        position: usize,
    },
    /// A parameter other than AppId, Timestamp, Nonce, Signature.
    #[error("authorization parameter {position} is not one of AppId, Timestamp, Nonce, Signature")]
    UnknownParam {
        /// 1-based position of the parameter in the header.
        position: usize,
    },
    /// A parameter given twice.
    #[error("authorization parameter {0} is given twice")]
    DuplicateParam(&'static str),
    /// A required parameter is absent.
    #[error("authorization parameter {0} is missing")]
    MissingParam(&'static str),
}

/// The parameters of an OPEN-BODY-SIG header. `Debug` hides the signature.
#[derive(Clone, PartialEq, Eq)]
pub struct BodySig {
    /// The caller's appId.
    pub app_id: String,
    /// `yyyyMMddHHmmss`, Beijing time.
    pub timestamp: String,
    /// The caller's nonce.
    pub nonce: String,
    /// Base64 HMAC-SHA256, see [`body_signature`].
    pub signature: String,
}

/// The header's parameter names, in the order [`BodySig::header`] writes them.
const PARAMS: [&str; 4] = ["AppId", "Timestamp", "Nonce", "Signature"];

impl BodySig {
    /// Signs `body` (the exact bytes that will be sent).
    pub fn sign(app_id: &str, app_key: &str, timestamp: &str, nonce: &str, body: &[u8]) -> Self {
        BodySig {
            app_id: app_id.to_owned(),
            timestamp: timestamp.to_owned(),
            nonce: nonce.to_owned(),
            signature: body_signature(app_id, app_key, timestamp, nonce, body),
        }
    }

    /// `OPEN-BODY-SIG AppId="…", Timestamp="…", Nonce="…", Signature="…"`.
    pub fn header(&self) -> String {
        format!(
            "{BODY_SIG_SCHEME} AppId=\"{}\", Timestamp=\"{}\", Nonce=\"{}\", Signature=\"{}\"",
            self.app_id, self.timestamp, self.nonce, self.signature
        )
    }

    /// Reads a header: the scheme, then the four parameters in any order, separated by
    /// commas with or without whitespace, each `Name="value"` with a non-empty value.
    /// The scheme and names are case-sensitive, as the provider writes them. Missing,
    /// duplicate and unknown parameters are refused. Never panics.
    pub fn parse(header: &str) -> Result<BodySig, AuthHeaderError> {
        let params = header
            .trim()
            .strip_prefix(BODY_SIG_SCHEME)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or(AuthHeaderError::WrongScheme)?;
        let mut values: [Option<&str>; 4] = [None; 4];
        for (index, param) in params.split(',').enumerate() {
            let position = index + 1;
            let (name, quoted) = param
                .trim()
                .split_once('=')
                .ok_or(AuthHeaderError::Malformed { position })?;
            let value = quoted
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .filter(|v| !v.is_empty() && !v.contains('"'))
                .ok_or(AuthHeaderError::Malformed { position })?;
            let slot = PARAMS
                .iter()
                .position(|known| *known == name)
                .ok_or(AuthHeaderError::UnknownParam { position })?;
            if values[slot].replace(value).is_some() {
                return Err(AuthHeaderError::DuplicateParam(PARAMS[slot]));
            }
        }
        let [app_id, timestamp, nonce, signature] = values;
        let take = |v: Option<&str>, slot: usize| {
            v.map(str::to_owned)
                .ok_or(AuthHeaderError::MissingParam(PARAMS[slot]))
        };
        Ok(BodySig {
            app_id: take(app_id, 0)?,
            timestamp: take(timestamp, 1)?,
            nonce: take(nonce, 2)?,
            signature: take(signature, 3)?,
        })
    }

    /// Whether the signature is the one `app_key` gives for these parameters and `body`.
    /// Compared in constant time. Freshness of the timestamp and nonce is the caller's.
    pub fn verify(&self, app_key: &str, body: &[u8]) -> bool {
        let expected = body_signature(&self.app_id, app_key, &self.timestamp, &self.nonce, body);
        Secret::new(expected).matches(self.signature.as_bytes())
    }
}

impl fmt::Debug for BodySig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodySig")
            .field("app_id", &self.app_id)
            .field("timestamp", &self.timestamp)
            .field("nonce", &self.nonce)
            .field("signature", &REDACTED)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const APP_ID: &str = "10037e6f6823b20801682b6a5e5a0006";
    const APP_KEY: &str = "1c4e3b16066244ae9b236a09e5b312e8";
    const TIMESTAMP: &str = "20240101120000";
    const NONCE: &str = "0123456789abcdef0123456789abcdef";

    fn signed(body: &[u8]) -> BodySig {
        BodySig::sign(APP_ID, APP_KEY, TIMESTAMP, NONCE, body)
    }

    #[test]
    fn a_nonce_is_32_fresh_lowercase_hex_characters() {
        let (a, b) = (new_nonce(), new_nonce());

        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
        assert_ne!(a, b);
    }

    #[test]
    fn the_header_parses_without_spaces_and_in_any_order() {
        let sig = signed(b"{}");
        let compact = format!(
            "OPEN-BODY-SIG Signature=\"{}\",Nonce=\"{NONCE}\",AppId=\"{APP_ID}\",Timestamp=\"{TIMESTAMP}\"",
            sig.signature
        );

        assert_eq!(BodySig::parse(&sig.header()), Ok(sig.clone()));
        assert_eq!(BodySig::parse(&compact), Ok(sig));
    }

    #[test]
    fn malformed_headers_are_refused_with_the_reason() {
        let cases = [
            ("", AuthHeaderError::WrongScheme),
            ("Bearer abc", AuthHeaderError::WrongScheme),
            ("OPEN-BODY-SIGAppId=\"a\"", AuthHeaderError::WrongScheme),
            (
                "OPEN-BODY-SIG AppId=a, Timestamp=\"t\", Nonce=\"n\", Signature=\"s\"",
                AuthHeaderError::Malformed { position: 1 },
            ),
            (
                "OPEN-BODY-SIG AppId=\"a\", Timestamp=\"\", Nonce=\"n\", Signature=\"s\"",
                AuthHeaderError::Malformed { position: 2 },
            ),
            (
                "OPEN-BODY-SIG AppId=\"a\", Timestamp=\"t\", Nonce=\"n\"\"\", Signature=\"s\"",
                AuthHeaderError::Malformed { position: 3 },
            ),
            (
                "OPEN-BODY-SIG AppId=\"a\", Timestamp=\"t\", Nonce=\"n\", Signature=\"s\",",
                AuthHeaderError::Malformed { position: 5 },
            ),
            (
                "OPEN-BODY-SIG AppId=\"a\", Timestamp=\"t\", Nonce=\"n\", Sig=\"s\"",
                AuthHeaderError::UnknownParam { position: 4 },
            ),
            (
                "OPEN-BODY-SIG AppId=\"a\", AppId=\"b\", Nonce=\"n\", Signature=\"s\"",
                AuthHeaderError::DuplicateParam("AppId"),
            ),
            (
                "OPEN-BODY-SIG AppId=\"a\", Timestamp=\"t\", Signature=\"s\"",
                AuthHeaderError::MissingParam("Nonce"),
            ),
        ];

        for (header, expected) in cases {
            assert_eq!(BodySig::parse(header), Err(expected), "{header}");
        }
    }

    #[test]
    fn neither_debug_nor_errors_show_the_signature() {
        let sig = signed(b"body");
        let duplicate = format!("{} ,Signature=\"{}\"", sig.header(), sig.signature);

        let debug = format!("{sig:?}");
        let error = BodySig::parse(&duplicate)
            .map(|_| ())
            .unwrap_err()
            .to_string();

        assert!(!debug.contains(&sig.signature), "{debug}");
        assert!(debug.contains(REDACTED));
        assert!(!error.contains(&sig.signature), "{error}");
    }

    #[test]
    fn a_signature_made_with_another_key_does_not_verify() {
        let sig = signed(b"body");

        assert!(sig.verify(APP_KEY, b"body"));
        assert!(!sig.verify("another-key", b"body"));
    }

    #[test]
    fn the_access_token_header_round_trips_and_refuses_other_shapes() {
        let header = access_token_header("tok-123");

        assert_eq!(header, "OPEN-ACCESS-TOKEN AccessToken=tok-123");
        assert_eq!(parse_access_token_header(&header), Some("tok-123"));
        for bad in [
            "",
            "OPEN-ACCESS-TOKEN AccessToken=",
            "OPEN-ACCESS-TOKEN Token=tok",
            "OPEN-BODY-SIG AccessToken=tok",
            "OPEN-ACCESS-TOKEN AccessToken=tok extra",
            "OPEN-ACCESS-TOKENAccessToken=tok",
        ] {
            assert_eq!(parse_access_token_header(bad), None, "{bad}");
        }
    }

    /// Header-safe parameter values: no quote, no comma, non-empty.
    fn param() -> impl Strategy<Value = String> {
        "[A-Za-z0-9+/=_.-]{1,40}"
    }

    proptest! {
        #[test]
        fn signing_then_parsing_the_header_verifies(
            app_id in param(), key in ".{0,40}", ts in param(), nonce in param(),
            body in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let sig = BodySig::sign(&app_id, &key, &ts, &nonce, &body);

            let parsed = BodySig::parse(&sig.header());

            prop_assert_eq!(&parsed, &Ok(sig));
            prop_assert!(parsed.is_ok_and(|p| p.verify(&key, &body)));
        }

        #[test]
        fn flipping_any_body_byte_breaks_verification(
            body in proptest::collection::vec(any::<u8>(), 1..512),
            index in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let sig = signed(&body);
            let mut tampered = body.clone();
            tampered[index.index(body.len())] ^= flip;

            prop_assert!(!sig.verify(APP_KEY, &tampered));
        }

        #[test]
        fn changing_any_header_parameter_breaks_verification(
            field in 0usize..4, other in param(),
            body in proptest::collection::vec(any::<u8>(), 0..128),
        ) {
            let sig = signed(&body);
            let mut changed = sig.clone();
            let slot = match field {
                0 => &mut changed.app_id,
                1 => &mut changed.timestamp,
                2 => &mut changed.nonce,
                _ => &mut changed.signature,
            };
            prop_assume!(*slot != other);
            *slot = other;

            let reparsed = BodySig::parse(&changed.header());

            prop_assert!(reparsed.is_ok_and(|p| !p.verify(APP_KEY, &body)));
        }

        #[test]
        fn a_header_assembled_from_near_valid_parameters_parses_back_from_its_own_rendering(
            names in Just(PARAMS.to_vec()).prop_shuffle(),
            params in proptest::collection::vec(
                (
                    prop_oneof![9 => Just(None), 1 => prop::sample::select(vec!["Sig", "appid", ""]).prop_map(Some)],
                    prop_oneof![9 => Just("="), 1 => prop::sample::select(vec!["= ", " =", ""])],
                    prop_oneof![9 => Just("\""), 1 => prop::sample::select(vec!["", "'"])],
                    prop_oneof![
                        9 => "[A-Za-z0-9+/= \u{e9}]{1,12}",
                        1 => "[A-Za-z0-9\",]{0,6}",
                    ],
                    prop_oneof![9 => Just("\""), 1 => prop::sample::select(vec!["", "\" ", "\"\""])],
                ),
                4,
            ),
            count in prop_oneof![3 => Just(4usize), 1 => 2usize..=5],
            separator in prop::sample::select(vec![", ", ",", " , ", ",,", " "]),
        ) {
            let rendered: Vec<String> = names
                .iter()
                .cycle()
                .zip(params.iter().cycle())
                .take(count)
                .map(|(name, (renamed, eq, open, value, close))| {
                    format!("{}{eq}{open}{value}{close}", renamed.unwrap_or(name))
                })
                .collect();
            let header = format!("{BODY_SIG_SCHEME} {}", rendered.join(separator));

            let parsed = BodySig::parse(&header);

            if let Ok(sig) = parsed {
                prop_assert!(!sig.app_id.is_empty() && !sig.signature.is_empty());
                prop_assert_eq!(BodySig::parse(&sig.header()), Ok(sig));
            }
        }

        #[test]
        fn parsing_any_header_never_panics(header in ".*") {
            let _ = BodySig::parse(&header);
            let _ = BodySig::parse(&format!("OPEN-BODY-SIG {header}"));
            let _ = parse_access_token_header(&header);
        }
    }
}
