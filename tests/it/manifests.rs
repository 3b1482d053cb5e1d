//! `vieagent agents apply`: the declarative catalog, run as a user would.

use std::path::Path;

use serde_json::{Value, json};
use vieagent::store::AgentStatus;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{Backend, TestDb, run_cli_with, text};

fn examples() -> String {
    format!("{}/manifests/agents", env!("CARGO_MANIFEST_DIR"))
}

fn env(db: &TestDb) -> Vec<(&str, &str)> {
    vec![
        ("VIEAGENT_DATABASE_URL", db.url.as_str()),
        ("VIEAGENT_MASTER_KEY", db.master_key.as_str()),
        ("VIEAGENT_LOG_LEVEL", "warn"),
    ]
}

async fn apply(
    db: &TestDb,
    dir: &str,
    flags: &[&str],
    extra_env: &[(&str, &str)],
) -> std::process::Output {
    let mut args = vec!["agents", "apply", dir];
    args.extend_from_slice(flags);
    let mut e = env(db);
    e.extend_from_slice(extra_env);
    run_cli_with(&args, db.dir.path(), &e, None).await
}

fn write(dir: &Path, name: &str, body: &str) {
    std::fs::write(dir.join(name), body).expect("write manifest");
}

crate::backend_tests!(
    example_catalog_applies_idempotently_and_prunes,
    invalid_manifests_apply_nothing
);

async fn example_catalog_applies_idempotently_and_prunes(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let dir = examples();
    let dry = apply(&db, &dir, &["--dry-run", "--no-engine-check"], &[]).await;
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    assert!(
        text(&dry.stdout).contains("dry run (nothing applied): 3 created"),
        "{}",
        text(&dry.stdout)
    );
    assert!(
        store
            .list_agents(&Default::default())
            .await
            .expect("list")
            .is_empty(),
        "dry run changes nothing"
    );

    let first = apply(&db, &dir, &["--no-engine-check"], &[]).await;
    assert!(first.status.success(), "{}", text(&first.stderr));
    let out = text(&first.stdout);
    for tool in ["support_qa", "refund_desk", "send_invoice"] {
        assert!(out.contains(&format!("created\t{tool}")), "{out}");
    }
    assert!(
        out.contains("3 created, 0 updated, 0 unchanged, 0 archived"),
        "{out}"
    );
    let second = apply(&db, &dir, &["--no-engine-check"], &[]).await;
    assert!(
        text(&second.stdout).contains("0 created, 0 updated, 3 unchanged, 0 archived"),
        "idempotent: {}",
        text(&second.stdout)
    );

    let refund = store
        .get_agent_by_tool_name("refund_desk")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(refund.status, AgentStatus::Published);
    assert_eq!(
        refund.price_monthly.map(|d| d.to_string()).as_deref(),
        Some("4.99")
    );
    assert_eq!(
        refund.engine_config["credential_targets"]["openai"],
        json!(["llmModelConfig.openAIApiKey"])
    );
    let invoice = store
        .get_agent_by_tool_name("send_invoice")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (invoice.status, invoice.timeout_ms),
        (AgentStatus::Draft, Some(45_000))
    );
    assert_eq!(
        invoice.price_one_time.map(|d| d.to_string()).as_deref(),
        Some("9.99")
    );

    // Change one file, drop another, add an agent outside the manifests.
    let tmp = tempfile::tempdir().expect("tempdir");
    for f in ["support-qa.yaml", "send-invoice.yaml"] {
        std::fs::copy(Path::new(&dir).join(f), tmp.path().join(f)).expect("copy");
    }
    let qa = std::fs::read_to_string(tmp.path().join("support-qa.yaml")).expect("read");
    write(
        tmp.path(),
        "support-qa.yaml",
        &qa.replace(
            "help-center knowledge base",
            "knowledge base, in Vietnamese or English",
        ),
    );
    let mut stray = crate::helpers::sample_agent("stray_tool");
    stray.status = AgentStatus::Published;
    store.create_agent(&stray).await.expect("stray");
    let tmp_dir = tmp.path().to_str().expect("utf8").to_string();
    let third = apply(&db, &tmp_dir, &["--no-engine-check", "--prune"], &[]).await;
    assert!(third.status.success(), "{}", text(&third.stderr));
    let out = text(&third.stdout);
    assert!(
        out.contains("updated\tsupport_qa") && out.contains("unchanged\tsend_invoice"),
        "{out}"
    );
    assert!(
        out.contains("archived\trefund_desk") && out.contains("archived\tstray_tool"),
        "{out}"
    );
    assert!(
        out.contains("0 created, 1 updated, 1 unchanged, 2 archived"),
        "{out}"
    );
    let qa = store
        .get_agent_by_tool_name("support_qa")
        .await
        .expect("get")
        .expect("exists");
    assert!(qa.description.contains("Vietnamese"));
    assert_eq!(
        store
            .get_agent_by_tool_name("stray_tool")
            .await
            .expect("get")
            .expect("exists")
            .status,
        AgentStatus::Archived
    );
    // The CLI's changes are in the audit log.
    let audit = store.list_audit(None, 100).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|e| e.actor == "cli" && e.action == "agent.apply.updated"),
        "{audit:?}"
    );
}

async fn invalid_manifests_apply_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    write(
        tmp.path(),
        "a-good.yaml",
        "name: Good\ntool_name: good_one\nengine: flowise\nflow_id: abc\ninput_schema: {type: object}\n",
    );
    write(
        tmp.path(),
        "b-syntax.yaml",
        "name: [unclosed\ntool_name: x\n",
    );
    write(
        tmp.path(),
        "c-fields.yaml",
        "name: Bad\ntool_name: bad name\nengine: flowise\nflow_id: ../x\ninput_schema: {type: array}\nprice_one_time: \"9.999\"\n",
    );
    write(
        tmp.path(),
        "d-dup.yaml",
        "name: Dup\ntool_name: good_one\nengine: activepieces\nflow_id: xyz\ninput_schema: {type: object}\n",
    );
    write(
        tmp.path(),
        "e-unknown.yaml",
        "name: U\ntool_name: u\nengine: flowise\nflow_id: f\ninput_schema: {type: object}\ncolour: blue\n",
    );
    write(tmp.path(), "notes.txt", "not a manifest");
    let dir = tmp.path().to_str().expect("utf8").to_string();
    let out = apply(&db, &dir, &["--no-engine-check"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("b-syntax.yaml"), "{err}");
    assert!(
        err.contains("c-fields.yaml: tool_name: must match"),
        "{err}"
    );
    assert!(
        err.contains("c-fields.yaml: flow_id: must match"),
        "field named as in the manifest: {err}"
    );
    assert!(err.contains("c-fields.yaml: input_schema.type"), "{err}");
    assert!(err.contains("c-fields.yaml: price_one_time"), "{err}");
    assert!(
        err.contains("d-dup.yaml: tool_name good_one is also used by"),
        "{err}"
    );
    assert!(
        err.contains("e-unknown.yaml") && err.contains("colour"),
        "{err}"
    );
    assert!(
        !err.lines().any(|l| l.contains("a-good.yaml:")),
        "the good file has no problems: {err}"
    );
    assert!(err.contains("nothing was applied"), "{err}");
    assert!(
        store
            .list_agents(&Default::default())
            .await
            .expect("list")
            .is_empty(),
        "all or nothing"
    );
    let empty = tempfile::tempdir().expect("tempdir");
    let out = apply(&db, empty.path().to_str().expect("utf8"), &[], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no *.yaml manifests"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_engine_manifests_and_publish_checks() {
    let db = TestDb::new(Backend::Sqlite).await;
    let flowise = MockServer::start().await;
    let read = |name: &str| -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(format!(
                "{}/tests/fixtures/flowise/{name}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .expect("fixture"),
        )
        .expect("json")
    };
    let good = read("agentflow_v2_form.json");
    let off = read("agentflow_v2_form_overrides_off.json");
    for flow in [&good, &off] {
        Mock::given(method("GET"))
            .and(path(format!(
                "/api/v1/chatflows/{}",
                flow["id"].as_str().expect("id")
            )))
            .respond_with(ResponseTemplate::new(200).set_body_json(flow.clone()))
            .mount(&flowise)
            .await;
    }
    crate::helpers::mount_flowise_executions(&flowise).await;
    let uri = flowise.uri();
    let engine_env = [
        ("VIEAGENT_FLOWISE_URL", uri.as_str()),
        ("VIEAGENT_FLOWISE_API_KEY", "fw"),
    ];
    let tmp = tempfile::tempdir().expect("tempdir");
    write(
        tmp.path(),
        "refund.yaml",
        &format!(
            "name: Refunds\ntool_name: refunds\nengine: flowise\nflow_id: {}\nfrom_engine: true\nstatus: published\ncredits_per_call: 2\n",
            good["id"].as_str().expect("id")
        ),
    );
    let dir = tmp.path().to_str().expect("utf8").to_string();
    let out = apply(&db, &dir, &[], &engine_env).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let store = db.store().await;
    let agent = store
        .get_agent_by_tool_name("refunds")
        .await
        .expect("get")
        .expect("created");
    assert_eq!(agent.status, AgentStatus::Published);
    assert_eq!(
        agent.input_schema["properties"]["channel"]["enum"],
        json!(["web", "store", "phone"])
    );
    assert_eq!(agent.required_credential_types, vec!["openai".to_string()]);
    assert_eq!(agent.engine_config["input_mode"], "form");

    // A flow whose overrides would be dropped cannot be published: nothing applied.
    write(
        tmp.path(),
        "unsafe.yaml",
        &format!(
            "name: Unsafe\ntool_name: unsafe_refunds\nengine: flowise\nflow_id: {}\nfrom_engine: true\nstatus: published\n",
            off["id"].as_str().expect("id")
        ),
    );
    let qa = "name: QA\ntool_name: qa_new\nengine: flowise\nflow_id: abc\ninput_schema: {type: object}\n";
    write(tmp.path(), "qa.yaml", qa);
    let out = apply(&db, &dir, &[], &engine_env).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot publish unsafe_refunds")
            && text(&out.stderr).contains("silently dropped"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        store
            .get_agent_by_tool_name("qa_new")
            .await
            .expect("get")
            .is_none(),
        "nothing applied"
    );
    // Without an engine configured, publishing cannot be checked.
    let out = apply(&db, &dir, &[], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("from_engine"),
        "{}",
        text(&out.stderr)
    );
}
