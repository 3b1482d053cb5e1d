-- The journal batch's finishing UPDATE found its rows through the wrong
-- index. `vieagent_journal_batch` (0016) finished rows
-- `WHERE e.id = s.id AND e.status IN ('pending', 'running')`; that predicate
-- is execution_logs_unfinished_idx's, and the function's cached generic plan
-- (the batch's size unknown: 100 rows estimated) took a bitmap scan of that
-- partial index, which the statistics call tiny (a handful of open rows),
-- joined by hash to the batch. But a finished row leaves the partial index
-- only when VACUUM removes its entry, and a bitmap scan never marks entries
-- dead: every batch read every entry written since the last vacuum, and
-- visited each one's heap tuple. Measured under load (bench_http, c64, 15 s
-- into a run): 2,775 scans of the index had read 62.6 million entries, about
-- 22,500 per batch, and that scan was the largest single cost in the
-- server's profile. It grows with the table: autovacuum waits for 20 % of
-- the table to be dead, so at 10 million rows each batch would read up to
-- 2 million entries.
--
-- The rows are the same said another way: the CHECK
-- execution_logs_finished_check makes `finished_at IS NULL` equivalent to
-- `status IN ('pending', 'running')`, and no index's predicate names
-- `finished_at`, so the planner looks the batch's ids up in the primary key
-- (a nested loop, one probe per id) whatever the statistics say. The rest of
-- the function is 0016's. (Issue 33.)
--
-- "Whatever the statistics say" needs one more word: a table without
-- statistics yet (a new database, or one growing faster than autoanalyze
-- runs) was estimated so small that the cached plan joined the batch to a
-- sequential scan of execution_logs — every batch read the whole table
-- (measured: 1,300 scans, 22.6 million rows read in 15 s of a benchmark
-- run, calls/s down a quarter). Every statement here reaches its rows by a
-- primary key, so the function plans with `enable_seqscan = off`: the
-- planner's way to say "use the index", kept to this function's own
-- statements.
CREATE OR REPLACE FUNCTION vieagent_journal_batch(ops JSONB, replica UUID)
RETURNS TABLE (n INT, outcome TEXT, available BIGINT)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
  op JSONB;
  i INT;
  j INT;
  k INT;
  u UUID;
  need BIGINT;
  free BIGINT;
  charged BIGINT;
  users UUID[];
  bal BIGINT[];
  res BIGINT[];
  touched BOOL[];
  fin_ids UUID[];
  fin_held INT[];
  fin_charged INT[];
  settled UUID[] := '{}';
  outs TEXT[] := '{}';
  avail BIGINT[] := '{}';
  l_id UUID[] := '{}';
  l_user UUID[] := '{}';
  l_agent UUID[] := '{}';
  l_status TEXT[] := '{}';
  l_in JSONB[] := '{}';
  l_ext TEXT[] := '{}';
  l_out JSONB[] := '{}';
  l_dur INT[] := '{}';
  l_held INT[] := '{}';
  l_err TEXT[] := '{}';
  l_done BOOL[] := '{}';
  d_id UUID[] := '{}';
  d_user UUID[] := '{}';
  d_log UUID[] := '{}';
  d_delta BIGINT[] := '{}';
  d_after BIGINT[] := '{}';
BEGIN
  -- The accounts involved, locked in user order (no deadlocks between
  -- batches, whichever replica they run on).
  SELECT COALESCE(array_agg(a.user_id ORDER BY a.user_id), '{}'),
         COALESCE(array_agg(a.balance ORDER BY a.user_id), '{}'),
         COALESCE(array_agg(a.reserved ORDER BY a.user_id), '{}')
    INTO users, bal, res
    FROM (SELECT c.user_id, c.balance, c.reserved FROM credit_accounts c
          WHERE c.user_id IN (
            SELECT (o ->> 'u')::uuid FROM jsonb_array_elements(ops) o
            WHERE o ->> 'k' = 'f' OR (o ->> 'k' = 's' AND (o ->> 'r')::int > 0))
          ORDER BY c.user_id FOR UPDATE) a;
  touched := array_fill(false, ARRAY[cardinality(users)]);

  -- Finish the rows (the first finish of a row wins), charges capped at
  -- what each row reserved.
  WITH src AS (
    SELECT DISTINCT ON ((x.o ->> 'id')::uuid) (x.o ->> 'id')::uuid AS id, x.o
    FROM jsonb_array_elements(ops) WITH ORDINALITY AS x(o, ord)
    WHERE x.o ->> 'k' = 'f'
    ORDER BY (x.o ->> 'id')::uuid, x.ord),
  fin AS (
    UPDATE execution_logs e SET status = s.o ->> 'st',
        external_execution_id = s.o ->> 'ext', output_snapshot = s.o -> 'out',
        duration_ms = (s.o ->> 'dur')::int,
        credits_consumed = GREATEST(0, LEAST((s.o ->> 'c')::int, e.credits_reserved)),
        error = s.o ->> 'err', finished_at = NOW()
      FROM src s
      -- Open rows only, said without naming `status` (see the top).
      WHERE e.id = s.id AND e.finished_at IS NULL
      RETURNING e.id, e.credits_reserved, e.credits_consumed)
  SELECT COALESCE(array_agg(fin.id), '{}'), COALESCE(array_agg(fin.credits_reserved), '{}'),
         COALESCE(array_agg(fin.credits_consumed), '{}')
    INTO fin_ids, fin_held, fin_charged FROM fin;

  -- Settle the finishes, in order.
  FOR op, i IN SELECT x.value, x.ordinality FROM jsonb_array_elements(ops) WITH ORDINALITY x LOOP
    CONTINUE WHEN op ->> 'k' <> 'f';
    j := array_position(fin_ids, (op ->> 'id')::uuid);
    IF j IS NULL OR (op ->> 'id')::uuid = ANY (settled) THEN
      outs[i] := 'unchanged';
      CONTINUE;
    END IF;
    settled := array_append(settled, (op ->> 'id')::uuid);
    outs[i] := 'applied';
    u := (op ->> 'u')::uuid;
    k := array_position(users, u);
    CONTINUE WHEN k IS NULL;
    charged := fin_charged[j];
    res[k] := GREATEST(res[k] - GREATEST(fin_held[j], 0), 0);
    touched[k] := true;
    IF charged > 0 THEN
      bal[k] := bal[k] - charged;
      d_id := array_append(d_id, (op ->> 'lid')::uuid);
      d_user := array_append(d_user, u);
      d_log := array_append(d_log, (op ->> 'id')::uuid);
      d_delta := array_append(d_delta, -charged);
      d_after := array_append(d_after, bal[k]);
    END IF;
  END LOOP;

  -- Starts take credits in order while there are enough; records go in.
  FOR op, i IN SELECT x.value, x.ordinality FROM jsonb_array_elements(ops) WITH ORDINALITY x LOOP
    CONTINUE WHEN op ->> 'k' NOT IN ('s', 'r');
    l_id := array_append(l_id, (op ->> 'id')::uuid);
    l_user := array_append(l_user, (op ->> 'u')::uuid);
    l_agent := array_append(l_agent, (op ->> 'a')::uuid);
    l_in := array_append(l_in, op -> 'in');
    outs[i] := 'applied';
    IF op ->> 'k' = 'r' THEN
      l_status := array_append(l_status, op ->> 'st');
      l_ext := array_append(l_ext, op ->> 'ext');
      l_out := array_append(l_out, op -> 'out');
      l_dur := array_append(l_dur, (op ->> 'dur')::int);
      l_held := array_append(l_held, 0);
      l_err := array_append(l_err, op ->> 'err');
      l_done := array_append(l_done, op ->> 'st' IN ('success', 'failed'));
      CONTINUE;
    END IF;
    l_ext := array_append(l_ext, NULL::text);
    l_out := array_append(l_out, NULL::jsonb);
    l_dur := array_append(l_dur, NULL::int);
    need := GREATEST((op ->> 'r')::int, 0);
    k := array_position(users, (op ->> 'u')::uuid);
    free := CASE WHEN k IS NULL THEN 0 ELSE bal[k] - res[k] END;
    IF need > 0 AND free < need THEN
      outs[i] := 'insufficient';
      avail[i] := free;
      l_status := array_append(l_status, 'failed');
      l_held := array_append(l_held, 0);
      l_err := array_append(l_err,
        format('insufficient credits: the call needs %s, %s available', need, free));
      l_done := array_append(l_done, true);
      CONTINUE;
    END IF;
    IF need > 0 THEN
      res[k] := res[k] + need;
      touched[k] := true;
    END IF;
    l_status := array_append(l_status, op ->> 'st');
    l_held := array_append(l_held, need::int);
    l_err := array_append(l_err, NULL::text);
    l_done := array_append(l_done, false);
  END LOOP;

  INSERT INTO execution_logs (id, user_id, agent_id, status, input_snapshot,
      external_execution_id, output_snapshot, duration_ms, credits_consumed,
      credits_reserved, error, finished_at, replica_id)
    SELECT v.id, v.user_id, v.agent_id, v.status, v.input, v.ext, v.out, v.dur, 0, v.held,
           v.err, CASE WHEN v.done THEN NOW() END, replica
    FROM unnest(l_id, l_user, l_agent, l_status, l_in, l_ext, l_out, l_dur, l_held,
                l_err, l_done)
      AS v(id, user_id, agent_id, status, input, ext, out, dur, held, err, done);
  UPDATE credit_accounts c SET balance = v.b, reserved = v.r, updated_at = NOW()
    FROM unnest(users, bal, res, touched) AS v(u, b, r, t)
    WHERE c.user_id = v.u AND v.t;
  INSERT INTO credit_ledger (id, user_id, delta, reason, execution_log_id, balance_after)
    SELECT v.id, v.u, v.delta, 'call', v.log, v.after
    FROM unnest(d_id, d_user, d_delta, d_log, d_after) AS v(id, u, delta, log, after);

  RETURN QUERY SELECT g, outs[g], avail[g]
    FROM generate_series(1, jsonb_array_length(ops)) g;
END
$$;
