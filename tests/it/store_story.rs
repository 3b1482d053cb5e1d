//! One story for every backend: the same assertions run on SQLite and PostgreSQL.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{Duration as ChronoDuration, Utc};
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde_json::json;
use sqlx::Row;
use uuid::Uuid;
use vieagent::accounts;
use vieagent::store::*;

use crate::helpers::{Backend, TestDb};

crate::backend_tests!(
    schema_is_current_and_legacy_tables_absent,
    users_crud_and_unique_email,
    api_keys_lookup_by_hash_and_revocation,
    agents_round_trip_json_arrays_decimals,
    agents_update_list_filter_delete,
    constraint_violations_are_typed,
    credentials_rows_upsert_list_delete,
    execution_logs_lifecycle_and_pagination,
    concurrent_execution_log_inserts_all_land,
    journal_batches_commit_together,
    agent_changes_apply_all_or_nothing,
    newer_schema_is_refused,
    web_sessions_expire_and_connect_links_work_once,
    identities_link_once_and_an_unlink_sticks,
    purge_jobs_are_claimed_once_retried_and_finished,
    purges_wait_for_runs_and_come_forward_when_their_call_ends,
    agents_on_the_old_task_mode_default_move_to_auto,
    replicas_record_their_process,
    agents_keep_the_authors_field_order,
    toolboxes_hold_toolsets_and_forget_deleted_agents,
    purchases_join_the_toolbox_when_asked,
    catalog_search_folds_accents_ranks_and_filters,
    catalog_search_follows_agent_changes,
);

/// Every write of an input schema keeps the author's field order and every
/// read gives it back (PostgreSQL's `jsonb` alone sorts keys by length):
/// create, get, list, update, manifests' changes. A schema edited in the
/// database keeps the recorded order for the fields it still has; a row
/// without a record (written before migration 0019) reads as stored.
async fn agents_keep_the_authors_field_order(backend: Backend) {
    use crate::field_order::{
        field_orders, moved_orders, trip_orders, trip_schema, trip_schema_moved,
    };
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let new = NewAgent {
        input_schema: trip_schema(),
        ..new_agent("trip")
    };
    let created = store.create_agent(&new).await.expect("create");
    let id = created.id;
    let read = |store: DynStore, tool: &'static str| async move {
        let by_id = store
            .get_agent_by_tool_name(tool)
            .await
            .expect("get")
            .expect("agent");
        let again = store
            .get_agent(by_id.id)
            .await
            .expect("get")
            .expect("agent");
        let listed = store
            .list_agents(&AgentFilter::default())
            .await
            .expect("list")
            .into_iter()
            .find(|a| a.tool_name == tool)
            .expect("listed");
        [by_id, again, listed].map(|a| field_orders(&a.input_schema))
    };
    assert_eq!(field_orders(&created.input_schema), trip_orders());
    assert_eq!(
        read(store.clone(), "trip").await,
        [(); 3].map(|_| trip_orders())
    );
    if backend == Backend::Postgres {
        // What the test guards against: jsonb alone loses the order.
        let stored: String =
            sqlx::query_scalar("SELECT input_schema::text FROM agents WHERE tool_name = 'trip'")
                .fetch_one(&mut db.raw_pg().await)
                .await
                .expect("raw");
        let stored: serde_json::Value = serde_json::from_str(&stored).expect("json");
        assert_ne!(
            field_orders(&stored),
            trip_orders(),
            "jsonb sorts: {stored}"
        );
    }

    // An update that only moves fields.
    let patch = AgentPatch {
        input_schema: Some(trip_schema_moved()),
        ..AgentPatch::default()
    };
    let updated = store.update_agent(id, &patch).await.expect("update");
    assert_eq!(field_orders(&updated.input_schema), moved_orders());
    assert_eq!(
        read(store.clone(), "trip").await,
        [(); 3].map(|_| moved_orders())
    );
    // A patch without a schema leaves schema and order alone.
    let renamed = store
        .update_agent(
            id,
            &AgentPatch {
                name: Some("Trip".into()),
                ..AgentPatch::default()
            },
        )
        .await
        .expect("rename");
    assert_eq!(field_orders(&renamed.input_schema), moved_orders());

    // Manifests: a create and an update in one transaction.
    let applied = store
        .apply_agent_changes(&[
            AgentChange::Create(NewAgent {
                input_schema: trip_schema_moved(),
                ..new_agent("trip_two")
            }),
            AgentChange::Update(
                id,
                AgentPatch {
                    input_schema: Some(trip_schema()),
                    ..AgentPatch::default()
                },
            ),
        ])
        .await
        .expect("apply");
    assert_eq!(
        applied
            .iter()
            .map(|a| field_orders(&a.input_schema))
            .collect::<Vec<_>>(),
        vec![moved_orders(), trip_orders()]
    );
    assert_eq!(
        read(store.clone(), "trip").await,
        [(); 3].map(|_| trip_orders())
    );
    assert_eq!(
        read(store.clone(), "trip_two").await,
        [(); 3].map(|_| moved_orders())
    );

    // Edited in the database: `cabin` gone, `zz_added` added. The recorded
    // fields keep their order; the new one comes after them.
    let edit = match backend {
        Backend::Postgres => {
            "UPDATE agents SET input_schema = jsonb_set(input_schema #- '{properties,cabin}', \
             '{properties,zz_added}', '{\"type\": \"string\"}') WHERE tool_name = 'trip'"
        }
        Backend::Sqlite => {
            "UPDATE agents SET input_schema = json_set(json_remove(input_schema, '$.properties.cabin'), \
             '$.properties.zz_added', json('{\"type\": \"string\"}')) WHERE tool_name = 'trip'"
        }
    };
    let without_order = "UPDATE agents SET input_schema_order = NULL WHERE tool_name = 'trip_two'";
    for sql in [edit, without_order] {
        let changed = match backend {
            Backend::Postgres => sqlx::query(sql)
                .execute(&mut db.raw_pg().await)
                .await
                .map(|done| done.rows_affected()),
            Backend::Sqlite => sqlx::query(sql)
                .execute(&mut db.raw_sqlite().await)
                .await
                .map(|done| done.rows_affected()),
        };
        assert_eq!(changed.expect("raw edit"), 1, "{sql}");
    }
    let edited = store.get_agent(id).await.expect("get").expect("agent");
    let mut expected = trip_orders();
    expected.insert(
        String::new(),
        ["trip_title", "legs", "contact", "customer", "zz_added"]
            .map(String::from)
            .to_vec(),
    );
    assert_eq!(field_orders(&edited.input_schema), expected);
    // No record: SQLite's text still has the author's order; jsonb's is
    // by length, then bytes (the migration's note: lost until rewritten).
    let unrecorded = store
        .get_agent_by_tool_name("trip_two")
        .await
        .expect("get")
        .expect("agent");
    let root = field_orders(&unrecorded.input_schema)[""].clone();
    match backend {
        Backend::Sqlite => assert_eq!(field_orders(&unrecorded.input_schema), moved_orders()),
        Backend::Postgres => assert_eq!(
            root,
            ["legs", "cabin", "contact", "customer", "trip_title"].map(String::from)
        ),
    }
}

/// A purge waiting for the engine's run: its attempts start again from 0
/// (a later failure backs off from the start, not from however long the
/// run took). Recovery brings forward the never-tried jobs of ended calls,
/// and only those.
async fn purges_wait_for_runs_and_come_forward_when_their_call_ends(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let ada = user(store.as_ref(), "ada@example.com").await;
    let agent = store.create_agent(&new_agent("qa")).await.expect("agent");
    let now = Utc::now();
    let later = now + ChronoDuration::seconds(180);
    let (running, ended, tried, waiting) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    let start = |id: Uuid| JournalOp::Start {
        row: NewExecutionLog {
            id,
            user_id: ada.id,
            agent_id: agent.id,
            status: ExecutionStatus::Running,
            input_snapshot: None,
        },
        reserve: 0,
    };
    store
        .write_journal(&[start(running), start(ended), start(tried), start(waiting)])
        .await
        .expect("rows");
    let target = json!({"flow_id": "f", "call_chat_id": "c", "since": now});
    for id in [running, ended, tried, waiting] {
        store
            .schedule_purge(&NewPurge {
                execution_log_id: id,
                engine_type: EngineType::Flowise,
                target: target.clone(),
                next_attempt_at: later,
            })
            .await
            .expect("schedule");
    }
    // `tried` was attempted (and failed) before its call ended.
    assert!(store.claim_purge(tried, 0, later).await.expect("claim"));
    store
        .retry_purge(tried, "down", later)
        .await
        .expect("retry");
    let finish = |id: Uuid| JournalOp::Finish {
        id,
        user_id: ada.id,
        outcome: ExecutionOutcome {
            status: ExecutionStatus::Failed,
            external_execution_id: None,
            output_snapshot: None,
            duration_ms: None,
            credits_consumed: 0,
            error: Some("gateway restarted".into()),
        },
    };
    store
        .write_journal(&[finish(ended), finish(tried)])
        .await
        .expect("finish");

    assert_eq!(store.bring_forward_purges(now).await.expect("forward"), 1);
    let due: Vec<Uuid> = store
        .due_purges(now, 10)
        .await
        .expect("due")
        .iter()
        .map(|p| p.execution_log_id)
        .collect();
    assert_eq!(
        due,
        vec![ended],
        "only the never-tried job of an ended call"
    );
    assert_eq!(store.bring_forward_purges(now).await.expect("again"), 0);

    // A wait: target kept, due soon, attempts from 0, no error shown.
    assert!(store.claim_purge(waiting, 0, later).await.expect("claim"));
    assert!(store.claim_purge(waiting, 1, later).await.expect("claim"));
    store
        .retry_purge(waiting, "down", later)
        .await
        .expect("retry");
    let soon = now + ChronoDuration::seconds(2);
    let stopped =
        json!({"flow_id": "f", "call_chat_id": "c", "since": now, "stop_requested": true});
    store
        .wait_purge(waiting, &stopped, soon)
        .await
        .expect("wait");
    let job = store.get_purge(waiting).await.expect("get").expect("job");
    assert_eq!(job.attempts, 0);
    assert!(job.last_error.is_none());
    assert_eq!(job.target, stopped);
    assert!((job.next_attempt_at - soon).num_milliseconds().abs() < 1_000);
    // A finished job never waits again.
    assert!(store.claim_purge(waiting, 0, later).await.expect("claim"));
    store.finish_purge(waiting, now).await.expect("finish");
    store
        .wait_purge(waiting, &target, soon)
        .await
        .expect("wait");
    let job = store.get_purge(waiting).await.expect("get").expect("job");
    assert!(job.done_at.is_some() && job.target == stopped);
}

/// Migration 0018: agents on `never` (the old default) become `auto`, and
/// on PostgreSQL a row inserted without `task_mode` gets `auto`.
async fn agents_on_the_old_task_mode_default_move_to_auto(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = match backend {
        Backend::Sqlite => "migrations/sqlite",
        Backend::Postgres => "migrations/postgres",
    };
    let mut before =
        sqlx::migrate::Migrator::new(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
            .await
            .expect("migrations");
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < 18)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    let insert = |id: Uuid, tool: &str, mode: &str| {
        format!(
            "INSERT INTO agents (id, name, tool_name, engine_type, engine_flow_id, task_mode) \
             VALUES ('{id}', '{tool}', '{tool}', 'flowise', 'f', '{mode}')"
        )
    };
    let (never, always) = (Uuid::new_v4(), Uuid::new_v4());
    match backend {
        Backend::Sqlite => {
            use sqlx::ConnectOptions;
            let mut conn = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url)
                .expect("url")
                .create_if_missing(true)
                .connect()
                .await
                .expect("sqlite");
            before.run(&mut conn).await.expect("0001-0017");
            for sql in [
                insert(never, "old_never", "never"),
                insert(always, "old_always", "always"),
            ] {
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .expect("insert");
            }
        }
        Backend::Postgres => {
            let mut conn = db.raw_pg().await;
            before.run(&mut conn).await.expect("0001-0017");
            for sql in [
                insert(never, "old_never", "never"),
                insert(always, "old_always", "always"),
            ] {
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .expect("insert");
            }
        }
    }
    let store = db.store().await;
    let mode = |id: Uuid| {
        let store = store.clone();
        async move {
            store
                .get_agent(id)
                .await
                .expect("get")
                .expect("agent")
                .task_mode
        }
    };
    assert_eq!(mode(never).await, TaskMode::Auto);
    assert_eq!(mode(always).await, TaskMode::Always, "a real choice stays");
    assert_eq!(TaskMode::default(), TaskMode::Auto);
    if backend == Backend::Postgres {
        let mut conn = db.raw_pg().await;
        let id = Uuid::new_v4();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO agents (id, name, tool_name, engine_type, engine_flow_id) \
             VALUES ('{id}', 'raw', 'raw', 'flowise', 'f')"
        )))
        .execute(&mut conn)
        .await
        .expect("insert");
        assert_eq!(mode(id).await, TaskMode::Auto);
    }
}

/// A replica's process identity is kept and listed.
async fn replicas_record_their_process(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    store
        .register_replica(a, "host-a", "1", Some("linux:boot:pid:[1]:42"))
        .await
        .expect("a");
    store
        .register_replica(b, "host-b", "1", None)
        .await
        .expect("b");
    let listed = store.list_replicas().await.expect("list");
    let process = |id: Uuid| {
        listed
            .iter()
            .find(|r| r.id == id)
            .and_then(|r| r.process.clone())
    };
    assert_eq!(process(a).as_deref(), Some("linux:boot:pid:[1]:42"));
    assert_eq!(process(b), None);
}

async fn identities_link_once_and_an_unlink_sticks(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let ada = user(store.as_ref(), "ada@example.com").await;
    let bob = user(store.as_ref(), "bob@example.com").await;
    let iss = "https://id.example.com/";
    let link = |user_id: Uuid| NewIdentity {
        issuer: iss.into(),
        subject: "sub-1".into(),
        user_id,
        email: Some("ada@example.com".into()),
    };
    assert!(
        store
            .user_by_identity(iss, "sub-1")
            .await
            .expect("lookup")
            .is_none()
    );
    assert!(store.link_identity(&link(ada.id)).await.expect("link"));
    assert!(
        !store
            .link_identity(&link(bob.id))
            .await
            .expect("second link"),
        "the first link wins"
    );
    let owner = store.user_by_identity(iss, "sub-1").await.expect("lookup");
    assert_eq!(owner.map(|u| u.id), Some(ada.id));
    let listed = store.list_identities(ada.id).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].email.as_deref(), Some("ada@example.com"));
    assert!(
        store
            .list_identities(bob.id)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(!store.identity_unlinked(iss, "sub-1").await.expect("mark"));

    // Unlinking from the wrong user does nothing; from the owner, it
    // unlinks and leaves the mark that stops an automatic re-link.
    assert!(
        !store
            .unlink_identity(bob.id, iss, "sub-1")
            .await
            .expect("unlink")
    );
    assert!(
        store
            .unlink_identity(ada.id, iss, "sub-1")
            .await
            .expect("unlink")
    );
    assert!(
        !store
            .unlink_identity(ada.id, iss, "sub-1")
            .await
            .expect("unlink")
    );
    assert!(
        store
            .user_by_identity(iss, "sub-1")
            .await
            .expect("lookup")
            .is_none()
    );
    assert!(store.identity_unlinked(iss, "sub-1").await.expect("mark"));
    assert!(!store.identity_unlinked(iss, "sub-2").await.expect("mark"));
    // An explicit link (to anyone) clears the mark.
    assert!(store.link_identity(&link(bob.id)).await.expect("relink"));
    assert!(!store.identity_unlinked(iss, "sub-1").await.expect("mark"));
    let owner = store.user_by_identity(iss, "sub-1").await.expect("lookup");
    assert_eq!(owner.map(|u| u.id), Some(bob.id));
}

async fn web_sessions_expire_and_connect_links_work_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let ada = user(store.as_ref(), "web@example.com").await;
    let now = Utc::now();
    let session = WebSession {
        id: Uuid::new_v4(),
        user_id: ada.id,
        token_hash: accounts::hash_key("cookie-value"),
        created_at: now,
        expires_at: now + ChronoDuration::seconds(60),
    };
    store.create_web_session(&session).await.expect("create");
    let found = store
        .web_session(&session.token_hash, now)
        .await
        .expect("read")
        .expect("live");
    assert_eq!(found.user_id, ada.id);
    assert_eq!(found.expires_at.timestamp(), session.expires_at.timestamp());
    let later = now + ChronoDuration::seconds(61);
    assert!(
        store
            .web_session(&session.token_hash, later)
            .await
            .expect("read")
            .is_none()
    );
    // A duplicate cookie hash is refused (the column is unique).
    let twin = WebSession {
        id: Uuid::new_v4(),
        ..session.clone()
    };
    assert!(store.create_web_session(&twin).await.is_err());

    let link = Uuid::new_v4();
    let expires = now + ChronoDuration::seconds(60);
    assert!(!store.connect_link_used(link).await.expect("read"));
    assert!(
        store
            .use_connect_link(link, ada.id, expires)
            .await
            .expect("first")
    );
    assert!(
        !store
            .use_connect_link(link, ada.id, expires)
            .await
            .expect("second")
    );
    assert!(store.connect_link_used(link).await.expect("read"));

    // A form draft: read back whole (key order too), only by its user,
    // only until it expires.
    let draft = FormDraft {
        id: Uuid::new_v4(),
        user_id: ada.id,
        tool_name: "trip_planner".into(),
        data: serde_json::json!({"fields": [["/zeta", "Đà Lạt"], ["/alpha", "1"]], "check": true, "outcome": null}),
        created_at: now,
        expires_at: now + ChronoDuration::seconds(60),
    };
    store.put_form_draft(&draft).await.expect("draft");
    let read = store
        .form_draft(draft.id, ada.id, now)
        .await
        .expect("read")
        .expect("live");
    assert_eq!(read.data, draft.data);
    assert_eq!(read.tool_name, "trip_planner");
    let bob = user(store.as_ref(), "web-bob@example.com").await;
    assert!(
        store
            .form_draft(draft.id, bob.id, now)
            .await
            .expect("read")
            .is_none()
    );
    assert!(
        store
            .form_draft(draft.id, ada.id, later)
            .await
            .expect("read")
            .is_none()
    );

    // Sweeping forgets what expired (one session, one link use, one
    // draft) and nothing else.
    assert_eq!(store.purge_expired_web(now).await.expect("purge"), 0);
    assert_eq!(store.purge_expired_web(later).await.expect("purge"), 3);
    assert!(!store.connect_link_used(link).await.expect("read"));
    assert!(
        store
            .delete_web_session(&session.token_hash)
            .await
            .is_ok_and(|d| !d)
    );
}

/// A purge job: scheduled with its row marked `pending` together, due in
/// order, claimed by one worker only, retried with its reason, finished
/// with the row `purged`; `kept` rows have no job.
async fn purge_jobs_are_claimed_once_retried_and_finished(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let ada = user(store.as_ref(), "ada@example.com").await;
    let agent = store.create_agent(&new_agent("qa")).await.expect("agent");
    let start = |id: Uuid| JournalOp::Start {
        row: NewExecutionLog {
            id,
            user_id: ada.id,
            agent_id: agent.id,
            status: ExecutionStatus::Running,
            input_snapshot: None,
        },
        reserve: 0,
    };
    let (a, b, kept) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    store
        .write_journal(&[start(a), start(b), start(kept)])
        .await
        .expect("rows");
    let now = Utc::now();
    let target = json!({"flow_id": "f", "call_chat_id": a.to_string(), "since": now});
    for (id, due) in [
        (a, now + ChronoDuration::seconds(60)),
        (b, now - ChronoDuration::seconds(5)),
    ] {
        store
            .schedule_purge(&NewPurge {
                execution_log_id: id,
                engine_type: EngineType::Flowise,
                target: target.clone(),
                next_attempt_at: due,
            })
            .await
            .expect("schedule");
    }
    // One job per call.
    assert!(
        store
            .schedule_purge(&NewPurge {
                execution_log_id: a,
                engine_type: EngineType::Flowise,
                target: target.clone(),
                next_attempt_at: now,
            })
            .await
            .is_err()
    );
    store.mark_engine_copy_kept(kept).await.expect("kept");
    let copy = |id| {
        let store = store.clone();
        async move {
            store
                .get_execution_log(id)
                .await
                .expect("get")
                .expect("row")
                .engine_copy
        }
    };
    assert_eq!(copy(a).await, Some(EngineCopy::Pending));
    assert_eq!(copy(kept).await, Some(EngineCopy::Kept));
    assert!(store.get_purge(kept).await.expect("get").is_none());

    let due = store.due_purges(now, 10).await.expect("due");
    assert_eq!(
        due.iter().map(|p| p.execution_log_id).collect::<Vec<_>>(),
        vec![b]
    );
    let next = store.next_purge_due().await.expect("next").expect("some");
    assert!(
        (next - (now - ChronoDuration::seconds(5)))
            .num_milliseconds()
            .abs()
            < 1_000
    );
    // The call learnt its record ids: a's job is due now, with them.
    let learnt = json!({"flow_id": "f", "record_ids": ["e1"], "since": now, "answered": true});
    store.update_purge(a, &learnt, now).await.expect("update");
    let due = store.due_purges(now, 10).await.expect("due");
    assert_eq!(due.len(), 2);
    let job = store.get_purge(a).await.expect("get").expect("job");
    assert_eq!(job.target, learnt);
    assert_eq!((job.attempts, job.engine_type), (0, EngineType::Flowise));

    // Two workers race for a: one wins; the lease hides it from due lists.
    let lease = now + ChronoDuration::seconds(300);
    assert!(store.claim_purge(a, 0, lease).await.expect("claim"));
    assert!(!store.claim_purge(a, 0, lease).await.expect("claim"));
    assert!(
        store
            .due_purges(now, 10)
            .await
            .expect("due")
            .iter()
            .all(|p| p.execution_log_id != a)
    );
    store
        .retry_purge(a, "engine failed (HTTP 503): down", now)
        .await
        .expect("retry");
    let job = store.get_purge(a).await.expect("get").expect("job");
    assert_eq!(job.attempts, 1);
    assert_eq!(
        job.last_error.as_deref(),
        Some("engine failed (HTTP 503): down")
    );
    assert!(job.done_at.is_none());
    assert_eq!(copy(a).await, Some(EngineCopy::Pending));

    assert!(store.claim_purge(a, 1, lease).await.expect("claim"));
    store.finish_purge(a, now).await.expect("finish");
    let job = store.get_purge(a).await.expect("get").expect("job");
    assert!(job.done_at.is_some() && job.last_error.is_none());
    assert_eq!(copy(a).await, Some(EngineCopy::Purged));
    // A finished job is never due, claimed or updated again.
    assert!(
        store
            .due_purges(now + ChronoDuration::days(1), 10)
            .await
            .expect("due")
            .iter()
            .all(|p| p.execution_log_id != a)
    );
    assert!(!store.claim_purge(a, 2, lease).await.expect("claim"));
    store.update_purge(a, &target, now).await.expect("update");
    assert_eq!(
        store.get_purge(a).await.expect("get").expect("job").target,
        learnt
    );
    assert_eq!(copy(b).await, Some(EngineCopy::Pending));
}

async fn user(store: &dyn Store, email: &str) -> User {
    accounts::create_user(store, email, None, Role::User, "free", 1_000_000)
        .await
        .expect("create user")
}

fn new_agent(tool_name: &str) -> NewAgent {
    NewAgent {
        name: format!("Agent {tool_name}"),
        tool_name: tool_name.to_string(),
        description: "Answers questions".into(),
        engine_type: EngineType::Flowise,
        engine_flow_id: "3f1c0a9e-flow".into(),
        input_schema: json!({
            "type": "object",
            "properties": {"question": {"type": "string", "title": "Câu hỏi"}},
            "required": ["question"],
            "additionalProperties": false
        }),
        required_credential_types: vec!["openai".into()],
        price_one_time: None,
        price_monthly: None,
        credits_per_call: 1,
        status: AgentStatus::Draft,
        engine_config: json!({"input_mode": "question"}),
        timeout_ms: None,
        charge_failed_calls: false,
        task_mode: Default::default(),
    }
}

async fn schema_is_current_and_legacy_tables_absent(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let status = store.migration_status().await.expect("status");
    assert!(status.is_current(), "{status:?}");
    assert_eq!(
        store.migrate().await.expect("re-migrate"),
        Vec::<i64>::new()
    );

    let tables: HashSet<String> = match backend {
        Backend::Postgres => {
            let mut c = db.raw_pg().await;
            sqlx::query("SELECT table_name::text AS t FROM information_schema.tables WHERE table_schema = 'public'")
                .fetch_all(&mut c)
                .await
                .expect("tables")
                .iter()
                .map(|r| r.get::<String, _>("t"))
                .collect()
        }
        Backend::Sqlite => {
            let mut c = db.raw_sqlite().await;
            sqlx::query("SELECT name AS t FROM sqlite_master WHERE type = 'table'")
                .fetch_all(&mut c)
                .await
                .expect("tables")
                .iter()
                .map(|r| r.get::<String, _>("t"))
                .collect()
        }
    };
    for t in [
        "users",
        "agents",
        "credentials",
        "execution_logs",
        "api_keys",
        "user_identities",
        "unlinked_identities",
    ] {
        assert!(tables.contains(t), "missing table {t}: {tables:?}");
    }
    for legacy in [
        "workflows",
        "workflow_executions",
        "workflow_nodes",
        "workflow_edges",
    ] {
        assert!(
            !tables.contains(legacy),
            "legacy table {legacy} must not exist"
        );
    }

    // The seed's columns with the seed's types.
    let seed: &[(&str, &str, &str, &str)] = &[
        // table, column, postgres type, sqlite type
        ("agents", "id", "uuid", "TEXT"),
        ("agents", "name", "text", "TEXT"),
        ("agents", "engine_type", "text", "TEXT"),
        ("agents", "engine_flow_id", "text", "TEXT"),
        ("agents", "input_schema", "jsonb", "TEXT"),
        ("agents", "required_credential_types", "text[]", "TEXT"),
        ("agents", "price_one_time", "numeric(10,2)", "TEXT"),
        ("agents", "price_monthly", "numeric(10,2)", "TEXT"),
        ("agents", "status", "text", "TEXT"),
        ("credentials", "id", "uuid", "TEXT"),
        ("credentials", "user_id", "uuid", "TEXT"),
        ("credentials", "provider", "text", "TEXT"),
        ("credentials", "key_name", "text", "TEXT"),
        ("credentials", "encrypted_value", "text", "TEXT"),
        ("credentials", "iv", "text", "TEXT"),
        (
            "credentials",
            "created_at",
            "timestamp with time zone",
            "TEXT",
        ),
        ("execution_logs", "id", "uuid", "TEXT"),
        ("execution_logs", "user_id", "uuid", "TEXT"),
        ("execution_logs", "agent_id", "uuid", "TEXT"),
        ("execution_logs", "status", "text", "TEXT"),
        ("execution_logs", "external_execution_id", "text", "TEXT"),
        ("execution_logs", "input_snapshot", "jsonb", "TEXT"),
        ("execution_logs", "output_snapshot", "jsonb", "TEXT"),
        ("execution_logs", "duration_ms", "integer", "INTEGER"),
        ("execution_logs", "credits_consumed", "integer", "INTEGER"),
        (
            "execution_logs",
            "created_at",
            "timestamp with time zone",
            "TEXT",
        ),
    ];
    for (table, column, pg_type, sqlite_type) in seed {
        let actual = match backend {
            Backend::Postgres => {
                let mut c = db.raw_pg().await;
                sqlx::query(
                    "SELECT format_type(a.atttypid, a.atttypmod) AS t FROM pg_attribute a \
                     WHERE a.attrelid = $1::regclass AND a.attname = $2 AND NOT a.attisdropped",
                )
                .bind(table)
                .bind(column)
                .fetch_optional(&mut c)
                .await
                .expect("column type")
                .map(|r| r.get::<String, _>("t"))
            }
            Backend::Sqlite => {
                let mut c = db.raw_sqlite().await;
                sqlx::query("SELECT type AS t FROM pragma_table_info(?) WHERE name = ?")
                    .bind(table)
                    .bind(column)
                    .fetch_optional(&mut c)
                    .await
                    .expect("column type")
                    .map(|r| r.get::<String, _>("t"))
            }
        };
        let expected = match backend {
            Backend::Postgres => pg_type,
            Backend::Sqlite => sqlite_type,
        };
        assert_eq!(actual.as_deref(), Some(*expected), "{table}.{column}");
    }

    // Seed defaults: uuid_generate_v4() ids, 'draft' and 'pending' statuses.
    if backend == Backend::Postgres {
        let mut c = db.raw_pg().await;
        let defaults: Vec<(String, String, Option<String>)> = sqlx::query(
            "SELECT table_name::text, column_name::text, column_default::text FROM information_schema.columns \
             WHERE table_schema = 'public' AND ((column_name = 'id' AND table_name IN ('users', 'agents', 'credentials', 'execution_logs', 'api_keys')) OR (table_name = 'agents' AND column_name = 'status') \
             OR (table_name = 'execution_logs' AND column_name = 'status'))",
        )
        .fetch_all(&mut c)
        .await
        .expect("defaults")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
        for (table, column, default) in defaults {
            let default = default.unwrap_or_default();
            match column.as_str() {
                "id" => assert_eq!(default, "uuid_generate_v4()", "{table}.id"),
                "status" if table == "agents" => assert_eq!(default, "'draft'::text"),
                "status" => assert_eq!(default, "'pending'::text"),
                _ => {}
            }
        }
    }
}

async fn users_crud_and_unique_email(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let ada = accounts::create_user(
        store.as_ref(),
        "Ada@Example.com",
        Some("Ada".into()),
        Role::Admin,
        "pro",
        1_000_000,
    )
    .await
    .expect("create");
    assert_eq!(ada.email, "ada@example.com");
    assert_eq!(ada.role, Role::Admin);
    assert_eq!(ada.plan, "pro");
    assert_eq!(ada.display_name.as_deref(), Some("Ada"));
    assert!(ada.disabled_at.is_none());

    let got = store.get_user(ada.id).await.expect("get").expect("exists");
    assert_eq!(got, ada);
    let by_email = store
        .get_user_by_email("ada@example.com")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(by_email.id, ada.id);
    assert!(store.get_user(Uuid::new_v4()).await.expect("get").is_none());

    let err = store
        .create_user(&NewUser {
            email: "ada@example.com".into(),
            display_name: None,
            role: Role::User,
            plan: "free".into(),
            initial_credits: 100,
        })
        .await
        .expect_err("duplicate email");
    assert!(
        matches!(&err, StoreError::UniqueViolation { constraint } if constraint == "users_email_key"),
        "{err:?}"
    );
    // The rule lives in the database too: a mixed-case email is refused by its CHECK.
    let err = store
        .create_user(&NewUser {
            email: "Bob@Example.com".into(),
            display_name: None,
            role: Role::User,
            plan: "free".into(),
            initial_credits: 0,
        })
        .await
        .expect_err("not normalized");
    assert!(
        matches!(&err, StoreError::CheckViolation { constraint } if constraint == "users_email_check"),
        "{err:?}"
    );

    user(store.as_ref(), "bob@example.com").await;
    let all = store.list_users().await.expect("list");
    assert_eq!(
        all.iter().map(|u| u.email.as_str()).collect::<Vec<_>>(),
        ["ada@example.com", "bob@example.com"]
    );
}

async fn api_keys_lookup_by_hash_and_revocation(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let ada = user(store.as_ref(), "ada@example.com").await;
    let (key, secret) = accounts::create_key(store.as_ref(), ada.id, "laptop")
        .await
        .expect("key");
    assert_eq!(key.user_id, ada.id);
    assert_eq!(key.name, "laptop");

    let (found, owner) = accounts::resolve_key(store.as_ref(), &secret)
        .await
        .expect("resolve")
        .expect("live key resolves");
    assert_eq!(found.id, key.id);
    assert_eq!(owner.id, ada.id);
    // Lookup is by hash: the stored row carries no plaintext.
    let hash = accounts::hash_key(secrecy::ExposeSecret::expose_secret(&secret));
    assert!(
        store
            .find_api_key_by_hash(&hash)
            .await
            .expect("find")
            .is_some()
    );
    let wrong = SecretString::from("vak_notARealKeyAtAll0000000000000000000000".to_string());
    assert!(
        accounts::resolve_key(store.as_ref(), &wrong)
            .await
            .expect("resolve")
            .is_none()
    );

    store.touch_api_key(key.id).await.expect("touch");
    let listed = store.list_api_keys(ada.id).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert!(listed[0].last_used_at.is_some());

    let by_prefix = store
        .find_api_keys_by_prefix(&key.prefix)
        .await
        .expect("prefix");
    assert_eq!(by_prefix.len(), 1);

    let revoked = accounts::revoke_key(store.as_ref(), &key.prefix)
        .await
        .expect("revoke");
    assert!(revoked.revoked_at.is_some());
    assert!(
        accounts::resolve_key(store.as_ref(), &secret)
            .await
            .expect("resolve")
            .is_none(),
        "revoked key must not resolve"
    );
    assert!(
        store
            .find_api_key_by_hash(&hash)
            .await
            .expect("find")
            .is_none()
    );
    assert!(
        !store.revoke_api_key(key.id).await.expect("second revoke"),
        "already revoked"
    );
    assert!(
        accounts::revoke_key(store.as_ref(), &key.id.to_string())
            .await
            .is_err()
    );
}

async fn agents_round_trip_json_arrays_decimals(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let mut new = new_agent("qa.bot-1");
    new.required_credential_types =
        vec!["openai".into(), "google_sheets".into(), "tiếng_việt".into()];
    new.input_schema = json!({
        "type": "object",
        "properties": {
            "question": {"type": "string", "description": "Xin chào \u{1F600} \"quoted\" \\ back"},
            "n": {"type": "integer", "minimum": 0, "default": 3},
            "mode": {"enum": ["a", "b"]},
            "nested": {"type": "object", "properties": {"x": {"type": ["number", "null"]}}}
        },
        "required": ["question"]
    });
    new.price_one_time = Some(Decimal::from_str("9.99").expect("dec"));
    new.price_monthly = Some(Decimal::from_str("12345678.90").expect("dec"));
    new.credits_per_call = 7;
    new.engine_config = json!({"input_mode": "form", "nested": {"a": [1, 2]}});
    new.timeout_ms = Some(45_000);
    let created = store.create_agent(&new).await.expect("create");
    let got = store
        .get_agent(created.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(got, created);
    assert_eq!(got.input_schema, new.input_schema);
    assert_eq!(got.required_credential_types, new.required_credential_types);
    assert_eq!(
        got.price_one_time.map(|d| d.to_string()).as_deref(),
        Some("9.99")
    );
    assert_eq!(
        got.price_monthly.map(|d| d.to_string()).as_deref(),
        Some("12345678.90")
    );
    assert_eq!(got.credits_per_call, 7);
    assert_eq!(got.engine_config, new.engine_config);
    assert_eq!(got.timeout_ms, Some(45_000));
    assert_eq!(got.status, AgentStatus::Draft);
    assert_eq!(got.engine_type, EngineType::Flowise);

    // Whole numbers keep two places, like DECIMAL(10,2).
    let mut whole = new_agent("whole");
    whole.price_one_time = Some(Decimal::from(5));
    whole.required_credential_types = vec![];
    let whole = store.create_agent(&whole).await.expect("create");
    assert_eq!(
        whole.price_one_time.map(|d| d.to_string()).as_deref(),
        Some("5.00")
    );
    assert_eq!(whole.price_monthly, None);
    assert!(whole.required_credential_types.is_empty());

    let by_name = store
        .get_agent_by_tool_name("qa.bot-1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(by_name.id, created.id);
    assert!(
        store
            .get_agent_by_tool_name("missing")
            .await
            .expect("get")
            .is_none()
    );
}

async fn agents_update_list_filter_delete(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    for name in ["alpha", "beta", "gamma", "delta"] {
        let mut agent = new_agent(name);
        if name == "delta" {
            agent.name = "Delta: 50% off".into();
        }
        store.create_agent(&agent).await.expect("create");
    }
    let beta = store
        .get_agent_by_tool_name("beta")
        .await
        .expect("get")
        .expect("exists");
    let patched = store
        .update_agent(
            beta.id,
            &AgentPatch {
                status: Some(AgentStatus::Published),
                engine_type: Some(EngineType::Activepieces),
                price_monthly: Some(Some(Decimal::from_str("3.5").expect("dec"))),
                description: Some("new description".into()),
                ..AgentPatch::default()
            },
        )
        .await
        .expect("patch");
    assert_eq!(patched.status, AgentStatus::Published);
    assert_eq!(patched.engine_type, EngineType::Activepieces);
    assert_eq!(
        patched.price_monthly.map(|d| d.to_string()).as_deref(),
        Some("3.50")
    );
    assert_eq!(patched.description, "new description");
    assert_eq!(patched.name, beta.name, "unpatched fields stay");
    assert!(patched.updated_at >= beta.updated_at);
    let cleared = store
        .update_agent(
            beta.id,
            &AgentPatch {
                price_monthly: Some(None),
                ..AgentPatch::default()
            },
        )
        .await
        .expect("clear price");
    assert_eq!(cleared.price_monthly, None);
    assert!(matches!(
        store
            .update_agent(Uuid::new_v4(), &AgentPatch::default())
            .await,
        Err(StoreError::NotFound { .. })
    ));

    let published = store
        .list_agents(&AgentFilter {
            status: Some(AgentStatus::Published),
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(
        published
            .iter()
            .map(|a| a.tool_name.as_str())
            .collect::<Vec<_>>(),
        ["beta"]
    );
    let flowise = store
        .list_agents(&AgentFilter {
            engine_type: Some(EngineType::Flowise),
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(flowise.len(), 3);
    let named = store
        .list_agents(&AgentFilter {
            name_contains: Some("AMM".into()),
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(
        named
            .iter()
            .map(|a| a.tool_name.as_str())
            .collect::<Vec<_>>(),
        ["gamma"]
    );
    let percent = store
        .list_agents(&AgentFilter {
            name_contains: Some("50%".into()),
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(percent.len(), 1, "LIKE wildcards in the needle are literal");
    // Keyset pagination by tool_name.
    let page1 = store
        .list_agents(&AgentFilter {
            limit: Some(2),
            ..Default::default()
        })
        .await
        .expect("page");
    assert_eq!(
        page1
            .iter()
            .map(|a| a.tool_name.as_str())
            .collect::<Vec<_>>(),
        ["alpha", "beta"]
    );
    let page2 = store
        .list_agents(&AgentFilter {
            limit: Some(2),
            after_tool_name: Some("beta".into()),
            ..Default::default()
        })
        .await
        .expect("page");
    assert_eq!(
        page2
            .iter()
            .map(|a| a.tool_name.as_str())
            .collect::<Vec<_>>(),
        ["delta", "gamma"]
    );

    // Delete: refused while execution logs reference the agent.
    let u = user(store.as_ref(), "ada@example.com").await;
    store
        .insert_execution_log(&NewExecutionLog {
            id: Uuid::new_v4(),
            user_id: u.id,
            agent_id: beta.id,
            status: ExecutionStatus::Running,
            input_snapshot: None,
        })
        .await
        .expect("log");
    let err = store.delete_agent(beta.id).await.expect_err("referenced");
    assert!(
        matches!(err, StoreError::ForeignKeyViolation { .. }),
        "{err:?}"
    );
    let alpha = store
        .get_agent_by_tool_name("alpha")
        .await
        .expect("get")
        .expect("exists");
    assert!(store.delete_agent(alpha.id).await.expect("delete"));
    assert!(!store.delete_agent(alpha.id).await.expect("delete again"));
    assert!(store.get_agent(alpha.id).await.expect("get").is_none());
}

async fn constraint_violations_are_typed(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    store.create_agent(&new_agent("dup")).await.expect("create");
    let err = store
        .create_agent(&new_agent("dup"))
        .await
        .expect_err("duplicate tool_name");
    assert!(
        matches!(&err, StoreError::UniqueViolation { constraint } if constraint == "agents_tool_name_key"),
        "{err:?}"
    );
    let err = store
        .create_agent(&new_agent("bad name/../x"))
        .await
        .expect_err("invalid tool name");
    assert!(
        matches!(&err, StoreError::CheckViolation { constraint } if constraint == "agents_tool_name_check"),
        "{err:?}"
    );
    let mut negative = new_agent("negative");
    negative.credits_per_call = -1;
    let err = store
        .create_agent(&negative)
        .await
        .expect_err("negative credits");
    assert!(
        matches!(&err, StoreError::CheckViolation { constraint } if constraint == "agents_credits_per_call_check"),
        "{err:?}"
    );
    let mut price = new_agent("price");
    price.price_one_time = Some(Decimal::from_str("-1.00").expect("dec"));
    let err = store
        .create_agent(&price)
        .await
        .expect_err("negative price");
    assert!(
        matches!(&err, StoreError::CheckViolation { constraint } if constraint == "agents_price_one_time_check"),
        "{err:?}"
    );
    let mut schema = new_agent("schema");
    schema.input_schema = json!(["not", "an", "object"]);
    let err = store
        .create_agent(&schema)
        .await
        .expect_err("schema must be an object");
    assert!(
        matches!(&err, StoreError::CheckViolation { constraint } if constraint == "agents_input_schema_check"),
        "{err:?}"
    );

    // A bad engine_type cannot be expressed through the typed API; the
    // database refuses it, and the error maps to the same typed variant.
    let insert_bad_engine = match backend {
        Backend::Postgres => {
            let mut c = db.raw_pg().await;
            sqlx::query("INSERT INTO agents (name, engine_type, engine_flow_id, tool_name) VALUES ('x', 'n8n', 'f', 'bad_engine')")
                .execute(&mut c)
                .await
                .map(|_| ())
        }
        Backend::Sqlite => {
            let mut c = db.raw_sqlite().await;
            sqlx::query("INSERT INTO agents (id, name, engine_type, engine_flow_id, tool_name) VALUES ('00000000-0000-0000-0000-000000000001', 'x', 'n8n', 'f', 'bad_engine')")
                .execute(&mut c)
                .await
                .map(|_| ())
        }
    };
    let err = StoreError::from(insert_bad_engine.expect_err("engine_type CHECK"));
    assert!(
        matches!(&err, StoreError::CheckViolation { constraint } if constraint == "agents_engine_type_check"),
        "{err:?}"
    );
    let bad_status = match backend {
        Backend::Postgres => {
            let mut c = db.raw_pg().await;
            sqlx::query("UPDATE agents SET status = 'live' WHERE tool_name = 'dup'")
                .execute(&mut c)
                .await
                .map(|_| ())
        }
        Backend::Sqlite => {
            let mut c = db.raw_sqlite().await;
            sqlx::query("UPDATE agents SET status = 'live' WHERE tool_name = 'dup'")
                .execute(&mut c)
                .await
                .map(|_| ())
        }
    };
    let err = StoreError::from(bad_status.expect_err("status CHECK"));
    assert!(
        matches!(&err, StoreError::CheckViolation { constraint } if constraint == "agents_status_check"),
        "{err:?}"
    );

    // Unknown user: foreign key violations are typed too.
    let err = store
        .create_api_key(&NewApiKey {
            user_id: Uuid::new_v4(),
            name: "k".into(),
            prefix: "vak_x".into(),
            key_hash: "0".repeat(64),
        })
        .await
        .expect_err("unknown user");
    assert!(
        matches!(err, StoreError::ForeignKeyViolation { .. }),
        "{err:?}"
    );
    let agent = store
        .get_agent_by_tool_name("dup")
        .await
        .expect("get")
        .expect("exists");
    let err = store
        .insert_execution_log(&NewExecutionLog {
            id: Uuid::new_v4(),
            user_id: Uuid::new_v4(),
            agent_id: agent.id,
            status: ExecutionStatus::Running,
            input_snapshot: None,
        })
        .await
        .expect_err("unknown user");
    assert!(
        matches!(err, StoreError::ForeignKeyViolation { .. }),
        "{err:?}"
    );
    let err = accounts::create_key(store.as_ref(), Uuid::new_v4(), "x")
        .await
        .expect_err("unknown user");
    assert!(matches!(err, vieagent::Error::NotFound(_)), "{err:?}");
}

async fn credentials_rows_upsert_list_delete(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let ada = user(store.as_ref(), "ada@example.com").await;
    let bob = user(store.as_ref(), "bob@example.com").await;
    let now = Utc::now();
    let row = |user_id: Uuid, provider: &str, value: &str| CredentialRow {
        id: Uuid::new_v4(),
        user_id,
        provider: provider.into(),
        key_name: "default".into(),
        encrypted_value: value.into(),
        iv: "aXYxMjM0NTY3ODkw".into(),
        key_version: 1,
        created_at: now,
        updated_at: now,
    };
    let first = store
        .put_credential(&row(ada.id, "openai", "c2VhbGVkLTE="))
        .await
        .expect("put");
    assert_eq!(first.encrypted_value, "c2VhbGVkLTE=");
    let replacement = row(ada.id, "openai", "c2VhbGVkLTI=");
    let second = store.put_credential(&replacement).await.expect("upsert");
    assert_eq!(
        second.id, replacement.id,
        "the row takes the id its ciphertext is bound to"
    );
    assert_eq!(second.encrypted_value, "c2VhbGVkLTI=");
    store
        .put_credential(&row(ada.id, "anthropic", "YQ=="))
        .await
        .expect("put");
    store
        .put_credential(&row(bob.id, "openai", "Yg=="))
        .await
        .expect("put");

    let ada_rows = store.list_credentials(ada.id).await.expect("list");
    assert_eq!(
        ada_rows
            .iter()
            .map(|r| r.provider.as_str())
            .collect::<Vec<_>>(),
        ["anthropic", "openai"]
    );
    assert!(ada_rows.iter().all(|r| r.user_id == ada.id));
    assert!(
        !format!("{:?}", ada_rows[0]).contains("YQ=="),
        "Debug hides sealed values"
    );

    assert!(
        store
            .delete_credential(ada.id, "openai", "default")
            .await
            .expect("delete")
    );
    assert!(
        !store
            .delete_credential(ada.id, "openai", "default")
            .await
            .expect("delete again")
    );
    assert_eq!(store.list_credentials(ada.id).await.expect("list").len(), 1);
    assert_eq!(
        store.list_credentials(bob.id).await.expect("list").len(),
        1,
        "other users untouched"
    );

    let err = store
        .put_credential(&row(ada.id, "Not Valid", "x"))
        .await
        .expect_err("provider check");
    assert!(
        matches!(&err, StoreError::CheckViolation { constraint } if constraint == "credentials_provider_check"),
        "{err:?}"
    );
    let err = store
        .put_credential(&row(Uuid::new_v4(), "openai", "x"))
        .await
        .expect_err("fk");
    assert!(
        matches!(err, StoreError::ForeignKeyViolation { .. }),
        "{err:?}"
    );
}

async fn execution_logs_lifecycle_and_pagination(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let ada = user(store.as_ref(), "ada@example.com").await;
    let bob = user(store.as_ref(), "bob@example.com").await;
    let agent = store.create_agent(&new_agent("qa")).await.expect("agent");

    let id = Uuid::new_v4();
    let input = json!({"question": "Hôm nay trời thế nào?", "n": 2});
    let started = store
        .write_journal(&[JournalOp::Start {
            row: NewExecutionLog {
                id,
                user_id: ada.id,
                agent_id: agent.id,
                status: ExecutionStatus::Running,
                input_snapshot: Some(input.clone()),
            },
            reserve: 3,
        }])
        .await
        .expect("start");
    assert_eq!(started, vec![JournalResult::Applied]);
    let log = store
        .get_execution_log(id)
        .await
        .expect("get")
        .expect("row");
    assert_eq!(log.id, id);
    assert_eq!(log.status, ExecutionStatus::Running);
    assert_eq!(log.input_snapshot, Some(input));
    assert_eq!((log.credits_consumed, log.credits_reserved), (0, 3));
    assert!(log.finished_at.is_none());

    let outcome = ExecutionOutcome {
        status: ExecutionStatus::Success,
        external_execution_id: Some("exec-123".into()),
        output_snapshot: Some(json!({"text": "Nắng", "data": [1, 2.5, null, true]})),
        duration_ms: Some(42),
        credits_consumed: 3,
        error: None,
    };
    let finish = |outcome: ExecutionOutcome| JournalOp::Finish {
        id,
        user_id: ada.id,
        outcome,
    };
    assert_eq!(
        store
            .write_journal(&[finish(outcome.clone())])
            .await
            .expect("finish"),
        vec![JournalResult::Applied]
    );
    assert_eq!(
        store
            .write_journal(&[finish(ExecutionOutcome {
                status: ExecutionStatus::Failed,
                error: Some("late".into()),
                credits_consumed: 0,
                ..outcome.clone()
            })])
            .await
            .expect("finish twice"),
        vec![JournalResult::Unchanged],
        "a finished row never changes again"
    );
    let done = store
        .get_execution_log(id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(done.status, ExecutionStatus::Success);
    assert_eq!(done.external_execution_id.as_deref(), Some("exec-123"));
    assert_eq!(done.output_snapshot, outcome.output_snapshot);
    assert_eq!(done.duration_ms, Some(42));
    assert_eq!(done.credits_consumed, 3);
    assert!(done.finished_at.is_some());
    assert!(done.error.is_none());

    // 25 more rows for ada and 5 for bob, then page through ada's, newest first.
    for i in 0..30 {
        let owner = if i % 6 == 5 { bob.id } else { ada.id };
        store
            .insert_execution_log(&NewExecutionLog {
                id: Uuid::new_v4(),
                user_id: owner,
                agent_id: agent.id,
                status: ExecutionStatus::Running,
                input_snapshot: None,
            })
            .await
            .expect("insert");
    }
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .list_execution_logs(&ExecutionLogFilter {
                user_id: Some(ada.id),
                before,
                limit: Some(7),
                ..Default::default()
            })
            .await
            .expect("page");
        if page.is_empty() {
            break;
        }
        assert!(page.iter().all(|l| l.user_id == ada.id));
        before = page.last().map(|l| (l.created_at, l.id));
        seen.extend(page);
    }
    assert_eq!(seen.len(), 26);
    let unique: HashSet<Uuid> = seen.iter().map(|l| l.id).collect();
    assert_eq!(unique.len(), 26, "no row twice across pages");
    assert!(
        seen.windows(2)
            .all(|w| (w[0].created_at, w[0].id) > (w[1].created_at, w[1].id)),
        "newest first"
    );

    let successes = store
        .list_execution_logs(&ExecutionLogFilter {
            status: Some(ExecutionStatus::Success),
            ..Default::default()
        })
        .await
        .expect("filter");
    assert_eq!(successes.len(), 1);
    let bobs = store
        .list_execution_logs(&ExecutionLogFilter {
            user_id: Some(bob.id),
            agent_id: Some(agent.id),
            ..Default::default()
        })
        .await
        .expect("filter");
    assert_eq!(bobs.len(), 5);
    let future = store
        .list_execution_logs(&ExecutionLogFilter {
            from: Some(Utc::now() + ChronoDuration::hours(1)),
            ..Default::default()
        })
        .await
        .expect("filter");
    assert!(future.is_empty());
    let window = store
        .list_execution_logs(&ExecutionLogFilter {
            from: Some(Utc::now() - ChronoDuration::hours(1)),
            to: Some(Utc::now() + ChronoDuration::hours(1)),
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .expect("filter");
    assert_eq!(window.len(), 31);
}

async fn concurrent_execution_log_inserts_all_land(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let ada = user(store.as_ref(), "ada@example.com").await;
    let agent = store.create_agent(&new_agent("qa")).await.expect("agent");
    let store = Arc::clone(&store);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = Arc::clone(&store);
        let (user_id, agent_id) = (ada.id, agent.id);
        tasks.push(tokio::spawn(async move {
            store
                .insert_execution_log(&NewExecutionLog {
                    id: Uuid::new_v4(),
                    user_id,
                    agent_id,
                    status: ExecutionStatus::Running,
                    input_snapshot: Some(json!({ "i": i })),
                })
                .await
                .map(|l| l.id)
        }));
    }
    let mut ids = HashSet::new();
    for t in tasks {
        ids.insert(t.await.expect("join").expect("insert lands"));
    }
    assert_eq!(ids.len(), 200);
    let rows = store
        .list_execution_logs(&ExecutionLogFilter {
            user_id: Some(ada.id),
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(rows.len(), 200);
    let inputs: HashSet<i64> = rows
        .iter()
        .filter_map(|r| r.input_snapshot.as_ref()?.get("i")?.as_i64())
        .collect();
    assert_eq!(inputs.len(), 200, "every insert carried its own snapshot");
}

async fn newer_schema_is_refused(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    // Pretend a newer vieagent migrated this database.
    let sql = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
               VALUES (99990101000000, 'from the future', TRUE, X'00', 1)";
    match backend {
        Backend::Postgres => {
            let mut c = db.raw_pg().await;
            sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99990101000000, 'from the future', TRUE, '\\x00', 1)")
                .execute(&mut c)
                .await
                .expect("fake migration");
        }
        Backend::Sqlite => {
            let mut c = db.raw_sqlite().await;
            sqlx::query(sql)
                .execute(&mut c)
                .await
                .expect("fake migration");
        }
    }
    let status = store.migration_status().await.expect("status");
    assert_eq!(status.unknown(), vec![99990101000000]);
    assert!(!status.is_current());
    let err = store.migrate().await.expect_err("must refuse");
    assert!(matches!(err, StoreError::SchemaTooNew { .. }), "{err:?}");
    assert!(err.to_string().contains("newer than this binary"), "{err}");

    // The server refuses to start on it too, with the same message.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let err = vieagent::run(db.config(), listener, std::future::pending())
        .await
        .expect_err("server refuses a newer schema");
    assert!(err.to_string().contains("newer than this binary"), "{err}");
}

async fn journal_batches_commit_together(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let ada = user(store.as_ref(), "ada@example.com").await;
    let agent = store.create_agent(&new_agent("qa")).await.expect("agent");
    let row = |id: Uuid| NewExecutionLog {
        id,
        user_id: ada.id,
        agent_id: agent.id,
        status: ExecutionStatus::Running,
        input_snapshot: Some(json!({"q": id.to_string()})),
    };
    let outcome = |status: ExecutionStatus, credits: i32| ExecutionOutcome {
        status,
        external_execution_id: Some("ext-1".into()),
        output_snapshot: Some(json!({"text": "done", "n": [1, 2]})),
        duration_ms: Some(12),
        credits_consumed: credits,
        error: (status == ExecutionStatus::Failed).then(|| "boom".to_string()),
    };
    let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let start = |id: Uuid| JournalOp::Start {
        row: row(id),
        reserve: 3,
    };
    let finish = |id: Uuid, outcome: ExecutionOutcome| JournalOp::Finish {
        id,
        user_id: ada.id,
        outcome,
    };
    let before = store.credit_account(ada.id).await.expect("account");
    let first = store
        .write_journal(&[
            start(a),
            start(b),
            JournalOp::Record(row(c), outcome(ExecutionStatus::Failed, 0)),
        ])
        .await
        .expect("batch 1");
    assert_eq!(first, vec![JournalResult::Applied; 3]);
    assert_eq!(
        store
            .credit_account(ada.id)
            .await
            .expect("account")
            .reserved,
        before.reserved + 6,
        "both starts hold their credits"
    );
    let second = store
        .write_journal(&[
            finish(a, outcome(ExecutionStatus::Success, 3)),
            finish(b, outcome(ExecutionStatus::Failed, 0)),
            finish(c, outcome(ExecutionStatus::Success, 9)),
            finish(Uuid::new_v4(), outcome(ExecutionStatus::Success, 1)),
        ])
        .await
        .expect("batch 2");
    assert_eq!(
        second,
        vec![
            JournalResult::Applied,
            JournalResult::Applied,
            JournalResult::Unchanged,
            JournalResult::Unchanged
        ],
        "finished rows and unknown ids change nothing"
    );
    let after = store.credit_account(ada.id).await.expect("account");
    assert_eq!(
        (after.balance, after.reserved),
        (before.balance - 3, before.reserved),
        "a charged 3, b released"
    );
    let ledger = store.list_ledger(ada.id, None, 10).await.expect("ledger");
    assert_eq!(
        (
            ledger[0].delta,
            ledger[0].execution_log_id,
            ledger[0].reason.as_str()
        ),
        (-3, Some(a), "call")
    );
    let a_row = store.get_execution_log(a).await.expect("get").expect("a");
    assert_eq!(
        (a_row.status, a_row.credits_consumed),
        (ExecutionStatus::Success, 3)
    );
    assert_eq!(
        a_row.output_snapshot,
        Some(json!({"text": "done", "n": [1, 2]}))
    );
    assert_eq!(a_row.external_execution_id.as_deref(), Some("ext-1"));
    assert!(a_row.finished_at.is_some());
    let b_row = store.get_execution_log(b).await.expect("get").expect("b");
    assert_eq!(
        (b_row.status, b_row.error.as_deref()),
        (ExecutionStatus::Failed, Some("boom"))
    );
    let c_row = store.get_execution_log(c).await.expect("get").expect("c");
    assert_eq!(
        (c_row.status, c_row.credits_consumed),
        (ExecutionStatus::Failed, 0),
        "recorded rows are final"
    );
    // A row finished twice in one batch (a retry racing the original)
    // settles once, with the first outcome.
    let twice = Uuid::new_v4();
    store
        .write_journal(&[start(twice)])
        .await
        .expect("start twice");
    let third = store
        .write_journal(&[
            finish(twice, outcome(ExecutionStatus::Success, 2)),
            finish(twice, outcome(ExecutionStatus::Failed, 0)),
        ])
        .await
        .expect("batch 3");
    assert_eq!(
        third,
        vec![JournalResult::Applied, JournalResult::Unchanged]
    );
    let twice_row = store
        .get_execution_log(twice)
        .await
        .expect("get")
        .expect("twice");
    assert_eq!(
        (twice_row.status, twice_row.credits_consumed),
        (ExecutionStatus::Success, 2)
    );
    let settled_once = store.credit_account(ada.id).await.expect("account");
    assert_eq!(
        (settled_once.balance, settled_once.reserved),
        (after.balance - 2, after.reserved),
        "charged once, its reservation released once"
    );
    let after = settled_once;
    // A batch with a bad row fails as a whole and writes nothing.
    let d = Uuid::new_v4();
    let mut bad = row(Uuid::new_v4());
    bad.user_id = Uuid::new_v4();
    let err = store
        .write_journal(&[
            start(d),
            JournalOp::Start {
                row: bad,
                reserve: 0,
            },
        ])
        .await
        .expect_err("unknown user");
    assert!(
        matches!(err, StoreError::ForeignKeyViolation { .. }),
        "{err:?}"
    );
    assert!(
        store.get_execution_log(d).await.expect("get").is_none(),
        "all or nothing"
    );
    assert_eq!(
        store.credit_account(ada.id).await.expect("account"),
        after,
        "the failed batch reserved nothing"
    );
    // ...and leaves the journal usable: its transaction was ended (on
    // SQLite a batch is two commands; the second failed mid-way).
    assert_eq!(
        store
            .write_journal(&[start(d)])
            .await
            .expect("a batch after a failed one"),
        vec![JournalResult::Applied]
    );
    assert_eq!(
        store
            .credit_account(ada.id)
            .await
            .expect("account")
            .reserved,
        after.reserved + 3
    );
    // Finishes settle first, then starts take credits in order while
    // there are enough: one too big is recorded failed with what was
    // available, the next smaller one still gets its credits.
    let held = store.credit_account(ada.id).await.expect("account");
    let free_after_d = held.available() + 3 - 1;
    let (e, f) = (Uuid::new_v4(), Uuid::new_v4());
    let need = i32::try_from(free_after_d + 1).expect("small balance");
    let fourth = store
        .write_journal(&[
            JournalOp::Start {
                row: row(e),
                reserve: need,
            },
            finish(d, outcome(ExecutionStatus::Success, 1)),
            JournalOp::Start {
                row: row(f),
                reserve: 1,
            },
        ])
        .await
        .expect("batch 4");
    assert_eq!(
        fourth,
        vec![
            JournalResult::InsufficientCredits {
                available: free_after_d
            },
            JournalResult::Applied,
            JournalResult::Applied
        ]
    );
    let e_row = store.get_execution_log(e).await.expect("get").expect("e");
    assert_eq!(
        (
            e_row.status,
            e_row.credits_reserved,
            e_row.error.as_deref(),
            e_row.input_snapshot
        ),
        (
            ExecutionStatus::Failed,
            0,
            Some(
                format!("insufficient credits: the call needs {need}, {free_after_d} available")
                    .as_str()
            ),
            Some(json!({"q": e.to_string()}))
        )
    );
    assert!(e_row.finished_at.is_some());
    let f_row = store.get_execution_log(f).await.expect("get").expect("f");
    assert_eq!(
        (f_row.status, f_row.credits_reserved, f_row.finished_at),
        (ExecutionStatus::Running, 1, None)
    );
    let settled = store.credit_account(ada.id).await.expect("account");
    assert_eq!(
        (settled.balance, settled.reserved),
        (held.balance - 1, held.reserved - 3 + 1)
    );
}

async fn agent_changes_apply_all_or_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let existing = store
        .create_agent(&new_agent("taken"))
        .await
        .expect("agent");
    let err = store
        .apply_agent_changes(&[
            AgentChange::Create(new_agent("fresh")),
            AgentChange::Update(
                existing.id,
                AgentPatch {
                    description: Some("changed".into()),
                    ..AgentPatch::default()
                },
            ),
            AgentChange::Create(new_agent("taken")),
        ])
        .await
        .expect_err("duplicate tool_name");
    assert!(matches!(err, StoreError::UniqueViolation { .. }), "{err:?}");
    assert!(
        store
            .get_agent_by_tool_name("fresh")
            .await
            .expect("get")
            .is_none(),
        "rolled back"
    );
    assert_eq!(
        store
            .get_agent(existing.id)
            .await
            .expect("get")
            .expect("exists")
            .description,
        existing.description
    );
    let applied = store
        .apply_agent_changes(&[
            AgentChange::Create(new_agent("fresh")),
            AgentChange::Update(
                existing.id,
                AgentPatch {
                    status: Some(AgentStatus::Archived),
                    ..AgentPatch::default()
                },
            ),
        ])
        .await
        .expect("apply");
    assert_eq!(applied.len(), 2);
    assert_eq!(applied[1].status, AgentStatus::Archived);
}

/// The PostgreSQL pool does not ping a connection per acquire, yet one the
/// server cut while it sat idle is not handed out: idle for a while, it is
/// pinged first, found dead and replaced, and the query works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_cut_while_idle_are_replaced() {
    let db = TestDb::new(Backend::Postgres).await;
    let role = crate::helpers::OwnRole::create(&db, "vieagent_idle").await;
    let store = vieagent::store::postgres::PgStore::connect(role.url(), 2)
        .await
        .expect("connect");
    store.ping().await.expect("first query");
    assert_eq!(
        store.pool_stats().size,
        1,
        "one connection, back in the pool"
    );

    // The server ends the session (a restart, a failover or a proxy's idle
    // timeout look the same from here) while the connection sits idle.
    role.cut().await;
    role.restore().await;
    tokio::time::sleep(std::time::Duration::from_millis(1_300)).await;

    store
        .ping()
        .await
        .expect("the dead connection was replaced, not handed out");
    drop(store);
    role.drop().await;
}

/// The journal batch (`vieagent_journal_batch`) finds the rows it finishes
/// by their primary key, whatever the statistics say (migration 0024): on a
/// fresh table (no statistics yet, as in a new database), with the cached
/// generic plan (one connection, more than five batches), it neither scans
/// the table nor reads the partial index of open rows — whose entries stay
/// until VACUUM, so reading it made every batch read every row finished
/// since the last vacuum. Counted by PostgreSQL's own statistics, flushed by
/// the connection that ran the batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_journal_batches_find_rows_by_primary_key() {
    let db = TestDb::new(Backend::Postgres).await;
    let store = vieagent::store::postgres::PgStore::connect(&db.url, 1)
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(store.pool())
        .await
        .expect("server version");
    if version < 150_000 {
        // pg_stat_force_next_flush() is PostgreSQL 15's; CI runs 15.
        eprintln!("skipped: PostgreSQL {version} has no pg_stat_force_next_flush()");
        return;
    }
    let ada = user(&store, "ada@example.com").await;
    let agent = store.create_agent(&new_agent("qa")).await.expect("agent");
    let counters = |store: &vieagent::store::postgres::PgStore| {
        let pool = store.pool().clone();
        async move {
            // The connection that ran the batches flushes its counters
            // when it next goes idle; the pool has just that one.
            sqlx::query("SELECT pg_stat_force_next_flush()")
                .execute(&pool)
                .await
                .expect("flush");
            let row = sqlx::query(
                "SELECT (SELECT seq_scan FROM pg_stat_user_tables \
                          WHERE relname = 'execution_logs'), \
                        (SELECT idx_scan FROM pg_stat_user_indexes \
                          WHERE indexrelname = 'execution_logs_unfinished_idx'), \
                        (SELECT idx_scan FROM pg_stat_user_indexes \
                          WHERE indexrelname = 'execution_logs_pkey')",
            )
            .fetch_one(&pool)
            .await
            .expect("counters");
            let n = |i: usize| row.try_get::<i64, _>(i).expect("counter");
            (n(0), n(1), n(2))
        }
    };
    let before = counters(&store).await;
    let rounds = 12;
    for round in 0..rounds {
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
        let starts: Vec<JournalOp> = ids
            .iter()
            .map(|&id| JournalOp::Start {
                row: NewExecutionLog {
                    id,
                    user_id: ada.id,
                    agent_id: agent.id,
                    status: ExecutionStatus::Running,
                    input_snapshot: Some(json!({"round": round})),
                },
                reserve: 1,
            })
            .collect();
        let started = store.write_journal(&starts).await.expect("starts");
        assert_eq!(started, vec![JournalResult::Applied; 4]);
        let finishes: Vec<JournalOp> = ids
            .iter()
            .map(|&id| JournalOp::Finish {
                id,
                user_id: ada.id,
                outcome: ExecutionOutcome {
                    status: ExecutionStatus::Success,
                    external_execution_id: None,
                    output_snapshot: Some(json!({"text": "ok"})),
                    duration_ms: Some(1),
                    credits_consumed: 1,
                    error: None,
                },
            })
            .collect();
        let finished = store.write_journal(&finishes).await.expect("finishes");
        assert_eq!(finished, vec![JournalResult::Applied; 4]);
    }
    let after = counters(&store).await;
    assert_eq!(
        after.0 - before.0,
        0,
        "no batch scanned execution_logs sequentially"
    );
    assert_eq!(
        after.1 - before.1,
        0,
        "no batch read the partial index of open rows"
    );
    // Each finish: its row's lookup, and the ledger entry's foreign-key
    // check (the call is charged).
    assert!(
        after.2 - before.2 >= rounds * 8,
        "each finish found its row by primary key: {before:?} → {after:?}"
    );
    let account = store.credit_account(ada.id).await.expect("account");
    assert_eq!(account.reserved, 0, "every reservation released");
}

/// An in-memory SQLite database is refused with a sentence saying what to
/// use instead (the journal writes through a connection of its own, which
/// could not see it).
#[tokio::test]
async fn sqlite_in_memory_databases_are_refused_clearly() {
    let err = match vieagent::store::sqlite::SqliteStore::connect("sqlite::memory:", 1).await {
        Ok(_) => panic!("an in-memory database was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("in-memory SQLite databases are not supported")
            && err.contains("sqlite://vieagent.db"),
        "{err}"
    );
}

/// The SQLite journal writes a small batch in place without waiting for the
/// write lock; when another process holds it (a `vieagent stdio` beside
/// `serve`, a CLI command), the batch waits for it on a blocking thread and
/// lands once the other writer commits — not an error, nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_journal_waits_for_another_processs_write_lock() {
    use sqlx::Connection;
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    let ada = user(store.as_ref(), "ada@example.com").await;
    let agent = store.create_agent(&new_agent("qa")).await.expect("agent");
    let id = Uuid::now_v7();
    let start = JournalOp::Start {
        row: NewExecutionLog {
            id,
            user_id: ada.id,
            agent_id: agent.id,
            status: ExecutionStatus::Running,
            input_snapshot: Some(json!({"q": "x"})),
        },
        reserve: 1,
    };

    // Another connection, as another process would, takes the write lock.
    let mut other = sqlx::SqliteConnection::connect(&db.url)
        .await
        .expect("other connection");
    sqlx::raw_sql("BEGIN IMMEDIATE; UPDATE users SET display_name = 'held' WHERE id = (SELECT id FROM users LIMIT 1)")
        .execute(&mut other)
        .await
        .expect("hold the write lock");
    let writer = {
        let store = store.clone();
        let start = start.clone();
        tokio::spawn(async move { store.write_journal(&[start]).await })
    };
    // The batch is waiting (it cannot have committed: the lock is held).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!writer.is_finished(), "the batch waits for the write lock");
    assert!(
        store.get_execution_log(id).await.expect("read").is_none(),
        "nothing written while another process holds the lock"
    );
    sqlx::raw_sql("COMMIT")
        .execute(&mut other)
        .await
        .expect("release the write lock");
    let written = writer.await.expect("task").expect("the batch lands");
    assert_eq!(written, vec![JournalResult::Applied]);
    let row = store
        .get_execution_log(id)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(row.status, ExecutionStatus::Running);
    assert_eq!(
        store
            .credit_account(ada.id)
            .await
            .expect("account")
            .reserved,
        1
    );
}

/// A user's toolbox and named toolsets: a toolset's agent is in the
/// toolbox too, removing from the toolbox removes from every set, adds and
/// removes say whether they changed anything, other users are untouched,
/// a deleted agent leaves every toolbox, and toolset names are checked by
/// the database too.
async fn toolboxes_hold_toolsets_and_forget_deleted_agents(backend: Backend) {
    use vieagent::store::toolbox::TOOLBOX;
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let ada = user(store.as_ref(), "ada@example.com").await;
    let bob = user(store.as_ref(), "bob@example.com").await;
    let mut agents = Vec::new();
    for tool in ["one", "two", "three"] {
        agents.push(
            store
                .create_agent(&new_agent(tool))
                .await
                .expect("agent")
                .id,
        );
    }
    let (one, two, three) = (agents[0], agents[1], agents[2]);
    // Timestamps are stored to the millisecond: adds a moment apart.
    let tick = || tokio::time::sleep(std::time::Duration::from_millis(5));

    // A change of bob's toolbox is announced (PostgreSQL: NOTIFY; SQLite
    // serves one process and has nothing to watch).
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let stop = tokio_util::sync::CancellationToken::new();
    let watcher = tokio::spawn({
        let store = store.clone();
        let stop = stop.clone();
        async move { store.watch_toolboxes(tx, stop).await }
    });
    if backend == Backend::Postgres {
        let first = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .expect("listening");
        assert_eq!(first, Some(None), "connected: changes before were missed");
    }

    assert!(
        store
            .add_to_toolbox(bob.id, TOOLBOX, one)
            .await
            .expect("bob")
    );
    if backend == Backend::Postgres {
        let note = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .expect("notified");
        assert_eq!(note, Some(Some(bob.id)));
    }
    stop.cancel();
    tokio::time::timeout(std::time::Duration::from_secs(10), watcher)
        .await
        .expect("the watch ends when stopped")
        .expect("watch");

    assert!(
        store
            .toolbox(ada.id, TOOLBOX)
            .await
            .expect("empty")
            .is_empty()
    );
    assert!(
        store
            .add_to_toolbox(ada.id, TOOLBOX, one)
            .await
            .expect("add")
    );
    assert!(
        !store
            .add_to_toolbox(ada.id, TOOLBOX, one)
            .await
            .expect("again"),
        "already there"
    );
    tick().await;
    // Into a named toolset: into the toolbox as well.
    assert!(
        store
            .add_to_toolbox(ada.id, "writing", two)
            .await
            .expect("set")
    );
    assert!(
        !store
            .add_to_toolbox(ada.id, "writing", two)
            .await
            .expect("again")
    );
    assert!(
        !store
            .add_to_toolbox(ada.id, TOOLBOX, two)
            .await
            .expect("toolbox"),
        "the toolset put it in the toolbox"
    );
    assert_eq!(
        store.toolbox(ada.id, TOOLBOX).await.expect("box"),
        vec![one, two]
    );
    assert_eq!(
        store.toolbox(ada.id, "writing").await.expect("set"),
        vec![two]
    );
    tick().await;
    assert!(
        store
            .add_to_toolbox(ada.id, "research", one)
            .await
            .expect("set")
    );
    tick().await;
    assert!(
        store
            .add_to_toolbox(ada.id, "research", two)
            .await
            .expect("set")
    );
    assert_eq!(
        store.toolbox(ada.id, "research").await.expect("set"),
        vec![one, two],
        "in the order they were added"
    );
    assert_eq!(
        store.toolsets(ada.id).await.expect("sets"),
        vec![("research".to_string(), 2), ("writing".to_string(), 1)]
    );
    assert!(store.toolsets(bob.id).await.expect("bob").is_empty());
    assert!(
        store
            .toolbox(ada.id, "nothing")
            .await
            .expect("none")
            .is_empty()
    );

    // Out of one toolset: still in the toolbox and the other set.
    assert!(
        store
            .remove_from_toolbox(ada.id, "writing", two)
            .await
            .expect("rm")
    );
    assert!(
        !store
            .remove_from_toolbox(ada.id, "writing", two)
            .await
            .expect("again")
    );
    assert!(
        !store
            .remove_from_toolbox(ada.id, "writing", three)
            .await
            .expect("never there")
    );
    assert_eq!(
        store.toolbox(ada.id, TOOLBOX).await.expect("box"),
        vec![one, two]
    );
    assert_eq!(
        store.toolsets(ada.id).await.expect("sets"),
        vec![("research".to_string(), 2)],
        "an emptied toolset is gone"
    );
    // Out of the toolbox: out of every set.
    assert!(
        store
            .add_to_toolbox(ada.id, "writing", two)
            .await
            .expect("set")
    );
    assert!(
        store
            .remove_from_toolbox(ada.id, TOOLBOX, two)
            .await
            .expect("rm")
    );
    assert!(
        !store
            .remove_from_toolbox(ada.id, TOOLBOX, two)
            .await
            .expect("again")
    );
    assert_eq!(
        store.toolbox(ada.id, TOOLBOX).await.expect("box"),
        vec![one]
    );
    assert_eq!(
        store.toolbox(ada.id, "research").await.expect("set"),
        vec![one]
    );
    assert!(
        store
            .toolbox(ada.id, "writing")
            .await
            .expect("set")
            .is_empty()
    );
    assert_eq!(
        store.toolsets(ada.id).await.expect("sets"),
        vec![("research".to_string(), 1)]
    );
    assert_eq!(
        store.toolbox(bob.id, TOOLBOX).await.expect("bob"),
        vec![one]
    );

    // Bad toolset names are refused by the database (typed), and the
    // toolbox row of the failed add is rolled back with it.
    for bad in ["Writing", "-x", "a b", "tóm", &"a".repeat(41)] {
        let err = store
            .add_to_toolbox(ada.id, bad, three)
            .await
            .expect_err(bad);
        assert!(
            matches!(&err, StoreError::CheckViolation { constraint } if constraint == "toolbox_agents_toolset_check"),
            "{bad}: {err:?}"
        );
    }
    assert!(
        store
            .add_to_toolbox(ada.id, &"a".repeat(40), three)
            .await
            .expect("40")
    );
    assert!(
        store
            .remove_from_toolbox(ada.id, TOOLBOX, three)
            .await
            .expect("rm")
    );
    assert_eq!(
        store.toolbox(ada.id, TOOLBOX).await.expect("box"),
        vec![one]
    );
    let err = store
        .add_to_toolbox(ada.id, TOOLBOX, Uuid::new_v4())
        .await
        .expect_err("no such agent");
    assert!(
        matches!(err, StoreError::ForeignKeyViolation { .. }),
        "{err:?}"
    );

    // A deleted agent leaves every toolbox and toolset.
    assert!(store.delete_agent(one).await.expect("delete"));
    assert!(
        store
            .toolbox(ada.id, TOOLBOX)
            .await
            .expect("box")
            .is_empty()
    );
    assert!(
        store
            .toolbox(bob.id, TOOLBOX)
            .await
            .expect("bob")
            .is_empty()
    );
    assert!(store.toolsets(ada.id).await.expect("sets").is_empty());
}

/// An entitlement made with `join_toolbox` puts the agent in the buyer's
/// toolbox in the same transaction (admin grant and marketplace event);
/// without it, the toolbox is left alone.
async fn purchases_join_the_toolbox_when_asked(backend: Backend) {
    use vieagent::store::toolbox::TOOLBOX;
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let ada = user(store.as_ref(), "ada@example.com").await;
    let (kept, joined, sold) = (
        store.create_agent(&new_agent("kept")).await.expect("a").id,
        store
            .create_agent(&new_agent("joined"))
            .await
            .expect("b")
            .id,
        store.create_agent(&new_agent("sold")).await.expect("c").id,
    );
    let grant = |agent_id: Uuid, join_toolbox: bool| NewEntitlement {
        user_id: ada.id,
        agent_id,
        kind: EntitlementKind::OneTime,
        starts_at: Utc::now(),
        expires_at: None,
        reference: Some(format!("order-{agent_id}")),
        price: Some(Decimal::from(3)),
        join_toolbox,
    };
    store
        .create_entitlement(&grant(kept, false))
        .await
        .expect("grant");
    assert!(
        store
            .toolbox(ada.id, TOOLBOX)
            .await
            .expect("box")
            .is_empty()
    );
    store
        .create_entitlement(&grant(joined, true))
        .await
        .expect("grant");
    assert_eq!(
        store.toolbox(ada.id, TOOLBOX).await.expect("box"),
        vec![joined]
    );
    // Already there: a second purchase is no error.
    store
        .create_entitlement(&grant(joined, true))
        .await
        .expect("again");
    assert_eq!(
        store.list_entitlements(ada.id).await.expect("list").len(),
        3
    );
    // A grant that fails leaves no toolbox row behind.
    let err = store
        .create_entitlement(&grant(Uuid::new_v4(), true))
        .await
        .expect_err("no such agent");
    assert!(
        matches!(err, StoreError::ForeignKeyViolation { .. }),
        "{err:?}"
    );

    let applied = store
        .apply_marketplace_event(
            "evt-toolbox-1",
            "entitlement.granted",
            &MarketplaceChange::Grant(grant(sold, true)),
            |_| json!({}),
        )
        .await
        .expect("event");
    assert!(matches!(applied, EventApplication::Applied(..)));
    assert_eq!(
        store.toolbox(ada.id, TOOLBOX).await.expect("box"),
        vec![joined, sold]
    );
    // Only the first purchase joins: a renewal (a second entitlement to the
    // same agent) does not put back an agent the user removed.
    assert!(
        store
            .remove_from_toolbox(ada.id, TOOLBOX, sold)
            .await
            .expect("remove")
    );
    store
        .create_entitlement(&grant(sold, true))
        .await
        .expect("renewal");
    assert_eq!(
        store.toolbox(ada.id, TOOLBOX).await.expect("box"),
        vec![joined]
    );
}

/// Published agents with the words the searches below look for.
async fn search_catalog(store: &DynStore) {
    let published = |tool: &str, name: &str, description: &str| NewAgent {
        name: name.into(),
        description: description.into(),
        status: AgentStatus::Published,
        ..new_agent(tool)
    };
    let agents = [
        NewAgent {
            required_credential_types: vec!["openai".into()],
            ..published(
                "tom_tat_van_ban",
                "Tóm tắt văn bản",
                "Rút gọn một tài liệu dài thành vài ý chính.",
            )
        },
        NewAgent {
            required_credential_types: vec!["google".into()],
            price_monthly: Some(Decimal::from(5)),
            ..published(
                "da_nang_guide",
                "Hướng dẫn du lịch ĐÀ NẴNG",
                "Lịch trình, quán ăn.",
            )
        },
        NewAgent {
            required_credential_types: vec![],
            ..published(
                "summary_helper",
                "Helper",
                "Can tóm tắt any text; tóm tắt, tóm tắt again.",
            )
        },
        NewAgent {
            required_credential_types: vec!["openai".into(), "google".into()],
            price_one_time: Some(Decimal::ZERO),
            ..published("xlsx_merge_tool", "Gộp bảng tính", "Excel → một file.")
        },
        NewAgent {
            status: AgentStatus::Draft,
            ..published("tom_draft", "Tóm tắt nháp", "draft")
        },
        NewAgent {
            status: AgentStatus::Archived,
            ..published("tom_archived", "Tóm tắt cũ", "archived")
        },
    ];
    for agent in agents {
        store.create_agent(&agent).await.expect("create");
    }
}

/// The tool names a search finds, in its order.
async fn found(store: &DynStore, search: AgentSearch) -> Vec<String> {
    let mut tools = Vec::new();
    for id in store.search_agents(&search).await.expect("search") {
        tools.push(
            store
                .get_agent(id)
                .await
                .expect("get")
                .expect("agent")
                .tool_name,
        );
    }
    tools
}

fn words(query: &str) -> AgentSearch {
    AgentSearch {
        words: vieagent::store::toolbox::search_words(query),
        limit: 50,
        ..AgentSearch::default()
    }
}

/// Search: Vietnamese found without its accents (and with them), words as
/// prefixes, all of them required, tool names split at `_`, names before
/// descriptions, published agents only, the filters and paging.
async fn catalog_search_folds_accents_ranks_and_filters(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    search_catalog(&store).await;
    let tools = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();

    // A name match (tool name and name) before a description-only match,
    // however often the description says it.
    assert_eq!(
        found(&store, words("tom tat")).await,
        tools(&["tom_tat_van_ban", "summary_helper"])
    );
    assert_eq!(
        found(&store, words("Tóm TẮT")).await,
        tools(&["tom_tat_van_ban", "summary_helper"])
    );
    assert_eq!(
        found(&store, words("da nang")).await,
        tools(&["da_nang_guide"])
    );
    assert_eq!(
        found(&store, words("Đà Nẵng")).await,
        tools(&["da_nang_guide"])
    );
    // Prefixes, every word required.
    assert_eq!(
        found(&store, words("tóm tắ")).await,
        tools(&["tom_tat_van_ban", "summary_helper"])
    );
    assert_eq!(
        found(&store, words("van ban")).await,
        tools(&["tom_tat_van_ban"])
    );
    assert_eq!(
        found(&store, words("huong da")).await,
        tools(&["da_nang_guide"])
    );
    assert_eq!(found(&store, words("gui")).await, tools(&["da_nang_guide"]));
    assert!(found(&store, words("tom nang")).await.is_empty());
    assert!(found(&store, words("tomtat")).await.is_empty());
    // Tool names split at underscores; punctuation splits too.
    assert_eq!(
        found(&store, words("merge")).await,
        tools(&["xlsx_merge_tool"])
    );
    assert_eq!(
        found(&store, words("xlsx")).await,
        tools(&["xlsx_merge_tool"])
    );
    assert_eq!(
        found(&store, words("excel")).await,
        tools(&["xlsx_merge_tool"])
    );
    assert_eq!(
        found(&store, words("text")).await,
        tools(&["summary_helper"])
    );
    // Drafts and archived agents are never found.
    assert!(found(&store, words("nhap")).await.is_empty());
    assert!(found(&store, words("draft")).await.is_empty());
    assert!(found(&store, words("archived")).await.is_empty());
    assert!(found(&store, words("cu")).await.is_empty());
    let all = tools(&[
        "da_nang_guide",
        "summary_helper",
        "tom_tat_van_ban",
        "xlsx_merge_tool",
    ]);
    assert_eq!(
        found(&store, words("")).await,
        all,
        "no words: by tool name"
    );

    // Filters.
    let free = |w: &str| AgentSearch {
        free: true,
        ..words(w)
    };
    assert_eq!(
        found(&store, free("")).await,
        tools(&["summary_helper", "tom_tat_van_ban", "xlsx_merge_tool"])
    );
    assert!(found(&store, free("nang")).await.is_empty());
    let ids = |tool: &'static str| {
        let store = store.clone();
        async move {
            store
                .get_agent_by_tool_name(tool)
                .await
                .expect("get")
                .expect("agent")
                .id
        }
    };
    let among = |w: &str, among: Vec<Uuid>| AgentSearch {
        among: Some(among),
        ..words(w)
    };
    let helper = ids("summary_helper").await;
    let draft = ids("tom_draft").await;
    assert_eq!(
        found(&store, among("tom", vec![helper, draft])).await,
        tools(&["summary_helper"])
    );
    assert!(found(&store, among("", vec![])).await.is_empty());
    assert!(found(&store, among("tom", vec![])).await.is_empty());
    let needs = |w: &str, key: &str| AgentSearch {
        needs_key: Some(key.into()),
        ..words(w)
    };
    assert_eq!(
        found(&store, needs("", "google")).await,
        tools(&["da_nang_guide", "xlsx_merge_tool"])
    );
    assert_eq!(
        found(&store, needs("tom", "openai")).await,
        tools(&["tom_tat_van_ban"])
    );
    assert!(found(&store, needs("", "anthropic")).await.is_empty());
    let combined = AgentSearch {
        free: true,
        needs_key: Some("google".into()),
        among: Some(vec![
            ids("xlsx_merge_tool").await,
            ids("da_nang_guide").await,
        ]),
        ..words("")
    };
    assert_eq!(found(&store, combined).await, tools(&["xlsx_merge_tool"]));

    // Pages.
    let page = |w: &str, offset: u32, limit: u32| AgentSearch {
        offset,
        limit,
        ..words(w)
    };
    assert_eq!(found(&store, page("", 0, 2)).await, all[..2].to_vec());
    assert_eq!(found(&store, page("", 2, 2)).await, all[2..].to_vec());
    assert!(found(&store, page("", 4, 2)).await.is_empty());
    assert_eq!(
        found(&store, page("tom", 1, 5)).await,
        tools(&["summary_helper"])
    );
    assert_eq!(
        found(&store, page("tom", 0, 1)).await,
        tools(&["tom_tat_van_ban"])
    );
    assert!(found(&store, page("tom", 0, 0)).await.is_empty());
    // Other scripts keep their letters: found as typed, either case.
    store
        .create_agent(&NewAgent {
            name: "Йога дома".into(),
            description: "Занятия на каждый день.".into(),
            status: AgentStatus::Published,
            ..new_agent("yoga_ru")
        })
        .await
        .expect("create");
    assert_eq!(found(&store, words("Йога")).await, tools(&["yoga_ru"]));
    assert_eq!(found(&store, words("йог дом")).await, tools(&["yoga_ru"]));
}

/// The search follows the catalog: renamed, described anew, published,
/// unpublished and deleted agents are found (or not) at once.
async fn catalog_search_follows_agent_changes(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    search_catalog(&store).await;
    let agent = store
        .create_agent(&NewAgent {
            // Typed decomposed (NFD): the marks are dropped all the same.
            name: "Qua\u{323}t \u{111}ie\u{323}\u{302}n".into(),
            description: "Bật tắt từ xa".into(),
            ..new_agent("fan_control")
        })
        .await
        .expect("create");
    let fan = || vec!["fan_control".to_string()];
    assert!(found(&store, words("quat")).await.is_empty(), "a draft");
    let publish = |status: AgentStatus| AgentPatch {
        status: Some(status),
        ..AgentPatch::default()
    };
    store
        .update_agent(agent.id, &publish(AgentStatus::Published))
        .await
        .expect("publish");
    assert_eq!(found(&store, words("quạt điện")).await, fan());
    assert_eq!(found(&store, words("quat dien")).await, fan());
    assert_eq!(found(&store, words("bat tat tu xa")).await, fan());

    store
        .update_agent(
            agent.id,
            &AgentPatch {
                name: Some("Máy lạnh".into()),
                description: Some("Điều hòa nhiệt độ".into()),
                ..AgentPatch::default()
            },
        )
        .await
        .expect("rename");
    assert!(found(&store, words("quat")).await.is_empty());
    assert!(found(&store, words("bat tat")).await.is_empty());
    assert_eq!(found(&store, words("may lanh")).await, fan());
    assert_eq!(found(&store, words("dieu hoa")).await, fan());
    assert_eq!(found(&store, words("fan")).await, fan());

    store
        .update_agent(agent.id, &publish(AgentStatus::Archived))
        .await
        .expect("archive");
    assert!(found(&store, words("may lanh")).await.is_empty());
    store
        .update_agent(agent.id, &publish(AgentStatus::Published))
        .await
        .expect("republish");
    assert_eq!(found(&store, words("may lanh")).await, fan());

    assert!(store.delete_agent(agent.id).await.expect("delete"));
    assert!(found(&store, words("may lanh")).await.is_empty());
    assert!(found(&store, words("fan")).await.is_empty());
    // The rest of the catalog is still found.
    assert_eq!(
        found(&store, words("tom tat")).await,
        vec!["tom_tat_van_ban".to_string(), "summary_helper".to_string()]
    );
}
