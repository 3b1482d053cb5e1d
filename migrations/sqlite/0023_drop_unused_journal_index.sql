-- See migrations/postgres/0023_drop_unused_journal_index.sql: no query
-- uses execution_logs_open_idx; recovery and the status filter use
-- execution_logs_unfinished_idx.
DROP INDEX execution_logs_open_idx;
