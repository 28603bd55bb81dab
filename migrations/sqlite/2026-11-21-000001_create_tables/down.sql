DROP TABLE provider_calls;
DROP TABLE contracts;
DROP TABLE notifications;
DROP TABLE order_events;
DROP TABLE orders;
