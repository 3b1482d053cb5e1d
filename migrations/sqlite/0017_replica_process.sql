-- A replica's operating-system process (see migrations/postgres/0017_replica_process.sql).
ALTER TABLE replicas ADD COLUMN process TEXT;
