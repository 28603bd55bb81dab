-- The request id of the HTTP request that brought a notice (X-Request-Id, or one the
-- gateway generated): ties a journal row to its access-log line. NULL for rows from before.
ALTER TABLE notifications ADD COLUMN request_id TEXT;
