//! The quickstart demo: on a fresh embedded database (or with `serve --demo`)
//! the gateway seeds one published agent served by the built-in echo engine,
//! and — when there are no users yet — a demo user whose API key is printed
//! once, so an MCP client can connect and call a tool within a minute.

use secrecy::ExposeSecret;

use crate::accounts;
use crate::config::Config;
use crate::engines::demo::{demo_engine_config, demo_input_schema};
use crate::error::Result;
use crate::store::{AgentFilter, AgentStatus, EngineType, NewAgent, Role, Store};

pub const DEMO_TOOL: &str = "demo_echo";
pub const DEMO_USER: &str = "demo@localhost";

pub async fn seed_if_wanted(config: &Config, store: &dyn Store) -> Result<()> {
    let wanted = match config.demo {
        Some(wanted) => wanted,
        None => {
            config.is_embedded()
                && store
                    .list_agents(&AgentFilter {
                        limit: Some(1),
                        ..AgentFilter::default()
                    })
                    .await?
                    .is_empty()
        }
    };
    if !wanted {
        return Ok(());
    }
    if store.get_agent_by_tool_name(DEMO_TOOL).await?.is_none() {
        store
            .create_agent(&NewAgent {
                name: "Demo: echo".into(),
                tool_name: DEMO_TOOL.into(),
                description: "DEMO agent, served by the gateway's built-in echo engine (no Flowise or \
                              Activepieces needed): returns the message you send. Use it to check your \
                              MCP client setup."
                    .into(),
                engine_type: EngineType::Flowise,
                engine_flow_id: "builtin-demo-echo".into(),
                input_schema: demo_input_schema(),
                required_credential_types: Vec::new(),
                price_one_time: None,
                price_monthly: None,
                credits_per_call: 0,
                status: AgentStatus::Published,
                engine_config: demo_engine_config(),
                timeout_ms: None,
                charge_failed_calls: false,
                task_mode: Default::default(),
            })
            .await?;
        tracing::info!(tool = DEMO_TOOL, "seeded the demo agent");
    }
    if store.list_users().await?.is_empty() {
        let user = accounts::create_user(
            store,
            DEMO_USER,
            Some("Demo user".into()),
            Role::Admin,
            "demo",
            config.billing.signup_credits,
        )
        .await?;
        let (_, key) = accounts::create_key(store, user.id, "demo").await?;
        // With `catalog.toolbox = "chosen"` the demo user's assistant sees
        // the demo tool too, not only the discovery tools.
        if let Some(demo) = store.get_agent_by_tool_name(DEMO_TOOL).await? {
            store
                .add_to_toolbox(user.id, crate::store::toolbox::TOOLBOX, demo.id)
                .await?;
        }
        let addr = config.listen;
        eprintln!(
            "\n==================================================================\n\
             VieAgent demo is ready: one tool, `{DEMO_TOOL}` (built-in echo engine).\n\
             Demo user {DEMO_USER} (admin) — API key, shown only once:\n\n    {}\n\n\
             MCP endpoint (streamable HTTP): http://{addr}/mcp\n\
             Legacy SSE endpoint:            http://{addr}/sse\n\
             Web app (sign in with the key): http://{addr}/app\n\
             Send the header  Authorization: Bearer <key>\n\
             More keys: vieagent keys create --user {DEMO_USER}\n\
             ==================================================================\n",
            key.expose_secret()
        );
    }
    Ok(())
}
