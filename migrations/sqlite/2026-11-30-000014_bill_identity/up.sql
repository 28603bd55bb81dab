-- A bill and its payment attempts have different ids at the provider: the attempt's
-- merOrderId (billPayment.merOrderId) is the bill number plus a suffix. Each one seen in a
-- notification or an answer is kept, so that the reconciler can ask about it too.
CREATE TABLE payment_attempts (
    mer_order_id  TEXT NOT NULL REFERENCES orders (mer_order_id),
    attempt_id    TEXT NOT NULL,
    -- where it was first seen: notify | query | admin
    source        TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    PRIMARY KEY (mer_order_id, attempt_id)
);

-- Each refund the provider reports, as reported: the key is its refund order id when the
-- notice carries one, else the notice's notifyId. Counted, never guessed: the order's
-- refunded total is only set from these when both readings of refundAmount agree.
CREATE TABLE refunds (
    id            INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    mer_order_id  TEXT NOT NULL REFERENCES orders (mer_order_id),
    refund_key    TEXT NOT NULL,
    amount_fen    BIGINT NOT NULL CHECK (amount_fen >= 0),
    reported_at   BIGINT NOT NULL,
    -- "notification:<id>"
    evidence      TEXT,
    UNIQUE (mer_order_id, refund_key)
);
