-- The author's order of an agent's input fields (see
-- migrations/postgres/0019_input_schema_order.sql). SQLite keeps
-- input_schema as the text written, order included; the gateway writes the
-- same record here so that both stores hold the same rows.
ALTER TABLE agents ADD COLUMN input_schema_order TEXT;
