//! The Activepieces adapter against the shapes in
//! `tests/fixtures/activepieces/`: one per behaviour of the server, each
//! built from the source's own code path (the file names its source file
//! and commit, or issue/PR, and the releases that answer that way).
//! Activepieces itself cannot run here; see that folder's README.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};
use vieagent::config::{ActivepiecesConfig, WebhookAuth};
use vieagent::engines::activepieces::ActivepiecesEngine;
use vieagent::engines::{Engine, EngineError, InvokeOptions};
use vieagent::vault::Credentials;
use wiremock::matchers::{header, header_exists, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const FLOW: &str = "xK2pQr7sT9uV1wY3zA5bC";
const OPENAI_KEY: &str = "sk-ap-fixture-0042";
const WEBHOOK_SECRET: &str = "ap-webhook-secret-77";

fn fixture(name: &str) -> Value {
    let file = format!(
        "{}/tests/fixtures/activepieces/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let value: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("fixture")).expect("json");
    // Every shape says where it comes from.
    let sources = value["source"].as_array().expect("source");
    assert!(!sources.is_empty(), "{name}: no source");
    for s in sources {
        assert!(
            s["file"].is_string() && s["what"].is_string(),
            "{name}: {s}"
        );
    }
    assert!(value["releases"].is_string(), "{name}: no releases");
    value
}

/// The webhook timeout `flags.json` publishes.
fn flags_timeout() -> Duration {
    let flags: Value =
        serde_json::from_str(fixture("flags")["response"]["body"].as_str().expect("body"))
            .expect("flags");
    Duration::from_secs(flags["WEBHOOK_TIMEOUT_SECONDS"].as_u64().expect("seconds"))
}

fn response_of(fx: &Value) -> ResponseTemplate {
    let r = &fx["response"];
    let mut t = ResponseTemplate::new(r["status"].as_u64().expect("status") as u16).set_body_raw(
        r["body"].as_str().unwrap_or("").to_string(),
        r["content_type"].as_str().unwrap_or("application/json"),
    );
    if let Some(headers) = r["headers"].as_object() {
        for (k, v) in headers {
            t = t.insert_header(k.as_str(), v.as_str().expect("header"));
        }
    }
    if r["delay"] == "webhook_timeout" {
        t = t.set_delay(flags_timeout());
    }
    t
}

/// Serve a shape at its request (method, path, query and headers it names).
async fn serve(server: &MockServer, name: &str) {
    let fx = fixture(name);
    let req = &fx["request"];
    let mut mock = Mock::given(method(req["method"].as_str().expect("method")))
        .and(path(req["path"].as_str().expect("path")));
    if let Some(query) = req["query"].as_object() {
        for (k, v) in query {
            mock = mock.and(query_param(k.as_str(), v.as_str().expect("value")));
        }
    }
    if let Some(headers) = req["headers"].as_object() {
        for (k, v) in headers {
            mock = mock.and(header(k.as_str(), v.as_str().expect("value")));
        }
    }
    if let Some(names) = req["has_headers"].as_array() {
        for n in names {
            mock = mock.and(header_exists(n.as_str().expect("name")));
        }
    }
    mock.respond_with(response_of(&fx)).mount(server).await;
}

/// An Activepieces with its flags (and `shapes`), and the adapter for it.
async fn activepieces(shapes: &[&str]) -> (MockServer, ActivepiecesEngine) {
    let server = MockServer::start().await;
    serve(&server, "flags").await;
    for s in shapes {
        serve(&server, s).await;
    }
    let engine = engine_for(&server, Duration::from_secs(30));
    (server, engine)
}

fn engine_for(server: &MockServer, sync_timeout: Duration) -> ActivepiecesEngine {
    vieagent::install_crypto_provider();
    ActivepiecesEngine::new(&ActivepiecesConfig {
        base_url: Some(server.uri().parse().expect("url")),
        token: Some(SecretString::from("ap-platform-key")),
        webhook_auth: Some(WebhookAuth::Header {
            name: "x-vieagent-secret".into(),
            value: SecretString::from(WEBHOOK_SECRET),
        }),
        sync_timeout,
        ..ActivepiecesConfig::default()
    })
    .expect("engine")
}

fn openai() -> Credentials {
    crate::helpers::openai_credentials(OPENAI_KEY)
}

async fn call(
    engine: &ActivepiecesEngine,
    engine_config: Value,
) -> Result<vieagent::engines::EngineOutput, EngineError> {
    engine
        .invoke(
            FLOW,
            &json!({"email": "lan@example.vn", "amount": 3}),
            &openai(),
            &InvokeOptions::new(&engine_config),
        )
        .await
}

#[tokio::test]
async fn no_reply_in_time_is_no_response_whether_204_or_408() {
    for shape in ["sync_no_reply_204", "sync_no_reply_408"] {
        let (_server, engine) = activepieces(&[shape]).await;
        let e = call(&engine, json!({})).await.expect_err(shape);
        // The timeout the server published, not the setting (30 s).
        assert_eq!(
            e,
            EngineError::NoResponse {
                after: flags_timeout()
            },
            "{shape}"
        );
        assert!(e.to_string().starts_with("no response from flow"), "{e}");
    }
}

#[tokio::test]
async fn without_the_flag_the_setting_is_the_timeout() {
    // No /api/v1/flags (an older server, or a proxy that hides it): a 204
    // at the configured timeout is still told from a quick empty answer.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/api/v1/webhooks/{FLOW}/sync")))
        .respond_with(
            ResponseTemplate::new(204)
                .insert_header("x-webhook-id", "wh1")
                .set_delay(Duration::from_millis(1000)),
        )
        .mount(&server)
        .await;
    let engine = engine_for(&server, Duration::from_secs(2));
    assert_eq!(
        call(&engine, json!({})).await.expect_err("204 at 1 s of 2"),
        EngineError::NoResponse {
            after: Duration::from_secs(2)
        }
    );
    let quick = engine_for(&server, Duration::from_secs(30));
    let out = call(&quick, json!({})).await.expect("an empty answer");
    assert_eq!(out.result, Value::Null);
}

#[tokio::test]
async fn failures_read_as_what_they_are() {
    type Expected = fn(&EngineError) -> bool;
    let cases: [(&str, Expected); 7] = [
        ("sync_failed_500", |e| {
            matches!(e, EngineError::Failed { status: 500, .. })
        }),
        ("disabled_404", |e| *e == EngineError::FlowDisabled),
        ("disabled_404_older", |e| *e == EngineError::FlowDisabled),
        (
            "wrong_base_404",
            |e| matches!(e, EngineError::Unreachable { detail } if detail.contains("engines.activepieces.base_url")),
        ),
        ("gone_410", |e| {
            matches!(e, EngineError::FlowNotFound { .. })
        }),
        ("gone_410_older", |e| {
            matches!(e, EngineError::FlowNotFound { .. })
        }),
        ("too_large_413", |e| *e == EngineError::PayloadTooLarge),
    ];
    for (shape, expected) in cases {
        let (_server, engine) = activepieces(&[shape]).await;
        let e = call(&engine, json!({})).await.expect_err(shape);
        assert!(expected(&e), "{shape}: {e:?}");
        assert!(!e.to_string().contains(OPENAI_KEY), "{shape}: {e}");
    }
}

#[tokio::test]
async fn a_catch_webhook_flow_gets_the_envelope_with_its_auth() {
    let (server, engine) = activepieces(&["catch_return_response"]).await;
    let out = call(&engine, json!({})).await.expect("answered");
    assert_eq!(out.text, "Invoice sent to lan@example.vn");
    assert_eq!(out.external_execution_id.as_deref(), Some("whCatchVwx"));
    let sent = webhook_requests(&server).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(
        header_of(&sent[0], "x-vieagent-secret"),
        Some(WEBHOOK_SECRET)
    );
    assert_eq!(header_of(&sent[0], "ap-raw-payload"), None);
}

#[tokio::test]
async fn an_mcp_tool_flow_gets_its_bare_arguments_and_reply_to_mcp_client_answers() {
    // The shape answers only a request with ap-raw-payload: true and an
    // Authorization header.
    let (server, engine) = activepieces(&["mcp_reply"]).await;
    let out = call(&engine, json!({"trigger": "mcp_tool"}))
        .await
        .expect("the reply");
    assert_eq!(
        out.result,
        json!({"summary": "Invoice 42 sent to lan@example.vn"})
    );
    assert_eq!(out.external_execution_id.as_deref(), Some("whMcpReplyStu"));
    let sent = webhook_requests(&server).await;
    let body: Value = serde_json::from_slice(&sent[0].body).expect("json");
    assert_eq!(
        body,
        json!({"email": "lan@example.vn", "amount": 3, "_credentials": {"openai": OPENAI_KEY}}),
        "the arguments themselves are the payload"
    );
    let authorization = header_of(&sent[0], "authorization").expect("authorization");
    assert!(!authorization.contains("ap-platform-key"), "no API key");
    assert_eq!(
        header_of(&sent[0], "x-vieagent-secret"),
        None,
        "the Catch Webhook secret goes only to Catch Webhook flows"
    );
    // In draft mode the server ignores the header: the envelope it is.
    let (server, engine) = activepieces(&[]).await;
    Mock::given(method("POST"))
        .and(path(format!("/api/v1/webhooks/{FLOW}/draft/sync")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(&server)
        .await;
    // (a keyless agent: draft mode with keys is refused)
    let draft = json!({"trigger": "mcp_tool", "draft": true});
    engine
        .invoke(
            FLOW,
            &json!({"email": "lan@example.vn"}),
            &Credentials::default(),
            &InvokeOptions::new(&draft),
        )
        .await
        .expect("draft");
    let sent = webhook_requests(&server).await;
    assert_eq!(header_of(&sent[0], "ap-raw-payload"), None);
}

#[tokio::test]
async fn import_reads_the_published_version_with_activepieces_own_schema() {
    let (_server, engine) = activepieces(&["flow_published", "flow_draft"]).await;
    let d = engine.describe(FLOW).await.expect("describe");
    assert_eq!(d.name, "send_invoice");
    assert_eq!(d.description, "Email an invoice to a customer");
    assert!(d.publish_blockers.is_empty(), "{:?}", d.publish_blockers);
    assert_eq!(d.engine_config, json!({"trigger": "mcp_tool"}));
    // What mcpPropertyToZod gives: required fields as they are, the others
    // optional and nullable (`.nullish()`), Date a plain string, an unknown
    // type any value; the trigger's order; nothing of the draft.
    let expected = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "email": {"type": "string", "description": "Customer email"},
            "amount": {"type": "number"},
            "paid": {"type": ["boolean", "null"]},
            "due": {"type": ["string", "null"]},
            "items": {"type": ["array", "null"], "items": {"type": "string"}},
            "meta": {"type": ["object", "null"], "additionalProperties": {"type": "string"}},
            "misc": {}
        },
        "required": ["email", "amount"],
        "additionalProperties": false
    });
    let schema = d.input_schema.expect("schema");
    assert_eq!(schema, expected);
    let order: Vec<&String> = schema["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .collect();
    assert_eq!(
        order,
        ["email", "amount", "paid", "due", "items", "meta", "misc"]
    );
    jsonschema::draft202012::meta::validate(&schema).expect("valid schema");
    // The schema takes what Activepieces' MCP server takes.
    let validator = jsonschema::validator_for(&schema).expect("compiles");
    for ok in [
        json!({"email": "a@b.vn", "amount": 1}),
        json!({"email": "a@b.vn", "amount": 1, "paid": null, "due": null, "items": null, "meta": null}),
        json!({"email": "a@b.vn", "amount": 1, "items": ["x"], "meta": {"k": "v"}, "misc": [1]}),
    ] {
        assert!(validator.is_valid(&ok), "{ok}");
    }
    for bad in [
        json!({"amount": 1}),
        json!({"email": null, "amount": 1}),
        json!({"email": "a@b.vn", "amount": 1, "items": [1]}),
        json!({"email": "a@b.vn", "amount": 1, "draft_only": "x"}),
    ] {
        assert!(!validator.is_valid(&bad), "{bad}");
    }
}

#[tokio::test]
async fn draft_mode_reads_the_draft_and_never_sends_keys() {
    // A keyless agent in draft mode runs the latest version, published or
    // not, enabled or not: nothing refuses it.
    let (_server, engine) = activepieces(&["flow_unpublished"]).await;
    let blockers = engine
        .validate(FLOW, &[], &json!({"draft": true}))
        .await
        .expect("validate");
    assert!(blockers.is_empty(), "{blockers:?}");
    // With keys it is refused at the call too (an agent published with
    // --no-engine-check), before anything is sent.
    let (server, engine) = activepieces(&[]).await;
    let e = call(&engine, json!({"draft": true}))
        .await
        .expect_err("refused");
    assert!(
        matches!(&e, EngineError::BadInput(m) if m.contains("draft mode")),
        "{e:?}"
    );
    assert!(webhook_requests(&server).await.is_empty());
}

#[tokio::test]
async fn the_flows_api_and_a_missing_token_read_right() {
    // A 404 from the flows API is a flow (or version) the key's project
    // does not have, not a wrong address.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/flows/{FLOW}")))
        .and(header("x-project-id", "prj1"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"code": "ENTITY_NOT_FOUND"})))
        .mount(&server)
        .await;
    vieagent::install_crypto_provider();
    let engine = ActivepiecesEngine::new(&ActivepiecesConfig {
        base_url: Some(server.uri().parse().expect("url")),
        token: Some(SecretString::from("ap-platform-key")),
        project_id: Some("prj1".into()),
        ..ActivepiecesConfig::default()
    })
    .expect("engine");
    let e = engine.describe(FLOW).await.expect_err("404");
    assert!(
        matches!(&e, EngineError::FlowNotFound { detail } if detail.contains("project")),
        "{e:?}"
    );
    // The Community Edition has no API keys: without a token the flow is
    // not read, and import takes the schema from a file.
    let keyless = ActivepiecesEngine::new(&ActivepiecesConfig {
        base_url: Some(server.uri().parse().expect("url")),
        ..ActivepiecesConfig::default()
    })
    .expect("engine");
    let d = keyless.describe(FLOW).await.expect("describe");
    assert!(d.input_schema.is_none());
    assert!(d.publish_blockers.is_empty());
    assert!(
        d.warnings.iter().any(|w| w.contains("--input-schema")),
        "{:?}",
        d.warnings
    );
}

#[tokio::test]
async fn a_skipped_reply_step_does_not_count() {
    let server = MockServer::start().await;
    serve(&server, "flags").await;
    let mut fx = fixture("flow_published");
    let mut body: Value =
        serde_json::from_str(fx["response"]["body"].as_str().expect("body")).expect("json");
    body["version"]["trigger"]["nextAction"]["skip"] = json!(true);
    fx["response"]["body"] = json!(body.to_string());
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/flows/{FLOW}")))
        .respond_with(response_of(&fx))
        .mount(&server)
        .await;
    let d = engine_for(&server, Duration::from_secs(30))
        .describe(FLOW)
        .await
        .expect("describe");
    assert!(
        d.publish_blockers
            .iter()
            .any(|b| b.contains("never answers")),
        "{:?}",
        d.publish_blockers
    );
}

#[tokio::test]
async fn flows_that_cannot_be_called_as_they_are_are_not_published() {
    let (_server, engine) = activepieces(&["flow_unpublished"]).await;
    let d = engine.describe(FLOW).await.expect("describe");
    assert!(
        d.publish_blockers
            .iter()
            .any(|b| b.contains("no published version")),
        "{:?}",
        d.publish_blockers
    );
    assert!(d.publish_blockers.iter().any(|b| b.contains("disabled")));

    let (_server, engine) = activepieces(&["flow_mcp_webhook_reply"]).await;
    let d = engine.describe(FLOW).await.expect("describe");
    let blocker = d
        .publish_blockers
        .iter()
        .find(|b| b.contains("never answers"))
        .unwrap_or_else(|| panic!("{:?}", d.publish_blockers));
    assert!(blocker.contains("Reply to MCP Client"), "{blocker}");
    assert!(
        blocker.contains("Return Response\" step is ignored"),
        "{blocker}"
    );

    // Draft mode sends every request, keys included, into the flow's
    // sample data: refused for an agent that sends keys.
    let blockers = engine
        .validate(FLOW, &["openai".to_string()], &json!({"draft": true}))
        .await
        .expect("validate");
    assert!(
        blockers.iter().any(|b| b.contains("draft mode")),
        "{blockers:?}"
    );
    let keyless = engine
        .validate(FLOW, &[], &json!({"draft": true}))
        .await
        .expect("validate");
    assert!(
        !keyless.iter().any(|b| b.contains("draft mode")),
        "{keyless:?}"
    );
}

async fn webhook_requests(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path().contains("/webhooks/"))
        .collect()
}

fn header_of<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

/// End to end: `vieagent agents import` of an MCP-tool flow (its published
/// version), then an assistant's call through the gateway reaches the flow
/// with its bare arguments and the user's key, and Reply to MCP Client's
/// answer comes back as the tool result.
#[tokio::test]
async fn an_imported_mcp_tool_flow_runs_from_an_assistant() {
    use crate::helpers::{Backend, TestApp, TestDb, run_cli_with, text};
    use crate::mcp_client::{Protocol, call, connect_http, text_of};

    let (server, _) = activepieces(&["flow_published", "flow_draft", "mcp_reply"]).await;
    let db = TestDb::new(Backend::Sqlite).await;
    let uri = server.uri();
    let env = [
        ("VIEAGENT_DATABASE_URL", db.url.as_str()),
        ("VIEAGENT_MASTER_KEY", db.master_key.as_str()),
        ("VIEAGENT_ACTIVEPIECES_URL", uri.as_str()),
        ("VIEAGENT_ACTIVEPIECES_TOKEN", "ap-platform-key"),
    ];
    let dir = db.dir.path().to_path_buf();
    let out = run_cli_with(
        &[
            "agents",
            "import",
            "--engine",
            "activepieces",
            "--flow-id",
            FLOW,
            "--publish",
        ],
        &dir,
        &env,
        None,
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("created agent send_invoice"),
        "{}",
        text(&out.stdout)
    );
    let store = db.store().await;
    let agent = store
        .get_agent_by_tool_name("send_invoice")
        .await
        .expect("get")
        .expect("imported");
    assert_eq!(agent.status, vieagent::store::AgentStatus::Published);
    assert_eq!(agent.engine_config["trigger"], "mcp_tool");
    assert!(agent.input_schema["properties"].get("draft_only").is_none());
    let agent_needs_key = vieagent::store::AgentPatch {
        required_credential_types: Some(vec!["openai".into()]),
        ..Default::default()
    };
    store
        .update_agent(agent.id, &agent_needs_key)
        .await
        .expect("needs openai");

    let app = TestApp::spawn_with(db, |c| {
        c.engines.activepieces.base_url = Some(uri.parse().expect("url"));
    })
    .await;
    let (user, key) = app.user_with_key("lan@example.vn").await;
    app.db
        .vault(&app.store().await)
        .await
        .put(&user, "openai", "default", &SecretString::from(OPENAI_KEY))
        .await
        .expect("credential");
    let (client, _) = connect_http(&app.url(""), &key, Protocol::Session).await;
    for _ in 0..100 {
        let tools = client.list_all_tools().await.expect("tools");
        if tools.iter().any(|t| t.name == "send_invoice") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let result = call(
        &client,
        "send_invoice",
        json!({"email": "lan@example.vn", "amount": 42, "paid": null}),
    )
    .await;
    assert_ne!(result.is_error, Some(true), "{}", text_of(&result));
    assert!(
        text_of(&result).contains("Invoice 42 sent to lan@example.vn"),
        "{}",
        text_of(&result)
    );
    let sent = webhook_requests(&server).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(header_of(&sent[0], "ap-raw-payload"), Some("true"));
    let body: Value = serde_json::from_slice(&sent[0].body).expect("json");
    assert_eq!(body["email"], "lan@example.vn");
    assert_eq!(body["paid"], Value::Null, "an optional field may be null");
    assert_eq!(body["_credentials"]["openai"], OPENAI_KEY);
    client.cancel().await.ok();
}

/// The Community Edition way: no API key, the schema from a file.
#[tokio::test]
async fn import_without_an_api_key_takes_the_schema_from_a_file() {
    use crate::helpers::{Backend, TestDb, run_cli_with, text};
    let server = MockServer::start().await;
    let db = TestDb::new(Backend::Sqlite).await;
    let uri = server.uri();
    let schema = db.dir.path().join("schema.json");
    std::fs::write(
        &schema,
        json!({"type": "object", "properties": {"email": {"type": "string"}}, "required": ["email"]})
            .to_string(),
    )
    .expect("schema file");
    let env = [
        ("VIEAGENT_DATABASE_URL", db.url.as_str()),
        ("VIEAGENT_MASTER_KEY", db.master_key.as_str()),
        ("VIEAGENT_ACTIVEPIECES_URL", uri.as_str()),
    ];
    let out = run_cli_with(
        &[
            "agents",
            "import",
            "--engine",
            "activepieces",
            "--flow-id",
            FLOW,
            "--tool-name",
            "ce_invoice",
            "--input-schema",
            schema.to_str().expect("path"),
            "--publish",
        ],
        db.dir.path(),
        &env,
        None,
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(said.contains("created agent ce_invoice"), "{said}");
    assert!(
        said.contains("--input-schema"),
        "the warning says why: {said}"
    );
    let agent = db
        .store()
        .await
        .get_agent_by_tool_name("ce_invoice")
        .await
        .expect("get")
        .expect("imported");
    assert_eq!(agent.status, vieagent::store::AgentStatus::Published);
    assert_eq!(agent.input_schema["required"], json!(["email"]));
    assert!(
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty(),
        "nothing asked of the flows API without a key"
    );
}
