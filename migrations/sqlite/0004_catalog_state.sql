-- Catalog change tracking (see migrations/postgres/0004_catalog_state.sql);
-- SQLite processes poll the version.
CREATE TABLE catalog_state (
  id INTEGER PRIMARY KEY NOT NULL CONSTRAINT catalog_state_singleton CHECK (id = 1),
  version INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO catalog_state (id, version) VALUES (1, 0);

CREATE TRIGGER agents_catalog_insert AFTER INSERT ON agents
BEGIN
  UPDATE catalog_state SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER agents_catalog_update AFTER UPDATE ON agents
BEGIN
  UPDATE catalog_state SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER agents_catalog_delete AFTER DELETE ON agents
BEGIN
  UPDATE catalog_state SET version = version + 1 WHERE id = 1;
END;
