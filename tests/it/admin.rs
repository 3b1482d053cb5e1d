//! The admin API against the real server on both stores: every endpoint's
//! happy path and its 400/401/403/404/409/413/415/422 answers, write-only
//! credentials, pagination under concurrent inserts, audit rows, and
//! catalog changes reaching connected MCP clients.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;
use vieagent::store::{ExecutionStatus, NewExecutionLog};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{Backend, TestApp, TestDb};
use crate::mcp_client::{Protocol, call, connect_http};

const ADMIN_TOKEN: &str = "bootstrap-admin-token-4f9a";

struct Admin {
    app: TestApp,
    /// Every response body seen, for the write-only check.
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Admin {
    async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    async fn start_with(backend: Backend, adjust: impl FnOnce(&mut vieagent::Config)) -> Self {
        let db = TestDb::new(backend).await;
        let app = TestApp::spawn_with(db, |c| {
            c.admin_token = Some(secrecy::SecretString::from(ADMIN_TOKEN));
            adjust(c);
        })
        .await;
        Self {
            app,
            bodies: Arc::default(),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut req = self
            .app
            .http
            .request(method, self.app.url(&format!("/admin/v1{path}")));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let response = req.send().await.expect("request");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        self.bodies.lock().expect("lock").push(text.clone());
        if status.is_client_error() || status.is_server_error() {
            assert_eq!(
                headers.get("content-type").and_then(|v| v.to_str().ok()),
                Some("application/problem+json"),
                "{status} {path}: errors are problem documents: {text}"
            );
            assert!(
                status != StatusCode::INTERNAL_SERVER_ERROR,
                "no 500 for {path}: {text}"
            );
        }
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value, headers)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, v, _) = self.send(Method::GET, path, Some(ADMIN_TOKEN), None).await;
        (s, v)
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, v, _) = self
            .send(Method::POST, path, Some(ADMIN_TOKEN), Some(body))
            .await;
        (s, v)
    }

    async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, v, _) = self
            .send(Method::PATCH, path, Some(ADMIN_TOKEN), Some(body))
            .await;
        (s, v)
    }

    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, v, _) = self
            .send(Method::PUT, path, Some(ADMIN_TOKEN), Some(body))
            .await;
        (s, v)
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        let (s, v, _) = self
            .send(Method::DELETE, path, Some(ADMIN_TOKEN), None)
            .await;
        (s, v)
    }
}

fn demo_definition(tool_name: &str) -> Value {
    json!({
        "name": format!("Echo {tool_name}"),
        "tool_name": tool_name,
        "description": "echo",
        "engine_type": "flowise",
        "engine_flow_id": "builtin-demo-echo",
        "input_schema": vieagent::engines::demo::demo_input_schema(),
        "engine_config": {"builtin": "demo"},
        "price_one_time": 9.99,
        "price_monthly": "4.5",
        "credits_per_call": 3
    })
}

fn error_fields(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["field"].as_str().unwrap_or("").to_string(),
                        e["rule"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

crate::backend_tests!(
    auth_401_403_and_both_ways_in,
    agents_lifecycle_publish_archive_delete,
    agent_input_is_validated_field_by_field,
    agent_import_and_validate_against_a_flowise_flow,
    users_keys_and_write_only_credentials,
    executions_usage_and_audit,
    execution_pagination_is_stable_under_concurrent_inserts,
    malformed_requests_get_clear_errors,
);

async fn auth_401_403_and_both_ways_in(backend: Backend) {
    let a = Admin::start(backend).await;
    let (status, problem, headers) = a.send(Method::GET, "/agents", None, None).await;
    assert_eq!(status, 401);
    assert_eq!(
        headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    assert_eq!(problem["status"], 401);
    let (status, _, _) = a
        .send(Method::GET, "/agents", Some("not-the-token"), None)
        .await;
    assert_eq!(status, 401);
    // Almost the token: compared in constant time, still refused.
    let (status, _, _) = a
        .send(
            Method::GET,
            "/agents",
            Some(&ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1]),
            None,
        )
        .await;
    assert_eq!(status, 401);

    let (_, user_key) = a.app.user_with_key("plain@example.com").await;
    let (status, problem, _) = a.send(Method::GET, "/agents", Some(&user_key), None).await;
    assert_eq!(status, 403, "a non-admin user's key");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("admin")
    );

    let store = a.app.store().await;
    let admin = vieagent::accounts::create_user(
        store.as_ref(),
        "root@example.com",
        None,
        vieagent::store::Role::Admin,
        "pro",
        1_000_000,
    )
    .await
    .expect("admin user");
    let (_, admin_key) = vieagent::accounts::create_key(store.as_ref(), admin.id, "k")
        .await
        .expect("key");
    let admin_key = secrecy::ExposeSecret::expose_secret(&admin_key).to_string();
    let (status, _, _) = a.send(Method::GET, "/agents", Some(&admin_key), None).await;
    assert_eq!(status, 200, "an admin user's key");
    let (status, _, _) = a
        .send(Method::GET, "/agents", Some(ADMIN_TOKEN), None)
        .await;
    assert_eq!(status, 200, "the bootstrap token");

    // Mutations are attributed to who made them.
    let (status, _, _) = a
        .send(
            Method::POST,
            "/agents",
            Some(&admin_key),
            Some(demo_definition("by_admin_user")),
        )
        .await;
    assert_eq!(status, 201);
    let (_, audit) = a.get("/audit").await;
    let entry = &audit["items"][0];
    assert_eq!(entry["action"], "agent.create");
    assert_eq!(entry["actor"], "user:root@example.com");
    assert_eq!(entry["actor_user_id"], admin.id.to_string());

    // The spec and the docs page are public.
    let spec: Value = a
        .app
        .http
        .get(a.app.url("/admin/v1/openapi.json"))
        .send()
        .await
        .expect("spec")
        .json()
        .await
        .expect("json");
    assert_eq!(spec["openapi"], "3.1.0");
    assert!(spec["paths"]["/agents/{id}/publish"]["post"].is_object());
    let docs = a
        .app
        .http
        .get(a.app.url("/admin/v1/docs/"))
        .send()
        .await
        .expect("docs");
    assert_eq!(docs.status(), 200);
    assert!(
        docs.text().await.expect("html").contains("swagger"),
        "bundled Swagger UI"
    );
}

async fn agents_lifecycle_publish_archive_delete(backend: Backend) {
    let a = Admin::start(backend).await;
    let (status, agent) = a.post("/agents", demo_definition("echo_one")).await;
    assert_eq!(status, 201, "{agent}");
    assert_eq!(agent["status"], "draft");
    assert_eq!(
        agent["price_one_time"], "9.99",
        "prices are decimal strings"
    );
    assert_eq!(agent["price_monthly"], "4.50");
    assert_eq!(agent["credits_per_call"], 3);
    let id = agent["id"].as_str().expect("id").to_string();

    let (status, got) = a.get(&format!("/agents/{id}")).await;
    assert_eq!(
        (status, got["tool_name"].clone()),
        (StatusCode::OK, json!("echo_one"))
    );
    let (status, _) = a.get(&format!("/agents/{}", Uuid::new_v4())).await;
    assert_eq!(status, 404);
    let (status, _) = a.get("/agents/not-a-uuid").await;
    assert_eq!(status, 400);

    // Duplicate tool_name: 409 naming the field and the rule.
    let (status, problem) = a.post("/agents", demo_definition("echo_one")).await;
    assert_eq!(status, 409);
    assert_eq!(
        error_fields(&problem),
        vec![("tool_name".into(), "unique".into())]
    );

    // A connected MCP client hears about publishing.
    let store = a.app.store().await;
    let user = vieagent::accounts::create_user(
        store.as_ref(),
        "ada@example.com",
        None,
        vieagent::store::Role::User,
        "free",
        1_000_000,
    )
    .await
    .expect("user");
    let (_, key) = vieagent::accounts::create_key(store.as_ref(), user.id, "k")
        .await
        .expect("key");
    let key = secrecy::ExposeSecret::expose_secret(&key).to_string();
    // The agent is priced: Ada buys it.
    let (status, bought) = a
        .post(
            &format!("/users/{}/entitlements", user.id),
            json!({"agent": "echo_one", "kind": "one_time", "reference": "order-1"}),
        )
        .await;
    assert_eq!(status, 201, "{bought}");
    assert_eq!(
        (bought["price"].clone(), bought["active"].clone()),
        (json!("9.99"), json!(true))
    );
    let (client, handler) =
        connect_http(&format!("http://{}", a.app.addr), &key, Protocol::Session).await;
    assert!(
        client
            .list_tools(None)
            .await
            .expect("list")
            .tools
            .is_empty()
    );
    let (status, published) = a.post(&format!("/agents/{id}/publish"), json!({})).await;
    assert_eq!(status, 200, "{published}");
    assert_eq!(published["status"], "published");
    assert!(
        handler.wait_list_changed(Duration::from_secs(5)).await,
        "list_changed after publish"
    );
    let tools = client.list_tools(None).await.expect("list");
    assert_eq!(
        tools
            .tools
            .iter()
            .map(|t| t.name.to_string())
            .collect::<Vec<_>>(),
        vec!["echo_one"]
    );

    // PATCH: fields change, the catalog follows.
    let (status, patched) = a
        .patch(
            &format!("/agents/{id}"),
            json!({"description": "Echoes, politely", "price_monthly": null}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["price_monthly"], Value::Null);
    assert!(
        handler.wait_list_changed(Duration::from_secs(5)).await,
        "list_changed after update"
    );
    let tools = client.list_tools(None).await.expect("list");
    assert_eq!(
        tools.tools[0].description.as_deref(),
        Some("Echoes, politely")
    );

    // Called once: it can no longer be deleted, only archived.
    let r = call(&client, "echo_one", json!({"message": "hi"})).await;
    assert_eq!(r.is_error, Some(false));
    let (status, problem) = a.delete(&format!("/agents/{id}")).await;
    assert_eq!(status, 409);
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("archive it instead"),
        "{problem}"
    );
    let (status, archived) = a.post(&format!("/agents/{id}/archive"), json!({})).await;
    assert_eq!(
        (status, archived["status"].clone()),
        (StatusCode::OK, json!("archived"))
    );
    assert!(
        handler.wait_list_changed(Duration::from_secs(5)).await,
        "list_changed after archive"
    );
    assert!(
        client
            .list_tools(None)
            .await
            .expect("list")
            .tools
            .is_empty()
    );

    // A never-called agent is deleted outright.
    let (_, other) = a.post("/agents", demo_definition("echo_two")).await;
    let other_id = other["id"].as_str().expect("id");
    let (status, _) = a.delete(&format!("/agents/{other_id}")).await;
    assert_eq!(status, 204);
    let (status, _) = a.delete(&format!("/agents/{other_id}")).await;
    assert_eq!(status, 404);

    // List: filters and cursor pagination.
    for name in ["p_alpha", "p_beta", "p_gamma", "p_delta"] {
        let (status, _) = a.post("/agents", demo_definition(name)).await;
        assert_eq!(status, 201);
    }
    let (_, page) = a.get("/agents?name=p_&limit=3").await;
    let names: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["tool_name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, vec!["p_alpha", "p_beta", "p_delta"]);
    let cursor = page["next_cursor"].as_str().expect("more pages");
    let (_, page2) = a
        .get(&format!("/agents?name=p_&limit=3&cursor={cursor}"))
        .await;
    assert_eq!(page2["items"][0]["tool_name"], "p_gamma");
    assert!(page2["next_cursor"].is_null());
    let (_, archived_only) = a.get("/agents?status=archived").await;
    assert_eq!(archived_only["items"].as_array().expect("items").len(), 1);
    let (_, by_engine) = a.get("/agents?engine=activepieces").await;
    assert!(by_engine["items"].as_array().expect("items").is_empty());
    let (status, problem) = a.get("/agents?cursor=%%%").await;
    assert_eq!(
        (status, error_fields(&problem)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![("cursor".into(), "cursor".into())]
        )
    );
    let (status, problem) = a.get("/agents?cursor=bm90LWEtY3Vyc29y-x").await;
    assert!(status == 200 || status == 422, "{status} {problem}");

    // Every mutation left an audit row.
    let (_, audit) = a.get("/audit?limit=100").await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["action"].as_str().expect("action"))
        .collect();
    for expected in [
        "agent.create",
        "agent.publish",
        "agent.update",
        "agent.archive",
        "agent.delete",
    ] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    client.cancel().await.expect("close");
}

async fn agent_input_is_validated_field_by_field(backend: Backend) {
    let a = Admin::start(backend).await;
    let (status, problem) = a
        .post(
            "/agents",
            json!({
                "name": "",
                "tool_name": "bad name/..",
                "engine_type": "flowise",
                "engine_flow_id": "../chatflows",
                "input_schema": {"type": "array"},
                "required_credential_types": ["OpenAI", "openai", "openai"],
                "price_one_time": "9.999",
                "price_monthly": -1,
                "credits_per_call": -5,
                "timeout_ms": 0,
                "engine_config": []
            }),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    let fields = error_fields(&problem);
    for expected in [
        ("name", "min_length"),
        ("tool_name", "pattern"),
        ("engine_flow_id", "pattern"),
        ("input_schema.type", "const"),
        ("required_credential_types[0]", "pattern"),
        ("required_credential_types[2]", "unique"),
        ("price_one_time", "pattern"),
        ("price_monthly", "minimum"),
        ("credits_per_call", "range"),
        ("timeout_ms", "range"),
        ("engine_config", "type"),
    ] {
        assert!(
            fields.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} in {fields:?}"
        );
    }
    // A schema that does not compile.
    let mut def = demo_definition("bad_schema");
    def["input_schema"] = json!({"type": "object", "properties": {"x": {"type": "no-such-type"}}});
    let (status, problem) = a.post("/agents", def).await;
    assert_eq!(status, 422);
    assert_eq!(
        error_fields(&problem),
        vec![("input_schema".into(), "compile".into())]
    );
    // Unknown fields are refused by name; engine_type must be one of two.
    let mut def = demo_definition("extra");
    def["surprise"] = json!(1);
    let (status, problem) = a.post("/agents", def).await;
    assert_eq!(status, 400);
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("surprise"),
        "{problem}"
    );
    let mut def = demo_definition("n8n");
    def["engine_type"] = json!("n8n");
    let (status, problem) = a.post("/agents", def).await;
    assert_eq!(status, 400);
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("engine_type"),
        "{problem}"
    );
    // Prices: strings and numbers, at most two decimals.
    for (price, ok) in [
        (json!("0"), true),
        (json!("12345678.90"), true),
        (json!(0.5), true),
        (json!("1.234"), false),
        (json!("123456789"), false),
        (json!("abc"), false),
    ] {
        let mut def = demo_definition(&format!("price_{}", Uuid::new_v4().simple()));
        def["price_one_time"] = price.clone();
        let (status, _) = a.post("/agents", def).await;
        assert_eq!(status == 201, ok, "{price}: {status}");
    }
    // PATCH validates the same way and 404s unknown agents.
    let (_, agent) = a.post("/agents", demo_definition("patch_me")).await;
    let id = agent["id"].as_str().expect("id");
    let (status, problem) = a
        .patch(&format!("/agents/{id}"), json!({"tool_name": "no spaces"}))
        .await;
    assert_eq!(
        (status, error_fields(&problem)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![("tool_name".into(), "pattern".into())]
        )
    );
    let (status, _) = a
        .patch(&format!("/agents/{}", Uuid::new_v4()), json!({"name": "x"}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = a
        .patch(&format!("/agents/{id}"), json!({"status": "published"}))
        .await;
    assert_eq!(status, 400, "status changes go through publish/archive");
}

async fn agent_import_and_validate_against_a_flowise_flow(backend: Backend) {
    let flowise = MockServer::start().await;
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/tests/fixtures/flowise/agentflow_v2_form.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture"),
    )
    .expect("json");
    let off: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/tests/fixtures/flowise/agentflow_v2_form_overrides_off.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture"),
    )
    .expect("json");
    for flow in [&fixture, &off] {
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
    let a = Admin::start_with(backend, |c| {
        c.engines.flowise.base_url = Some(uri.parse().expect("url"));
        c.engines.flowise.api_key = Some(secrecy::SecretString::from("fw-key"));
    })
    .await;
    let (status, imported) = a
        .post(
            "/agents/import",
            json!({"engine_type": "flowise", "flow_id": fixture["id"], "publish": true}),
        )
        .await;
    assert_eq!(status, 201, "{imported}");
    assert_eq!(imported["created"], true);
    assert_eq!(imported["published"], true);
    assert_eq!(imported["agent"]["tool_name"], "refund_desk");
    assert_eq!(
        imported["agent"]["required_credential_types"],
        json!(["openai"])
    );
    let (status, again) = a
        .post(
            "/agents/import",
            json!({"engine_type": "flowise", "flow_id": fixture["id"]}),
        )
        .await;
    assert_eq!(
        (status, again["created"].clone()),
        (StatusCode::OK, json!(false))
    );

    // The unsafe flow imports as a draft; publishing it is refused with the reasons.
    let (status, unsafe_import) = a
        .post("/agents/import", json!({"engine_type": "flowise", "flow_id": off["id"], "tool_name": "refund_unsafe", "publish": true}))
        .await;
    assert_eq!(status, 201);
    assert_eq!(unsafe_import["published"], false);
    assert!(
        unsafe_import["problems"][0]
            .as_str()
            .expect("problem")
            .contains("silently dropped")
    );
    let id = unsafe_import["agent"]["id"].as_str().expect("id");
    let (status, problem) = a.post(&format!("/agents/{id}/publish"), json!({})).await;
    assert_eq!(status, 409);
    assert!(
        problem["problems"][0]
            .as_str()
            .expect("problem")
            .contains("silently dropped"),
        "{problem}"
    );
    let (status, report) = a.post(&format!("/agents/{id}/validate"), json!({})).await;
    assert_eq!(
        (status, report["valid"].clone()),
        (StatusCode::OK, json!(false))
    );

    // Dry-run a definition: engine checks, uniqueness; nothing stored.
    let mut def = demo_definition("refund_desk");
    def["engine_config"] = json!({"input_mode": "form"});
    def["engine_flow_id"] = fixture["id"].clone();
    def["required_credential_types"] = json!(["openai"]);
    let (status, report) = a.post("/agents/validate", def).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["valid"], false);
    assert_eq!(report["errors"][0]["rule"], "unique");
    let (status, report) = a
        .post("/agents/validate", demo_definition("fresh_name"))
        .await;
    assert_eq!(
        (status, report["valid"].clone()),
        (StatusCode::OK, json!(true)),
        "{report}"
    );
    let (_, all) = a.get("/agents").await;
    assert_eq!(
        all["items"].as_array().expect("items").len(),
        2,
        "validate stores nothing"
    );

    // Unknown flow and unconfigured engine: 409 with the reason.
    let (status, problem) = a
        .post(
            "/agents/import",
            json!({"engine_type": "flowise", "flow_id": "00000000-0000-4000-8000-000000000000"}),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    let (status, problem) = a
        .post(
            "/agents/import",
            json!({"engine_type": "activepieces", "flow_id": "abc"}),
        )
        .await;
    assert_eq!(status, 409);
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("not configured"),
        "{problem}"
    );
}

async fn users_keys_and_write_only_credentials(backend: Backend) {
    let a = Admin::start_with(backend, |c| c.auth_cache_ttl = Duration::from_secs(60)).await;
    let (status, user) = a
        .post(
            "/users",
            json!({"email": "Lan@Example.vn", "display_name": "Lan", "plan": "pro"}),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["email"], "lan@example.vn");
    assert_eq!(user["role"], "user");
    let id = user["id"].as_str().expect("id").to_string();
    let (status, problem) = a.post("/users", json!({"email": "lan@example.vn"})).await;
    assert_eq!(status, 409, "{problem}");
    let (status, problem) = a.post("/users", json!({"email": "not-an-email"})).await;
    assert_eq!(
        (status, error_fields(&problem)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![("email".into(), "format".into())]
        )
    );
    let (status, got) = a.get(&format!("/users/{id}")).await;
    assert_eq!(
        (status, got["plan"].clone()),
        (StatusCode::OK, json!("pro"))
    );
    let (status, _) = a.get(&format!("/users/{}", Uuid::new_v4())).await;
    assert_eq!(status, 404);
    let (status, patched) = a
        .patch(
            &format!("/users/{id}"),
            json!({"role": "admin", "plan": "enterprise"}),
        )
        .await;
    assert_eq!(
        (status, patched["role"].clone(), patched["plan"].clone()),
        (StatusCode::OK, json!("admin"), json!("enterprise"))
    );
    for n in 0..4 {
        a.post("/users", json!({"email": format!("u{n}@example.com")}))
            .await;
    }
    let (_, page) = a.get("/users?limit=2").await;
    assert_eq!(page["items"].as_array().expect("items").len(), 2);
    let mut emails: Vec<String> = Vec::new();
    let mut cursor = None::<String>;
    loop {
        let path = match &cursor {
            Some(c) => format!("/users?limit=2&cursor={c}"),
            None => "/users?limit=2".into(),
        };
        let (_, page) = a.get(&path).await;
        emails.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|u| u["email"].as_str().expect("email").to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.into()),
            None => break,
        }
    }
    assert_eq!(emails.len(), 5);
    assert!(emails.windows(2).all(|w| w[0] < w[1]));

    // Keys: shown once, listed by prefix, revocable; they work for MCP.
    let (status, created) = a
        .post(&format!("/users/{id}/keys"), json!({"name": "laptop"}))
        .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().expect("key").to_string();
    assert!(key.starts_with("vak_"));
    let key_id = created["api_key"]["id"].as_str().expect("id").to_string();
    let (_, keys) = a.get(&format!("/users/{id}/keys")).await;
    let listed = keys.to_string();
    assert!(
        !listed.contains(&key) && listed.contains(&key[..12]),
        "{listed}"
    );
    let (client, _) =
        connect_http(&format!("http://{}", a.app.addr), &key, Protocol::Session).await;
    client.cancel().await.expect("close");
    // Disable: the key stops at once in this process (cache cleared).
    let (status, disabled) = a.post(&format!("/users/{id}/disable"), json!({})).await;
    assert_eq!(
        (status, disabled["disabled"].clone()),
        (StatusCode::OK, json!(true))
    );
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let post = || {
        a.app
            .http
            .post(a.app.url("/mcp"))
            .bearer_auth(&key)
            .header("accept", "application/json, text/event-stream")
            .json(&init)
            .send()
    };
    assert_eq!(post().await.expect("post").status(), 401, "disabled user");
    let (status, _) = a.post(&format!("/users/{id}/enable"), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(post().await.expect("post").status(), 200, "enabled again");
    let (status, revoked) = a.delete(&format!("/keys/{key_id}")).await;
    assert_eq!(status, 200);
    assert!(revoked["revoked_at"].is_string());
    assert_eq!(post().await.expect("post").status(), 401, "revoked key");
    let (status, _) = a.delete(&format!("/keys/{key_id}")).await;
    assert_eq!(status, 409, "already revoked");
    let (status, _) = a.delete(&format!("/keys/{}", Uuid::new_v4())).await;
    assert_eq!(status, 404);

    // Credentials: write-only.
    let secret = format!("sk-admin-put-{}", Uuid::new_v4().simple());
    let (status, info) = a
        .put(
            &format!("/users/{id}/credentials/openai"),
            json!({"value": secret}),
        )
        .await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(
        (info["provider"].clone(), info["key_name"].clone()),
        (json!("openai"), json!("default"))
    );
    let (status, _) = a
        .put(
            &format!("/users/{id}/credentials/openai"),
            json!({"value": format!("{secret}-v2"), "key_name": "work"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, list) = a.get(&format!("/users/{id}/credentials")).await;
    assert_eq!(status, 200);
    assert_eq!(list["items"].as_array().expect("items").len(), 2);
    let (status, problem) = a
        .put(
            &format!("/users/{id}/credentials/Open%20AI"),
            json!({"value": "x"}),
        )
        .await;
    assert_eq!(
        (status, error_fields(&problem)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![("provider".into(), "pattern".into())]
        )
    );
    let (status, _) = a
        .put(
            &format!("/users/{id}/credentials/openai"),
            json!({"value": "   "}),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = a
        .put(
            &format!("/users/{}/credentials/openai", Uuid::new_v4()),
            json!({"value": "sk-x"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = a
        .delete(&format!("/users/{id}/credentials/openai?key_name=work"))
        .await;
    assert_eq!(status, 204);
    let (status, _) = a
        .delete(&format!("/users/{id}/credentials/openai?key_name=work"))
        .await;
    assert_eq!(status, 404);
    // The stored value still decrypts for the user...
    let store = a.app.store().await;
    let creds = a
        .app
        .db
        .vault(&store)
        .await
        .resolve(Uuid::parse_str(&id).expect("uuid"), &["openai".to_string()])
        .await
        .expect("resolve");
    assert_eq!(
        creds
            .get("openai")
            .map(|s| secrecy::ExposeSecret::expose_secret(s).to_string()),
        Some(secret.clone())
    );
    // ...but no response body, on any endpoint, ever contained it.
    for (path, _) in [
        ("/audit?limit=1000", 0),
        ("/users?limit=1000", 0),
        (&format!("/users/{id}"), 0),
    ] {
        a.get(path).await;
    }
    let bodies = a.bodies.lock().expect("lock");
    assert!(bodies.len() > 30);
    for body in bodies.iter() {
        assert!(
            !body.contains(&secret) && !body.contains("sk-admin-put"),
            "a response carried the credential: {body}"
        );
    }
}

async fn executions_usage_and_audit(backend: Backend) {
    let a = Admin::start(backend).await;
    let (_, agent) = a.post("/agents", demo_definition("echo_usage")).await;
    let agent_id = agent["id"].as_str().expect("id").to_string();
    a.post(&format!("/agents/{agent_id}/publish"), json!({}))
        .await;
    let store = a.app.store().await;
    let mut users = Vec::new();
    for email in ["ada@example.com", "bob@example.com"] {
        let u = vieagent::accounts::create_user(
            store.as_ref(),
            email,
            None,
            vieagent::store::Role::User,
            "free",
            1_000_000,
        )
        .await
        .expect("user");
        let (_, key) = vieagent::accounts::create_key(store.as_ref(), u.id, "k")
            .await
            .expect("key");
        // Ada buys it once (9.99), Bob subscribes (4.5 a month).
        let kind = if email.starts_with("ada") {
            "one_time"
        } else {
            "monthly"
        };
        let (status, e) = a
            .post(
                &format!("/users/{}/entitlements", u.id),
                json!({"agent": agent_id, "kind": kind}),
            )
            .await;
        assert_eq!(status, 201, "{e}");
        users.push((u, secrecy::ExposeSecret::expose_secret(&key).to_string()));
    }
    for (i, (_, key)) in users.iter().enumerate() {
        let (client, _) =
            connect_http(&format!("http://{}", a.app.addr), key, Protocol::Session).await;
        for n in 0..=i {
            assert_eq!(
                call(&client, "echo_usage", json!({"message": format!("m{n}")}))
                    .await
                    .is_error,
                Some(false)
            );
        }
        // One invalid call each: a failed row.
        assert_eq!(
            call(&client, "echo_usage", json!({})).await.is_error,
            Some(true)
        );
        client.cancel().await.expect("close");
    }
    let (ada, bob) = (&users[0].0, &users[1].0);
    let (status, page) = a.get(&format!("/executions?user_id={}", bob.id)).await;
    assert_eq!(status, 200);
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|i| i["user_id"] == bob.id.to_string()));
    assert!(
        items[0]["created_at"].as_str() >= items[1]["created_at"].as_str(),
        "newest first"
    );
    assert!(
        items[0].get("input_snapshot").is_none(),
        "lists leave snapshots out"
    );
    let (_, failed) = a.get("/executions?status=failed").await;
    assert_eq!(failed["items"].as_array().expect("items").len(), 2);
    let one = items[0]["id"].as_str().expect("id");
    let (status, full) = a.get(&format!("/executions/{one}")).await;
    assert_eq!(status, 200);
    assert!(full.get("input_snapshot").is_some() && full.get("output_snapshot").is_some());
    let (status, _) = a.get(&format!("/executions/{}", Uuid::new_v4())).await;
    assert_eq!(status, 404);
    let future = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (_, none) = a
        .get(&format!("/executions?from={}", future.replace('+', "%2B")))
        .await;
    assert!(none["items"].as_array().expect("items").is_empty());

    // Usage by user, agent and day.
    let (status, by_user) = a.get("/usage?group_by=user").await;
    assert_eq!(status, 200, "{by_user}");
    let rows = by_user["rows"].as_array().expect("rows");
    let row_for = |email: &str| {
        rows.iter()
            .find(|r| r["label"] == email)
            .cloned()
            .expect("row")
    };
    let ada_row = row_for(&ada.email);
    assert_eq!(
        (
            ada_row["calls"].clone(),
            ada_row["successes"].clone(),
            ada_row["failures"].clone()
        ),
        (json!(2), json!(1), json!(1))
    );
    assert_eq!(
        ada_row["credits_consumed"], 3,
        "3 credits per successful call"
    );
    let bob_row = row_for(&bob.email);
    assert_eq!(
        (
            bob_row["calls"].clone(),
            bob_row["credits_consumed"].clone()
        ),
        (json!(3), json!(6))
    );
    assert!(bob_row["p50_duration_ms"].is_i64() && bob_row["p95_duration_ms"].is_i64());
    assert_eq!(
        (ada_row["revenue"].clone(), bob_row["revenue"].clone()),
        (json!("9.99"), json!("4.50"))
    );
    assert_eq!(by_user["totals"]["calls"], 5);
    assert_eq!(by_user["totals"]["revenue"], "14.49");
    assert_eq!(by_user["currency"], "USD");
    let csv = a
        .app
        .http
        .get(a.app.url("/admin/v1/usage?group_by=agent&format=csv"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("csv");
    assert_eq!(
        csv.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/csv; charset=utf-8")
    );
    let csv = csv.text().await.expect("body");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "key,label,calls,successes,failures,p50_duration_ms,p95_duration_ms,credits_consumed,revenue,currency"
    );
    assert!(
        lines[1].starts_with(&format!("{agent_id},echo_usage,5,3,2,")),
        "{csv}"
    );
    assert!(lines[1].ends_with(",9,14.49,USD"), "{csv}");
    assert!(lines[2].starts_with("total,,5,3,2,"), "{csv}");
    let (_, by_agent) = a.get("/usage?group_by=agent").await;
    assert_eq!(by_agent["rows"][0]["label"], "echo_usage");
    assert_eq!(by_agent["rows"][0]["credits_consumed"], 9);
    let (_, by_day) = a.get("/usage").await;
    assert_eq!(by_day["group_by"], "day");
    assert_eq!(
        by_day["rows"][0]["key"],
        chrono::Utc::now().date_naive().to_string()
    );
    let (status, problem) = a
        .get("/usage?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z")
        .await;
    assert_eq!(
        (status, error_fields(&problem)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![("from".into(), "before_to".into())]
        )
    );
    let (status, _) = a.get("/usage?group_by=month").await;
    assert_eq!(status, 400);
}

async fn execution_pagination_is_stable_under_concurrent_inserts(backend: Backend) {
    let a = Admin::start(backend).await;
    let (_, agent) = a.post("/agents", demo_definition("echo_pages")).await;
    let agent_id = Uuid::parse_str(agent["id"].as_str().expect("id")).expect("uuid");
    let store = a.app.store().await;
    let user = vieagent::accounts::create_user(
        store.as_ref(),
        "ada@example.com",
        None,
        vieagent::store::Role::User,
        "free",
        1_000_000,
    )
    .await
    .expect("user");
    let row = |id: Uuid| NewExecutionLog {
        id,
        user_id: user.id,
        agent_id,
        status: ExecutionStatus::Running,
        input_snapshot: None,
    };
    let mut initial = Vec::new();
    for _ in 0..60 {
        let id = Uuid::new_v4();
        store.insert_execution_log(&row(id)).await.expect("row");
        initial.push(id);
    }
    // Keep inserting while we page.
    let writer = {
        let store = store.clone();
        let (user_id, agent_id) = (user.id, agent_id);
        tokio::spawn(async move {
            for _ in 0..60 {
                let _ = store
                    .insert_execution_log(&NewExecutionLog {
                        id: Uuid::new_v4(),
                        user_id,
                        agent_id,
                        status: ExecutionStatus::Running,
                        input_snapshot: None,
                    })
                    .await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/executions?limit=7&cursor={c}"),
            None => "/executions?limit=7".into(),
        };
        let (status, page) = a.get(&path).await;
        assert_eq!(status, 200);
        seen.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|i| Uuid::parse_str(i["id"].as_str().expect("id")).expect("uuid")),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.into()),
            None => break,
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    writer.await.expect("writer");
    let unique: std::collections::HashSet<Uuid> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no row twice");
    for id in &initial {
        assert!(
            unique.contains(id),
            "every row present at the start is seen"
        );
    }
}

async fn malformed_requests_get_clear_errors(backend: Backend) {
    let a = Admin::start(backend).await;
    let url = a.app.url("/admin/v1/agents");
    // Invalid JSON: 400 with the position.
    let r = a
        .app
        .http
        .post(&url)
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body("{\"name\": \"x\",")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    let problem: Value = r.json().await.expect("json");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("line 1 column"),
        "{problem}"
    );
    // Wrong content type: 415.
    let r = a
        .app
        .http
        .post(&url)
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 415);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    // Oversized body: 413.
    let huge = json!({"name": "x".repeat(2 * 1024 * 1024)});
    // The server answers before reading it all and closes that connection: use a fresh client.
    let r = reqwest::Client::new()
        .post(&url)
        .bearer_auth(ADMIN_TOKEN)
        .json(&huge)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 413);
    // Bad query and path parameters: 400, not 500.
    for path in [
        "/agents?limit=0",
        "/agents?limit=abc",
        "/agents?status=live",
        "/executions?from=yesterday",
        "/users/123/keys",
    ] {
        let (status, problem) = a.get(path).await;
        assert_eq!(status, 400, "{path}: {problem}");
    }
    let (status, _) = a.get("/no-such-endpoint").await;
    assert_eq!(status, 404);
}
