//! OAuth 2.1: the gateway as a protected resource behind a real OpenID
//! provider (panva/oidc-provider, OpenID Certified, started here on
//! loopback from tests/oidc). Tokens come from the provider's real
//! authorization-code + PKCE flow (with the RFC 8707 `resource`), and, for
//! the hostile table, are minted by the provider harness with its own key or
//! forged. The Python SDK's OAuth client does the whole dance in
//! tests/python/test_oauth.py (run by .ci/run).

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE, WWW_AUTHENTICATE};
use serde_json::{Value, json};
use sha2::Digest;
use tokio::io::AsyncBufReadExt;
use uuid::Uuid;
use vieagent::store::{AgentStatus, EngineType, NewAgent, Role, UserPatch};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{Backend, TestApp, TestDb};

crate::backend_tests!(real_provider_tokens_act_for_the_mapped_user);

/// The OpenID provider harness (tests/oidc/provider.mjs), killed on drop.
pub struct Provider {
    pub issuer: String,
    http: reqwest::Client,
    _child: tokio::process::Child,
    _stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl Provider {
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// On a chosen port (0: any), so an issuer URL can be configured before
    /// the provider runs.
    pub async fn start_on(port: u16) -> Self {
        vieagent::install_crypto_provider();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "the OAuth tests need the OpenID provider: run `npm ci --prefix tests/oidc` (Node.js 20+); .ci/run does"
        );
        let mut child = tokio::process::Command::new("node")
            .arg("provider.mjs")
            .env("PORT", port.to_string())
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs (Node.js 20+ is needed for the OAuth tests)");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the OpenID provider starts within 30 s")
            .expect("read")
            .expect("the OpenID provider printed its issuer");
        let ready: Value = serde_json::from_str(&line).expect("json");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            issuer: ready["issuer"].as_str().expect("issuer").to_string(),
            http,
            _child: child,
            _stdout: lines,
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.http
            .post(format!("{}{path}", self.issuer))
            .json(&body)
            .send()
            .await
            .expect("provider")
            .json()
            .await
            .expect("json")
    }

    pub async fn account(&self, sub: &str, email: &str, verified: bool) {
        self.post(
            "/test/accounts",
            json!({"sub": sub, "email": email, "email_verified": verified}),
        )
        .await;
    }

    /// A token signed by the harness (`key`: signing, rotated, unpublished,
    /// none, hs256-public); `null` claims are left out.
    pub async fn mint(&self, claims: Value, key: &str) -> String {
        let v = self
            .post("/test/mint", json!({"claims": claims, "key": key}))
            .await;
        v["token"].as_str().expect("token").to_string()
    }

    pub async fn jwks(&self, control: Value) {
        self.post("/test/jwks", control).await;
    }

    pub async fn jwks_requests(&self) -> u64 {
        self.stat("jwks_requests").await
    }

    pub async fn introspections(&self) -> u64 {
        self.stat("introspections").await
    }

    async fn stat(&self, name: &str) -> u64 {
        let v: Value = self
            .http
            .get(format!("{}/test/stats", self.issuer))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("json");
        v[name].as_u64().expect("count")
    }

    /// A real access token: dynamic registration, then authorization code
    /// + PKCE (S256) with `resource`, signed in as `login`.
    pub async fn real_token(&self, login: &str, resource: &str, scope: &str) -> String {
        self.real_token_and_client(login, resource, scope).await.0
    }

    /// Revoke a token as the client it was issued to (RFC 7009).
    pub async fn revoke(&self, token: &str, client_id: &str) {
        let status = self
            .http
            .post(format!("{}/token/revocation", self.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("token", token)
                    .append_pair("client_id", client_id)
                    .finish(),
            )
            .send()
            .await
            .expect("revoke")
            .status();
        assert!(status.is_success(), "revocation: {status}");
    }

    /// [`Self::real_token`], and the id of the client it was issued to.
    pub async fn real_token_and_client(
        &self,
        login: &str,
        resource: &str,
        scope: &str,
    ) -> (String, String) {
        let redirect_uri = "http://127.0.0.1:9/callback";
        let client: Value = self
            .http
            .post(format!("{}/reg", self.issuer))
            .json(&json!({
                "redirect_uris": [redirect_uri],
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
                "scope": scope,
            }))
            .send()
            .await
            .expect("register")
            .json()
            .await
            .expect("json");
        let client_id = client["client_id"]
            .as_str()
            .unwrap_or_else(|| panic!("registration: {client}"))
            .to_string();
        let verifier = vieagent::portal::random_token().expect("random");
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()));
        let mut url = reqwest::Url::parse(&format!("{}/auth", self.issuer)).expect("url");
        url.query_pairs_mut()
            .append_pair("client_id", &client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", scope)
            .append_pair("resource", resource)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", "s1")
            .append_pair("login_hint", login);
        // The browser: follow redirects, keeping the provider's cookies.
        let mut cookies: Vec<(String, String)> = Vec::new();
        let mut next = url.to_string();
        let code = 'follow: {
            for _ in 0..20 {
                let cookie_header = cookies
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                let response = self
                    .http
                    .get(&next)
                    .header("cookie", cookie_header)
                    .send()
                    .await
                    .expect("authorize");
                for set in response.headers().get_all(SET_COOKIE) {
                    let pair = set
                        .to_str()
                        .expect("cookie")
                        .split(';')
                        .next()
                        .expect("pair");
                    if let Some((k, v)) = pair.split_once('=') {
                        cookies.retain(|(name, _)| name != k);
                        cookies.push((k.to_string(), v.to_string()));
                    }
                }
                let status = response.status();
                let location = response
                    .headers()
                    .get(LOCATION)
                    .unwrap_or_else(|| panic!("{status}: no redirect"))
                    .to_str()
                    .expect("location")
                    .to_string();
                let target = reqwest::Url::parse(&next)
                    .expect("url")
                    .join(&location)
                    .expect("join");
                if target.as_str().starts_with(redirect_uri) {
                    let code = target
                        .query_pairs()
                        .find(|(k, _)| k == "code")
                        .unwrap_or_else(|| panic!("no code in {target}"))
                        .1
                        .to_string();
                    break 'follow code;
                }
                next = target.to_string();
            }
            panic!("the authorization never came back");
        };
        let token: Value = self
            .http
            .post(format!("{}/token", self.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "authorization_code")
                    .append_pair("code", &code)
                    .append_pair("redirect_uri", redirect_uri)
                    .append_pair("client_id", &client_id)
                    .append_pair("code_verifier", &verifier)
                    .append_pair("resource", resource)
                    .finish(),
            )
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("json");
        let access = token["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("token response: {token}"))
            .to_string();
        (access, client_id)
    }
}

/// Every request the fake Flowise received: headers and body, as text.
type Seen = Arc<Mutex<Vec<String>>>;

async fn engine() -> (MockServer, Seen) {
    let server = MockServer::start().await;
    let seen: Seen = Arc::default();
    let record = seen.clone();
    Mock::given(method("POST"))
        .and(path_regex("^/api/v1/prediction/"))
        .respond_with(move |req: &Request| {
            record.lock().expect("lock").push(format!(
                "{:?} {}",
                req.headers,
                String::from_utf8_lossy(&req.body)
            ));
            ResponseTemplate::new(200).set_body_json(json!({"text": "answered"}))
        })
        .mount(&server)
        .await;
    (server, seen)
}

fn agent() -> NewAgent {
    NewAgent {
        name: "Ask".into(),
        tool_name: "ask".into(),
        description: "Answers".into(),
        engine_type: EngineType::Flowise,
        engine_flow_id: "flow-oauth".into(),
        input_schema: json!({"type": "object", "properties": {"question": {"type": "string"}}}),
        required_credential_types: vec![],
        price_one_time: None,
        price_monthly: None,
        credits_per_call: 1,
        status: AgentStatus::Published,
        engine_config: json!({}),
        timeout_ms: None,
        charge_failed_calls: false,
        task_mode: Default::default(),
    }
}

/// A gateway that accepts the provider's tokens, with one published agent.
async fn gateway(
    backend: Backend,
    provider: &Provider,
    engine: &MockServer,
    adjust: impl FnOnce(&mut vieagent::config::OidcConfig),
) -> TestApp {
    gateway_with(backend, provider, engine, adjust, |_| {}).await
}

/// [`gateway`], with the rest of the configuration adjusted too.
async fn gateway_with(
    backend: Backend,
    provider: &Provider,
    engine: &MockServer,
    adjust: impl FnOnce(&mut vieagent::config::OidcConfig),
    configure: impl FnOnce(&mut vieagent::Config),
) -> TestApp {
    let db = TestDb::new(backend).await;
    db.store()
        .await
        .create_agent(&agent())
        .await
        .expect("agent");
    let mut oidc: vieagent::config::OidcConfig = serde_json::from_value(json!({
        "issuer": provider.issuer,
    }))
    .expect("oidc config");
    adjust(&mut oidc);
    let uri = engine.uri();
    TestApp::spawn_with(db, move |c| {
        c.engines.flowise.base_url = Some(uri.parse().expect("url"));
        c.auth.oidc = Some(oidc);
        configure(c);
    })
    .await
}

async fn patch_user(store: &vieagent::store::DynStore, id: Uuid, patch: UserPatch) {
    store.update_user(id, &patch).await.expect("update user");
}

struct Reply {
    status: StatusCode,
    challenge: String,
    body: Value,
}

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> Reply {
    let mut request = app.http.get(app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    reply(request.send().await.expect("request")).await
}

async fn invoke(app: &TestApp, token: &str) -> Reply {
    let response = app
        .http
        .post(app.url("/v1/tools/ask/invoke"))
        .bearer_auth(token)
        .json(&json!({"arguments": {"question": "hi"}}))
        .send()
        .await
        .expect("invoke");
    reply(response).await
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let challenge = response
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().expect("ascii").to_string())
        .unwrap_or_default();
    let body = response.json().await.unwrap_or(Value::Null);
    Reply {
        status,
        challenge,
        body,
    }
}

async fn real_provider_tokens_act_for_the_mapped_user(backend: Backend) {
    let provider = Provider::start().await;
    let (engine, seen) = engine().await;
    let app = gateway(backend, &provider, &engine, |_| {}).await;
    let base = format!("http://{}", app.addr);
    let store = app.store().await;

    // Protected Resource Metadata, per endpoint (cross-origin reads: see
    // cors_answers_the_allowed_origins_only).
    for (well_known, resource) in [
        ("/.well-known/oauth-protected-resource", "/mcp"),
        ("/.well-known/oauth-protected-resource/mcp", "/mcp"),
        ("/.well-known/oauth-protected-resource/sse", "/sse"),
        ("/.well-known/oauth-protected-resource/v1", "/v1"),
    ] {
        let response = app.http.get(app.url(well_known)).send().await.expect("prm");
        assert_eq!(response.status(), 200, "{well_known}");
        let prm: Value = response.json().await.expect("json");
        assert_eq!(prm["resource"], format!("{base}{resource}"), "{prm}");
        assert_eq!(prm["authorization_servers"], json!([provider.issuer]));
        assert_eq!(
            prm["scopes_supported"],
            json!(["vieagent:tools", "vieagent:admin"])
        );
        assert_eq!(prm["bearer_methods_supported"], json!(["header"]));
    }

    // No credential: the challenge says where to get one, with no error
    // code, and the body speaks of signing in.
    for (path, resource) in [("/mcp", "/mcp"), ("/sse", "/sse"), ("/v1/tools", "/v1")] {
        let r = get(&app, path, None).await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(
            r.challenge,
            format!(
                "Bearer resource_metadata=\"{base}/.well-known/oauth-protected-resource{resource}\", scope=\"vieagent:tools\""
            ),
            "{path}"
        );
        let detail = r.body["detail"].as_str().expect("detail");
        assert!(detail.starts_with("sign-in required"), "{detail}");
        assert!(detail.contains("API key"), "{detail}");
    }
    // A key that does not work: the body says to sign in or use a valid key.
    let r = get(
        &app,
        "/v1/tools",
        Some("vak_nope_nope_nope_nope_nope_nope_nope_no"),
    )
    .await;
    assert_eq!(r.status, 401);
    let detail = r.body["detail"].as_str().expect("detail");
    assert!(
        detail.contains("invalid or revoked") && detail.contains("sign in"),
        "{detail}"
    );

    // An API key still works and never sees the OAuth challenge.
    let (bob, key) = app.user_with_key("bob@example.com").await;
    let r = get(&app, "/v1/tools", Some(&key)).await;
    assert_eq!(r.status, 200);
    assert!(r.challenge.is_empty());
    // A wrong API key is an invalid token.
    let r = get(&app, "/v1/tools", Some("vak_wrong")).await;
    assert_eq!(r.status, 401);
    assert!(
        r.challenge.contains("error=\"invalid_token\""),
        "{}",
        r.challenge
    );

    // A real token for bob's identity, through the authorization code flow.
    provider.account("bob-sub", "bob@example.com", true).await;
    let token = provider
        .real_token("bob-sub", &format!("{base}/mcp"), "vieagent:tools")
        .await;
    let r = invoke(&app, &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "success", "{}", r.body);
    let execution_id: Uuid = r.body["execution_id"]
        .as_str()
        .expect("execution id")
        .parse()
        .expect("uuid");
    let row = store
        .get_execution_log(execution_id)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(row.user_id, bob.id, "the journal row is the mapped user's");
    assert_eq!(
        store
            .user_by_identity(&provider.issuer, "bob-sub")
            .await
            .expect("identity")
            .map(|u| u.id),
        Some(bob.id)
    );
    let audit = store.list_audit(None, 50).await.expect("audit");
    let link = audit
        .iter()
        .find(|e| e.action == "identity.link")
        .expect("identity.link audited");
    assert_eq!(link.target_id.as_deref(), Some(bob.id.to_string().as_str()));
    assert_eq!(link.details["subject"], "bob-sub");
    // The engine never sees the client's token.
    let engine_saw = seen.lock().expect("lock").join("\n");
    assert!(!engine_saw.is_empty());
    assert!(!engine_saw.contains(&token));
    assert!(
        !engine_saw
            .to_lowercase()
            .contains("authorization: bearer ey")
    );

    // A token for another resource (a real one, from the same provider).
    let elsewhere = provider
        .real_token("bob-sub", "https://other.example/mcp", "vieagent:tools")
        .await;
    let r = get(&app, "/v1/tools", Some(&elsewhere)).await;
    assert_eq!(r.status, 401);
    assert!(
        r.challenge.contains("error=\"invalid_token\""),
        "{}",
        r.challenge
    );
    assert!(
        r.body["detail"]
            .as_str()
            .expect("detail")
            .contains("for another resource"),
        "{}",
        r.body
    );

    // No account for this email, and provisioning is off.
    provider
        .account("carol-sub", "carol@example.com", true)
        .await;
    let carol = provider
        .real_token("carol-sub", &format!("{base}/mcp"), "vieagent:tools")
        .await;
    let r = get(&app, "/v1/tools", Some(&carol)).await;
    // The token is good; the account is the problem: 403, no challenge
    // (a 401 would send the client round the sign-in loop).
    assert_eq!(r.status, 403);
    assert!(r.challenge.is_empty(), "{}", r.challenge);
    assert!(
        r.body["detail"]
            .as_str()
            .expect("detail")
            .contains("no gateway account for carol@example.com"),
        "{}",
        r.body
    );
    // An unverified email never links to the account that has it.
    provider
        .account("mallory-sub", "bob@example.com", false)
        .await;
    let mallory = provider
        .real_token("mallory-sub", &format!("{base}/mcp"), "vieagent:tools")
        .await;
    let r = get(&app, "/v1/tools", Some(&mallory)).await;
    assert_eq!(r.status, 403);
    assert!(
        r.body["detail"]
            .as_str()
            .expect("detail")
            .contains("not verified"),
        "{}",
        r.body
    );
    assert!(
        store
            .user_by_identity(&provider.issuer, "mallory-sub")
            .await
            .expect("read")
            .is_none()
    );

    // An identity whose token carries no email (as from Entra ID): refused
    // until an admin links it by hand; unlinking ends it at once.
    provider
        .post("/test/accounts", json!({"sub": "gus-sub"}))
        .await;
    let (gus, _) = app.user_with_key("gus@example.com").await;
    let gus_token = provider
        .real_token("gus-sub", &format!("{base}/mcp"), "vieagent:tools")
        .await;
    let r = get(&app, "/v1/tools", Some(&gus_token)).await;
    assert_eq!(r.status, 403);
    assert!(
        r.body["detail"]
            .as_str()
            .expect("detail")
            .contains("carries no email"),
        "{}",
        r.body
    );
    let (root, root_key) = app.user_with_key("root@example.com").await;
    patch_user(
        &store,
        root.id,
        UserPatch {
            role: Some(Role::Admin),
            ..UserPatch::default()
        },
    )
    .await;
    let identities = app.url(&format!("/admin/v1/users/{}/identities", gus.id));
    let link = json!({"issuer": provider.issuer, "subject": "gus-sub"});
    let response = app
        .http
        .post(&identities)
        .bearer_auth(&root_key)
        .json(&link)
        .send()
        .await
        .expect("link");
    assert_eq!(response.status(), 201);
    assert_eq!(get(&app, "/v1/tools", Some(&gus_token)).await.status, 200);
    let listed: Value = app
        .http
        .get(&identities)
        .bearer_auth(&root_key)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["items"][0]["subject"], "gus-sub", "{listed}");
    // The same identity cannot belong to two users.
    let response = app
        .http
        .post(app.url(&format!("/admin/v1/users/{}/identities", bob.id)))
        .bearer_auth(&root_key)
        .json(&link)
        .send()
        .await
        .expect("link again");
    assert_eq!(response.status(), 409);
    let response = app
        .http
        .delete(format!(
            "{identities}?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("issuer", &provider.issuer)
                .append_pair("subject", "gus-sub")
                .finish()
        ))
        .bearer_auth(&root_key)
        .send()
        .await
        .expect("unlink");
    assert_eq!(response.status(), 204);
    let r = get(&app, "/v1/tools", Some(&gus_token)).await;
    assert_eq!(r.status, 403);
    assert!(
        r.body["detail"]
            .as_str()
            .expect("detail")
            .contains("unlinked"),
        "{}",
        r.body
    );
    let actions: Vec<String> = store
        .list_audit(None, 100)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(
        actions.iter().any(|a| a == "identity.unlink"),
        "{actions:?}"
    );

    // An unlink sticks: the identity's verified email does not link it
    // again at its next sign-in; an admin's explicit link does.
    let (erin, _) = app.user_with_key("erin@example.com").await;
    provider.account("erin-sub", "erin@example.com", true).await;
    let erin_token = provider
        .real_token("erin-sub", &format!("{base}/mcp"), "vieagent:tools")
        .await;
    assert_eq!(get(&app, "/v1/tools", Some(&erin_token)).await.status, 200);
    let erin_identities = app.url(&format!("/admin/v1/users/{}/identities", erin.id));
    let response = app
        .http
        .delete(format!(
            "{erin_identities}?{}",
            url::form_urlencoded::Serializer::new(String::new())
                // A trailing slash more or less names the same issuer.
                .append_pair(
                    "issuer",
                    &format!("{}/", provider.issuer.trim_end_matches('/'))
                )
                .append_pair("subject", "erin-sub")
                .finish()
        ))
        .bearer_auth(&root_key)
        .send()
        .await
        .expect("unlink");
    assert_eq!(response.status(), 204);
    let fresh = provider
        .real_token("erin-sub", &format!("{base}/mcp"), "vieagent:tools")
        .await;
    for token in [&erin_token, &fresh] {
        let r = get(&app, "/v1/tools", Some(token)).await;
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(
            r.body["detail"]
                .as_str()
                .expect("detail")
                .contains("unlinked"),
            "{}",
            r.body
        );
    }
    assert!(
        store
            .user_by_identity(&provider.issuer, "erin-sub")
            .await
            .expect("read")
            .is_none(),
        "not re-linked by email"
    );
    let response = app
        .http
        .post(&erin_identities)
        .bearer_auth(&root_key)
        .json(&json!({"issuer": provider.issuer, "subject": "erin-sub"}))
        .send()
        .await
        .expect("link");
    assert_eq!(response.status(), 201);
    assert_eq!(get(&app, "/v1/tools", Some(&fresh)).await.status, 200);

    // A verified email alone never takes over an admin's account, nor an
    // account that signs in with another identity at this issuer already.
    provider.account("root-sub", "root@example.com", true).await;
    provider.account("bob2-sub", "bob@example.com", true).await;
    for (sub, why) in [
        ("root-sub", "administrator's"),
        ("bob2-sub", "another identity at this provider"),
    ] {
        let token = provider
            .real_token(sub, &format!("{base}/mcp"), "vieagent:tools")
            .await;
        let r = get(&app, "/v1/tools", Some(&token)).await;
        assert_eq!(r.status, 403, "{sub}: {}", r.body);
        let detail = r.body["detail"].as_str().expect("detail");
        assert!(
            detail.contains(why) && detail.contains("administrator can link"),
            "{detail}"
        );
        assert!(
            store
                .user_by_identity(&provider.issuer, sub)
                .await
                .expect("read")
                .is_none(),
            "{sub} not linked"
        );
    }

    // The admin API: the admin scope and an admin user, both.
    let admin_token = provider
        .real_token(
            "bob-sub",
            &format!("{base}/mcp"),
            "vieagent:tools vieagent:admin",
        )
        .await;
    let r = get(&app, "/admin/v1/users", Some(&admin_token)).await;
    assert_eq!(r.status, 403, "bob is not an admin: {}", r.body);
    patch_user(
        &store,
        bob.id,
        UserPatch {
            role: Some(Role::Admin),
            ..UserPatch::default()
        },
    )
    .await;
    let fresh_admin_token = provider
        .real_token(
            "bob-sub",
            &format!("{base}/mcp"),
            "vieagent:tools vieagent:admin",
        )
        .await;
    let r = get(&app, "/admin/v1/users", Some(&fresh_admin_token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = get(&app, "/admin/v1/users", Some(&token)).await;
    assert_eq!(r.status, 403, "a tools-only token on the admin API");
    assert!(
        r.challenge.contains("error=\"insufficient_scope\"")
            && r.challenge.contains("scope=\"vieagent:admin\""),
        "{}",
        r.challenge
    );

    // A disabled user's new tokens are refused.
    patch_user(
        &store,
        bob.id,
        UserPatch {
            disabled: Some(true),
            ..UserPatch::default()
        },
    )
    .await;
    let after = provider
        .real_token("bob-sub", &format!("{base}/mcp"), "vieagent:tools")
        .await;
    let r = get(&app, "/v1/tools", Some(&after)).await;
    assert_eq!(r.status, 403);
    assert!(r.challenge.is_empty(), "{}", r.challenge);
    assert!(
        r.body["detail"]
            .as_str()
            .expect("detail")
            .contains("disabled"),
        "{}",
        r.body
    );
}

/// Expect a refusal: status, the challenge's error code, and a reason.
async fn refused(app: &TestApp, token: &str, status: u16, code: &str, reason: &str) {
    let r = get(app, "/v1/tools", Some(token)).await;
    assert_eq!(r.status.as_u16(), status, "{reason}: {}", r.body);
    assert!(
        r.challenge.starts_with("Bearer ")
            && r.challenge.contains(&format!("error=\"{code}\""))
            && r.challenge.contains("resource_metadata=\""),
        "{reason}: {}",
        r.challenge
    );
    let detail = r.body["detail"].as_str().expect("detail");
    assert!(detail.contains(reason), "{reason}: {detail}");
    assert!(!detail.contains(token) && !r.challenge.contains(token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_tokens_are_refused_with_the_right_challenge() {
    let provider = Provider::start().await;
    let (engine, seen) = engine().await;
    let app = gateway(Backend::Sqlite, &provider, &engine, |o| {
        o.auto_provision = true;
    })
    .await;
    let store = app.store().await;
    let base = format!("http://{}", app.addr);
    let aud = format!("{base}/mcp");
    provider.account("dave-sub", "dave@example.com", true).await;
    let now = chrono::Utc::now().timestamp();
    let claims = |extra: Value| {
        let mut c = json!({
            "sub": "dave-sub", "aud": aud, "scope": "vieagent:tools",
            "email": "dave@example.com", "email_verified": true,
        });
        for (k, v) in extra.as_object().expect("object") {
            c[k] = v.clone();
        }
        c
    };

    // The control: a well-formed token works (and provisions dave).
    let good = provider.mint(claims(json!({})), "signing").await;
    let r = invoke(&app, &good).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let dave = store
        .get_user_by_email("dave@example.com")
        .await
        .expect("read")
        .expect("dave was provisioned");
    assert!(
        store
            .list_audit(None, 50)
            .await
            .expect("audit")
            .iter()
            .any(|e| e.action == "user.provision"
                && e.target_id.as_deref() == Some(dave.id.to_string().as_str()))
    );
    let jwks_before = provider.jwks_requests().await;
    let calls_before = seen.lock().expect("lock").len();

    let expired = provider
        .mint(
            claims(json!({"iat": now - 7200, "exp": now - 3600})),
            "signing",
        )
        .await;
    refused(&app, &expired, 401, "invalid_token", "has expired").await;
    let early = provider
        .mint(claims(json!({"nbf": now + 3600})), "signing")
        .await;
    refused(&app, &early, 401, "invalid_token", "not valid yet").await;
    let wrong_issuer = provider
        .mint(claims(json!({"iss": "https://evil.example"})), "signing")
        .await;
    refused(
        &app,
        &wrong_issuer,
        401,
        "invalid_token",
        "another authorization server",
    )
    .await;
    let wrong_audience = provider
        .mint(
            claims(json!({"aud": "https://other.example/mcp"})),
            "signing",
        )
        .await;
    refused(
        &app,
        &wrong_audience,
        401,
        "invalid_token",
        "for another resource",
    )
    .await;
    // Tampered: another subject's payload under dave's signature.
    let mut parts: Vec<String> = good.split('.').map(String::from).collect();
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(&claims(json!({"sub": "admin-sub", "exp": now + 600}))).expect("json"),
    );
    refused(&app, &parts.join("."), 401, "invalid_token", "signature").await;
    let none = provider.mint(claims(json!({})), "none").await;
    refused(
        &app,
        &none,
        401,
        "invalid_token",
        "not a well-formed signed JWT",
    )
    .await;
    let hs256 = provider.mint(claims(json!({})), "hs256-public").await;
    refused(
        &app,
        &hs256,
        401,
        "invalid_token",
        "only asymmetric signatures",
    )
    .await;
    let unknown_kid = provider.mint(claims(json!({})), "unpublished").await;
    refused(&app, &unknown_kid, 401, "invalid_token", "does not publish").await;
    let unknown_kid_again = provider
        .mint(claims(json!({"jti": "again"})), "unpublished")
        .await;
    refused(
        &app,
        &unknown_kid_again,
        401,
        "invalid_token",
        "does not publish",
    )
    .await;
    let no_scope = provider
        .mint(claims(json!({"scope": "openid email"})), "signing")
        .await;
    let r = get(&app, "/v1/tools", Some(&no_scope)).await;
    assert_eq!(r.status, 403);
    assert!(
        r.challenge.contains("error=\"insufficient_scope\"")
            && r.challenge.contains("scope=\"vieagent:tools\""),
        "{}",
        r.challenge
    );
    let no_exp = provider.mint(claims(json!({"exp": null})), "signing").await;
    refused(&app, &no_exp, 401, "invalid_token", "no exp claim").await;
    // A sender-constrained (DPoP) token: this gateway checks no proof of
    // possession, so it does not take one as a bearer token.
    let bound = provider
        .mint(
            claims(json!({"cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}})),
            "signing",
        )
        .await;
    refused(&app, &bound, 401, "invalid_token", "sender-constrained").await;
    // Not a bearer token's shape at all (or absurdly long).
    refused(&app, "not!a*token", 401, "invalid_token", "malformed").await;
    refused(&app, &"a".repeat(20_000), 401, "invalid_token", "malformed").await;
    patch_user(
        &store,
        dave.id,
        UserPatch {
            disabled: Some(true),
            ..UserPatch::default()
        },
    )
    .await;
    let disabled = provider
        .mint(claims(json!({"jti": "after-disable"})), "signing")
        .await;
    let r = get(&app, "/v1/tools", Some(&disabled)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body["detail"]
            .as_str()
            .expect("detail")
            .contains("disabled"),
        "{}",
        r.body
    );

    // Forged key ids did not make the gateway fetch the keys again (one
    // fetch per jwks_min_refresh), and nothing reached the engine.
    assert_eq!(provider.jwks_requests().await, jwks_before);
    assert_eq!(seen.lock().expect("lock").len(), calls_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jwks_outage_keeps_the_cached_keys_and_refuses_new_ones_clearly() {
    let provider = Provider::start().await;
    let (engine, _seen) = engine().await;
    // The issuer's keys down before the gateway starts: it fetches none.
    provider.jwks(json!({"down": true})).await;
    // Keys are stale at once and may be refetched at once, so every token
    // below tries the issuer.
    let app = gateway(Backend::Sqlite, &provider, &engine, |o| {
        o.auto_provision = true;
        o.jwks_max_age = Duration::from_millis(1);
        o.jwks_min_refresh = Duration::ZERO;
    })
    .await;
    let aud = format!("http://{}/mcp", app.addr);
    provider.account("erin-sub", "erin@example.com", true).await;
    let token = |n: u32| {
        json!({"sub": "erin-sub", "aud": aud, "scope": "vieagent:tools",
               "email": "erin@example.com", "email_verified": true, "jti": format!("t{n}")})
    };

    // No key was ever fetched: 503 with Retry-After, not a verdict on the token.
    let first = provider.mint(token(1), "signing").await;
    let r = app
        .http
        .get(app.url("/v1/tools"))
        .bearer_auth(&first)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"), "{:?}", r.headers());
    let body: Value = r.json().await.expect("json");
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("signing keys"),
        "{body}"
    );
    provider.jwks(json!({"down": false})).await;
    assert_eq!(get(&app, "/v1/tools", Some(&first)).await.status, 200);

    // Key rotation: a token with a newly published kid (ES256) works at once.
    provider.jwks(json!({"rotate": true})).await;
    let rotated = provider.mint(token(2), "rotated").await;
    assert_eq!(get(&app, "/v1/tools", Some(&rotated)).await.status, 200);

    // The JWKS endpoint goes down: the cached keys keep working...
    provider.jwks(json!({"down": true})).await;
    let tried = provider.jwks_requests().await;
    for (n, key) in [(3, "signing"), (4, "rotated")] {
        let t = provider.mint(token(n), key).await;
        let r = get(&app, "/v1/tools", Some(&t)).await;
        assert_eq!(r.status, 200, "{key}: {}", r.body);
    }
    assert!(
        provider.jwks_requests().await > tried,
        "the gateway did try the issuer (and failed)"
    );
    // ...and a kid it has never seen may be the issuer's new key, which it
    // cannot fetch now: 503 with Retry-After, not a 401 that would send the
    // assistant round the sign-in loop in the middle of a key rotation.
    let unknown = provider.mint(token(5), "unpublished").await;
    let r = app
        .http
        .get(app.url("/v1/tools"))
        .bearer_auth(&unknown)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert!(!r.headers().contains_key("www-authenticate"));
    let ready: Value = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["oidc"], "unreachable", "{ready}");
    // The issuer back: the same unknown kid is refused for what it is.
    provider.jwks(json!({"down": false})).await;
    refused(&app, &unknown, 401, "invalid_token", "does not publish").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn opaque_tokens_are_introspected() {
    let provider = Provider::start().await;
    let (engine, _seen) = engine().await;
    let db = TestDb::new(Backend::Sqlite).await;
    db.store()
        .await
        .create_agent(&agent())
        .await
        .expect("agent");
    let issuer = provider.issuer.clone();
    let uri = engine.uri();
    let app = TestApp::spawn_with(db, move |c| {
        c.engines.flowise.base_url = Some(uri.parse().expect("url"));
        // Every request asks the authorization server again.
        c.auth_cache_ttl = Duration::ZERO;
        c.auth.oidc = Some(
            serde_json::from_value(json!({
                "issuer": issuer,
                "auto_provision": true,
                "introspection": {
                    "client_id": "vieagent-gateway",
                    "client_secret": "gateway-introspection-secret",
                },
            }))
            .expect("oidc config"),
        );
    })
    .await;
    let base = format!("http://{}", app.addr);
    provider.account("fay-sub", "fay@example.com", true).await;
    provider.post("/test/format", json!({"opaque": true})).await;
    let (token, client_id) = provider
        .real_token_and_client("fay-sub", &format!("{base}/mcp"), "vieagent:tools")
        .await;
    assert!(!token.contains('.'), "an opaque token: {token}");

    let r = invoke(&app, &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let store = app.store().await;
    let fay = store
        .get_user_by_email("fay@example.com")
        .await
        .expect("read")
        .expect("provisioned from the introspection's email");
    let id: Uuid = r.body["execution_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    assert_eq!(
        store
            .get_execution_log(id)
            .await
            .expect("read")
            .expect("row")
            .user_id,
        fay.id
    );

    // An opaque token for another resource.
    let (elsewhere, _) = provider
        .real_token_and_client("fay-sub", "https://other.example/mcp", "vieagent:tools")
        .await;
    refused(
        &app,
        &elsewhere,
        401,
        "invalid_token",
        "for another resource",
    )
    .await;
    // Revoked at the authorization server: refused at the next request.
    provider.revoke(&token, &client_id).await;
    refused(&app, &token, 401, "invalid_token", "not active").await;
    // Junk is not active either.
    refused(
        &app,
        "not-a-token-at-all",
        401,
        "invalid_token",
        "not active",
    )
    .await;

    // A gateway without introspection says opaque tokens are not accepted,
    // and one with the wrong client secret cannot check them (503).
    let (fresh, _) = provider
        .real_token_and_client("fay-sub", &format!("{base}/mcp"), "vieagent:tools")
        .await;
    for (introspection, status, reason) in [
        (Value::Null, 401, "opaque tokens are not accepted"),
        (
            json!({"client_id": "vieagent-gateway", "client_secret": "wrong"}),
            503,
            "introspection endpoint answered 401",
        ),
    ] {
        let db = TestDb::new(Backend::Sqlite).await;
        let issuer = provider.issuer.clone();
        let audience = format!("{base}/mcp");
        let other = TestApp::spawn_with(db, move |c| {
            let mut oidc = json!({"issuer": issuer, "audience": audience});
            if !introspection.is_null() {
                oidc["introspection"] = introspection;
            }
            c.auth.oidc = Some(serde_json::from_value(oidc).expect("oidc config"));
        })
        .await;
        let r = get(&other, "/v1/tools", Some(&fresh)).await;
        assert_eq!(r.status.as_u16(), status, "{reason}: {}", r.body);
        assert!(
            r.body["detail"].as_str().expect("detail").contains(reason),
            "{reason}: {}",
            r.body
        );
    }
    // Refusals are remembered for auth_cache_ttl: the same junk or
    // wrong-audience token again does not ask the authorization server.
    let db = TestDb::new(Backend::Sqlite).await;
    let issuer = provider.issuer.clone();
    let cached = TestApp::spawn_with(db, move |c| {
        c.auth.oidc = Some(
            serde_json::from_value(json!({
                "issuer": issuer,
                "introspection": {
                    "client_id": "vieagent-gateway",
                    "client_secret": "gateway-introspection-secret",
                },
            }))
            .expect("oidc config"),
        );
    })
    .await;
    let before = provider.introspections().await;
    for _ in 0..3 {
        refused(&cached, "junk-token", 401, "invalid_token", "not active").await;
        refused(
            &cached,
            &elsewhere,
            401,
            "invalid_token",
            "for another resource",
        )
        .await;
    }
    assert_eq!(provider.introspections().await - before, 2);
}

/// A free loopback port (bound, then released).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A token-shaped JWT naming `kid`, signed by nobody: enough to make the
/// gateway look for its key.
fn unsigned_jwt(kid: &str) -> String {
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        b64(json!({"alg": "RS256", "typ": "JWT", "kid": kid})),
        b64(json!({"sub": "x", "aud": "y", "exp": 4_000_000_000u64})),
        "c2lnbmF0dXJl"
    )
}

async fn readyz(http: &reqwest::Client, url: String) -> Value {
    let r = http.get(url).send().await.expect("readyz");
    assert_eq!(r.status(), 200, "ready whatever the issuer does");
    r.json().await.expect("json")
}

/// The real binary started while its issuer is down: it serves API keys,
/// says so once in its log, answers tokens with 503 + Retry-After, shows
/// `"oidc": "unreachable"` in /readyz while staying ready, and once the
/// issuer comes up (found by the background retry, with no token asking)
/// accepts its tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issuer_unreachable_at_startup_serves_api_keys_and_recovers() {
    let (engine, _seen) = engine().await;
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    store.create_agent(&agent()).await.expect("agent");
    let (_, key) = crate::helpers::user_with_key(&store, "ivy@example.com", 1_000).await;
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let flowise = engine.uri();
    let server = crate::helpers::ServerProcess::start(
        db.dir.path(),
        &[
            ("VIEAGENT_DATABASE_URL", db.url.as_str()),
            ("VIEAGENT_MASTER_KEY", db.master_key.as_str()),
            ("VIEAGENT_FLOWISE_URL", flowise.as_str()),
            ("VIEAGENT_OIDC_ISSUER", issuer.as_str()),
        ],
    )
    .await;
    let http = reqwest::Client::new();

    // Started, and ready; the issuer is known to be unreachable.
    let mut ready = readyz(&http, server.url("/readyz")).await;
    for _ in 0..100 {
        if ready["oidc"] != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        ready = readyz(&http, server.url("/readyz")).await;
    }
    assert_eq!(ready["oidc"], "unreachable", "{ready}");
    // API keys work.
    let r = http
        .post(server.url("/v1/tools/ask/invoke"))
        .bearer_auth(&key)
        .json(&json!({"arguments": {"question": "hi"}}))
        .send()
        .await
        .expect("invoke");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    // A token cannot be checked: 503 with Retry-After, not 401.
    let r = http
        .get(server.url("/v1/tools"))
        .bearer_auth(unsigned_jwt("k1"))
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    // One clear warning naming the issuer and the error; it does not claim
    // cached keys are in use (there are none).
    let log = server.log();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("cannot reach the authorization server"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning, not one per try: {log}");
    assert!(
        warnings[0].contains(&issuer) && warnings[0].contains("no signing key is known yet"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[0].contains("Connection refused") || warnings[0].contains("connect"),
        "names the error: {}",
        warnings[0]
    );
    assert!(
        !log.contains("stay in use") && !log.contains("still accepted"),
        "{log}"
    );

    // The issuer comes up: the background retry finds it, no token needed.
    let provider = Provider::start_on(port).await;
    let mut ready = readyz(&http, server.url("/readyz")).await;
    for _ in 0..600 {
        if ready["oidc"] == "ok" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        ready = readyz(&http, server.url("/readyz")).await;
    }
    assert_eq!(ready["oidc"], "ok", "{ready}");
    assert!(server.log().contains("answers again"), "{}", server.log());
    provider.account("ivy-sub", "ivy@example.com", true).await;
    let token = provider
        .real_token("ivy-sub", &server.url("/mcp"), "vieagent:tools")
        .await;
    let r = http
        .get(server.url("/v1/tools"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("tools");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}

/// Browser-based MCP clients: preflights from an allowed origin are
/// answered without credentials, on every endpoint such a client uses;
/// responses expose the MCP and OAuth headers; other origins get no CORS
/// header at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cors_answers_the_allowed_origins_only() {
    let provider = Provider::start().await;
    let (engine, _seen) = engine().await;
    let allowed = "https://chat.example.com";
    let app = gateway_with(
        Backend::Sqlite,
        &provider,
        &engine,
        |_| {},
        |c| {
            c.mcp.allowed_origins = vec![allowed.into()];
        },
    )
    .await;
    let cors_headers = |h: &reqwest::header::HeaderMap| -> Vec<String> {
        h.keys()
            .map(|k| k.as_str().to_string())
            .filter(|k| k.starts_with("access-control-"))
            .collect()
    };
    for path in [
        "/mcp",
        "/sse",
        "/messages?sessionId=x",
        "/v1/tools",
        "/v1/tools/ask/invoke",
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let preflight = |origin: &'static str| {
            app.http
                .request(reqwest::Method::OPTIONS, app.url(path))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "authorization, content-type, mcp-protocol-version, mcp-session-id",
                )
                .send()
        };
        let r = preflight(allowed).await.expect("preflight");
        assert_eq!(r.status(), 204, "{path}");
        let h = r.headers();
        assert_eq!(h["access-control-allow-origin"], allowed, "{path}");
        let allow = h["access-control-allow-headers"].to_str().expect("ascii");
        for name in ["authorization", "mcp-session-id", "mcp-protocol-version"] {
            assert!(allow.contains(name), "{path}: {allow}");
        }
        assert!(
            h["access-control-allow-methods"]
                .to_str()
                .expect("ascii")
                .contains("DELETE")
        );
        assert!(!h.contains_key("access-control-allow-credentials"));
        let r = preflight("https://evil.example.com")
            .await
            .expect("preflight");
        assert!(
            cors_headers(r.headers()).is_empty(),
            "{path}: {:?}",
            r.headers()
        );
        assert_ne!(r.status(), 204, "{path}: not answered as a preflight");
    }
    // A real request from the allowed origin: the 401's challenge is readable.
    let r = app
        .http
        .post(app.url("/mcp"))
        .header("origin", allowed)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["access-control-allow-origin"], allowed);
    let exposed = r.headers()["access-control-expose-headers"]
        .to_str()
        .expect("ascii")
        .to_string();
    for name in ["mcp-session-id", "mcp-protocol-version", "www-authenticate"] {
        assert!(exposed.contains(name), "{exposed}");
    }
    // The same from elsewhere: no CORS headers (and the MCP endpoint refuses it).
    let r = app
        .http
        .post(app.url("/mcp"))
        .header("origin", "https://evil.example.com")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .expect("post");
    assert!(cors_headers(r.headers()).is_empty(), "{:?}", r.headers());
    let r = app
        .http
        .get(app.url("/.well-known/oauth-protected-resource/mcp"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .expect("prm");
    assert_eq!(r.status(), 200);
    assert!(cors_headers(r.headers()).is_empty(), "{:?}", r.headers());
}

/// `public_url` with a path (behind a proxy at `/vie`): the challenge points
/// to the RFC 9728 path-inserted metadata URL, which answers, as do the
/// appended forms; `extra_scopes` are asked for in the challenge and listed
/// in the metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_public_url_with_a_path_and_extra_scopes() {
    let provider = Provider::start().await;
    let db = TestDb::new(Backend::Sqlite).await;
    let issuer = provider.issuer.clone();
    let app = TestApp::spawn_with(db, move |c| {
        c.public_url = Some("https://gw.example.com/vie".parse().expect("url"));
        c.auth.oidc = Some(
            serde_json::from_value(json!({"issuer": issuer, "extra_scopes": "offline_access"}))
                .expect("oidc"),
        );
    })
    .await;
    for (path, resource) in [("/mcp", "/mcp"), ("/sse", "/sse"), ("/v1/tools", "/v1")] {
        let r = get(&app, path, None).await;
        assert_eq!(r.status, 401);
        assert_eq!(
            r.challenge,
            format!(
                "Bearer resource_metadata=\"https://gw.example.com/.well-known/oauth-protected-resource/vie{resource}\", scope=\"vieagent:tools offline_access\""
            )
        );
    }
    for (well_known, resource) in [
        ("/.well-known/oauth-protected-resource/vie/mcp", "/mcp"),
        ("/.well-known/oauth-protected-resource/vie", "/mcp"),
        ("/.well-known/oauth-protected-resource/vie/sse", "/sse"),
        ("/.well-known/oauth-protected-resource/vie/v1", "/v1"),
        ("/.well-known/oauth-protected-resource/mcp", "/mcp"),
    ] {
        let r = get(&app, well_known, None).await;
        assert_eq!(r.status, 200, "{well_known}");
        assert_eq!(
            r.body["resource"],
            format!("https://gw.example.com/vie{resource}"),
            "{well_known}"
        );
        assert_eq!(
            r.body["scopes_supported"],
            json!(["vieagent:tools", "vieagent:admin", "offline_access"])
        );
    }
}
