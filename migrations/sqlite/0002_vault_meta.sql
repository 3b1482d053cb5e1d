-- The Vault's key check (see migrations/postgres/0002_vault_meta.sql).
CREATE TABLE vault_meta (
  key_version INTEGER PRIMARY KEY NOT NULL CONSTRAINT vault_meta_key_version_check CHECK (key_version >= 1),
  key_fingerprint TEXT NOT NULL,
  canary TEXT NOT NULL,
  canary_iv TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  CONSTRAINT vault_meta_key_fingerprint_key UNIQUE (key_fingerprint)
) STRICT;
