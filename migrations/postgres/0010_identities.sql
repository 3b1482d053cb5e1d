-- OAuth 2.1 sign-in: an identity at an external authorization server
-- (issuer, subject) belongs to one gateway user. Created at the identity's
-- first sign-in, by a verified email that matches a user or by
-- provisioning a new user (auth.oidc.auto_provision).
CREATE TABLE user_identities (
  issuer TEXT NOT NULL,
  subject TEXT NOT NULL,
  user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  email TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  PRIMARY KEY (issuer, subject)
);
CREATE INDEX user_identities_user_idx ON user_identities (user_id);
