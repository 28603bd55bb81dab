-- Webhook deliveries: one row per endpoint x event, and one row per attempt. The endpoint
-- is named by its configured URL.
CREATE TABLE deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    endpoint         TEXT NOT NULL,
    event_seq        INTEGER NOT NULL REFERENCES events (id),
    -- copied from the event: an order's events reach an endpoint in order
    mer_order_id     TEXT,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- when the next attempt may start (also a claim: set ahead while one is in flight)
    next_attempt_at  BIGINT,
    last_attempt_at  BIGINT,
    last_status_code INTEGER,
    last_latency_ms  BIGINT,
    -- the first bytes of the last answer, or why there was none
    last_excerpt     TEXT,
    delivered_at     BIGINT,
    created_at       BIGINT NOT NULL,
    UNIQUE (endpoint, event_seq)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_order ON deliveries (endpoint, mer_order_id, event_seq)
    WHERE status = 'pending';
CREATE INDEX deliveries_status ON deliveries (status, id);

CREATE TABLE delivery_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    delivery_id  INTEGER NOT NULL REFERENCES deliveries (id),
    at           BIGINT NOT NULL,
    status_code  INTEGER,
    latency_ms   BIGINT NOT NULL,
    outcome      TEXT NOT NULL CHECK (outcome IN ('delivered', 'refused', 'unreachable')),
    excerpt      TEXT
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);

-- How far each endpoint has taken events into deliveries (the outbox's seq).
CREATE TABLE webhook_cursors (
    endpoint       TEXT PRIMARY KEY NOT NULL,
    last_event_seq INTEGER NOT NULL
);
