-- The Easy Mode web app (/app): browser sessions, and the connect links a
-- call hands out when the user's credentials are missing.
--
-- A session cookie's value is never stored: only its SHA-256.
CREATE TABLE web_sessions (
  id UUID PRIMARY KEY,
  user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token_hash TEXT NOT NULL UNIQUE,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX web_sessions_user_idx ON web_sessions (user_id);
CREATE INDEX web_sessions_expires_idx ON web_sessions (expires_at);

-- Connect links are signed tokens (nothing is stored when one is issued);
-- a link's first use is recorded here, so it works once. Rows are kept
-- until the link would have expired anyway.
CREATE TABLE connect_link_uses (
  link_id UUID PRIMARY KEY,
  user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  used_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX connect_link_uses_expires_idx ON connect_link_uses (expires_at);
