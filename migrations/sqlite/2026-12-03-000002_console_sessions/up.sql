-- Issue 22/25: the console's sessions and the operators' failure limit live in the store,
-- so that a sign-in holds on every instance on this database and survives a restart, and
-- N instances do not multiply an attacker's guesses.

-- One row per open console session. The cookie carries a random secret; only its SHA-256
-- is kept here, so that reading the database does not let anyone sign in.
CREATE TABLE console_sessions (
    id_hash       TEXT PRIMARY KEY NOT NULL CHECK (length(id_hash) = 64),
    operator      TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'operator')),
    -- the token every form of the session carries
    csrf          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    -- a message for the session's next page (after an action's redirect)
    flash_kind    TEXT CHECK (flash_kind IN ('acknowledged', 'resynced', 'redelivered', 'failed')),
    flash_detail  TEXT
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- One row per refused operator token (a console sign-in or an /admin bearer), by the
-- address as the limits count it: an IPv4 address, or the /64 of an IPv6 one.
CREATE TABLE operator_failures (
    id    INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    peer  TEXT NOT NULL,
    at    BIGINT NOT NULL
);
CREATE INDEX operator_failures_peer ON operator_failures (peer, at);
CREATE INDEX operator_failures_at ON operator_failures (at);
