-- The Easy Mode form as a person last sent it, so that every form answers
-- with a redirect (post/redirect/get) and nothing typed is lost: a form
-- with mistakes, a row added or removed, and a run's result are shown by
-- the GET the redirect loads, on whichever replica serves it. Rows live
-- for an hour, then the web sweep forgets them.
CREATE TABLE web_form_drafts (
  id UUID PRIMARY KEY,
  user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  -- The tool whose form it is.
  tool_name TEXT NOT NULL,
  -- {"fields": [[name, value], ...], "check": bool, "outcome": {...} | null}
  data JSONB NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX web_form_drafts_expires_idx ON web_form_drafts (expires_at);
CREATE INDEX web_form_drafts_user_idx ON web_form_drafts (user_id);
