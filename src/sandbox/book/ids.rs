//! The provider-style identifiers the sandbox makes up (random: they must not be read
//! back as anything but ids).

/// Longest `merOrderId` the provider accepts.
pub const MAX_ORDER_ID_LEN: usize = 32;

/// `n` random decimal digits.
pub fn digits(n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rand::random_range(0..10u8)))
        .collect()
}

/// A `seqId`/`platSsn` like the provider's `00151100146N`: 11 digits and a letter.
pub fn seq_id() -> String {
    format!("{}N", digits(11))
}

/// A WeChat-Pay-like order number: 28 digits starting `4200`.
pub fn target_order_id() -> String {
    format!("4200{}", digits(24))
}

/// A 6-digit authorisation code (`authIdRespCd`), like the provider's `384822`.
pub fn auth_code() -> String {
    digits(6)
}

/// A `notifyId`: a UUID, as the provider's.
pub fn notify_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
