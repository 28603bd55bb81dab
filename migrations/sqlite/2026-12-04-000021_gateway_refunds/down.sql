CREATE TABLE order_events_old (
    id            INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    mer_order_id  TEXT NOT NULL REFERENCES orders (mer_order_id),
    from_status   TEXT,
    to_status     TEXT NOT NULL,
    source        TEXT NOT NULL
                  CHECK (source IN ('api', 'notify', 'query', 'admin', 'preauth', 'operator')),
    evidence      TEXT,
    reason        TEXT,
    at            BIGINT NOT NULL,
    operator      TEXT,
    note          TEXT
);
-- A refund's entry is recorded as a notification's.
INSERT INTO order_events_old (id, mer_order_id, from_status, to_status, source, evidence, reason, at, operator, note)
    SELECT id, mer_order_id, from_status, to_status,
           CASE source WHEN 'refund' THEN 'notify' ELSE source END, evidence, reason, at, operator, note
    FROM order_events;
DROP TABLE order_events;
ALTER TABLE order_events_old RENAME TO order_events;
CREATE INDEX order_events_order ON order_events (mer_order_id, id);

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
