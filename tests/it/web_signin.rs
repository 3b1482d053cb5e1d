//! Signing in to `/app` with the marketplace account: OpenID Connect code +
//! PKCE against the real OpenID provider the OAuth tests start
//! (panva/oidc-provider), in Debian's headless Chromium. A first sign-in
//! provisions the user; a sign-in of an identity whose verified email is an
//! existing user's links it; a tampered `state` is refused and signs no one
//! in; signing out ends the gateway's session and goes on to the
//! provider's end-session endpoint.

use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::browser::{browser, chromedriver, screenshot};
use crate::helpers::{Backend, TestApp, TestDb};
use crate::oauth::Provider;
use crate::web::Browserless;

/// The gateway with web sign-in as a confidential client registered at the
/// provider (dynamic client registration, with the gateway's callback).
async fn gateway(provider: &Provider, auto_provision: bool) -> TestApp {
    let db = TestDb::new(Backend::Sqlite).await;
    let issuer = provider.issuer.clone();
    // The callback names the gateway's port: register once it is known.
    TestApp::spawn_at(db, |config, addr| {
        let base = format!("http://{addr}");
        let body = json!({
            "redirect_uris": [format!("{base}/app/signin/callback")],
            "post_logout_redirect_uris": [format!("{base}/app/login")],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": "openid email profile",
        });
        let issuer = issuer.clone();
        // A blocking registration inside the (sync) adjust: on its own thread.
        let client = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                reqwest::Client::new()
                    .post(format!("{issuer}/reg"))
                    .json(&body)
                    .send()
                    .await
                    .expect("register")
                    .json::<Value>()
                    .await
                    .expect("json")
            })
        })
        .join()
        .expect("registration thread");
        let id = client["client_id"].as_str().expect("client_id").to_string();
        let secret = client["client_secret"]
            .as_str()
            .expect("client_secret")
            .to_string();
        config.public_url = Some(base.parse().expect("url"));
        config.auth.oidc = Some(
            serde_json::from_value(json!({
                "issuer": provider.issuer,
                "auto_provision": auto_provision,
            }))
            .expect("oidc config"),
        );
        config.web.oidc = Some(
            serde_json::from_value(json!({"client_id": id, "client_secret": secret}))
                .expect("web oidc config"),
        );
    })
    .await
}

async fn login_as(provider: &Provider, sub: &str) {
    reqwest::Client::new()
        .post(format!("{}/test/login", provider.issuer))
        .json(&json!({"sub": sub}))
        .send()
        .await
        .expect("provider");
}

async fn signed_in_email(c: &fantoccini::Client) -> String {
    c.wait()
        .for_element(Locator::Css("ul.cards, main h1"))
        .await
        .expect("a page");
    match c.find(Locator::Css("span.who")).await {
        Ok(who) => who.text().await.expect("text"),
        Err(_) => panic!(
            "not signed in at {}: {}",
            c.current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default(),
            c.source().await.unwrap_or_default()
        ),
    }
}

#[tokio::test]
async fn marketplace_sign_in_provisions_links_and_refuses_a_tampered_state() {
    let provider = Provider::start().await;
    provider.account("sub-new", "new@example.com", true).await;
    provider.account("sub-old", "old@example.com", true).await;
    let app = gateway(&provider, true).await;
    let base = format!("http://{}", app.addr);
    let store = app.store().await;
    let (old, _) = app.user_with_key("old@example.com").await;
    let driver = chromedriver().await;

    // A first sign-in: the sign-in page offers the marketplace account;
    // back from the provider, a new user is provisioned and signed in.
    login_as(&provider, "sub-new").await;
    let c = browser(&driver, 1100, 900).await;
    c.goto(&format!("{base}/app/login")).await.expect("goto");
    screenshot(&c, "sign-in.png").await;
    c.find(Locator::Id("signin-marketplace"))
        .await
        .expect("the marketplace sign-in")
        .click()
        .await
        .expect("click");
    assert_eq!(signed_in_email(&c).await, "new@example.com");
    assert!(
        c.current_url()
            .await
            .expect("url")
            .as_str()
            .ends_with("/app/tools"),
        "on to the tools"
    );
    let new = store
        .user_by_identity(&provider.issuer, "sub-new")
        .await
        .expect("lookup")
        .expect("provisioned and linked");
    assert_eq!(new.email, "new@example.com");

    // Sign out: the gateway's session ends, then the provider's end-session
    // endpoint (with this client and the way back).
    c.find(Locator::Css("form.signout button"))
        .await
        .expect("sign out")
        .click()
        .await
        .expect("click");
    let mut after = c.current_url().await.expect("url");
    for _ in 0..100 {
        if after.as_str().starts_with(&provider.issuer) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        after = c.current_url().await.expect("url");
    }
    assert!(
        after.as_str().starts_with(&provider.issuer),
        "at the provider: {after} {}",
        c.source().await.unwrap_or_default()
    );
    assert!(
        after.as_str().contains("post_logout_redirect_uri"),
        "{after}"
    );
    c.goto(&format!("{base}/app/tools")).await.expect("goto");
    c.wait()
        .for_element(Locator::Id("signin-marketplace"))
        .await
        .expect("signed out of the gateway");
    c.close().await.expect("close");

    // A second sign-in of the same identity is the same user (no second
    // account), in a fresh browser.
    let c = browser(&driver, 1100, 900).await;
    c.goto(&format!("{base}/app/signin")).await.expect("goto");
    assert_eq!(signed_in_email(&c).await, "new@example.com");
    let again = store
        .get_user_by_email("new@example.com")
        .await
        .expect("lookup")
        .expect("the user");
    assert_eq!(again.id, new.id);
    c.close().await.expect("close");

    // A second identity, whose verified email is an existing user's: linked
    // to that user (a fresh browser: no session at the provider).
    login_as(&provider, "sub-old").await;
    let c = browser(&driver, 1100, 900).await;
    c.goto(&format!("{base}/app/signin?next=/app/credits"))
        .await
        .expect("goto");
    assert_eq!(signed_in_email(&c).await, "old@example.com");
    assert!(
        c.current_url()
            .await
            .expect("url")
            .as_str()
            .ends_with("/app/credits")
    );
    let linked = store
        .user_by_identity(&provider.issuer, "sub-old")
        .await
        .expect("lookup")
        .expect("linked");
    assert_eq!(linked.id, old.id);
    c.close().await.expect("close");

    // A tampered state: refused with a page that says so; nobody signed in.
    let mut web = Browserless::new(&base);
    let started = web.get("/app/signin").await;
    assert_eq!(started.status, StatusCode::SEE_OTHER);
    let authorize = reqwest::Url::parse(started.location()).expect("authorize url");
    assert!(authorize.as_str().starts_with(&provider.issuer));
    let params: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["response_type"], "code");
    assert!(params["scope"].split(' ').any(|s| s == "openid"));
    assert!(!params["nonce"].is_empty() && !params["state"].is_empty());
    let tampered = web
        .get(&format!(
            "/app/signin/callback?code=whatever&state={}x",
            params["state"]
        ))
        .await;
    assert_eq!(tampered.status, StatusCode::BAD_REQUEST);
    assert!(
        tampered.body.contains("could not be checked"),
        "{}",
        tampered.body
    );
    assert!(!web.has_cookie("vieagent_session"));
    // The sign-in cookie is gone too: the right state no longer works.
    let replay = web
        .get(&format!(
            "/app/signin/callback?code=whatever&state={}",
            params["state"]
        ))
        .await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert!(!web.has_cookie("vieagent_session"));
    // Without auto-provisioning, an unknown identity is not let in.
    let strict = gateway(&provider, false).await;
    provider
        .account("sub-stranger", "stranger@example.com", true)
        .await;
    login_as(&provider, "sub-stranger").await;
    let c = browser(&driver, 1100, 900).await;
    c.goto(&format!("http://{}/app/signin", strict.addr))
        .await
        .expect("goto");
    c.wait()
        .for_element(Locator::Css("main h1"))
        .await
        .expect("page");
    let page = c.source().await.expect("source");
    assert!(page.contains("cannot be used here yet"), "{page}");
    assert!(!page.contains("class=\"who\""), "nobody signed in");
    c.close().await.expect("close");
}
