//! Marketplace events (`POST /v1/marketplace/events`) on both stores:
//! signed grants make a priced tool callable at once and revocations stop
//! it, credits are added once, replays and 20 concurrent deliveries apply
//! once, every refusal changes nothing, unknown users are provisioned only
//! when asked, the secret never reaches the logs, and (PostgreSQL) a change
//! made through one replica reaches the other replica's cache and sessions.

use std::str::FromStr;
use std::time::Duration;

use reqwest::StatusCode;
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde_json::{Value, json};
use vieagent::store::{AgentStatus, DynStore, EngineType, NewAgent, Role, User};
use wiremock::MockServer;

use crate::helpers::{Backend, TestApp, TestDb};
use crate::mcp_client::{Protocol, call, connect_http, text_of};

crate::backend_tests!(
    a_signed_grant_makes_the_tool_callable_and_a_revocation_stops_it,
    credits_are_added_once,
    twenty_concurrent_deliveries_apply_once,
    refused_events_change_nothing,
    a_rotated_secret_is_accepted_beside_the_old_one,
    unknown_users_are_refused_or_provisioned,
    without_a_secret_the_endpoint_is_unavailable,
);

const SECRET: &str = "whsec_marketplace_test_5f1c2a9d7e";

struct Market {
    app: TestApp,
    store: DynStore,
    _engine: MockServer,
}

fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    vieagent::marketplace::signature_header(&SecretString::from(secret.to_string()), t, body)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Market {
    async fn start(backend: Backend) -> Self {
        Self::start_with(TestDb::new(backend).await, |_| {}).await
    }

    async fn start_with(db: TestDb, adjust: impl FnOnce(&mut vieagent::Config)) -> Self {
        let engine = crate::billing::engine(Duration::ZERO).await;
        let uri = engine.uri();
        let app = TestApp::spawn_with(db, |c| {
            c.engines.flowise.base_url = Some(uri.parse().expect("url"));
            c.marketplace.webhook_secret = Some(SecretString::from(SECRET));
            adjust(c);
        })
        .await;
        let store = app.store().await;
        Self {
            app,
            store,
            _engine: engine,
        }
    }

    async fn agent(&self, tool_name: &str) -> vieagent::store::Agent {
        self.store
            .create_agent(&NewAgent {
                name: format!("Agent {tool_name}"),
                tool_name: tool_name.into(),
                description: format!("Answers questions ({tool_name})"),
                engine_type: EngineType::Flowise,
                engine_flow_id: "flow-market".into(),
                input_schema: json!({
                    "type": "object",
                    "properties": {"question": {"type": "string", "minLength": 1}},
                    "required": ["question"],
                    "additionalProperties": false
                }),
                required_credential_types: vec![],
                price_one_time: Some(Decimal::from_str("9.99").expect("price")),
                price_monthly: Some(Decimal::from_str("2.50").expect("price")),
                credits_per_call: 1,
                status: AgentStatus::Published,
                engine_config: json!({}),
                timeout_ms: None,
                charge_failed_calls: false,
                task_mode: Default::default(),
            })
            .await
            .expect("agent")
    }

    async fn user(&self, email: &str) -> (User, String) {
        let user = vieagent::accounts::create_user(
            self.store.as_ref(),
            email,
            None,
            Role::User,
            "free",
            100,
        )
        .await
        .expect("user");
        let (_, key) = vieagent::accounts::create_key(self.store.as_ref(), user.id, "k")
            .await
            .expect("key");
        (user, secrecy::ExposeSecret::expose_secret(&key).to_string())
    }

    async fn wait_for_tools(&self, n: u64) {
        for _ in 0..200 {
            let ready: Value = self
                .app
                .http
                .get(self.app.url("/readyz"))
                .send()
                .await
                .expect("readyz")
                .json()
                .await
                .expect("json");
            if ready["tools"].as_u64() == Some(n) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("catalog never reached {n} tools");
    }

    /// Deliver `body` as it is with `signature` (None: no header).
    async fn deliver(&self, body: &[u8], signature: Option<String>) -> (StatusCode, Value) {
        deliver_to(&self.app, body, signature).await
    }

    /// Deliver an event, signed now with the shared secret.
    async fn send(&self, event: &Value) -> (StatusCode, Value) {
        let body = serde_json::to_vec(event).expect("json");
        let t = now();
        self.deliver(&body, Some(sign(SECRET, t, &body))).await
    }

    async fn balance(&self, user: &User) -> i64 {
        self.store
            .credit_account(user.id)
            .await
            .expect("account")
            .balance
    }

    async fn entitlements(&self, user: &User) -> Vec<vieagent::store::Entitlement> {
        self.store
            .list_entitlements(user.id)
            .await
            .expect("entitlements")
    }
}

async fn deliver_to(app: &TestApp, body: &[u8], signature: Option<String>) -> (StatusCode, Value) {
    let mut req = app
        .http
        .post(app.url("/v1/marketplace/events"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(s) = signature {
        req = req.header("VieAgent-Signature", s);
    }
    let response = req.send().await.expect("deliver");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = response.text().await.expect("body");
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{text}");
    if !status.is_success() {
        assert_eq!(content_type, "application/problem+json", "{status}: {text}");
    }
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn grant(id: &str, email: &str, agent: &str, reference: &str) -> Value {
    json!({"id": id, "type": "entitlement.granted",
           "data": {"user_email": email, "agent": agent, "kind": "monthly", "reference": reference}})
}

async fn a_signed_grant_makes_the_tool_callable_and_a_revocation_stops_it(backend: Backend) {
    let m = Market::start(backend).await;
    let writer = m.agent("writer").await;
    m.wait_for_tools(1).await;
    let (ada, key) = m.user("ada@example.com").await;
    let (client, handler) = connect_http(&m.app.url(""), &key, Protocol::Session).await;
    let denied = call(&client, "writer", json!({"question": "hi"})).await;
    assert_eq!(denied.is_error, Some(true), "not bought yet");

    let event = grant("evt_grant_1", "Ada@Example.com", "writer", "order-1");
    let (status, first) = m.send(&event).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["replayed"], false);
    assert_eq!(first["user_id"], json!(ada.id));
    assert_eq!(first["outcome"]["kind"], "monthly");
    assert_eq!(first["outcome"]["reference"], "order-1");
    assert!(
        handler.wait_list_changed(Duration::from_secs(5)).await,
        "the buyer's session hears tools/list_changed"
    );
    let ok = call(&client, "writer", json!({"question": "hi"})).await;
    assert_eq!(
        ok.is_error,
        Some(false),
        "callable at once: {}",
        text_of(&ok)
    );

    // A redelivery: 200, the same outcome, no second grant.
    let (status, again) = m.send(&event).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["replayed"], true);
    assert_eq!(again["outcome"], first["outcome"]);
    assert_eq!(again["received_at"], first["received_at"]);
    let granted = m.entitlements(&ada).await;
    assert_eq!(granted.len(), 1, "one grant: {granted:?}");
    assert_eq!(granted[0].agent_id, writer.id);
    assert_eq!(granted[0].price, writer.price_monthly, "the agent's price");

    // The audit log names the marketplace.
    let audit = m.store.list_audit(None, 1000).await.expect("audit");
    let row = audit
        .iter()
        .find(|a| a.action == "marketplace.entitlement.granted")
        .expect("an audit row");
    assert_eq!(row.actor, "marketplace");
    assert_eq!(row.details["event_id"], "evt_grant_1");
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action.starts_with("marketplace."))
            .count(),
        1,
        "the replay wrote nothing"
    );

    // Revocation by the order's reference stops it.
    let revoke = json!({"id": "evt_revoke_1", "type": "entitlement.revoked",
        "data": {"user_id": ada.id, "agent": writer.id, "reference": "order-1"}});
    let (status, revoked) = m.send(&revoke).await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["outcome"]["revoked"], json!([granted[0].id]));
    assert!(
        handler.wait_list_changed(Duration::from_secs(5)).await,
        "and hears about the revocation"
    );
    let after = call(&client, "writer", json!({"question": "hi"})).await;
    assert_eq!(after.is_error, Some(true), "revoked: refused at once");
    assert!(text_of(&after).contains("revoked"), "{}", text_of(&after));
    let (status, again) = m.send(&revoke).await;
    assert_eq!(
        (status, again["replayed"].clone()),
        (StatusCode::OK, json!(true))
    );
    assert_eq!(again["outcome"], revoked["outcome"]);

    // A revocation naming no grant of this user: 422, not recorded.
    let unknown = json!({"id": "evt_revoke_2", "type": "entitlement.revoked",
        "data": {"user_id": ada.id, "agent": "writer", "reference": "order-404"}});
    let (status, problem) = m.send(&unknown).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "data.reference");
    assert!(
        m.store
            .get_marketplace_event("evt_revoke_2")
            .await
            .expect("read")
            .is_none()
    );
    client.cancel().await.ok();
}

async fn credits_are_added_once(backend: Backend) {
    let m = Market::start(backend).await;
    let (ada, _) = m.user("ada@example.com").await;
    let event = json!({"id": "evt_credits_1", "type": "credits.purchased",
        "data": {"user_email": "ada@example.com", "amount": 500, "reference": "order-7"}});
    let (status, first) = m.send(&event).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["outcome"]["balance_after"], 600);
    assert_eq!(m.balance(&ada).await, 600);
    let (status, again) = m.send(&event).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        (again["replayed"].clone(), again["outcome"].clone()),
        (json!(true), first["outcome"].clone())
    );
    assert_eq!(m.balance(&ada).await, 600, "no double credits");
    let ledger = m
        .store
        .list_ledger(ada.id, None, 100)
        .await
        .expect("ledger");
    assert_eq!(ledger[0].reason, "marketplace purchase order-7");
    assert_eq!(ledger.len(), 2, "signup + one purchase");
    // A non-positive amount is refused.
    let bad = json!({"id": "evt_credits_2", "type": "credits.purchased",
        "data": {"user_id": ada.id, "amount": 0, "reference": "order-8"}});
    let (status, problem) = m.send(&bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(m.balance(&ada).await, 600);
}

async fn twenty_concurrent_deliveries_apply_once(backend: Backend) {
    let m = Market::start(backend).await;
    m.agent("writer").await;
    let (ada, _) = m.user("ada@example.com").await;
    for event in [
        json!({"id": "evt_many_credits", "type": "credits.purchased",
               "data": {"user_id": ada.id, "amount": 50, "reference": "order-20"}}),
        grant("evt_many_grant", "ada@example.com", "writer", "order-21"),
    ] {
        let body = serde_json::to_vec(&event).expect("json");
        let signature = sign(SECRET, now(), &body);
        let deliveries = (0..20).map(|_| m.deliver(&body, Some(signature.clone())));
        let answers = futures::future::join_all(deliveries).await;
        let outcomes: Vec<&Value> = answers
            .iter()
            .map(|(status, body)| {
                assert_eq!(*status, StatusCode::OK, "{body}");
                &body["outcome"]
            })
            .collect();
        assert!(
            outcomes.iter().all(|o| *o == outcomes[0]),
            "one outcome: {outcomes:?}"
        );
        assert_eq!(
            answers
                .iter()
                .filter(|(_, b)| b["replayed"] == false)
                .count(),
            1,
            "applied by one delivery"
        );
    }
    assert_eq!(m.balance(&ada).await, 150, "credited once");
    assert_eq!(m.entitlements(&ada).await.len(), 1, "granted once");
}

async fn refused_events_change_nothing(backend: Backend) {
    let m = Market::start(backend).await;
    m.agent("writer").await;
    let (ada, _) = m.user("ada@example.com").await;
    let event = grant("evt_refused", "ada@example.com", "writer", "order-9");
    let body = serde_json::to_vec(&event).expect("json");
    let t = now();
    let good = sign(SECRET, t, &body);
    let tag = good.split_once(",v1=").expect("v1").1.to_string();
    let cases: Vec<(&str, Vec<u8>, Option<String>, StatusCode)> = vec![
        ("no header", body.clone(), None, StatusCode::UNAUTHORIZED),
        (
            "another secret",
            body.clone(),
            Some(sign("not-the-shared-secret-1234", t, &body)),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "a changed body",
            serde_json::to_vec(&grant(
                "evt_refused",
                "ada@example.com",
                "writer",
                "order-10",
            ))
            .expect("json"),
            Some(good.clone()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "an old timestamp",
            body.clone(),
            Some(sign(SECRET, t - 301, &body)),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "a future timestamp",
            body.clone(),
            Some(sign(SECRET, t + 301, &body)),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "the tag under another timestamp",
            body.clone(),
            Some(format!("t={},v1={tag}", t - 1)),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "garbage header",
            body.clone(),
            Some("v1=zz,t=x".into()),
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (why, body, signature, expected) in cases {
        let (status, problem) = m.deliver(&body, signature).await;
        assert_eq!(status, expected, "{why}: {problem}");
        assert!(
            !problem.to_string().contains(SECRET),
            "{why}: the secret is never echoed"
        );
    }
    // Well signed, but wrong inside.
    let bodies: Vec<(&str, Vec<u8>, StatusCode)> = vec![
        ("not JSON", b"{\"id\": ".to_vec(), StatusCode::BAD_REQUEST),
        (
            "no data",
            br#"{"id":"evt_x","type":"credits.purchased"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "an unknown type",
            serde_json::to_vec(&json!({"id": "evt_x", "type": "refund.issued", "data": {}}))
                .expect("json"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "a malformed grant",
            serde_json::to_vec(&json!({"id": "evt_x", "type": "entitlement.granted",
                "data": {"user_email": "ada@example.com", "agent": "writer", "kind": "forever", "reference": "r"}}))
            .expect("json"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "an unknown agent",
            serde_json::to_vec(&grant("evt_x", "ada@example.com", "nope", "r")).expect("json"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "amount as text",
            serde_json::to_vec(&json!({"id": "evt_x", "type": "credits.purchased",
                "data": {"user_email": "ada@example.com", "amount": "lots", "reference": "r"}}))
            .expect("json"),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (why, body, expected) in bodies {
        let signature = sign(SECRET, now(), &body);
        let (status, problem) = m.deliver(&body, Some(signature)).await;
        assert_eq!(status, expected, "{why}: {problem}");
    }
    assert!(m.entitlements(&ada).await.is_empty(), "nothing granted");
    assert_eq!(m.balance(&ada).await, 100, "nothing credited");
    for id in ["evt_refused", "evt_x"] {
        assert!(
            m.store
                .get_marketplace_event(id)
                .await
                .expect("read")
                .is_none(),
            "{id} not recorded"
        );
    }
    // The refused event, delivered well, is applied.
    let (status, applied) = m.deliver(&body, Some(sign(SECRET, now(), &body))).await;
    assert_eq!(
        (status, applied["replayed"].clone()),
        (StatusCode::OK, json!(false))
    );
}

async fn a_rotated_secret_is_accepted_beside_the_old_one(backend: Backend) {
    let m = Market::start(backend).await;
    let (ada, _) = m.user("ada@example.com").await;
    let body = serde_json::to_vec(&json!({"id": "evt_rotation", "type": "credits.purchased",
        "data": {"user_id": ada.id, "amount": 5, "reference": "order-r"}}))
    .expect("json");
    let t = now();
    let old = sign("the-retired-secret-0000", t, &body);
    let new = sign(SECRET, t, &body);
    let header = format!("{old},v1={}", new.split_once(",v1=").expect("v1").1);
    let (status, answer) = m.deliver(&body, Some(header)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(m.balance(&ada).await, 105);
}

async fn unknown_users_are_refused_or_provisioned(backend: Backend) {
    let m = Market::start(backend).await;
    m.agent("writer").await;
    let event = grant("evt_newcomer", "newcomer@example.com", "writer", "order-n");
    let (status, problem) = m.send(&event).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "data.user_email");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("auto_provision"),
        "{problem}"
    );
    assert!(
        m.store
            .get_user_by_email("newcomer@example.com")
            .await
            .expect("read")
            .is_none(),
        "no user created"
    );
    assert!(
        m.store
            .get_marketplace_event("evt_newcomer")
            .await
            .expect("read")
            .is_none(),
        "not consumed"
    );
    let by_id = json!({"id": "evt_ghost", "type": "credits.purchased",
        "data": {"user_id": uuid::Uuid::new_v4(), "amount": 5, "reference": "r"}});
    let (status, _) = m.send(&by_id).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Once the account exists, the same event is applied.
    let (newcomer, _) = m.user("newcomer@example.com").await;
    let (status, applied) = m.send(&event).await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert_eq!(applied["user_id"], json!(newcomer.id));

    // With auto_provision, an unknown email becomes a user.
    let db = TestDb::new(backend).await;
    let p = Market::start_with(db, |c| {
        let oidc: vieagent::config::OidcConfig =
            toml::from_str("issuer = \"http://127.0.0.1:9/issuer\"\nauto_provision = true")
                .expect("oidc config");
        c.auth.oidc = Some(oidc);
    })
    .await;
    p.agent("writer").await;
    // …but never by an event that is refused: nothing is created.
    for refused in [
        json!({"id": "evt-ghost-grant", "type": "entitlement.granted", "data": {
            "user_email": "ghost@example.com", "agent": "no_such_agent",
            "kind": "monthly", "reference": "r-ghost"}}),
        json!({"id": "evt-ghost-revoke", "type": "entitlement.revoked", "data": {
            "user_email": "ghost@example.com", "agent": "writer", "reference": "r-ghost"}}),
    ] {
        let (status, problem) = p.send(&refused).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    }
    assert!(
        p.store
            .get_user_by_email("ghost@example.com")
            .await
            .expect("read")
            .is_none(),
        "a refused event provisions no one"
    );
    let (status, applied) = p.send(&event).await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    let user = p
        .store
        .get_user_by_email("newcomer@example.com")
        .await
        .expect("read")
        .expect("provisioned");
    assert_eq!(applied["user_id"], json!(user.id));
    assert_eq!(p.balance(&user).await, 100, "signup credits");
    assert_eq!(p.entitlements(&user).await.len(), 1);
}

async fn without_a_secret_the_endpoint_is_unavailable(backend: Backend) {
    let m = Market::start_with(TestDb::new(backend).await, |c| {
        c.marketplace.webhook_secret = None;
    })
    .await;
    let body = br#"{"id":"e","type":"credits.purchased","data":{}}"#;
    let (status, problem) = m.deliver(body, Some(sign(SECRET, now(), body))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("marketplace.webhook_secret"),
        "{problem}"
    );
}

/// Two replicas on one PostgreSQL database: an event applied through one
/// reaches the other's cached entitlements and its MCP sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_change_through_one_replica_reaches_the_other() {
    let m = Market::start(Backend::Postgres).await;
    m.agent("writer").await;
    m.wait_for_tools(1).await;
    let (_ada, key) = m.user("ada@example.com").await;
    let engine = crate::billing::engine(Duration::ZERO).await;
    let uri = engine.uri();
    let master_key = m.app.db.master_key.clone();
    let other = TestApp::spawn_with(TestDb::at(Backend::Postgres, m.app.db.url.clone()), |c| {
        c.engines.flowise.base_url = Some(uri.parse().expect("url"));
        c.master_key = Some(SecretString::from(master_key));
        c.auth_cache_ttl = Duration::from_secs(600);
    })
    .await;
    let (client, handler) = connect_http(&other.url(""), &key, Protocol::Session).await;
    // Replica B caches "not bought".
    let denied = call(&client, "writer", json!({"question": "hi"})).await;
    assert_eq!(denied.is_error, Some(true));
    // Replica A applies the grant.
    let (status, applied) = m
        .send(&grant(
            "evt_replica",
            "ada@example.com",
            "writer",
            "order-x",
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert!(
        handler.wait_list_changed(Duration::from_secs(5)).await,
        "the session on the other replica hears tools/list_changed"
    );
    let ok = call(&client, "writer", json!({"question": "hi"})).await;
    assert_eq!(
        ok.is_error,
        Some(false),
        "the other replica's cache was dropped: {}",
        text_of(&ok)
    );
    client.cancel().await.ok();
}

/// The secret is in no log line of a real `vieagent serve` at trace
/// level, whatever is delivered, nor in the configuration dump.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_never_reaches_the_logs() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    let (ada, _) = crate::helpers::user_with_key(&store, "ada@example.com", 10).await;
    let env = [
        ("VIEAGENT_DATABASE_URL", db.url.as_str()),
        ("VIEAGENT_MASTER_KEY", db.master_key.as_str()),
        ("VIEAGENT_DEMO", "false"),
        ("VIEAGENT_LOG_LEVEL", "trace"),
        ("VIEAGENT_MARKETPLACE_WEBHOOK_SECRET", SECRET),
    ];
    let server = crate::helpers::ServerProcess::start(db.dir.path(), &env).await;
    let http = reqwest::Client::new();
    let post = |body: Vec<u8>, signature: String| {
        http.post(server.url("/v1/marketplace/events"))
            .header("VieAgent-Signature", signature)
            .body(body)
            .send()
    };
    let event = json!({"id": "evt_logs", "type": "credits.purchased",
        "data": {"user_id": ada.id, "amount": 5, "reference": "order-l"}});
    let body = serde_json::to_vec(&event).expect("json");
    let good = post(body.clone(), sign(SECRET, now(), &body))
        .await
        .expect("post");
    assert_eq!(good.status(), StatusCode::OK);
    // Refused deliveries: a wrong tag, a stale one.
    for signature in [
        format!("t={},v1={}", now(), hex::encode(SECRET)),
        sign(SECRET, now() - 600, &body),
    ] {
        let bad = post(body.clone(), signature).await.expect("post");
        assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
        assert!(!bad.text().await.expect("body").contains(SECRET));
    }
    let mut config = vieagent::Config::default();
    config.marketplace.webhook_secret = Some(SecretString::from(SECRET));
    let shown = format!("{} {config:?}", config.redacted());
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains("webhook_secret = \"<redacted>\""), "{shown}");
    let logs = server.log.lock().expect("log").clone();
    assert!(
        logs.contains("marketplace event applied") && logs.contains("TRACE"),
        "trace logs captured: {logs}"
    );
    assert!(!logs.contains(SECRET), "the secret in the logs:\n{logs}");
}
