-- Identities an admin unlinked (see migrations/postgres/0011_unlinked_identities.sql).
CREATE TABLE unlinked_identities (
  issuer TEXT NOT NULL,
  subject TEXT NOT NULL,
  unlinked_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  PRIMARY KEY (issuer, subject)
) STRICT;
