//! The marketplace in the web app, over HTTP on both stores: `/app/catalog`
//! searches accent-insensitively ("tom tat" finds "Tóm tắt văn bản"), lists
//! every agent for an empty search and pages; *Add to my assistant* and
//! *Remove* (CSRF-checked posts, post/redirect/get) change what the Tools
//! page and `GET /v1/tools` show with `catalog.toolbox = "chosen"`, with a
//! notice in the reader's language that a crafted link cannot fake; an
//! unknown agent is a sentence, never an error's insides; `all` mode keeps
//! the Tools page as it was and offers no toolbox buttons. The same story
//! in a real browser is in `browser_buyer.rs`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use vieagent::config::ToolboxMode;
use vieagent::store::{AgentStatus, NewAgent};

use crate::helpers::{Backend, TestApp, TestDb, sample_agent};
use crate::web::Browserless;

crate::backend_tests!(
    the_marketplace_finds_adds_and_removes_agents,
    all_mode_keeps_the_tools_page_and_offers_no_toolbox_buttons,
);

/// An agent served by the built-in demo engine.
pub fn demo_agent(tool: &str, name: &str, description: &str) -> NewAgent {
    NewAgent {
        name: name.into(),
        description: description.into(),
        engine_config: json!({"builtin": "demo"}),
        input_schema: json!({"type": "object", "properties": {
            "message": {"type": "string", "title": "Message", "maxLength": 200}
        }, "required": ["message"]}),
        status: AgentStatus::Published,
        credits_per_call: 0,
        ..sample_agent(tool)
    }
}

/// The marketplace of these tests: Vietnamese agents, one needing an
/// OpenAI key, one priced, and `fillers` more (to make a second page).
pub fn market(fillers: usize) -> Vec<NewAgent> {
    let mut agents = vec![
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
        NewAgent {
            required_credential_types: vec!["openai".into()],
            ..demo_agent(
                "viet_email",
                "Viết email",
                "Soạn email công việc bằng mô hình của OpenAI.",
            )
        },
        NewAgent {
            price_one_time: Some("9.99".parse().expect("decimal")),
            ..demo_agent(
                "bao_cao",
                "Báo cáo thị trường",
                "Báo cáo thị trường hằng tuần.",
            )
        },
    ];
    for i in 1..=fillers {
        agents.push(demo_agent(
            &format!("mau_{i:02}"),
            &format!("Mẫu {i:02}"),
            "Tác tử mẫu để thử phân trang.",
        ));
    }
    agents
}

/// A server in `mode` with `agents` in its catalog, and a buyer's key.
pub async fn start(
    backend: Backend,
    mode: ToolboxMode,
    agents: &[NewAgent],
) -> (TestApp, vieagent::store::User, String) {
    let app = TestApp::spawn_with(TestDb::new(backend).await, |c| {
        c.catalog.toolbox = mode;
    })
    .await;
    let store = app.store().await;
    for agent in agents {
        store.create_agent(agent).await.expect("agent");
    }
    let (user, key) = app.user_with_key("buyer@example.com").await;
    // The catalog picks the agents up (notify or poll).
    for _ in 0..400 {
        let page: Value = app
            .http
            .get(app.url("/v1/agents?limit=50"))
            .bearer_auth(&key)
            .send()
            .await
            .expect("agents")
            .json()
            .await
            .expect("json");
        if page["agents"]
            .as_array()
            .is_some_and(|a| a.len() == agents.len())
        {
            return (app, user, key);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the catalog never held the test agents");
}

/// The tools `GET /v1/tools` shows the user.
async fn api_tools(app: &TestApp, key: &str) -> Vec<String> {
    let list: Value = app
        .http
        .get(app.url("/v1/tools?format=mcp"))
        .bearer_auth(key)
        .send()
        .await
        .expect("tools")
        .json()
        .await
        .expect("json");
    list["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_string())
        .collect()
}

/// The tool names of a page's cards, in order.
fn cards(body: &str) -> Vec<String> {
    body.split("<li class=\"card\" id=\"agent-")
        .skip(1)
        .map(|rest| rest[..rest.find('"').expect("id's end")].to_string())
        .collect()
}

/// One card's HTML.
fn card<'a>(body: &'a str, tool: &str) -> &'a str {
    let start = body
        .find(&format!("id=\"agent-{tool}\""))
        .unwrap_or_else(|| panic!("no card for {tool}: {body}"));
    let end = body[start..]
        .find("</li>")
        .map_or(body.len(), |e| start + e);
    &body[start..end]
}

fn base(app: &TestApp) -> String {
    format!("http://{}", app.addr)
}

async fn the_marketplace_finds_adds_and_removes_agents(backend: Backend) {
    let agents = market(9);
    let (app, user, key) = start(backend, ToolboxMode::Chosen, &agents).await;
    let mut web = Browserless::new(&base(&app));

    // Signed out: the sign-in page, nothing changed.
    let page = web.get("/app/catalog").await;
    assert_eq!(
        (page.status, page.location()),
        (StatusCode::SEE_OTHER, "/app/login")
    );
    web.sign_in(&key).await;

    // An empty toolbox: the Tools page says where to find agents; the
    // marketplace is in the navigation.
    let tools = web.get("/app/tools").await;
    assert_eq!(tools.status, StatusCode::OK);
    assert!(
        tools.body.contains("Your assistant has no agents yet."),
        "{}",
        tools.body
    );
    assert!(tools.body.contains("href=\"/app/catalog\""));
    assert!(
        tools
            .body
            .contains("<a href=\"/app/catalog\">Marketplace</a>"),
        "in the navigation: {}",
        tools.body
    );
    assert!(cards(&tools.body).is_empty());

    // An empty search lists every agent, by pages.
    let all = web.get("/app/catalog").await;
    assert_eq!(all.status, StatusCode::OK);
    assert!(all.body.contains("<title>Marketplace · VieAgent</title>"));
    assert!(all.body.contains("aria-current=\"page\">Marketplace</a>"));
    assert!(all.body.contains("<label for=\"q\">Search agents</label>"));
    assert!(all.body.contains("type=\"search\""), "{}", all.body);
    assert!(all.body.contains("All agents"));
    let first = cards(&all.body);
    assert_eq!(first.len(), 12, "{first:?}");
    let more = all
        .body
        .split("rel=\"next\"")
        .next()
        .and_then(|before| before.rsplit("href=\"").next())
        .map(|href| href[..href.find('"').expect("end")].replace("&amp;", "&"))
        .expect("a More results link");
    assert_eq!(more, "/app/catalog?cursor=12");
    assert!(all.body.contains("More results"));
    let next = web.get(&more).await;
    assert_eq!(next.status, StatusCode::OK);
    let second = cards(&next.body);
    assert_eq!(second.len(), 1, "{second:?}");
    assert!(!next.body.contains("rel=\"next\""), "the last page");
    assert!(next.body.contains("Back to the first results"));
    let mut every: Vec<String> = first.into_iter().chain(second).collect();
    every.sort();
    every.dedup();
    assert_eq!(every.len(), agents.len());
    // A made-up cursor: a sentence, no agents, no insides.
    let bad = web.get("/app/catalog?cursor=abc").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.body
            .contains("That page of results does not exist. Start the search again."),
        "{}",
        bad.body
    );
    assert!(!bad.body.contains("next_cursor"), "{}", bad.body);

    // Without accents: "tom tat" finds "Tóm tắt văn bản", and only it.
    let found = web.get("/app/catalog?q=tom+tat").await;
    assert_eq!(found.status, StatusCode::OK);
    assert_eq!(cards(&found.body), vec!["tom_tat_van_ban"]);
    assert!(
        found.body.contains("Results for “tom tat”"),
        "{}",
        found.body
    );
    assert!(
        found.body.contains("value=\"tom tat\""),
        "the search is kept"
    );
    let tom = card(&found.body, "tom_tat_van_ban");
    assert!(tom.contains("Tóm tắt văn bản"));
    assert!(tom.contains("Tóm tắt một đoạn văn bản dài thành vài câu."));
    assert!(tom.contains("Free"), "{tom}");
    assert!(
        tom.contains("href=\"/app/tools/tom_tat_van_ban\""),
        "its form"
    );
    assert!(tom.contains("action=\"/app/toolbox/add\""), "{tom}");
    assert!(tom.contains("Add to my assistant"), "{tom}");
    // With accents, and in other words of it, too.
    for q in ["T%C3%B3m+t%E1%BA%AFt", "van+ban+dai", "TOM"] {
        let page = web.get(&format!("/app/catalog?q={q}")).await;
        assert!(
            cards(&page.body).contains(&"tom_tat_van_ban".to_string()),
            "{q}: {:?}",
            cards(&page.body)
        );
    }
    let none = web.get("/app/catalog?q=khong+co+gi+nhu+vay").await;
    assert!(cards(&none.body).is_empty());
    assert!(
        none.body
            .contains("No agent matches “khong co gi nhu vay”. Try other words."),
        "{}",
        none.body
    );
    // What the cards say of price, purchase and keys.
    let priced = web.get("/app/catalog?q=bao+cao").await;
    let bao = card(&priced.body, "bao_cao");
    assert!(bao.contains("9.99 USD once"), "{bao}");
    assert!(bao.contains("Not yet"), "{bao}");
    let email = web.get("/app/catalog?q=email").await;
    let viet = card(&email.body, "viet_email");
    assert!(
        viet.contains("href=\"/app/credentials?provider=openai#add\""),
        "{viet}"
    );
    assert!(viet.contains("Connect openai"), "{viet}");
    app.db
        .put_credential(&app.store().await, &user, "openai", "sk-buyer-catalog-1")
        .await;
    let email = web.get("/app/catalog?q=email").await;
    assert!(
        card(&email.body, "viet_email").contains("openai ✓"),
        "{}",
        email.body
    );
    assert!(!email.body.contains("sk-buyer-catalog-1"));

    // A post without the CSRF token, or with another's, changes nothing.
    for token in [None, Some("forged")] {
        let mut pairs = vec![("tool", "tom_tat_van_ban"), ("back", "/app/catalog")];
        if let Some(t) = token {
            pairs.push(("_csrf", t));
        }
        let refused = web.post("/app/toolbox/add", &pairs).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        assert!(refused.body.contains("This form cannot be accepted"));
    }
    assert!(
        !api_tools(&app, &key)
            .await
            .contains(&"tom_tat_van_ban".into())
    );

    // Add, from the search: back to the same search, saying so.
    let csrf = found.csrf();
    let added = web
        .post(
            "/app/toolbox/add",
            &[
                ("_csrf", &csrf),
                ("tool", "tom_tat_van_ban"),
                ("back", "/app/catalog?q=tom+tat"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    assert_eq!(
        added.location(),
        "/app/catalog?q=tom+tat&added=tom_tat_van_ban"
    );
    let after = web.get(added.location()).await;
    assert!(
        after
            .body
            .contains("Added “Tóm tắt văn bản” to your assistant."),
        "{}",
        after.body
    );
    assert!(after.body.contains("role=\"status\""));
    let tom = card(&after.body, "tom_tat_van_ban");
    assert!(tom.contains("In your assistant"), "{tom}");
    assert!(tom.contains("action=\"/app/toolbox/remove\""), "{tom}");
    // The search's own form keeps its words.
    assert!(after.body.contains("value=\"tom tat\""));
    // Reloading the page changes nothing and says the same.
    let again = web.get(added.location()).await;
    assert_eq!(cards(&again.body), vec!["tom_tat_van_ban"]);

    // The Tools page lists it, with Remove; so does the assistant's list.
    let tools = web.get("/app/tools").await;
    assert_eq!(cards(&tools.body), vec!["tom_tat_van_ban"]);
    assert!(
        tools
            .body
            .contains("These are the agents your assistant sees."),
        "{}",
        tools.body
    );
    assert!(tools.body.contains("Find more agents in the marketplace"));
    assert!(card(&tools.body, "tom_tat_van_ban").contains("action=\"/app/toolbox/remove\""));
    let listed = api_tools(&app, &key).await;
    assert!(listed.contains(&"tom_tat_van_ban".into()), "{listed:?}");
    assert!(!listed.contains(&"dich_thuat".into()), "{listed:?}");
    assert!(listed.contains(&"search_agents".into()), "{listed:?}");

    // A notice is said only when true: a link cannot make the page claim
    // an agent was added, or name one that does not exist.
    let crafted = web
        .get("/app/tools?added=dich_thuat&removed=tom_tat_van_ban")
        .await;
    assert!(!crafted.body.contains("Added"), "{}", crafted.body);
    assert!(!crafted.body.contains("Removed"), "{}", crafted.body);
    let crafted = web.get("/app/catalog?added=%3Cb%3Enobody").await;
    assert!(!crafted.body.contains("nobody"));

    // Remove, from the Tools page: back there, empty again.
    let removed = web
        .post(
            "/app/toolbox/remove",
            &[
                ("_csrf", &csrf),
                ("tool", "tom_tat_van_ban"),
                ("back", "/app/tools"),
            ],
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert_eq!(removed.location(), "/app/tools?removed=tom_tat_van_ban");
    let tools = web.get(removed.location()).await;
    assert!(
        tools
            .body
            .contains("Removed “Tóm tắt văn bản” from your assistant."),
        "{}",
        tools.body
    );
    assert!(cards(&tools.body).is_empty());
    assert!(tools.body.contains("Your assistant has no agents yet."));
    assert!(
        !api_tools(&app, &key)
            .await
            .contains(&"tom_tat_van_ban".into())
    );

    // An unknown agent: a plain sentence, on the page the form came from;
    // another site is never where it goes back to.
    let unknown = web
        .post_and_follow(
            "/app/toolbox/add",
            &[
                ("_csrf", &csrf),
                ("tool", "khong_ton_tai"),
                ("back", "https://evil.example/app/catalog"),
            ],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert!(
        unknown
            .body
            .contains("That agent is not in the marketplace, so it could not be added."),
        "{}",
        unknown.body
    );
    assert!(unknown.body.contains("role=\"alert\""));
    for insides in [
        "khong_ton_tai",
        "no published agent",
        "vieagent ",
        "Error::",
    ] {
        assert!(
            !unknown.body.contains(insides),
            "{insides}: {}",
            unknown.body
        );
    }

    // In Vietnamese: the search, the buttons, the notices.
    let mut vi = Browserless::vietnamese(&base(&app));
    vi.sign_in(&key).await;
    let found = vi.get("/app/catalog?q=tom+tat").await;
    assert!(found.body.contains("<html lang=\"vi\">"));
    assert!(found.body.contains("<title>Chợ tác tử · VieAgent</title>"));
    assert!(found.body.contains("Tìm tác tử"), "{}", found.body);
    assert!(
        found.body.contains("Kết quả cho “tom tat”"),
        "{}",
        found.body
    );
    assert!(found.body.contains("Thêm vào trợ lý của tôi"));
    assert!(found.body.contains("Miễn phí"));
    let csrf = found.csrf();
    let added = vi
        .post_and_follow(
            "/app/toolbox/add",
            &[
                ("_csrf", &csrf),
                ("tool", "tom_tat_van_ban"),
                ("back", "/app/catalog?q=tom+tat"),
            ],
        )
        .await;
    assert!(
        added
            .body
            .contains("Đã thêm “Tóm tắt văn bản” vào trợ lý của bạn."),
        "{}",
        added.body
    );
    assert!(added.body.contains("Đã có trong trợ lý"));
    assert!(added.body.contains("Gỡ khỏi trợ lý"));
    let tools = vi.get("/app/tools").await;
    assert!(
        tools
            .body
            .contains("Đây là các tác tử mà trợ lý của bạn nhìn thấy."),
        "{}",
        tools.body
    );
    assert!(tools.body.contains("Tìm thêm tác tử trong chợ"));
    let unknown = vi
        .post_and_follow(
            "/app/toolbox/add",
            &[("_csrf", &csrf), ("tool", "khong_ton_tai")],
        )
        .await;
    assert!(
        unknown
            .body
            .contains("Tác tử này không có trong chợ nên chưa thêm được."),
        "{}",
        unknown.body
    );
    let removed = vi
        .post_and_follow(
            "/app/toolbox/remove",
            &[
                ("_csrf", &csrf),
                ("tool", "tom_tat_van_ban"),
                ("back", "/app/tools"),
            ],
        )
        .await;
    assert!(
        removed
            .body
            .contains("Đã gỡ “Tóm tắt văn bản” khỏi trợ lý của bạn."),
        "{}",
        removed.body
    );
    assert!(
        removed.body.contains("Trợ lý của bạn chưa có tác tử nào."),
        "{}",
        removed.body
    );
    // The language switcher comes back to the same search.
    let switched = vi
        .get("/app/lang/en?next=%2Fapp%2Fcatalog%3Fq%3Dtom%2Btat")
        .await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER);
    assert_eq!(switched.location(), "/app/catalog?q=tom+tat");
    let english = vi.get(switched.location()).await;
    assert!(english.body.contains("<html lang=\"en\">"));
    assert!(english.body.contains("Results for “tom tat”"));
    assert!(
        found
            .body
            .contains("href=\"/app/lang/en?next=%2Fapp%2Fcatalog%3Fq%3Dtom%2Btat\""),
        "the page's switcher keeps the search: {}",
        found.body
    );
}

async fn all_mode_keeps_the_tools_page_and_offers_no_toolbox_buttons(backend: Backend) {
    let agents = market(0);
    let (app, _user, key) = start(backend, ToolboxMode::All, &agents).await;
    let mut web = Browserless::new(&base(&app));
    web.sign_in(&key).await;

    // Every agent, as today, and a way to the marketplace.
    let tools = web.get("/app/tools").await;
    assert_eq!(cards(&tools.body).len(), agents.len(), "{}", tools.body);
    assert!(
        tools
            .body
            .contains("Your assistant sees every agent of the marketplace."),
        "{}",
        tools.body
    );
    assert!(tools.body.contains("Browse the marketplace"));
    assert!(!tools.body.contains("/app/toolbox/"), "{}", tools.body);

    // The marketplace searches, and says the assistant has them all.
    let found = web.get("/app/catalog?q=dich").await;
    assert_eq!(cards(&found.body), vec!["dich_thuat"]);
    assert!(
        found
            .body
            .contains("Your assistant can use every agent here."),
        "{}",
        found.body
    );
    assert!(!found.body.contains("/app/toolbox/"), "{}", found.body);
    assert!(!found.body.contains("Add to my assistant"));
    let listed = api_tools(&app, &key).await;
    assert_eq!(listed.len(), agents.len(), "{listed:?}");
}
