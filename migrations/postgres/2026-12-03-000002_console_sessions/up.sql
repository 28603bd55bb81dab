-- Console sessions and refused operator tokens in the store, shared by every instance: the
-- same tables, columns, constraints and indexes as SQLite's migration, in PostgreSQL's types.
CREATE TABLE console_sessions (
    id_hash       TEXT PRIMARY KEY CHECK (length(id_hash) = 64),
    operator      TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'operator')),
    csrf          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    flash_kind    TEXT CHECK (flash_kind IN ('acknowledged', 'resynced', 'redelivered', 'failed')),
    flash_detail  TEXT
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

CREATE TABLE operator_failures (
    id    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    peer  TEXT NOT NULL,
    at    BIGINT NOT NULL
);
CREATE INDEX operator_failures_peer ON operator_failures (peer, at);
CREATE INDEX operator_failures_at ON operator_failures (at);
