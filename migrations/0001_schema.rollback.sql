DROP TABLE retry_requests;
DROP TABLE dead_letters;
DROP TABLE execution_events;
DROP TABLE execution_logs;
DROP TABLE executions;
