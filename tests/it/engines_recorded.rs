//! The Flowise adapter against responses recorded from a real Flowise 3.1.2
//! (tests/fixtures/flowise/recorded: status, content type and body exactly
//! as the server sent them; lab secrets redacted).

use secrecy::SecretString;
use serde_json::{Value, json};
use vieagent::config::FlowiseConfig;
use vieagent::engines::flowise::FlowiseEngine;
use vieagent::engines::{Engine, EngineError, InvokeOptions};
use vieagent::vault::Credentials;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The override key the recordings used (a fake, sent to a fake OpenAI).
const RECORDED_KEY: &str = "sk-RECORDED-FAKE-KEY-123";

fn recorded(name: &str) -> Value {
    let file = format!(
        "{}/tests/fixtures/flowise/recorded/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&file).expect("recording")).expect("json")
}

/// Serve a recording's response at its request's method and path.
async fn replay(server: &MockServer, rec: &Value) {
    let response = &rec["response"];
    let status = response["status"].as_u64().expect("status") as u16;
    let content_type = response["content_type"]
        .as_str()
        .unwrap_or("application/json");
    Mock::given(method(rec["request"]["method"].as_str().expect("method")))
        .and(path(rec["request"]["path"].as_str().expect("path")))
        .respond_with(ResponseTemplate::new(status).set_body_raw(
            response["body"].as_str().unwrap_or("").to_string(),
            content_type,
        ))
        .mount(server)
        .await;
}

fn flow_id(rec: &Value) -> String {
    rec["request"]["path"]
        .as_str()
        .and_then(|p| p.rsplit('/').next())
        .expect("flow id")
        .to_string()
}

fn engine(server: &MockServer) -> FlowiseEngine {
    vieagent::install_crypto_provider();
    FlowiseEngine::new(&FlowiseConfig {
        base_url: Some(server.uri().parse().expect("url")),
        api_key: Some(SecretString::from("workspace-key")),
        ..FlowiseConfig::default()
    })
    .expect("engine")
}

fn openai(key: &str) -> Credentials {
    crate::helpers::openai_credentials(key)
}

async fn outcome(
    name: &str,
    args: Value,
    engine_config: Value,
    credentials: Credentials,
) -> Result<vieagent::engines::EngineOutput, EngineError> {
    let server = MockServer::start().await;
    let rec = recorded(name);
    replay(&server, &rec).await;
    let options = InvokeOptions::new(&engine_config);
    engine(&server)
        .invoke(&flow_id(&rec), &args, &credentials, &options)
        .await
}

#[tokio::test]
async fn recorded_successes_map_text_and_execution_ids() {
    let form = outcome(
        "p10_af_form_success",
        json!({"customerName": "Alice", "age": 42, "plan": "a"}),
        json!({"input_mode": "form"}),
        Credentials::default(),
    )
    .await
    .expect("form flow");
    assert_eq!(form.text, "Hello Alice! age=42 plan=a");
    let body: Value = serde_json::from_str(
        recorded("p10_af_form_success")["response"]["body"]
            .as_str()
            .expect("body"),
    )
    .expect("json");
    assert_eq!(
        form.external_execution_id.as_deref(),
        body["executionId"].as_str(),
        "Agentflow V2: executionId"
    );
    assert!(form.result.get("agentFlowExecutedData").is_none());

    let chat = outcome(
        "p20_af_chat_question_success",
        json!({"question": "Hello gateway"}),
        json!({"input_mode": "question"}),
        Credentials::default(),
    )
    .await
    .expect("chat flow");
    assert_eq!(chat.text, "You said: Hello gateway");

    let chatflow = outcome(
        "p63_cf_enabled_cred_override_key",
        json!({"question": "hello llm"}),
        json!({}),
        openai(RECORDED_KEY),
    )
    .await
    .expect("chatflow");
    assert_eq!(chatflow.text, "Hello from fake OpenAI.");
    let body: Value = serde_json::from_str(
        recorded("p63_cf_enabled_cred_override_key")["response"]["body"]
            .as_str()
            .expect("body"),
    )
    .expect("json");
    assert_eq!(
        chatflow.external_execution_id.as_deref(),
        body["chatMessageId"].as_str(),
        "chatflow: chatMessageId"
    );
}

#[tokio::test]
async fn recorded_agentflow_responses_echoing_the_key_are_cleaned() {
    for name in [
        "p82_af_llm_cred_llmModelConfig_key",
        "p83_af_llm_keyenabled_toplevel_key",
    ] {
        let rec = recorded(name);
        assert!(
            rec["response"]["body"]
                .as_str()
                .expect("body")
                .contains(RECORDED_KEY),
            "{name}: the real engine echoed the key"
        );
        let out = outcome(
            name,
            json!({"question": "hello agent llm"}),
            json!({}),
            openai(RECORDED_KEY),
        )
        .await
        .expect("success");
        let shown = serde_json::to_string(&out).expect("json");
        assert!(
            !shown.contains(RECORDED_KEY),
            "{name}: key survived the adapter: {shown}"
        );
        assert_eq!(out.text, "Hello from fake OpenAI.");
    }
}

#[tokio::test]
async fn recorded_errors_are_classified() {
    let q = || json!({"question": "q"});
    let e = outcome(
        "p11_af_form_question_and_form_error",
        json!({"customerName": "A"}),
        json!({"input_mode": "form"}),
        Credentials::default(),
    )
    .await
    .expect_err("question and form");
    assert!(
        matches!(e, EngineError::Rejected { status: 500, .. }),
        "{e:?}"
    );
    for name in ["p30_protected_no_key", "p31_protected_wrong_key"] {
        let e = outcome(name, q(), json!({}), Credentials::default())
            .await
            .expect_err(name);
        assert_eq!(
            e,
            EngineError::GatewayRejected { status: 500 },
            "{name}: a wrong flow key comes back as 500 Unauthorized"
        );
    }
    for name in ["p40_unknown_flow_valid_uuid", "p41_invalid_flow_id"] {
        let e = outcome(name, q(), json!({}), Credentials::default())
            .await
            .expect_err(name);
        assert!(
            matches!(e, EngineError::FlowNotFound { .. }),
            "{name}: {e:?}"
        );
    }
    let e = outcome(
        "p62_cf_enabled_nocred_empty_override",
        q(),
        json!({}),
        openai(RECORDED_KEY),
    )
    .await
    .expect_err("missing credentials");
    assert!(
        matches!(&e, EngineError::Failed { status: 500, excerpt } if excerpt.starts_with("Missing credentials")),
        "{e:?}"
    );
    for name in ["p69_cf_provider_401", "p84_af_llm_provider_401"] {
        let e = outcome(name, q(), json!({}), openai(RECORDED_KEY))
            .await
            .expect_err(name);
        assert_eq!(
            e,
            EngineError::CredentialRejected {
                provider: "openai".into()
            },
            "{name}"
        );
    }
}

#[tokio::test]
async fn recorded_ping_and_management_auth() {
    let server = MockServer::start().await;
    replay(&server, &recorded("p01_ping")).await;
    engine(&server).health().await.expect("pong");
    let rec = recorded("p04_get_chatflow_no_auth");
    replay(&server, &rec).await;
    let e = engine(&server)
        .describe(&flow_id(&rec))
        .await
        .expect_err("401");
    assert_eq!(e, EngineError::GatewayRejected { status: 401 });
}

/// A recorded chatflow document (GET /chatflows/{id}, or the create/update answer).
async fn describe_recorded(name: &str) -> vieagent::engines::FlowDescription {
    let rec = recorded(name);
    let flow: Value =
        serde_json::from_str(rec["response"]["body"].as_str().expect("body")).expect("json");
    let id = flow["id"].as_str().expect("id").to_string();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/chatflows/{id}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(flow))
        .mount(&server)
        .await;
    crate::helpers::mount_flowise_executions(&server).await;
    engine(&server).describe(&id).await.expect("describe")
}

#[tokio::test]
async fn recorded_flows_describe_to_schemas_credentials_and_injection_targets() {
    // Chatflow: ChatOpenAI (label "OpenAI" on 3.1.2) with openAIApiKey enabled.
    let d = describe_recorded("p02_get_chatflow_with_apikey").await;
    assert_eq!(d.required_credential_types, vec!["openai".to_string()]);
    assert_eq!(
        d.engine_config["credential_targets"]["openai"],
        json!(["openAIApiKey"])
    );
    assert!(d.publish_blockers.is_empty(), "{:?}", d.publish_blockers);
    assert_eq!(
        d.input_schema.as_ref().expect("schema")["required"],
        json!(["question"])
    );

    // Agentflow V2 LLM node: the UI offers llmModelConfig, so the key goes inside it.
    let d = describe_recorded("22_update_apiconfig_af_llm_cred").await;
    assert_eq!(d.required_credential_types, vec!["openai".to_string()]);
    assert_eq!(
        d.engine_config["credential_targets"]["openai"],
        json!(["llmModelConfig.openAIApiKey"])
    );
    assert!(d.publish_blockers.is_empty(), "{:?}", d.publish_blockers);

    // Overrides off / key not enabled: publishing is refused, naming the node.
    let d = describe_recorded("22_update_apiconfig_cf_override_status_false_cred").await;
    assert!(
        d.publish_blockers
            .iter()
            .any(|b| b.contains("Override Config is off")),
        "{:?}",
        d.publish_blockers
    );
    let d = describe_recorded("22_update_apiconfig_cf_override_param_disabled_cred").await;
    assert!(
        d.publish_blockers
            .iter()
            .any(|b| b.contains("node 'OpenAI'") && b.contains("openAIApiKey")),
        "{:?}",
        d.publish_blockers
    );

    // Agentflow V2 form Start node.
    let d = describe_recorded("20_create_af_form").await;
    assert_eq!(d.engine_config["input_mode"], "form");
    let schema = d.input_schema.expect("schema");
    assert_eq!(schema["properties"]["customerName"]["type"], "string");
    assert_eq!(schema["properties"]["age"]["type"], "number");
    assert_eq!(schema["properties"]["plan"]["enum"], json!(["a", "b"]));
    assert!(d.required_credential_types.is_empty());

    // Agentflow using $vars: the enabled variable is an argument, the other is not.
    let d = describe_recorded("p03_get_chatflow_agentflow_vars_with_apikey").await;
    let schema = d.input_schema.expect("schema");
    assert_eq!(schema["properties"]["greeting"]["type"], "string");
    assert!(schema["properties"].get("secretVar").is_none());
    assert!(
        d.warnings.iter().any(|w| w.contains("secretVar")),
        "{:?}",
        d.warnings
    );
}

#[tokio::test]
async fn injection_into_agentflow_model_config_matches_the_recorded_request() {
    // p82's request is what made the real Flowise use the user's key.
    let rec = recorded("p82_af_llm_cred_llmModelConfig_key");
    let sent: Value =
        serde_json::from_str(rec["request"]["body"].as_str().expect("request body")).expect("json");
    assert_eq!(
        sent["overrideConfig"]["llmModelConfig"]["openAIApiKey"],
        RECORDED_KEY
    );
    let seen = rec["fake_openai_server_saw"].to_string();
    assert!(
        seen.contains(&format!("Bearer {RECORDED_KEY}")),
        "the provider got the injected key: {seen}"
    );
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(rec["request"]["path"].as_str().expect("path")))
        .and(body_partial_json(
            json!({"question": sent["question"], "overrideConfig": sent["overrideConfig"]}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            rec["response"]["body"].as_str().expect("body").to_string(),
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let config = json!({"input_mode": "question", "credential_targets": {"openai": ["llmModelConfig.openAIApiKey"]}});
    let out = engine(&server)
        .invoke(
            &flow_id(&rec),
            &json!({"question": sent["question"]}),
            &openai(RECORDED_KEY),
            &InvokeOptions::new(&config),
        )
        .await
        .expect("same request, same success");
    assert_eq!(out.text, "Hello from fake OpenAI.");
}

/// The canary key the purge recordings (real Flowise 3.1.4) injected.
const CANARY: &str = "sk-live-CANARY-123";

fn recorded_purge(name: &str) -> Value {
    recorded(&format!("purge/{name}"))
}

/// Serve a purge recording at its method, path and (when it had one) the
/// query parameters it was asked with.
async fn replay_purge(server: &MockServer, name: &str) -> Value {
    let rec = recorded_purge(name);
    let response = &rec["response"];
    let mut mock = Mock::given(method(rec["request"]["method"].as_str().expect("method")))
        .and(path(rec["request"]["path"].as_str().expect("path")));
    for (key, value) in
        url::form_urlencoded::parse(rec["request"]["query"].as_str().unwrap_or("").as_bytes())
    {
        mock = mock.and(wiremock::matchers::query_param(
            key.as_ref(),
            value.as_ref(),
        ));
    }
    mock.respond_with(
        ResponseTemplate::new(response["status"].as_u64().expect("status") as u16).set_body_raw(
            response["body"].as_str().expect("body").to_string(),
            response["content_type"].as_str().expect("content type"),
        ),
    )
    .mount(server)
    .await;
    rec
}

/// Serve a purge recording's body at `GET /api/v1/executions`, whatever
/// the query (a list asked without paging answers any page).
async fn serve_list(server: &MockServer, name: &str) {
    let body = recorded_purge(name)["response"]["body"]
        .as_str()
        .expect("body")
        .to_string();
    serve_list_body(server, body).await;
}

async fn serve_list_body(server: &MockServer, body: String) {
    Mock::given(method("GET"))
        .and(path("/api/v1/executions"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(body, "application/json; charset=utf-8"),
        )
        .mount(server)
        .await;
}

/// A recorded execution list as if recorded now: its runs' `createdDate`
/// moved to the present (the rest as recorded), so a run recorded as in
/// progress still reads as running, not as one abandoned an hour ago.
fn recorded_now(name: &str) -> String {
    let mut listed: Value = serde_json::from_str(
        recorded_purge(name)["response"]["body"]
            .as_str()
            .expect("body"),
    )
    .expect("json");
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    for run in listed["data"].as_array_mut().expect("data") {
        run["createdDate"] = Value::String(now.clone());
    }
    listed.to_string()
}

fn purge_target(rec: &Value) -> vieagent::engines::PurgeTarget {
    let flow = rec["request"]["path"]
        .as_str()
        .and_then(|p| p.rsplit('/').next())
        .expect("flow");
    vieagent::engines::PurgeTarget {
        flow_id: flow.to_string(),
        record_ids: Vec::new(),
        call_chat_id: None,
        session_id: None,
        since: chrono::Utc::now() - chrono::Duration::hours(1),
        answered: false,
        stop_requested: false,
    }
}

/// What real Flowise 3.1.4 did: the Agentflow V2 answer names its run
/// (`executionId`), whose `executionData` holds the injected key; the
/// adapter keeps that id to purge and nothing of the key; deleting the run
/// answers `{"success":true,"deletedCount":1}`, deleting it again
/// `deletedCount: 0` (still a success).
#[tokio::test]
async fn recorded_agentflow_run_is_named_and_deleted() {
    let server = MockServer::start().await;
    let prediction = replay_purge(&server, "prediction_agentflow").await;
    let answer: Value =
        serde_json::from_str(prediction["response"]["body"].as_str().expect("body")).expect("json");
    let execution_id = answer["executionId"].as_str().expect("executionId");
    assert!(
        answer.to_string().contains(CANARY),
        "the recording echoes the key"
    );
    let config = json!({"input_mode": "question", "credential_targets": {"openai": ["llmModelConfig.openAIApiKey"]}});
    let mut options = InvokeOptions::new(&config);
    options.call_id = Some(uuid::Uuid::new_v4());
    let mut target = purge_target(&prediction);
    let output = engine(&server)
        .invoke(
            &target.flow_id,
            &json!({"question": "hi"}),
            &openai(CANARY),
            &options,
        )
        .await
        .expect("answer");
    assert_eq!(output.kept_records, vec![execution_id.to_string()]);
    assert!(
        !serde_json::to_string(&output)
            .expect("json")
            .contains(CANARY)
    );

    let deleted = recorded_purge("execution_delete");
    assert_eq!(
        deleted["request"]["path"],
        format!("/api/v1/executions/{execution_id}")
    );
    replay_purge(&server, "execution_delete").await;
    target.record_ids = output.kept_records.clone();
    target.answered = true;
    assert_eq!(engine(&server).purge(&target).await, Ok(1));

    let server = MockServer::start().await;
    replay_purge(&server, "execution_delete_missing").await;
    assert_eq!(engine(&server).purge(&target).await, Ok(0));
}

/// A call that never got its answer (here the recorded 500 of a failing LLM
/// node): its runs are found by the call's conversation in the recorded
/// executions list — each holds the key — and deleted; its chat messages
/// go too. A conversation with no runs yet is tried again later.
#[tokio::test]
async fn recorded_unanswered_call_is_found_by_its_conversation() {
    let server = MockServer::start().await;
    let failed = replay_purge(&server, "prediction_agentflow_failed").await;
    let config = json!({"input_mode": "question", "credential_targets": {"openai": ["llmModelConfig.openAIApiKey"]}});
    let err = engine(&server)
        .invoke(
            &purge_target(&failed).flow_id,
            &json!({"question": "fail please"}),
            &openai(CANARY),
            &InvokeOptions::new(&config),
        )
        .await
        .expect_err("500");
    assert!(
        matches!(err, EngineError::Failed { status: 500, .. }),
        "{err:?}"
    );

    let list = recorded_purge("executions_list");
    let query: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(list["request"]["query"].as_str().expect("query").as_bytes())
            .into_owned()
            .collect();
    let listed: Value =
        serde_json::from_str(list["response"]["body"].as_str().expect("body")).expect("json");
    let runs: Vec<&str> = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|e| {
            assert!(e["executionData"].as_str().expect("data").contains(CANARY));
            e["id"].as_str().expect("id")
        })
        .collect();
    assert_eq!(runs.len(), 2);

    let server = MockServer::start().await;
    // The recording was asked without paging: it answers any page asked.
    for run in &runs {
        Mock::given(method("DELETE"))
            .and(path(format!("/api/v1/executions/{run}")))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw(
                    recorded_purge("execution_delete")["response"]["body"]
                        .as_str()
                        .expect("body")
                        .to_string(),
                    "application/json; charset=utf-8",
                ),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    let response = &list["response"];
    Mock::given(method("GET"))
        .and(path("/api/v1/executions"))
        .and(wiremock::matchers::query_param(
            "agentflowId",
            query["agentflowId"].as_str(),
        ))
        .and(wiremock::matchers::query_param(
            "sessionId",
            query["sessionId"].as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            response["body"].as_str().expect("body").to_string(),
            "application/json; charset=utf-8",
        ))
        .mount(&server)
        .await;
    let messages = recorded_purge("chatmessage_delete");
    assert_eq!(
        messages["request"]["query"],
        format!("chatId={}", query["sessionId"])
    );
    replay_purge(&server, "chatmessage_delete").await;
    let target = vieagent::engines::PurgeTarget {
        flow_id: query["agentflowId"].clone(),
        call_chat_id: Some(query["sessionId"].clone()),
        ..purge_target(&failed)
    };
    assert_eq!(engine(&server).purge(&target).await, Ok(2));
    let asked_messages = server
        .received_requests()
        .await
        .expect("recording")
        .iter()
        .filter(|r| r.url.path().starts_with("/api/v1/chatmessage/"))
        .count();
    assert_eq!(asked_messages, 1);

    // Nothing filed under a fresh conversation yet: not final.
    let server = MockServer::start().await;
    serve_list(&server, "executions_list_bogus_session").await;
    let fresh = vieagent::engines::PurgeTarget {
        call_chat_id: Some("nope".into()),
        since: chrono::Utc::now(),
        ..target
    };
    assert_eq!(
        engine(&server).purge(&fresh).await,
        Err(vieagent::engines::PurgeError::InProgress)
    );
}

/// Real Flowise answers a key without `executions:delete` with 403
/// `{"message":"Forbidden"}`, on one run and on the empty bulk delete the
/// publish check sends: both name the permission.
#[tokio::test]
async fn recorded_forbidden_deletes_name_the_permission() {
    let server = MockServer::start().await;
    let forbidden = replay_purge(&server, "execution_delete_forbidden").await;
    let run = forbidden["request"]["path"]
        .as_str()
        .and_then(|p| p.rsplit('/').next())
        .expect("run");
    let target = vieagent::engines::PurgeTarget {
        flow_id: "82e72885-6b54-4f13-b3d5-f04c7278a9f5".into(),
        record_ids: vec![run.to_string()],
        answered: true,
        ..purge_target(&forbidden)
    };
    let err = engine(&server).purge(&target).await.expect_err("403");
    assert!(err.to_string().contains("`executions:delete`"), "{err}");

    // Publishing: the recorded chatflow, the list allowed, the delete refused.
    let flow = recorded("p02_get_chatflow_with_apikey");
    let body: Value =
        serde_json::from_str(flow["response"]["body"].as_str().expect("body")).expect("json");
    let id = body["id"].as_str().expect("id").to_string();
    for (allowed, expect_blocked) in [
        ("executions_bulk_delete_empty", false),
        ("executions_bulk_delete_empty_no_delete_key", true),
    ] {
        let server = MockServer::start().await;
        replay(&server, &flow).await;
        serve_list(&server, "executions_list_bogus_session").await;
        let bulk = replay_purge(&server, allowed).await;
        assert_eq!(bulk["request"]["body"], r#"{"executionIds":[]}"#);
        let d = engine(&server).describe(&id).await.expect("describe");
        let blocked = d
            .publish_blockers
            .iter()
            .any(|b| b.contains("`executions:delete`"));
        assert_eq!(
            blocked, expect_blocked,
            "{allowed}: {:?}",
            d.publish_blockers
        );
    }
}

/// What real Flowise 3.1.4 did with a running Agentflow V2 prediction
/// (`run_abort`, `executions_list_*`, `prediction_agentflow_aborted`):
/// `PUT /api/v1/chatmessage/abort/{flow}/{chatId}` stops it (200, and the
/// same 200 when nothing runs there); while it runs, its execution is
/// `INPROGRESS` (a purge is not final yet); aborted, it ends `ERROR` and
/// the purge deletes it; the prediction itself answers 500.
#[tokio::test]
async fn recorded_abort_stops_a_run_whose_copy_then_goes() {
    use vieagent::engines::{Engine, PurgeError, RunRef, Stop};
    let server = MockServer::start().await;
    let abort = replay_purge(&server, "run_abort").await;
    let abort_path = abort["request"]["path"].as_str().expect("path").to_string();
    let mut parts = abort_path.rsplit('/');
    let chat = parts.next().expect("chat").to_string();
    let flow = parts.next().expect("flow").to_string();
    let run = RunRef {
        flow_id: flow.clone(),
        conversation: chat.clone(),
    };
    assert_eq!(engine(&server).stop(&run).await, Ok(Stop::Requested));
    let asked = server.received_requests().await.expect("recording");
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].method.as_str(), "PUT");
    assert_eq!(asked[0].url.path(), abort_path);
    // Nothing running under a conversation: the same answer, still fine.
    let server = MockServer::start().await;
    let nothing = replay_purge(&server, "run_abort_nothing_running").await;
    let idle = nothing["request"]["path"].as_str().expect("path");
    let run = RunRef {
        flow_id: flow.clone(),
        conversation: idle.rsplit('/').next().expect("chat").to_string(),
    };
    assert_eq!(engine(&server).stop(&run).await, Ok(Stop::Requested));

    // While the run goes on, its copy cannot be deleted yet.
    let target = vieagent::engines::PurgeTarget {
        flow_id: flow.clone(),
        call_chat_id: Some(chat.clone()),
        ..purge_target(&abort)
    };
    assert_eq!(
        target.abandoned_run().map(|r| r.conversation),
        Some(chat.clone())
    );
    let server = MockServer::start().await;
    serve_list_body(&server, recorded_now("executions_list_inprogress")).await;
    assert_eq!(
        engine(&server).purge(&target).await,
        Err(PurgeError::InProgress)
    );
    // Aborted, it ended ERROR: deleted (and its chat messages).
    let server = MockServer::start().await;
    serve_list(&server, "executions_list_aborted").await;
    let listed: Value = serde_json::from_str(
        recorded_purge("executions_list_aborted")["response"]["body"]
            .as_str()
            .expect("body"),
    )
    .expect("json");
    assert_eq!(listed["data"][0]["state"], "ERROR");
    let run_id = listed["data"][0]["id"].as_str().expect("id").to_string();
    Mock::given(method("DELETE"))
        .and(path(format!("/api/v1/executions/{run_id}")))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(
                recorded_purge("execution_delete")["response"]["body"]
                    .as_str()
                    .expect("body")
                    .to_string(),
                "application/json; charset=utf-8",
            ),
        )
        .mount(&server)
        .await;
    replay_purge(&server, "chatmessage_delete").await;
    assert!(engine(&server).purge(&target).await.is_ok());
    assert!(
        server
            .received_requests()
            .await
            .expect("recording")
            .iter()
            .any(|r| r.method.as_str() == "DELETE" && r.url.path().ends_with(&run_id)),
        "the aborted run was deleted"
    );

    // The prediction of an aborted run: a 500 whose message says so.
    let aborted = recorded_purge("prediction_agentflow_aborted");
    assert_eq!(aborted["response"]["status"], 500);
    assert!(
        aborted["response"]["body"]
            .as_str()
            .is_some_and(|b| b.contains("This operation was aborted"))
    );
    // An answered call never had its run stopped from a purge.
    let answered = vieagent::engines::PurgeTarget {
        answered: true,
        ..target
    };
    assert!(answered.abandoned_run().is_none());
}
