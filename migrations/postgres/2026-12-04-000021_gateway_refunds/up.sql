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

-- A new history source: 'refund', a gateway refund became final.
ALTER TABLE order_events DROP CONSTRAINT order_events_source_check;
ALTER TABLE order_events ADD CONSTRAINT order_events_source_check
    CHECK (source IN ('api', 'notify', 'query', 'admin', 'preauth', 'operator', 'refund'));
