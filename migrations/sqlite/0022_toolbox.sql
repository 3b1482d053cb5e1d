-- Each user's toolbox and named toolsets (see
-- migrations/postgres/0022_toolbox.sql). SQLite serves one process: no
-- NOTIFY, the process tells its own sessions.
CREATE TABLE toolbox_agents (
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  toolset TEXT NOT NULL DEFAULT '' CONSTRAINT toolbox_agents_toolset_check CHECK (
    toolset = '' OR (length(toolset) BETWEEN 1 AND 40
      AND toolset GLOB '[a-z0-9]*' AND toolset NOT GLOB '*[^a-z0-9_-]*')),
  agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
  added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  PRIMARY KEY (user_id, toolset, agent_id)
) STRICT;
CREATE INDEX toolbox_agents_agent_idx ON toolbox_agents (agent_id);

-- Full-text search over the catalog (FTS5), accent-insensitive: unicode61
-- with remove_diacritics folds "Tóm tắt" to "tom tat" and splits words at
-- anything but letters and digits (`tom_tat` is two words); the letters
-- with a stroke, which are no accent to Unicode (đ, ð, ø, ł), are folded
-- here as the gateway's `store::toolbox::fold` folds them. One row per
-- agent, whatever its status (a search joins agents for it and for the
-- filters), kept in sync by the triggers below.
CREATE VIRTUAL TABLE agent_search USING fts5(
  agent_id UNINDEXED, tool_name, name, description,
  tokenize = 'unicode61 remove_diacritics 2'
);
-- Which agent_search row is an agent's: its rowid, found by the agent's id
-- without scanning the index (an agent_id UNINDEXED lookup reads every
-- row). Not agents' own implicit rowid, which VACUUM may renumber.
CREATE TABLE agent_search_rows (
  id INTEGER PRIMARY KEY NOT NULL,
  agent_id TEXT NOT NULL UNIQUE
) STRICT;

INSERT INTO agent_search_rows (agent_id) SELECT id FROM agents ORDER BY id;
INSERT INTO agent_search (rowid, agent_id, tool_name, name, description)
  SELECT r.id, a.id,
    replace(replace(replace(replace(replace(replace(replace(replace(a.tool_name, 'đ', 'd'), 'Đ', 'd'), 'ð', 'd'), 'Ð', 'd'), 'ø', 'o'), 'Ø', 'o'), 'ł', 'l'), 'Ł', 'l'),
    replace(replace(replace(replace(replace(replace(replace(replace(a.name, 'đ', 'd'), 'Đ', 'd'), 'ð', 'd'), 'Ð', 'd'), 'ø', 'o'), 'Ø', 'o'), 'ł', 'l'), 'Ł', 'l'),
    replace(replace(replace(replace(replace(replace(replace(replace(a.description, 'đ', 'd'), 'Đ', 'd'), 'ð', 'd'), 'Ð', 'd'), 'ø', 'o'), 'Ø', 'o'), 'ł', 'l'), 'Ł', 'l')
  FROM agents a JOIN agent_search_rows r ON r.agent_id = a.id;

CREATE TRIGGER agents_search_insert AFTER INSERT ON agents
BEGIN
  INSERT INTO agent_search_rows (agent_id) VALUES (NEW.id);
  INSERT INTO agent_search (rowid, agent_id, tool_name, name, description)
  VALUES ((SELECT id FROM agent_search_rows WHERE agent_id = NEW.id), NEW.id,
    replace(replace(replace(replace(replace(replace(replace(replace(NEW.tool_name, 'đ', 'd'), 'Đ', 'd'), 'ð', 'd'), 'Ð', 'd'), 'ø', 'o'), 'Ø', 'o'), 'ł', 'l'), 'Ł', 'l'),
    replace(replace(replace(replace(replace(replace(replace(replace(NEW.name, 'đ', 'd'), 'Đ', 'd'), 'ð', 'd'), 'Ð', 'd'), 'ø', 'o'), 'Ø', 'o'), 'ł', 'l'), 'Ł', 'l'),
    replace(replace(replace(replace(replace(replace(replace(replace(NEW.description, 'đ', 'd'), 'Đ', 'd'), 'ð', 'd'), 'Ð', 'd'), 'ø', 'o'), 'Ø', 'o'), 'ł', 'l'), 'Ł', 'l'));
END;

-- Only when the searched text changes (an update of the price or the
-- status leaves the index alone).
CREATE TRIGGER agents_search_update AFTER UPDATE OF id, tool_name, name, description ON agents
  WHEN OLD.id IS NOT NEW.id OR OLD.tool_name IS NOT NEW.tool_name
    OR OLD.name IS NOT NEW.name OR OLD.description IS NOT NEW.description
BEGIN
  UPDATE agent_search_rows SET agent_id = NEW.id WHERE agent_id = OLD.id;
  UPDATE agent_search SET agent_id = NEW.id,
    tool_name = replace(replace(replace(replace(replace(replace(replace(replace(NEW.tool_name, 'đ', 'd'), 'Đ', 'd'), 'ð', 'd'), 'Ð', 'd'), 'ø', 'o'), 'Ø', 'o'), 'ł', 'l'), 'Ł', 'l'),
    name = replace(replace(replace(replace(replace(replace(replace(replace(NEW.name, 'đ', 'd'), 'Đ', 'd'), 'ð', 'd'), 'Ð', 'd'), 'ø', 'o'), 'Ø', 'o'), 'ł', 'l'), 'Ł', 'l'),
    description = replace(replace(replace(replace(replace(replace(replace(replace(NEW.description, 'đ', 'd'), 'Đ', 'd'), 'ð', 'd'), 'Ð', 'd'), 'ø', 'o'), 'Ø', 'o'), 'ł', 'l'), 'Ł', 'l')
  WHERE rowid = (SELECT id FROM agent_search_rows WHERE agent_id = NEW.id);
END;

CREATE TRIGGER agents_search_delete AFTER DELETE ON agents
BEGIN
  DELETE FROM agent_search WHERE rowid = (SELECT id FROM agent_search_rows WHERE agent_id = OLD.id);
  DELETE FROM agent_search_rows WHERE agent_id = OLD.id;
END;
