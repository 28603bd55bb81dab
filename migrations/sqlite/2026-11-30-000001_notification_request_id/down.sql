ALTER TABLE notifications DROP COLUMN request_id;
