//! Engine adapters against wiremock engines: exact requests, response
//! mapping, every failure class, schema generation from realistic flows.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::{Value, json};
use vieagent::config::{ActivepiecesConfig, FlowiseConfig, WebhookAuth};
use vieagent::engines::activepieces::ActivepiecesEngine;
use vieagent::engines::flowise::FlowiseEngine;
use vieagent::engines::{Engine, EngineError, InvokeOptions};
use vieagent::vault::Credentials;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const FLOW: &str = "9c7a4d5e-2f1b-4c3a-9e8d-7b6a5c4d3e2f";
const OPENAI_KEY: &str = "sk-user-OPENAI-3b9f2c7d1e";
const FLOWISE_KEY: &str = "flowise-gateway-key-5a6b7c";

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/flowise/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture json")
}

fn openai() -> Credentials {
    crate::helpers::openai_credentials(OPENAI_KEY)
}

fn flowise(server: &MockServer) -> FlowiseEngine {
    vieagent::install_crypto_provider();
    let config = FlowiseConfig {
        base_url: Some(server.uri().parse().expect("url")),
        api_key: Some(SecretString::from(FLOWISE_KEY)),
        call_timeout: Duration::from_secs(10),
        max_response_bytes: 64 * 1024,
        ..FlowiseConfig::default()
    };
    FlowiseEngine::new(&config).expect("engine")
}

fn question_mode() -> Value {
    json!({"input_mode": "question"})
}

/// No error or its Debug form may carry a credential or the gateway key.
fn assert_clean(err: &EngineError) {
    let shown = format!("{err} {err:?}");
    for secret in [OPENAI_KEY, FLOWISE_KEY, "ap-webhook-secret"] {
        assert!(!shown.contains(secret), "secret in error: {shown}");
    }
}

#[tokio::test]
async fn flowise_chatflow_request_is_exact_and_text_is_mapped() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/api/v1/prediction/{FLOW}")))
        .and(header("authorization", format!("Bearer {FLOWISE_KEY}").as_str()))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "question": "Xin chào, hoàn tiền thế nào?",
            "overrideConfig": {"openAIApiKey": OPENAI_KEY, "vars": {"tone": "friendly"}, "sessionId": "s-1"},
            "streaming": false
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "text": "Bạn có thể yêu cầu hoàn tiền trong 30 ngày.",
            "question": "Xin chào, hoàn tiền thế nào?",
            "chatId": "c0ffee00-1111-4222-8333-444455556666",
            "chatMessageId": "0a1b2c3d-4e5f-4061-8273-9a8b7c6d5e4f",
            "isStreamValid": false,
            "sessionId": "s-1",
            "memoryType": "Buffer Memory"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let engine = flowise(&server);
    let mode = question_mode();
    let mut options = InvokeOptions::new(&mode);
    options.session_id = Some("s-1");
    let out = engine
        .invoke(
            FLOW,
            &json!({"question": "Xin chào, hoàn tiền thế nào?", "tone": "friendly"}),
            &openai(),
            &options,
        )
        .await
        .expect("success");
    assert_eq!(out.text, "Bạn có thể yêu cầu hoàn tiền trong 30 ngày.");
    assert_eq!(
        out.external_execution_id.as_deref(),
        Some("0a1b2c3d-4e5f-4061-8273-9a8b7c6d5e4f")
    );
    assert_eq!(out.result["chatId"], "c0ffee00-1111-4222-8333-444455556666");
    assert!(
        out.result.get("memoryType").is_none(),
        "only known fields are kept"
    );
}

#[tokio::test]
async fn flowise_json_result_renders_as_text() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/api/v1/prediction/{FLOW}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "json": {"decision": "refund", "amount": 120000},
            "chatMessageId": "m-2"
        })))
        .mount(&server)
        .await;
    let mode = question_mode();
    let out = flowise(&server)
        .invoke(
            FLOW,
            &json!({"question": "q"}),
            &Credentials::default(),
            &InvokeOptions::new(&mode),
        )
        .await
        .expect("success");
    assert!(
        out.text.contains("\"decision\": \"refund\""),
        "{}",
        out.text
    );
    assert_eq!(out.result["json"]["amount"], 120000);
}

#[tokio::test]
async fn flowise_agentflow_form_uses_execution_id_and_drops_echoed_keys() {
    let server = MockServer::start().await;
    let form =
        json!({"customerName": "Lan", "orderTotal": 120000, "damaged": true, "channel": "web"});
    Mock::given(method("POST"))
        .and(path(format!("/api/v1/prediction/{FLOW}")))
        .and(body_json(json!({"form": form, "overrideConfig": {"openAIApiKey": OPENAI_KEY}, "streaming": false})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "text": "Refund approved for Lan.",
            "form": {"customerName": "Lan"},
            "chatId": "chat-9",
            "chatMessageId": "msg-9",
            "executionId": "exec-4f2a",
            "agentFlowExecutedData": [{
                "nodeId": "llmAgentflow_0", "nodeLabel": "LLM 0",
                "data": {"input": {"openAIApiKey": OPENAI_KEY, "messages": []}, "output": {"content": "ok"}},
                "status": "FINISHED"
            }]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let mode = json!({"input_mode": "form"});
    let out = flowise(&server)
        .invoke(FLOW, &form, &openai(), &InvokeOptions::new(&mode))
        .await
        .expect("success");
    assert_eq!(
        out.external_execution_id.as_deref(),
        Some("exec-4f2a"),
        "executionId wins over chatMessageId"
    );
    assert!(out.result.get("agentFlowExecutedData").is_none());
    assert!(
        !out.result.to_string().contains(OPENAI_KEY),
        "{}",
        out.result
    );
    assert_eq!(out.text, "Refund approved for Lan.");
}

async fn flowise_error(status: u16, body: Value) -> EngineError {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(&server)
        .await;
    let mode = question_mode();
    let err = flowise(&server)
        .invoke(
            FLOW,
            &json!({"question": "q"}),
            &openai(),
            &InvokeOptions::new(&mode),
        )
        .await
        .expect_err("must fail");
    assert_clean(&err);
    err
}

#[tokio::test]
async fn flowise_errors_are_classified_from_status_and_message() {
    let e = flowise_error(404, json!({"statusCode": 404, "success": false, "message": format!("Chatflow {FLOW} not found in the database!"), "stack": {}})).await;
    assert!(matches!(e, EngineError::FlowNotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("not found"), "{e}");

    let e = flowise_error(
        400,
        json!({"statusCode": 400, "success": false, "message": "Invalid Chatflow ID"}),
    )
    .await;
    assert!(matches!(e, EngineError::FlowNotFound { .. }), "{e:?}");

    // A wrong flow key comes back as 500 "... - Unauthorized": the gateway's problem.
    let e = flowise_error(500, json!({"statusCode": 500, "success": false, "message": "Error: predictionsServices.buildChatflow - Unauthorized", "stack": {}})).await;
    assert_eq!(e, EngineError::GatewayRejected { status: 500 });
    assert!(
        e.to_string().contains("rejected the gateway's API key"),
        "{e}"
    );

    // The provider rejecting the user's key: actionable for the user.
    let e = flowise_error(500, json!({"statusCode": 500, "success": false, "message": "Error: predictionsServices.buildChatflow - 401 Unauthorized – check your API key and ensure it has access to the requested model."})).await;
    assert_eq!(
        e,
        EngineError::CredentialRejected {
            provider: "openai".into()
        }
    );
    assert!(
        e.to_string()
            .contains("stored openai credential was rejected"),
        "{e}"
    );

    // Anything else: "engine failed" with a short, scrubbed excerpt.
    let e = flowise_error(500, json!({"statusCode": 500, "success": false, "message": format!("Error: predictionsServices.buildChatflow - upstream said key {OPENAI_KEY} hit quota {}", "x".repeat(1000))})).await;
    match &e {
        EngineError::Failed {
            status: 500,
            excerpt,
        } => {
            assert!(
                excerpt.starts_with("upstream said key [REDACTED] hit quota"),
                "{excerpt}"
            );
            assert!(excerpt.chars().count() <= 301, "short excerpt");
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().starts_with("engine failed"), "{e}");

    let e = flowise_error(500, json!({"statusCode": 500, "success": false, "message": "Error: predictionsServices.buildChatflow - Question and form cannot be provided at the same time"})).await;
    assert!(matches!(e, EngineError::Rejected { .. }), "{e:?}");
    let e = flowise_error(429, json!({"message": "Too many requests"})).await;
    assert_eq!(e, EngineError::RateLimited);
    let e = flowise_error(412, json!({"statusCode": 412, "success": false, "message": "Error: predictionsController.createPrediction - body not provided!"})).await;
    assert!(
        matches!(e, EngineError::Rejected { status: 412, .. }),
        "{e:?}"
    );
    let e = flowise_error(401, json!({"error": "Unauthorized Access"})).await;
    assert_eq!(e, EngineError::GatewayRejected { status: 401 });
}

#[tokio::test]
async fn flowise_timeout_is_reported_within_the_deadline() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"text": "late"}))
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&server)
        .await;
    let mode = question_mode();
    let mut options = InvokeOptions::new(&mode);
    options.timeout = Some(Duration::from_millis(300));
    let started = Instant::now();
    let err = flowise(&server)
        .invoke(FLOW, &json!({"question": "q"}), &openai(), &options)
        .await
        .expect_err("timeout");
    assert_eq!(
        err,
        EngineError::Timeout {
            after: Duration::from_millis(300)
        }
    );
    assert!(err.to_string().contains("timed out after 0.3 s"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered at the deadline, not when the engine did"
    );
}

#[tokio::test]
async fn flowise_connection_refused_is_unreachable() {
    vieagent::install_crypto_provider();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let config = FlowiseConfig {
        base_url: Some(format!("http://127.0.0.1:{port}").parse().expect("url")),
        ..FlowiseConfig::default()
    };
    let mode = question_mode();
    let err = FlowiseEngine::new(&config)
        .expect("engine")
        .invoke(
            FLOW,
            &json!({"question": "q"}),
            &openai(),
            &InvokeOptions::new(&mode),
        )
        .await
        .expect_err("refused");
    assert!(matches!(err, EngineError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().starts_with("engine unreachable"), "{err}");
    assert!(
        !err.to_string().contains("127.0.0.1"),
        "no URL in the message: {err}"
    );
}

#[tokio::test]
async fn flowise_malformed_oversized_and_redirect_responses() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/prediction/malformed"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw("{\"text\": \"cut off", "application/json"),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/prediction/huge"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"text": "x".repeat(100 * 1024)})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/prediction/redirect"))
        .respond_with(
            ResponseTemplate::new(302).insert_header("location", "http://evil.example/steal"),
        )
        .mount(&server)
        .await;
    let engine = flowise(&server);
    let mode = question_mode();
    let opts = InvokeOptions::new(&mode);
    let args = json!({"question": "q"});
    let e = engine
        .invoke("malformed", &args, &openai(), &opts)
        .await
        .expect_err("malformed");
    assert!(matches!(e, EngineError::InvalidResponse { .. }), "{e:?}");
    let e = engine
        .invoke("huge", &args, &openai(), &opts)
        .await
        .expect_err("huge");
    assert_eq!(e, EngineError::ResponseTooLarge { limit: 64 * 1024 });
    let e = engine
        .invoke("redirect", &args, &openai(), &opts)
        .await
        .expect_err("redirect");
    assert!(e.to_string().contains("redirects are not followed"), "{e}");
    // A flow id that tries to leave its path never reaches the engine.
    let e = engine
        .invoke("../chatflows", &args, &openai(), &opts)
        .await
        .expect_err("bad id");
    assert!(matches!(e, EngineError::BadInput(_)), "{e:?}");
    let received = server.received_requests().await.expect("recorded");
    assert_eq!(received.len(), 3, "the bad id sent nothing");
    assert_clean(&e);
}

#[tokio::test]
async fn flowise_question_mode_needs_a_question() {
    let server = MockServer::start().await;
    let mode = question_mode();
    let e = flowise(&server)
        .invoke(
            FLOW,
            &json!({"tone": "x"}),
            &openai(),
            &InvokeOptions::new(&mode),
        )
        .await
        .expect_err("no question");
    assert!(e.to_string().contains("`question`"), "{e}");
    assert!(
        server
            .received_requests()
            .await
            .expect("recorded")
            .is_empty()
    );
}

async fn serve_chatflow(server: &MockServer, flow: &Value) {
    let id = flow["id"].as_str().expect("id").to_string();
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/chatflows/{id}")))
        .and(header(
            "authorization",
            format!("Bearer {FLOWISE_KEY}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(flow.clone()))
        .mount(server)
        .await;
    crate::helpers::mount_flowise_executions(server).await;
}

#[tokio::test]
async fn flowise_describe_chatflow_with_vars_and_openai_node() {
    let server = MockServer::start().await;
    let flow = fixture("chatflow_vars_openai.json");
    serve_chatflow(&server, &flow).await;
    let d = flowise(&server).describe(FLOW).await.expect("describe");
    assert_eq!(d.name, "Support Q&A");
    assert_eq!(d.required_credential_types, vec!["openai".to_string()]);
    assert_eq!(
        d.engine_config,
        json!({"input_mode": "question", "credential_targets": {"openai": ["openAIApiKey"]}})
    );
    let schema = d.input_schema.expect("schema");
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["required"], json!(["question"]));
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["properties"]["question"]["type"], "string");
    // `tone` is overridable; `company` is referenced but not enabled.
    assert_eq!(schema["properties"]["tone"]["type"], "string");
    assert!(schema["properties"].get("company").is_none());
    assert_eq!(
        schema["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .collect::<Vec<_>>(),
        ["question", "tone"],
        "the question, then the variables in order of use"
    );
    assert!(
        d.warnings.iter().any(|w| w.contains("company")),
        "{:?}",
        d.warnings
    );
    assert!(
        d.warnings.iter().any(|w| w.contains("#5170")),
        "warns about the vars bug: {:?}",
        d.warnings
    );
    assert!(d.publish_blockers.is_empty(), "{:?}", d.publish_blockers);
    jsonschema::draft202012::meta::validate(&schema).expect("valid draft 2020-12 schema");
}

#[tokio::test]
async fn flowise_describe_agentflow_form_start_node() {
    let server = MockServer::start().await;
    let flow = fixture("agentflow_v2_form.json");
    serve_chatflow(&server, &flow).await;
    let id = flow["id"].as_str().expect("id");
    let d = flowise(&server).describe(id).await.expect("describe");
    assert_eq!(
        d.engine_config,
        json!({"input_mode": "form", "credential_targets": {"openai": ["openAIApiKey"]}})
    );
    assert_eq!(
        d.description,
        "Refund request: Collects what we need to decide a refund"
    );
    assert_eq!(
        d.required_credential_types,
        vec!["openai".to_string()],
        "from the LLM node's model"
    );
    let schema = d.input_schema.expect("schema");
    assert_eq!(
        schema["properties"]["customerName"],
        json!({"type": "string", "title": "Customer name", "description": "Customer name"})
    );
    assert_eq!(schema["properties"]["orderTotal"]["type"], "number");
    assert_eq!(schema["properties"]["damaged"]["type"], "boolean");
    assert_eq!(
        schema["properties"]["channel"]["enum"],
        json!(["web", "store", "phone"])
    );
    assert_eq!(
        schema["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .collect::<Vec<_>>(),
        ["customerName", "orderTotal", "damaged", "channel"],
        "the form's order"
    );
    assert_eq!(
        schema["required"],
        json!(["customerName", "orderTotal", "damaged", "channel"])
    );
    assert!(d.publish_blockers.is_empty(), "{:?}", d.publish_blockers);
    jsonschema::draft202012::meta::validate(&schema).expect("valid schema");
}

#[tokio::test]
async fn flowise_refuses_publishing_when_overrides_would_be_dropped() {
    let server = MockServer::start().await;
    let off = fixture("agentflow_v2_form_overrides_off.json");
    serve_chatflow(&server, &off).await;
    let engine = flowise(&server);
    let d = engine
        .describe(off["id"].as_str().expect("id"))
        .await
        .expect("describe");
    assert!(
        d.publish_blockers
            .iter()
            .any(|b| b.contains("silently dropped")),
        "{:?}",
        d.publish_blockers
    );
    // Overrides on, but the ChatOpenAI node only allows temperature.
    let mut partial = fixture("chatflow_vars_openai.json");
    partial["id"] = json!("3d4e5f60-7182-4930-a4b5-c6d7e8f90123");
    partial["apiConfig"] = json!(json!({"overrideConfig": {"status": true, "nodes": {"ChatOpenAI": [{"label": "Temperature", "name": "temperature", "type": "number", "enabled": true}, {"label": "OpenAI Api Key", "name": "openAIApiKey", "type": "string", "enabled": false}]}}}).to_string());
    serve_chatflow(&server, &partial).await;
    let problems = engine
        .validate(
            "3d4e5f60-7182-4930-a4b5-c6d7e8f90123",
            &["openai".to_string()],
            &question_mode(),
        )
        .await
        .expect("validate");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("node 'ChatOpenAI'") && problems[0].contains("openAIApiKey"),
        "{problems:?}"
    );
    // An unmapped credential type cannot be injected at all.
    let problems = engine
        .validate(FLOW, &["google_sheets".to_string()], &question_mode())
        .await;
    // FLOW is not mounted: the engine answers 404 for unknown routes.
    assert!(problems.is_err());
    let flow = fixture("chatflow_vars_openai.json");
    serve_chatflow(&server, &flow).await;
    let problems = engine
        .validate(FLOW, &["google_sheets".to_string()], &question_mode())
        .await
        .expect("validate");
    assert!(
        problems.iter().any(|p| p.contains("no Flowise mapping")),
        "{problems:?}"
    );
    // Wrong input mode for the flow.
    let problems = engine
        .validate(FLOW, &[], &json!({"input_mode": "form"}))
        .await
        .expect("validate");
    assert!(problems.iter().any(|p| p.contains("form")), "{problems:?}");
}

#[tokio::test]
async fn flowise_health_pings() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/ping"))
        .respond_with(ResponseTemplate::new(200).set_body_string("pong"))
        .mount(&server)
        .await;
    flowise(&server).health().await.expect("healthy");
}

fn activepieces(server: &MockServer, sync_timeout: Duration) -> ActivepiecesEngine {
    vieagent::install_crypto_provider();
    let config = ActivepiecesConfig {
        base_url: Some(server.uri().parse().expect("url")),
        token: Some(SecretString::from("ap-api-token")),
        webhook_auth: Some(WebhookAuth::Header {
            name: "x-vieagent-secret".into(),
            value: SecretString::from("ap-webhook-secret"),
        }),
        sync_timeout,
        ..ActivepiecesConfig::default()
    };
    ActivepiecesEngine::new(&config).expect("engine")
}

const AP_FLOW: &str = "Xk2PqR7sT9uV1wY3zA5bC";

#[tokio::test]
async fn activepieces_request_body_auth_and_response_mapping() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/api/v1/webhooks/{AP_FLOW}/sync")))
        .and(header("x-vieagent-secret", "ap-webhook-secret"))
        .and(body_json(
            json!({"email": "lan@example.vn", "amount": 3, "_credentials": {"openai": OPENAI_KEY}}),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-webhook-id", "wh_8f7e6d5c4b3a")
                .set_body_json(
                    json!({"message": "Invoice sent to lan@example.vn", "invoiceId": 42}),
                ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let out = activepieces(&server, Duration::from_secs(30))
        .invoke(
            AP_FLOW,
            &json!({"email": "lan@example.vn", "amount": 3}),
            &openai(),
            &InvokeOptions::new(&json!({})),
        )
        .await
        .expect("success");
    assert_eq!(
        out.external_execution_id.as_deref(),
        Some("wh_8f7e6d5c4b3a")
    );
    assert_eq!(out.text, "Invoice sent to lan@example.vn");
    assert_eq!(out.result["invoiceId"], 42);
}

#[tokio::test]
async fn activepieces_204_fast_is_empty_success_but_at_timeout_is_no_response() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/webhooks/fast/sync"))
        .respond_with(ResponseTemplate::new(204).insert_header("x-webhook-id", "wh_1"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/webhooks/slow/sync"))
        .respond_with(
            ResponseTemplate::new(204)
                .insert_header("x-webhook-id", "wh_2")
                .set_delay(Duration::from_millis(1700)),
        )
        .mount(&server)
        .await;
    let engine = activepieces(&server, Duration::from_secs(2));
    let opts = InvokeOptions::new(&Value::Null);
    let out = engine
        .invoke("fast", &json!({}), &Credentials::default(), &opts)
        .await
        .expect("fast 204");
    assert_eq!(out.result, Value::Null);
    assert_eq!(out.external_execution_id.as_deref(), Some("wh_1"));
    let err = engine
        .invoke("slow", &json!({}), &Credentials::default(), &opts)
        .await
        .expect_err("no response");
    assert_eq!(
        err,
        EngineError::NoResponse {
            after: Duration::from_secs(2)
        }
    );
    assert!(
        err.to_string().starts_with("no response from flow"),
        "{err}"
    );
}

#[tokio::test]
async fn activepieces_error_statuses() {
    let server = MockServer::start().await;
    for (id, status, body) in [
        (
            "failed",
            500,
            json!({"message": "The flow has failed and there is no response returned"}),
        ),
        ("gone", 410, json!({})),
        ("disabled", 404, json!({})),
        ("big", 413, json!({"message": "Payload too large"})),
    ] {
        Mock::given(method("POST"))
            .and(path(format!("/api/v1/webhooks/{id}/sync")))
            .respond_with(
                ResponseTemplate::new(status)
                    .insert_header("x-webhook-id", "wh_1")
                    .set_body_json(body),
            )
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/api/v1/webhooks/text/sync"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("plain answer", "text/plain"))
        .mount(&server)
        .await;
    let engine = activepieces(&server, Duration::from_secs(30));
    let opts = InvokeOptions::new(&Value::Null);
    let args = json!({"a": 1});
    let creds = openai();
    let call = |id: &'static str| engine.invoke(id, &args, &creds, &opts);
    let e = call("failed").await.expect_err("500");
    assert!(
        matches!(&e, EngineError::Failed { status: 500, excerpt } if excerpt.contains("The flow has failed")),
        "{e:?}"
    );
    assert!(matches!(
        call("gone").await,
        Err(EngineError::FlowNotFound { .. })
    ));
    assert_eq!(
        call("disabled").await.expect_err("404"),
        EngineError::FlowDisabled
    );
    assert_eq!(
        call("big").await.expect_err("413"),
        EngineError::PayloadTooLarge
    );
    let out = call("text").await.expect("text");
    assert_eq!(out.result, json!("plain answer"));
    assert_eq!(out.text, "plain answer");
}

#[tokio::test]
async fn activepieces_describe_maps_mcp_tool_input_schema() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/flows/{AP_FLOW}")))
        .and(header("authorization", "Bearer ap-api-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": AP_FLOW, "projectId": "p1", "status": "ENABLED", "publishedVersionId": "v1",
            "version": {
                "id": "v1", "flowId": AP_FLOW, "displayName": "Send invoice", "state": "LOCKED", "valid": true,
                "trigger": {
                    "name": "trigger", "type": "PIECE_TRIGGER", "valid": true, "displayName": "MCP Tool",
                    "settings": {
                        "pieceName": "@activepieces/piece-mcp", "pieceVersion": "0.0.9", "triggerName": "mcp_tool",
                        "input": {
                            "toolName": "send_invoice", "toolDescription": "Email an invoice to a customer",
                            "inputSchema": [
                                {"name": "email", "description": "Customer email", "type": "Text", "required": true},
                                {"name": "amount", "type": "Number", "required": true},
                                {"name": "paid", "type": "Boolean", "required": false},
                                {"name": "due", "type": "Date", "required": false},
                                {"name": "items", "type": "Array", "required": false},
                                {"name": "meta", "type": "Object", "required": false}
                            ],
                            "returnsResponse": true
                        },
                        "propertySettings": {}
                    }
                }
            }
        })))
        .mount(&server)
        .await;
    let d = activepieces(&server, Duration::from_secs(30))
        .describe(AP_FLOW)
        .await
        .expect("describe");
    assert_eq!(d.name, "send_invoice");
    assert_eq!(d.description, "Email an invoice to a customer");
    let schema = d.input_schema.expect("schema");
    assert_eq!(schema["required"], json!(["email", "amount"]));
    assert_eq!(
        schema["properties"]["email"]["description"],
        "Customer email"
    );
    assert_eq!(schema["properties"]["amount"]["type"], "number");
    // Optional fields may be null, as Activepieces' MCP server takes them.
    assert_eq!(
        schema["properties"]["paid"]["type"],
        json!(["boolean", "null"])
    );
    assert_eq!(
        schema["properties"]["due"]["type"],
        json!(["string", "null"])
    );
    assert!(schema["properties"]["due"].get("format").is_none());
    assert_eq!(schema["properties"]["items"]["items"]["type"], "string");
    assert_eq!(
        schema["properties"]["meta"]["type"],
        json!(["object", "null"])
    );
    assert_eq!(
        schema["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .collect::<Vec<_>>(),
        ["email", "amount", "paid", "due", "items", "meta"],
        "the trigger's order"
    );
    jsonschema::draft202012::meta::validate(&schema).expect("valid schema");
}

#[tokio::test]
async fn engine_requests_carry_credentials_only_where_intended() {
    // The credential travels in the request body, never in the URL or logs.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(|req: &Request| {
            assert!(!req.url.as_str().contains(OPENAI_KEY));
            ResponseTemplate::new(200).set_body_json(json!({"text": "ok"}))
        })
        .mount(&server)
        .await;
    let mode = question_mode();
    flowise(&server)
        .invoke(
            FLOW,
            &json!({"question": "q"}),
            &openai(),
            &InvokeOptions::new(&mode),
        )
        .await
        .expect("ok");
}

#[tokio::test(flavor = "current_thread")]
async fn engine_logs_at_trace_never_contain_credentials() {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Buf {
            self.clone()
        }
    }
    let buf = Buf::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(buf.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/prediction/ok"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"text": format!("echo {OPENAI_KEY}")})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/prediction/bad"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"message": format!("bad key {OPENAI_KEY}")})),
        )
        .mount(&server)
        .await;
    let engine = flowise(&server);
    let mode = question_mode();
    let opts = InvokeOptions::new(&mode);
    tracing::trace!("capture on");
    let _ = engine
        .invoke("ok", &json!({"question": "q"}), &openai(), &opts)
        .await;
    let err = engine
        .invoke("bad", &json!({"question": "q"}), &openai(), &opts)
        .await
        .expect_err("500");
    tracing::error!(error = %err, debug = ?err, "engine call failed");
    let logs = String::from_utf8(buf.0.lock().expect("lock").clone()).expect("utf8");
    assert!(
        logs.contains("capture on") && logs.contains("engine call failed"),
        "{logs}"
    );
    assert!(!logs.contains(OPENAI_KEY), "credential in logs:\n{logs}");
    assert!(!logs.contains(FLOWISE_KEY), "gateway key in logs:\n{logs}");
}

crate::backend_tests!(import_cli_creates_publishes_and_refuses_unsafe_flows);

async fn import_cli_creates_publishes_and_refuses_unsafe_flows(backend: crate::helpers::Backend) {
    use crate::helpers::{TestDb, run_cli_with, text};
    let db = TestDb::new(backend).await;
    let server = MockServer::start().await;
    let good = fixture("agentflow_v2_form.json");
    let off = fixture("agentflow_v2_form_overrides_off.json");
    serve_chatflow(&server, &good).await;
    serve_chatflow(&server, &off).await;
    let uri = server.uri();
    let env = [
        ("VIEAGENT_DATABASE_URL", db.url.as_str()),
        ("VIEAGENT_MASTER_KEY", db.master_key.as_str()),
        ("VIEAGENT_FLOWISE_URL", uri.as_str()),
        ("VIEAGENT_FLOWISE_API_KEY", FLOWISE_KEY),
    ];
    let dir = db.dir.path().to_path_buf();
    let good_id = good["id"].as_str().expect("id");
    let out = run_cli_with(
        &[
            "agents",
            "import",
            "--engine",
            "flowise",
            "--flow-id",
            good_id,
            "--publish",
        ],
        &dir,
        &env,
        None,
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("created agent refund_desk") && stdout.contains("status published"),
        "{stdout}"
    );
    assert!(stdout.contains("needs credentials: openai"), "{stdout}");
    // Re-import updates in place.
    let out = run_cli_with(
        &[
            "agents",
            "import",
            "--engine",
            "flowise",
            "--flow-id",
            good_id,
        ],
        &dir,
        &env,
        None,
    )
    .await;
    assert!(
        text(&out.stdout).contains("updated agent refund_desk"),
        "{}",
        text(&out.stdout)
    );

    let off_id = off["id"].as_str().expect("id");
    let out = run_cli_with(
        &[
            "agents",
            "import",
            "--engine",
            "flowise",
            "--flow-id",
            off_id,
            "--tool-name",
            "refund_unsafe",
            "--publish",
        ],
        &dir,
        &env,
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("refusing to publish refund_unsafe") && stderr.contains("silently dropped"),
        "{stderr}"
    );
    assert!(!stderr.contains(FLOWISE_KEY) && !text(&out.stdout).contains(FLOWISE_KEY));

    let store = db.store().await;
    let good_agent = store
        .get_agent_by_tool_name("refund_desk")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(good_agent.status, vieagent::store::AgentStatus::Published);
    assert_eq!(good_agent.engine_config["input_mode"], "form");
    assert_eq!(
        good_agent.engine_config["credential_targets"]["openai"],
        json!(["openAIApiKey"])
    );
    assert_eq!(
        good_agent.input_schema["properties"]["channel"]["enum"],
        json!(["web", "store", "phone"])
    );
    let unsafe_agent = store
        .get_agent_by_tool_name("refund_unsafe")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        unsafe_agent.status,
        vieagent::store::AgentStatus::Draft,
        "kept as a draft"
    );

    // Engine not configured: a clear error.
    let out = run_cli_with(
        &[
            "agents",
            "import",
            "--engine",
            "activepieces",
            "--flow-id",
            "abc",
        ],
        &dir,
        &env,
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("activepieces engine is not configured"),
        "{}",
        text(&out.stderr)
    );
}
