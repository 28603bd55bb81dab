-- Issue 16: when an order was flagged for review replaces the bare flag (flagged = a time
-- is set), and each history entry can name the operator who caused it and their note.
ALTER TABLE orders ADD COLUMN review_flagged_at BIGINT;
-- Orders flagged before this migration: the last change is the best time known.
UPDATE orders SET review_flagged_at = updated_at WHERE needs_review;
DROP INDEX orders_review;
ALTER TABLE orders DROP COLUMN needs_review;
-- Operators' review queue.
CREATE INDEX orders_review ON orders (review_flagged_at) WHERE review_flagged_at IS NOT NULL;

-- A new source: 'operator', an operator's review action.
ALTER TABLE order_events DROP CONSTRAINT order_events_source_check;
ALTER TABLE order_events ADD CONSTRAINT order_events_source_check
    CHECK (source IN ('api', 'notify', 'query', 'admin', 'preauth', 'operator'));
-- the operator who caused it (admin resyncs, review actions) and their note
ALTER TABLE order_events ADD COLUMN operator TEXT;
ALTER TABLE order_events ADD COLUMN note TEXT;
