-- The journal batch's statements are planned once per connection and the
-- plan kept (plan_cache_mode = force_generic_plan). PL/pgSQL plans a
-- statement with variables five times with their values, then keeps a
-- generic plan only while it costs no more than the custom ones; some of
-- the batch's statements never got there, and were planned again on every
-- batch (GetCachedPlan → pg_plan_queries, ~3 % of the server's CPU under
-- load, perf). Since 0024 every statement here reaches its rows through a
-- primary key whatever the values (enable_seqscan = off), so the generic
-- plan is the plan. (Issue 33.)
ALTER FUNCTION vieagent_journal_batch(JSONB, UUID) SET plan_cache_mode = force_generic_plan;
