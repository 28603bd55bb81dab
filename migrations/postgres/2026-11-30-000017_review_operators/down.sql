ALTER TABLE order_events DROP COLUMN note;
ALTER TABLE order_events DROP COLUMN operator;
-- An operator's review action is recorded as an admin one.
UPDATE order_events SET source = 'admin' WHERE source = 'operator';
ALTER TABLE order_events DROP CONSTRAINT order_events_source_check;
ALTER TABLE order_events ADD CONSTRAINT order_events_source_check
    CHECK (source IN ('api', 'notify', 'query', 'admin', 'preauth'));

DROP INDEX orders_review;
ALTER TABLE orders ADD COLUMN needs_review BOOLEAN NOT NULL DEFAULT false;
UPDATE orders SET needs_review = true WHERE review_flagged_at IS NOT NULL;
ALTER TABLE orders DROP COLUMN review_flagged_at;
CREATE INDEX orders_review ON orders (mer_order_id) WHERE needs_review;
