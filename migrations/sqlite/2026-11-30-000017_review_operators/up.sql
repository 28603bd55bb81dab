-- Issue 16: when an order was flagged for review replaces the bare flag (flagged = a time
-- is set), and each history entry can name the operator who caused it and their note.
ALTER TABLE orders ADD COLUMN review_flagged_at BIGINT;
-- Orders flagged before this migration: the last change is the best time known.
UPDATE orders SET review_flagged_at = updated_at WHERE needs_review;
DROP INDEX orders_review;
ALTER TABLE orders DROP COLUMN needs_review;
-- Operators' review queue.
CREATE INDEX orders_review ON orders (review_flagged_at) WHERE review_flagged_at IS NOT NULL;

-- A new source ('operator': a review action) needs a new CHECK, which SQLite can only
-- get by rebuilding the table; ids are kept, so history references stay valid.
CREATE TABLE order_events_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    mer_order_id  TEXT NOT NULL REFERENCES orders (mer_order_id),
    from_status   TEXT,
    to_status     TEXT NOT NULL,
    source        TEXT NOT NULL
                  CHECK (source IN ('api', 'notify', 'query', 'admin', 'preauth', 'operator')),
    -- what proved it: "notification:<id>", "call:<id>", or NULL for creation
    evidence      TEXT,
    reason        TEXT,
    at            BIGINT NOT NULL,
    -- the operator who caused it (admin resyncs, review actions) and their note
    operator      TEXT,
    note          TEXT
);
INSERT INTO order_events_new (id, mer_order_id, from_status, to_status, source, evidence, reason, at)
    SELECT id, mer_order_id, from_status, to_status, source, evidence, reason, at FROM order_events;
DROP TABLE order_events;
ALTER TABLE order_events_new RENAME TO order_events;
CREATE INDEX order_events_order ON order_events (mer_order_id, id);
