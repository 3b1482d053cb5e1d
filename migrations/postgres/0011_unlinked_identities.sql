-- Identities an admin unlinked from their user. An unlinked identity is
-- not linked again by its verified email at its next sign-in (that would
-- undo the unlink); only an admin's explicit link clears the entry.
CREATE TABLE unlinked_identities (
  issuer TEXT NOT NULL,
  subject TEXT NOT NULL,
  unlinked_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  PRIMARY KEY (issuer, subject)
);
