CREATE TABLE order_events_old (
    id            INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    mer_order_id  TEXT NOT NULL REFERENCES orders (mer_order_id),
    from_status   TEXT,
    to_status     TEXT NOT NULL,
    source        TEXT NOT NULL CHECK (source IN ('api', 'notify', 'query', 'admin', 'preauth')),
    evidence      TEXT,
    reason        TEXT,
    at            BIGINT NOT NULL
);
-- An operator's review action is recorded as an admin one.
INSERT INTO order_events_old (id, mer_order_id, from_status, to_status, source, evidence, reason, at)
    SELECT id, mer_order_id, from_status, to_status,
           CASE source WHEN 'operator' THEN 'admin' ELSE source END, evidence, reason, at
    FROM order_events;
DROP TABLE order_events;
ALTER TABLE order_events_old RENAME TO order_events;
CREATE INDEX order_events_order ON order_events (mer_order_id, id);

DROP INDEX orders_review;
ALTER TABLE orders ADD COLUMN needs_review BOOLEAN NOT NULL DEFAULT 0;
UPDATE orders SET needs_review = 1 WHERE review_flagged_at IS NOT NULL;
ALTER TABLE orders DROP COLUMN review_flagged_at;
CREATE INDEX orders_review ON orders (mer_order_id) WHERE needs_review;
