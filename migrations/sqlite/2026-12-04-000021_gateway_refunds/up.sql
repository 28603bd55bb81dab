-- Issue 23: refunds the gateway makes live in `refunds` beside the ones the provider
-- reports (one table, `origin`), so that a refund notification finds its refund by
-- (order, refund_key) and the refunded total is counted from one place. Rows from before
-- are reported refunds, final when reported.
ALTER TABLE refunds ADD COLUMN origin TEXT NOT NULL DEFAULT 'reported'
    CHECK (origin IN ('gateway', 'reported'));
ALTER TABLE refunds ADD COLUMN status TEXT NOT NULL DEFAULT 'SUCCEEDED'
    CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED'));
-- the backend's or operator's reason, the operator who asked, the provider's errCode
ALTER TABLE refunds ADD COLUMN reason TEXT;
ALTER TABLE refunds ADD COLUMN operator TEXT;
ALTER TABLE refunds ADD COLUMN err_code TEXT;
ALTER TABLE refunds ADD COLUMN settled_at BIGINT;
ALTER TABLE refunds ADD COLUMN check_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE refunds ADD COLUMN next_check_at BIGINT;
ALTER TABLE refunds ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
UPDATE refunds SET settled_at = reported_at;
-- A refundOrderId is the idempotency key of the gateway's refunds across every order.
CREATE UNIQUE INDEX refunds_gateway_key ON refunds (refund_key) WHERE origin = 'gateway';
-- The reconciler's PENDING refunds, earliest due first.
CREATE INDEX refunds_due ON refunds (next_check_at) WHERE next_check_at IS NOT NULL;

-- A new history source ('refund': a gateway refund became final) needs a new CHECK,
-- which SQLite can only get by rebuilding the table; ids are kept.
CREATE TABLE order_events_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    mer_order_id  TEXT NOT NULL REFERENCES orders (mer_order_id),
    from_status   TEXT,
    to_status     TEXT NOT NULL,
    source        TEXT NOT NULL
                  CHECK (source IN ('api', 'notify', 'query', 'admin', 'preauth', 'operator', 'refund')),
    -- what proved it: "notification:<id>", "call:<id>", or NULL for creation
    evidence      TEXT,
    reason        TEXT,
    at            BIGINT NOT NULL,
    -- the operator who caused it (admin resyncs, review actions) and their note
    operator      TEXT,
    note          TEXT
);
INSERT INTO order_events_new (id, mer_order_id, from_status, to_status, source, evidence, reason, at, operator, note)
    SELECT id, mer_order_id, from_status, to_status, source, evidence, reason, at, operator, note FROM order_events;
DROP TABLE order_events;
ALTER TABLE order_events_new RENAME TO order_events;
CREATE INDEX order_events_order ON order_events (mer_order_id, id);
