DROP TABLE refunds;
DROP TABLE payment_attempts;
