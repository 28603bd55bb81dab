-- The transactional outbox: one row per event the backend is told about, written in the
-- same transaction as the change it reports. `id` is the feed's cursor: rows are numbered
-- in commit order (one writer at a time), and AUTOINCREMENT never reuses a number.
CREATE TABLE events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    -- "evt_<uuid>": the same in the feed and in every webhook attempt
    event_id      TEXT NOT NULL UNIQUE,
    type          TEXT NOT NULL,
    -- the order it reports (NULL for a contract's event), and the order's version after
    mer_order_id  TEXT REFERENCES orders (mer_order_id),
    order_version BIGINT,
    contract_no   TEXT,
    -- the JSON body, exactly as the feed shows it and webhooks send it
    body          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    -- one event per change of an order
    UNIQUE (mer_order_id, order_version)
);
CREATE INDEX events_order ON events (mer_order_id, id);
CREATE INDEX events_type ON events (type, id);
