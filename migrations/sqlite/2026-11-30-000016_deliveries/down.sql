DROP TABLE webhook_cursors;
DROP TABLE delivery_attempts;
DROP TABLE deliveries;
