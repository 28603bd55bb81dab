DROP TABLE operator_failures;
DROP TABLE console_sessions;
