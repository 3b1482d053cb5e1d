-- Long flows become MCP tasks by default (see
-- migrations/postgres/0018_task_mode_auto.sql). SQLite cannot change a
-- column's default without rebuilding the table, which other tables
-- reference; the gateway writes task_mode on every insert, so only rows
-- inserted by hand without it still get 'never'.
UPDATE agents SET task_mode = 'auto' WHERE task_mode = 'never';
