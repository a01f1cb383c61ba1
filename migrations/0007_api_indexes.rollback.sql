DROP INDEX dead_letters_subject_recent;
ALTER TABLE dead_letters DROP COLUMN replays, DROP COLUMN replayed_at;
DROP INDEX executions_status_last_updated;
DROP INDEX executions_last_updated;
