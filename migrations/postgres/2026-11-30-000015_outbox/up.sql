-- The transactional outbox: one row per event the backend is told about, written in the
-- same transaction as the change it reports. `id` is the feed's cursor. Identity values
-- are drawn at insert and become visible at commit; every transaction that inserts here
-- first takes one advisory lock (store::postgres::lock_feed) and holds it to its commit,
-- so ids become visible in their order and a reader never sees a later id before an
-- earlier one (docs/architecture.md §5).
CREATE TABLE events (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- "evt_<uuid>": the same in the feed and in every webhook attempt
    event_id      TEXT NOT NULL UNIQUE,
    type          TEXT NOT NULL,
    -- the order it reports (NULL for a contract's event), and the order's version after
    mer_order_id  TEXT REFERENCES orders (mer_order_id),
    order_version BIGINT,
    contract_no   TEXT,
    -- the JSON body, exactly as the feed shows it and webhooks send it (TEXT, not JSONB:
    -- JSONB would reorder its keys and change the bytes webhooks sign)
    body          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    -- one event per change of an order
    UNIQUE (mer_order_id, order_version)
);
CREATE INDEX events_order ON events (mer_order_id, id);
CREATE INDEX events_type ON events (type, id);
