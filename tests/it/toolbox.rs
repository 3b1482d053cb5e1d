//! Each buyer's toolbox over HTTP, on both stores (the MCP side, both
//! protocol generations and two replicas, is tests/python/test_toolbox.py,
//! run by .ci/run): `GET /v1/agents` searches accent-insensitively and
//! pages; `PUT`/`DELETE /v1/me/toolbox/{tool}` and toolsets change what
//! `GET /v1/tools` shows with `catalog.toolbox = "chosen"`; the chat-tools
//! API runs the discovery tools and refuses agents outside the toolbox; a
//! purchase joins the toolbox (unless configured not to); `all` mode is
//! today's catalog; no agent may take a discovery tool's name.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use vieagent::config::ToolboxMode;
use vieagent::store::{AgentStatus, NewAgent};

use crate::helpers::{Backend, TestApp, TestDb, sample_agent};

crate::backend_tests!(
    the_http_api_searches_and_changes_the_toolbox,
    the_chat_api_runs_discovery_and_keeps_to_the_toolbox,
    a_purchase_joins_the_toolbox_unless_configured_not_to,
    all_mode_is_the_whole_catalog_without_discovery,
    agents_cannot_take_a_discovery_tools_name,
    legacy_sse_and_the_tasks_path_keep_to_the_toolbox,
);

/// Listed first, in this order, before the toolbox's agents (by name).
const DISCOVERY: [&str; 3] = ["search_agents", "add_agent", "remove_agent"];

fn demo_agent(tool: &str, name: &str, description: &str) -> NewAgent {
    NewAgent {
        name: name.into(),
        description: description.into(),
        engine_config: json!({"builtin": "demo"}),
        input_schema: json!({"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}),
        status: AgentStatus::Published,
        credits_per_call: 0,
        ..sample_agent(tool)
    }
}

async fn start(
    backend: Backend,
    mode: ToolboxMode,
    adjust: impl FnOnce(&mut vieagent::Config),
) -> (TestApp, String, uuid::Uuid) {
    let app = TestApp::spawn_with(TestDb::new(backend).await, |c| {
        c.catalog.toolbox = mode;
        c.marketplace.agent_url = Some("https://vieagent.vn/agents/{tool}".into());
        adjust(c);
    })
    .await;
    let store = app.store().await;
    for agent in [
        demo_agent(
            "tom_tat_van_ban",
            "Tóm tắt văn bản",
            "Tóm tắt một đoạn văn bản dài thành vài câu.",
        ),
        demo_agent(
            "dich_thuat",
            "Dịch thuật",
            "Dịch văn bản giữa tiếng Anh và tiếng Việt.",
        ),
        demo_agent(
            "viet_email",
            "Viết email",
            "Soạn email công việc ở Đà Nẵng và Huế.",
        ),
        NewAgent {
            price_one_time: Some("9.99".parse().expect("decimal")),
            ..demo_agent(
                "bao_cao",
                "Báo cáo thị trường",
                "Báo cáo thị trường hằng tuần.",
            )
        },
    ] {
        store.create_agent(&agent).await.expect("agent");
    }
    let (user, key) = app.user_with_key("buyer@example.com").await;
    // The catalog picks the agents up (notify or poll).
    for _ in 0..200 {
        let tools = get(&app, &key, "/v1/agents?limit=50").await;
        if tools["agents"].as_array().is_some_and(|a| a.len() == 4) {
            return (app, key, user.id);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the catalog never held the test agents");
}

async fn get(app: &TestApp, key: &str, path: &str) -> Value {
    let response = app
        .http
        .get(app.url(path))
        .bearer_auth(key)
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.expect("json")
}

async fn send(
    app: &TestApp,
    key: &str,
    method: reqwest::Method,
    path: &str,
) -> (StatusCode, Value) {
    let response = app
        .http
        .request(method, app.url(path))
        .bearer_auth(key)
        .send()
        .await
        .expect("send");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn tools_of(list: &Value) -> Vec<String> {
    list["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_string())
        .collect()
}

fn found(page: &Value) -> Vec<&str> {
    page["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .map(|a| a["tool"].as_str().expect("tool"))
        .collect()
}

async fn the_http_api_searches_and_changes_the_toolbox(backend: Backend) {
    let (app, key, _) = start(backend, ToolboxMode::Chosen, |_| {}).await;
    // Accent-insensitive, prefix, every word must match; name before description.
    for (q, want) in [
        ("tom tat", vec!["tom_tat_van_ban"]),
        ("Tóm tắt", vec!["tom_tat_van_ban"]),
        ("tom", vec!["tom_tat_van_ban"]),
        ("da nang", vec!["viet_email"]),
        ("dich", vec!["dich_thuat"]),
        ("van ban", vec!["tom_tat_van_ban", "dich_thuat"]),
        ("xyzzy", vec![]),
    ] {
        let page = get(&app, &key, &format!("/v1/agents?q={}", urlencode(q))).await;
        assert_eq!(found(&page), want, "q={q}: {page}");
    }
    // Filters and what a card says.
    let free = get(&app, &key, "/v1/agents?q=bao&free=true").await;
    assert!(found(&free).is_empty(), "{free}");
    let priced = get(&app, &key, "/v1/agents?q=bao").await;
    let card = &priced["agents"][0];
    assert_eq!(card["price"], "9.99 USD one-time");
    assert_eq!(card["needs_purchase"], true);
    assert_eq!(card["buy_url"], "https://vieagent.vn/agents/bao_cao");
    assert!(found(&get(&app, &key, "/v1/agents?bought=true").await).is_empty());
    // Paging: two pages of two, then none; a cursor this server never gave is refused.
    let first = get(&app, &key, "/v1/agents?limit=2").await;
    assert_eq!(
        found(&first),
        ["bao_cao", "dich_thuat"],
        "by tool name without words"
    );
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = get(&app, &key, &format!("/v1/agents?limit=2&cursor={cursor}")).await;
    assert_eq!(found(&second), ["tom_tat_van_ban", "viet_email"]);
    assert!(second["next_cursor"].is_null(), "{second}");
    for bad in [
        "/v1/agents?cursor=abc",
        "/v1/agents?limit=0",
        "/v1/agents?limit=51",
    ] {
        let (status, body) = send(&app, &key, reqwest::Method::GET, bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }

    // The toolbox: only the discovery tools at first.
    let tools = get(&app, &key, "/v1/tools?format=mcp").await;
    assert_eq!(tools_of(&tools), DISCOVERY);
    let (status, body) = send(
        &app,
        &key,
        reqwest::Method::PUT,
        "/v1/me/toolbox/tom_tat_van_ban",
    )
    .await;
    assert_eq!(
        (status, &body["change"]),
        (StatusCode::OK, &json!("added")),
        "{body}"
    );
    let (_, again) = send(
        &app,
        &key,
        reqwest::Method::PUT,
        "/v1/me/toolbox/tom_tat_van_ban",
    )
    .await;
    assert_eq!(again["change"], "already_there");
    let (status, _) = send(
        &app,
        &key,
        reqwest::Method::PUT,
        "/v1/me/toolbox/no_such_agent",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let tools = get(&app, &key, "/v1/tools?format=mcp").await;
    assert_eq!(
        tools_of(&tools),
        [
            "search_agents",
            "add_agent",
            "remove_agent",
            "tom_tat_van_ban"
        ]
    );
    let page = get(&app, &key, "/v1/agents?q=tom").await;
    assert_eq!(page["agents"][0]["in_toolbox"], true);

    // A priced agent may be added; it is listed with its purchase line.
    send(&app, &key, reqwest::Method::PUT, "/v1/me/toolbox/bao_cao").await;
    let tools = get(&app, &key, "/v1/tools?format=mcp").await;
    let priced = tools["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["name"] == "bao_cao")
        .expect("listed");
    assert!(
        priced["description"]
            .as_str()
            .expect("text")
            .contains("9.99 USD"),
        "{priced}"
    );

    // Toolsets: named subsets; a bad name is refused; removing from the
    // toolbox removes from every toolset.
    let (status, body) = send(
        &app,
        &key,
        reqwest::Method::PUT,
        "/v1/me/toolsets/writing/dich_thuat",
    )
    .await;
    assert_eq!(
        (status, &body["toolset"]),
        (StatusCode::OK, &json!("writing")),
        "{body}"
    );
    let (status, _) = send(
        &app,
        &key,
        reqwest::Method::PUT,
        "/v1/me/toolsets/Bad%20Name/dich_thuat",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let toolbox = get(&app, &key, "/v1/me/toolbox").await;
    assert_eq!(toolbox["mode"], "chosen");
    let mut agents: Vec<&str> = found(&toolbox);
    agents.sort_unstable();
    assert_eq!(
        agents,
        ["bao_cao", "dich_thuat", "tom_tat_van_ban"],
        "a toolset's agent joins the toolbox"
    );
    assert_eq!(toolbox["toolsets"][0]["name"], "writing");
    assert_eq!(toolbox["toolsets"][0]["tools"], json!(["dich_thuat"]));
    assert_eq!(
        toolbox["toolsets"][0]["mcp_url"]
            .as_str()
            .map(|u| u.ends_with("/mcp/t/writing")),
        Some(true)
    );
    let (_, removed) = send(
        &app,
        &key,
        reqwest::Method::DELETE,
        "/v1/me/toolbox/dich_thuat",
    )
    .await;
    assert_eq!(removed["change"], "removed");
    let toolbox = get(&app, &key, "/v1/me/toolbox").await;
    assert_eq!(
        toolbox["toolsets"],
        json!([]),
        "gone from its toolset too: {toolbox}"
    );
    let (_, not_there) = send(
        &app,
        &key,
        reqwest::Method::DELETE,
        "/v1/me/toolbox/dich_thuat",
    )
    .await;
    assert_eq!(not_there["change"], "not_there");

    // A toolset's MCP address takes toolset names only, exactly: a
    // trailing slash or more segments never fall through to `/mcp`.
    for path in [
        "/mcp/t/Bad%20Name",
        "/mcp/t/writing/",
        "/mcp/t/writing/x",
        "/mcp/t/",
        "/mcp/t",
    ] {
        let response = app
            .http
            .post(app.url(path))
            .bearer_auth(&key)
            .header("accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }

    // Another user's toolbox is untouched.
    let (_, other) = app.user_with_key("other@example.com").await;
    assert_eq!(
        tools_of(&get(&app, &other, "/v1/tools?format=mcp").await),
        DISCOVERY
    );
    app.stop().await.expect("stop");
}

async fn the_chat_api_runs_discovery_and_keeps_to_the_toolbox(backend: Backend) {
    let (app, key, _) = start(backend, ToolboxMode::Chosen, |_| {}).await;
    // Outside the toolbox: 409 saying how to add it; nothing journaled.
    let invoke = |tool: &str| {
        app.http
            .post(app.url(&format!("/v1/tools/{tool}/invoke")))
            .bearer_auth(&key)
            .json(&json!({"arguments": {"message": "xin chào"}}))
            .send()
    };
    let refused = invoke("dich_thuat").await.expect("invoke");
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let body: Value = refused.json().await.expect("json");
    assert!(
        body.to_string().contains("PUT /v1/me/toolbox/dich_thuat"),
        "{body}"
    );

    // The model's tool calls: search, add, then the agent itself.
    let calls = |calls: Value| {
        app.http
            .post(app.url("/v1/tool_calls"))
            .bearer_auth(&key)
            .json(&json!({"role": "assistant", "content": null, "tool_calls": calls}))
            .send()
    };
    let call = |id: &str, name: &str, args: Value| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args.to_string()}});
    let answer: Value = calls(json!([call(
        "c1",
        "search_agents",
        json!({"query": "dich thuat"})
    )]))
    .await
    .expect("send")
    .json()
    .await
    .expect("json");
    let text = answer["messages"][0]["content"].as_str().expect("text");
    assert!(
        text.contains("dich_thuat") && text.contains("add_agent"),
        "{text}"
    );
    let answer: Value = calls(json!([call("c2", "dich_thuat", json!({"message": "a"}))]))
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(
        answer["results"][0]["error_kind"], "not_in_toolbox",
        "{answer}"
    );
    let answer: Value = calls(json!([call(
        "c3",
        "add_agent",
        json!({"tool": "dich_thuat"})
    )]))
    .await
    .expect("send")
    .json()
    .await
    .expect("json");
    assert_eq!(answer["results"][0]["status"], "success", "{answer}");
    let ran = invoke("dich_thuat").await.expect("invoke");
    assert_eq!(ran.status(), StatusCode::OK);
    let ran: Value = ran.json().await.expect("json");
    assert_eq!(ran["text"], "[demo echo] xin chào", "{ran}");
    // A discovery tool's arguments are checked like an agent's.
    let bad: Value = calls(json!([call(
        "c4",
        "add_agent",
        json!({"tool": "x", "extra": 1})
    )]))
    .await
    .expect("send")
    .json()
    .await
    .expect("json");
    assert_eq!(
        bad["results"][0]["error_kind"], "invalid_arguments",
        "{bad}"
    );
    app.stop().await.expect("stop");
}

async fn a_purchase_joins_the_toolbox_unless_configured_not_to(backend: Backend) {
    for joins in [true, false] {
        let (app, key, user) = start(backend, ToolboxMode::Chosen, |c| {
            c.catalog.toolbox_add_purchases = joins;
            c.admin_token = Some(secrecy::SecretString::from(
                "admin-token-for-tests-0123456789",
            ));
        })
        .await;
        // The toolbox is cached before the grant: the grant must clear it.
        assert_eq!(
            tools_of(&get(&app, &key, "/v1/tools?format=mcp").await),
            DISCOVERY
        );
        let granted = app
            .http
            .post(app.url(&format!("/admin/v1/users/{user}/entitlements")))
            .bearer_auth("admin-token-for-tests-0123456789")
            .json(&json!({"agent": "bao_cao", "kind": "one_time"}))
            .send()
            .await
            .expect("grant");
        assert!(
            granted.status().is_success(),
            "{}",
            granted.text().await.unwrap_or_default()
        );
        let tools = tools_of(&get(&app, &key, "/v1/tools?format=mcp").await);
        assert_eq!(
            tools.contains(&"bao_cao".to_string()),
            joins,
            "joins={joins}: {tools:?}"
        );
        let bought = get(&app, &key, "/v1/agents?bought=true").await;
        assert_eq!(found(&bought), ["bao_cao"]);
        assert_eq!(bought["agents"][0]["in_toolbox"], joins);
        app.stop().await.expect("stop");
    }
}

async fn all_mode_is_the_whole_catalog_without_discovery(backend: Backend) {
    let (app, key, _) = start(backend, ToolboxMode::All, |_| {}).await;
    let tools = tools_of(&get(&app, &key, "/v1/tools?format=mcp").await);
    assert_eq!(
        tools,
        ["bao_cao", "dich_thuat", "tom_tat_van_ban", "viet_email"]
    );
    let refused = app
        .http
        .post(app.url("/v1/tools/search_agents/invoke"))
        .bearer_auth(&key)
        .json(&json!({"arguments": {"query": "x"}}))
        .send()
        .await
        .expect("invoke");
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    // The toolbox can still be kept (for toolsets, or for later).
    let (status, _) = send(
        &app,
        &key,
        reqwest::Method::PUT,
        "/v1/me/toolbox/dich_thuat",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(get(&app, &key, "/v1/me/toolbox").await["mode"], "all");
    app.stop().await.expect("stop");
}

/// `vieagent stdio --toolset` takes toolset names only, and says which,
/// before opening anything.
#[tokio::test]
async fn stdio_refuses_a_name_no_toolset_can_have() {
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}/gateway.db", dir.path().display());
    for (args, env) in [
        (vec!["stdio", "--toolset", "Not A Name"], vec![]),
        (vec!["stdio"], vec![("VIEAGENT_TOOLSET", "a/b")]),
    ] {
        let mut env = env;
        env.push(("VIEAGENT_DATABASE_URL", db.as_str()));
        env.push(("VIEAGENT_API_KEY", "vak_unused"));
        let out = crate::helpers::run_cli_with(&args, dir.path(), &env, Some("")).await;
        assert!(!out.status.success(), "{args:?}");
        let stderr = crate::helpers::text(&out.stderr);
        assert!(
            stderr.contains("is not a toolset name") && stderr.contains("lower-case letters"),
            "{stderr}"
        );
    }
    assert!(
        !dir.path().join("gateway.db").exists(),
        "nothing was opened"
    );
}

async fn agents_cannot_take_a_discovery_tools_name(backend: Backend) {
    let app = TestApp::spawn_with(TestDb::new(backend).await, |c| {
        c.admin_token = Some(secrecy::SecretString::from(
            "admin-token-for-tests-0123456789",
        ));
    })
    .await;
    for name in DISCOVERY {
        let response = app
            .http
            .post(app.url("/admin/v1/agents"))
            .bearer_auth("admin-token-for-tests-0123456789")
            .json(&json!({
                "name": "Shadow", "tool_name": name, "engine_type": "flowise",
                "engine_flow_id": "f", "input_schema": {"type": "object"}
            }))
            .send()
            .await
            .expect("create");
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name}"
        );
        let body = response.text().await.expect("body");
        assert!(body.contains("reserved"), "{body}");
    }
    app.stop().await.expect("stop");
}

/// Legacy SSE (2024-11-05) sees the toolbox and hears its changes; an
/// agent that always runs as a task, outside the toolbox, is refused as
/// outside it (not as needing the tasks extension).
async fn legacy_sse_and_the_tasks_path_keep_to_the_toolbox(backend: Backend) {
    use crate::mcp_client::{Protocol, call, connect_http, connect_sse};
    let (app, key, _) = start(backend, ToolboxMode::Chosen, |_| {}).await;
    app.store()
        .await
        .create_agent(&NewAgent {
            task_mode: vieagent::store::TaskMode::Always,
            ..demo_agent("slow_report", "Slow report", "Always a task.")
        })
        .await
        .expect("agent");
    let base = app.url("");
    let base = base.trim_end_matches('/');
    let (client, handler) = connect_sse(base, &key).await;
    let names = |list: &rmcp::model::ListToolsResult| {
        list.tools
            .iter()
            .map(|t| t.name.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&client.list_tools(None).await.expect("list")),
        DISCOVERY
    );
    let added = call(&client, "add_agent", json!({"tool": "dich_thuat"})).await;
    assert_ne!(added.is_error, Some(true), "{added:?}");
    assert!(
        handler.wait_list_changed(Duration::from_secs(10)).await,
        "tools/list_changed over legacy SSE"
    );
    assert!(
        names(&client.list_tools(None).await.expect("list")).contains(&"dich_thuat".to_string())
    );
    let ran = call(&client, "dich_thuat", json!({"message": "sse"})).await;
    assert_eq!(crate::mcp_client::text_of(&ran), "[demo echo] sse");
    client.cancel().await.expect("close");

    // A client without the tasks extension, an always-task agent outside
    // the toolbox: refused as outside it.
    for _ in 0..200 {
        if !found(&get(&app, &key, "/v1/agents?q=slow").await).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (client, _) = connect_http(base, &key, Protocol::Session).await;
    let refused = call(&client, "slow_report", json!({"message": "x"})).await;
    assert_eq!(refused.is_error, Some(true), "{refused:?}");
    let structured = refused.structured_content.expect("structured");
    assert_eq!(
        structured["error"]["kind"], "not_in_toolbox",
        "{structured}"
    );
    client.cancel().await.expect("close");
    app.stop().await.expect("stop");
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
