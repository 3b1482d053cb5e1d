-- Who changed what, when (see migrations/postgres/0005_audit_log.sql).
CREATE TABLE audit_log (
  id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
  actor_user_id TEXT REFERENCES users(id),
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target_type TEXT NOT NULL,
  target_id TEXT,
  details TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  CONSTRAINT audit_log_action_check CHECK (length(action) BETWEEN 1 AND 64)
) STRICT;
CREATE INDEX audit_log_created_idx ON audit_log (created_at DESC, id DESC);
CREATE INDEX audit_log_target_idx ON audit_log (target_type, target_id);
