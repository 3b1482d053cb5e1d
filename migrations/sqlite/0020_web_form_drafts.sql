-- Easy Mode form drafts (see migrations/postgres/0020_web_form_drafts.sql).
CREATE TABLE web_form_drafts (
  id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  tool_name TEXT NOT NULL,
  data TEXT NOT NULL CHECK (json_valid(data)),
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  expires_at TEXT NOT NULL
) STRICT;
CREATE INDEX web_form_drafts_expires_idx ON web_form_drafts (expires_at);
CREATE INDEX web_form_drafts_user_idx ON web_form_drafts (user_id);
