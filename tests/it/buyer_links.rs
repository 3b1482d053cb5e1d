//! A buyer has no administrator: every surface that refuses a priced call,
//! or one short of credits, says where to buy (the marketplace's pages,
//! `marketplace.agent_url` / `credits_url`) and never shows an admin
//! command — MCP `tools/list` and `tools/call`, `/v1`, and `/app`. Admins
//! still get the command. The sign-in page links to the marketplace's
//! sign-up.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use vieagent::store::Role;

use crate::billing::Billing;
use crate::helpers::Backend;
use crate::mcp_client::{Protocol, call, connect_http, text_of};
use crate::web::Browserless;

const AGENT_URL: &str = "https://vieagent.test/agents/{agent_id}?tool={tool}";
const CREDITS_URL: &str = "https://vieagent.test/credits";
const SIGNUP_URL: &str = "https://vieagent.test/signup";

/// No admin command of any kind.
fn no_admin_command(surface: &str, text: &str) {
    for command in [
        "vieagent ",
        "entitlements grant",
        "credits grant",
        "administrator",
    ] {
        assert!(
            !text.contains(command),
            "{surface} shows {command:?}: {text}"
        );
    }
}

crate::backend_tests!(priced_and_short_calls_say_where_to_buy_on_every_surface);

async fn priced_and_short_calls_say_where_to_buy_on_every_surface(backend: Backend) {
    let f = Billing::start_with(backend, Duration::ZERO, |c| {
        c.marketplace.agent_url = Some(AGENT_URL.into());
        c.marketplace.credits_url = Some(CREDITS_URL.parse().expect("url"));
        c.marketplace.signup_url = Some(SIGNUP_URL.parse().expect("url"));
    })
    .await;
    let premium = f.agent("premium", 1, None, Some("9.99"), false).await;
    f.agent("costly", 50, None, None, false).await;
    f.wait_for_tools(2).await;
    let (_buyer, key) = f.user("buyer@example.com", 10).await;
    let buy = format!("https://vieagent.test/agents/{}?tool=premium", premium.id);

    // MCP: the listing and the refusals name the marketplace's pages.
    let (client, _) =
        connect_http(&format!("http://{}", f.app.addr), &key, Protocol::Session).await;
    let listed = client.list_tools(None).await.expect("tools/list");
    let premium_tool = listed
        .tools
        .iter()
        .find(|t| t.name == "premium")
        .expect("listed, marked");
    let description = premium_tool.description.as_deref().unwrap_or_default();
    assert!(
        description.contains(&format!("buy it at {buy}")),
        "{description}"
    );
    no_admin_command("tools/list", description);
    let refused = call(&client, "premium", json!({"question": "hi"})).await;
    let said = text_of(&refused);
    assert!(said.contains(&format!("Buy it at {buy}")), "{said}");
    no_admin_command("tools/call (priced)", &said);
    let structured = refused.structured_content.expect("structured");
    assert_eq!(structured["error"]["buy_url"], buy);
    let short = call(&client, "costly", json!({"question": "hi"})).await;
    let said = text_of(&short);
    assert!(
        said.contains(&format!("Top up your credits at {CREDITS_URL}")),
        "{said}"
    );
    no_admin_command("tools/call (credits)", &said);
    client.cancel().await.expect("close");

    // /v1: the same.
    let (status, body) = f.invoke(&key, "premium", json!({"question": "hi"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    no_admin_command("/v1 invoke (priced)", &body.to_string());
    assert!(body.to_string().contains(&buy), "{body}");
    let (_, body) = f.invoke(&key, "costly", json!({"question": "hi"})).await;
    no_admin_command("/v1 invoke (credits)", &body.to_string());
    assert!(body.to_string().contains(CREDITS_URL), "{body}");

    // /app: buy and top-up buttons going to the marketplace with the way
    // back; the sign-in page offers the marketplace's sign-up.
    let mut web = Browserless::new(&format!("http://{}", f.app.addr));
    let login = web.get("/app/login").await;
    assert!(
        login.body.contains(&format!("href=\"{SIGNUP_URL}\"")),
        "{}",
        login.body
    );
    web.sign_in(&key).await;
    let back = |path: &str| {
        url::form_urlencoded::byte_serialize(format!("http://{}{path}", f.app.addr).as_bytes())
            .collect::<String>()
    };
    let tools = web.get("/app/tools").await;
    assert!(
        tools.body.contains(&format!(
            "href=\"{}&amp;return_to={}\"",
            buy,
            back("/app/tools")
        )),
        "{}",
        tools.body
    );
    assert!(
        tools.body.contains("Buy — 9.99 USD a month"),
        "{}",
        tools.body
    );
    let form = web.get("/app/tools/premium").await;
    assert!(
        form.body.contains(&back("/app/tools/premium")),
        "{}",
        form.body
    );
    let refused = web
        .post_and_follow(
            "/app/tools/premium",
            &[("_csrf", &form.csrf()), ("/question", "hi")],
        )
        .await;
    assert!(
        refused.body.contains("class=\"button buy\""),
        "{}",
        refused.body
    );
    no_admin_command("/app run (priced)", &refused.body);
    let form = web.get("/app/tools/costly").await;
    assert!(form.body.contains(CREDITS_URL), "{}", form.body);
    let short = web
        .post_and_follow(
            "/app/tools/costly",
            &[("_csrf", &form.csrf()), ("/question", "hi")],
        )
        .await;
    assert!(short.body.contains("Top up credits"), "{}", short.body);
    no_admin_command("/app run (credits)", &short.body);
    let credits = web.get("/app/credits").await;
    assert!(
        credits
            .body
            .contains(&format!("{CREDITS_URL}?return_to={}", back("/app/credits"))),
        "{}",
        credits.body
    );

    // An admin, over MCP: the command, as before.
    let admin = vieagent::accounts::create_user(
        f.store.as_ref(),
        "admin@example.com",
        None,
        Role::Admin,
        "free",
        10,
    )
    .await
    .expect("admin");
    let (_, admin_key) = vieagent::accounts::create_key(f.store.as_ref(), admin.id, "k")
        .await
        .expect("key");
    let admin_key = secrecy::ExposeSecret::expose_secret(&admin_key).to_string();
    let (client, _) = connect_http(
        &format!("http://{}", f.app.addr),
        &admin_key,
        Protocol::Session,
    )
    .await;
    let refused = call(&client, "premium", json!({"question": "hi"})).await;
    assert!(
        text_of(&refused).contains("vieagent entitlements grant --user admin@example.com"),
        "{}",
        text_of(&refused)
    );
    client.cancel().await.expect("close");
}
