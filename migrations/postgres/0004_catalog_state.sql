-- Catalog change tracking: every write to agents bumps a version and
-- NOTIFYs 'vieagent_catalog', so every gateway process (and replica) refreshes
-- its in-memory tool catalog, whoever made the change (admin API, CLI, SQL).
CREATE TABLE catalog_state (
  id INTEGER PRIMARY KEY CONSTRAINT catalog_state_singleton CHECK (id = 1),
  version BIGINT NOT NULL DEFAULT 0
);
INSERT INTO catalog_state (id, version) VALUES (1, 0);

CREATE FUNCTION vieagent_catalog_changed() RETURNS trigger AS $$
DECLARE
  v BIGINT;
BEGIN
  UPDATE catalog_state SET version = version + 1 WHERE id = 1 RETURNING version INTO v;
  PERFORM pg_notify('vieagent_catalog', v::text);
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER agents_catalog_changed
  AFTER INSERT OR UPDATE OR DELETE ON agents
  FOR EACH STATEMENT EXECUTE FUNCTION vieagent_catalog_changed();
