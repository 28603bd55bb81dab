-- Times are Unix milliseconds (UTC) in INTEGER columns: they compare and index exactly.
-- Money is integer fen.
-- A bound order's billNo is its mer_order_id and its billDate the Beijing date of
-- created_at, so neither is stored twice.

CREATE TABLE orders (
    mer_order_id        TEXT PRIMARY KEY NOT NULL,
    mid                 TEXT NOT NULL,
    tid                 TEXT NOT NULL,
    inst_mid            TEXT NOT NULL,
    qr_code_id          TEXT,
    bill_qr_code        TEXT,
    -- none (tracked only) | unknown (bind outcome not known yet) | bound | refused
    binding             TEXT NOT NULL CHECK (binding IN ('none', 'unknown', 'bound', 'refused')),
    binding_error       TEXT,
    amount_fen          BIGINT NOT NULL CHECK (amount_fen > 0),
    paid_amount_fen     BIGINT CHECK (paid_amount_fen >= 0),
    description         TEXT,
    status              TEXT NOT NULL
                        CHECK (status IN ('PENDING', 'AUTHORIZED', 'PAID', 'REFUNDED', 'CLOSED')),
    provider_status     TEXT,
    refunded_amount_fen BIGINT NOT NULL DEFAULT 0
                        CHECK (refunded_amount_fen >= 0 AND refunded_amount_fen <= amount_fen),
    seq_id              TEXT,
    target_order_id     TEXT,
    target_sys          TEXT,
    pay_time            TEXT,
    settle_date         TEXT,
    auth_id_resp_code   TEXT,
    completion_order_id TEXT,
    preauth             BOOLEAN NOT NULL,
    expire_at           BIGINT NOT NULL,
    needs_review        BOOLEAN NOT NULL DEFAULT 0,
    review_reason       TEXT,
    check_attempts      INTEGER NOT NULL DEFAULT 0 CHECK (check_attempts >= 0),
    -- NULL once the order no longer awaits the provider: the due index then skips it.
    next_check_at       BIGINT,
    last_checked_at     BIGINT,
    request_digest      TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    version             BIGINT NOT NULL CHECK (version >= 1)
);

-- "Due pending orders" costs O(due): only orders awaiting the provider are in this index.
CREATE INDEX orders_due ON orders (next_check_at) WHERE next_check_at IS NOT NULL;
-- Listing by status, keyset-paginated on the id.
CREATE INDEX orders_status ON orders (status, mer_order_id);
-- Operators' review queue.
CREATE INDEX orders_review ON orders (mer_order_id) WHERE needs_review;

CREATE TABLE order_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    mer_order_id  TEXT NOT NULL REFERENCES orders (mer_order_id),
    from_status   TEXT,
    to_status     TEXT NOT NULL,
    source        TEXT NOT NULL CHECK (source IN ('api', 'notify', 'query', 'admin', 'preauth')),
    -- what proved it: "notification:<id>", "call:<id>", or NULL for creation
    evidence      TEXT,
    reason        TEXT,
    at            BIGINT NOT NULL
);
CREATE INDEX order_events_order ON order_events (mer_order_id, id);

CREATE TABLE notifications (
    id            INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    received_at   BIGINT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('payment', 'contract')),
    notify_id     TEXT,
    -- Set to notify_id on the first verified copy only: the unique index makes the
    -- database, not a read-then-write check, decide which copy applies.
    dedup_key     TEXT,
    order_ref     TEXT,
    raw_body      BLOB NOT NULL,
    content_type  TEXT,
    remote_addr   TEXT,
    verified      BOOLEAN NOT NULL,
    outcome       TEXT NOT NULL,
    detail        TEXT
);
CREATE UNIQUE INDEX notifications_dedup ON notifications (dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX notifications_order ON notifications (order_ref, id);
CREATE INDEX notifications_outcome ON notifications (outcome, id);

CREATE TABLE contracts (
    contract_no           TEXT PRIMARY KEY NOT NULL,
    mid                   TEXT NOT NULL,
    contract_id           TEXT,
    contract_state        TEXT NOT NULL,
    contract_signed_time  TEXT,
    contract_expired_time TEXT,
    single_limit_amt      TEXT,
    avl_num               TEXT,
    plan_id               TEXT,
    -- the notice's requestTimestamp (Unix ms): an older notice never overwrites a newer one
    request_ts            BIGINT NOT NULL,
    notification_id       INTEGER REFERENCES notifications (id),
    updated_at            BIGINT NOT NULL
);

CREATE TABLE provider_calls (
    id            INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    at            BIGINT NOT NULL,
    operation     TEXT NOT NULL,
    mer_order_id  TEXT,
    http_status   INTEGER,
    err_code      TEXT,
    latency_ms    BIGINT NOT NULL,
    outcome       TEXT NOT NULL,
    detail        TEXT
);
CREATE INDEX provider_calls_order ON provider_calls (mer_order_id, id);
