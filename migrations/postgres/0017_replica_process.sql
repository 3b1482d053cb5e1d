-- Which operating-system process a replica is ("linux:<boot id>:<pid
-- namespace>:<pid>"), when it can tell: a process starting on the same
-- kernel, in the same pid namespace, knows at once that a replica whose
-- process is gone is dead (a kill -9 and a restart), without waiting for
-- its heartbeat to go stale.
ALTER TABLE replicas ADD COLUMN process TEXT;
