-- A refund's entry is recorded as a notification's.
UPDATE order_events SET source = 'notify' WHERE source = 'refund';
ALTER TABLE order_events DROP CONSTRAINT order_events_source_check;
ALTER TABLE order_events ADD CONSTRAINT order_events_source_check
    CHECK (source IN ('api', 'notify', 'query', 'admin', 'preauth', 'operator'));

DROP INDEX refunds_due;
DROP INDEX refunds_gateway_key;
-- Only refunds that happened stay.
DELETE FROM refunds WHERE status <> 'SUCCEEDED';
ALTER TABLE refunds DROP COLUMN version;
ALTER TABLE refunds DROP COLUMN next_check_at;
ALTER TABLE refunds DROP COLUMN check_attempts;
ALTER TABLE refunds DROP COLUMN settled_at;
ALTER TABLE refunds DROP COLUMN err_code;
ALTER TABLE refunds DROP COLUMN operator;
ALTER TABLE refunds DROP COLUMN reason;
ALTER TABLE refunds DROP COLUMN status;
ALTER TABLE refunds DROP COLUMN origin;
