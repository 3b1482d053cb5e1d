//! The MCP server handler: written by hand because tools are dynamic (one per
//! published agent). Every transport uses this handler; calls go through
//! [`crate::calls`].

use std::sync::Arc;

use async_trait::async_trait;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, ContentBlock,
    GetTaskParams, GetTaskResult, Implementation, ListResourcesResult, ListToolsResult, MetaObject,
    PaginatedRequestParams, ProgressNotificationParam, ProgressToken, ReadResourceRequestParams,
    ReadResourceResponse, ResourcesCapability, ServerCapabilities, ServerConfig,
    SubscriptionFilter, Tool,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, Peer, RoleServer, ServerHandler};
use serde_json::{Value, json};

use super::list_cache::ToolsSlot;
use crate::auth::AuthUser;
use crate::calls::{self, CallError, CallRequest, Progress, ToolResult};
use crate::state::AppState;
use crate::store::User;
use crate::toolbox::Scope;

pub const INSTRUCTIONS: &str = "VieAgent Gateway: each tool is a marketplace agent that runs in a \
workflow engine (Flowise or Activepieces) with your own stored credentials. Tool arguments follow \
each tool's input schema. Failures come back as tool errors that say what to do (e.g. which \
credential to add).";

#[derive(Clone)]
pub struct GatewayHandler {
    state: AppState,
    /// stdio serves exactly one user, known at start.
    fixed_user: Option<Arc<User>>,
    /// stdio's toolset (`vieagent stdio --toolset`), known at start.
    fixed_toolset: Option<String>,
    transport: &'static str,
}

/// The toolset a request to `/mcp/t/{toolset}` names (a valid name: others
/// are 404 before they get here).
#[derive(Clone, Debug)]
pub struct ToolsetPath(pub String);

impl GatewayHandler {
    /// For HTTP transports: the user comes from each request's auth middleware.
    pub fn http(state: AppState, transport: &'static str) -> Self {
        Self {
            state,
            fixed_user: None,
            fixed_toolset: None,
            transport,
        }
    }

    /// For stdio: one user (and maybe one of their toolsets) for the whole
    /// session.
    pub fn stdio(state: AppState, user: Arc<User>, toolset: Option<String>) -> Self {
        Self {
            state,
            fixed_user: Some(user),
            fixed_toolset: toolset,
            transport: "stdio",
        }
    }

    /// What the request may see: the catalog or the user's toolbox (as
    /// `catalog.toolbox` says), or the toolset its address names.
    fn scope(&self, context: &RequestContext<RoleServer>) -> Scope {
        let toolset = self.fixed_toolset.clone().or_else(|| {
            context
                .extensions
                .get::<http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<ToolsetPath>())
                .map(|t| t.0.clone())
        });
        Scope::of(self.state.config(), toolset.as_deref())
    }

    fn user(&self, context: &RequestContext<RoleServer>) -> Option<Arc<User>> {
        if let Some(user) = &self.fixed_user {
            return Some(user.clone());
        }
        context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<AuthUser>())
            .map(|auth| auth.user.clone())
    }
}

struct McpProgress {
    peer: Peer<RoleServer>,
    token: ProgressToken,
}

#[async_trait]
impl Progress for McpProgress {
    async fn report(&self, progress: f64, total: u32, message: &str) {
        let param = ProgressNotificationParam::new(self.token.clone(), progress)
            .with_total(f64::from(total))
            .with_message(message);
        if let Err(e) = self.peer.notify_progress(param).await {
            tracing::debug!(error = %e, "progress notification not delivered");
        }
    }
}

/// A pipeline result as an MCP tool result: text content, structured
/// content (an object) and the execution id in `_meta`.
pub fn tool_result(result: ToolResult) -> CallToolResult {
    let mut out = if result.is_error {
        CallToolResult::error(vec![ContentBlock::text(result.text)])
    } else {
        CallToolResult::success(vec![ContentBlock::text(result.text)])
    };
    out.structured_content = Some(result.structured);
    if let Some(id) = result.execution_id {
        let mut meta = MetaObject::new();
        meta.0.insert(
            "io.vieagent/execution_id".into(),
            Value::String(id.to_string()),
        );
        meta.0.insert(
            "io.vieagent/credits_consumed".into(),
            json!(result.credits_consumed),
        );
        out.meta = Some(meta);
    }
    out
}

/// A call that could not be made, as MCP answers it: a protocol error for a
/// malformed request, a tool error (with when to retry) otherwise.
fn call_error(tool_name: &str, e: CallError) -> Result<CallToolResponse, McpError> {
    match e {
        // A tool error the assistant can act on: add the agent, call again.
        CallError::NotInScope { tool, scope } => {
            let message = CallError::NotInScope {
                tool: tool.clone(),
                scope: scope.clone(),
            }
            .to_string();
            let mut out = CallToolResult::error(vec![ContentBlock::text(message.clone())]);
            out.structured_content = Some(json!({
                "error": {
                    "kind": "not_in_toolbox",
                    "message": message,
                    "tool": tool,
                    "toolset": match scope { Scope::Toolset(name) => Some(name), _ => None },
                }
            }));
            Ok(out.into())
        }
        CallError::UnknownTool(name) => Err(McpError::invalid_params(
            format!(
                "unknown tool '{name}': it does not exist or is not published; call tools/list for the available tools"
            ),
            Some(json!({ "tool": name })),
        )),
        e @ CallError::ArgumentsNotObject => Err(McpError::invalid_params(e.to_string(), None)),
        e @ CallError::JournalUnavailable(_) => {
            tracing::error!(tool = %tool_name, error = %e, "call refused");
            Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                "{e}. Please try again shortly."
            ))])
            .into())
        }
        // Limits and shutdown: a tool error the assistant can relay, with
        // when to retry.
        e @ (CallError::Limited { .. } | CallError::ShuttingDown) => {
            let kind = match &e {
                CallError::Limited { refusal, .. } => refusal.kind(),
                _ => "shutting_down",
            };
            let retry_ms = e.retry_after().map_or(0, |d| d.as_millis());
            let mut out = CallToolResult::error(vec![ContentBlock::text(e.to_string())]);
            out.structured_content = Some(json!({
                "error": {"kind": kind, "message": e.to_string(), "retry_after_ms": retry_ms}
            }));
            let mut meta = MetaObject::new();
            meta.0
                .insert("io.vieagent/retry_after_ms".into(), json!(retry_ms));
            out.meta = Some(meta);
            Ok(out.into())
        }
    }
}

/// The version of a tool's agent, for its app's URI; `None` for a tool
/// that is no agent (the discovery tools have no app).
fn version(snapshot: &crate::catalog::Snapshot, tool: &Tool) -> Option<i64> {
    snapshot
        .get(&tool.name)
        .map(|entry| super::apps::version_of(&entry.agent))
}

impl GatewayHandler {
    /// The tools `user` sees now.
    async fn visible(
        &self,
        user: &User,
        scope: &Scope,
        what: &str,
    ) -> Result<Arc<Vec<Tool>>, McpError> {
        crate::calls::visible_tools(self.state.calls(), user, scope)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "{what}: entitlements unavailable");
                McpError::internal_error("the tool catalog is unavailable; try again shortly", None)
            })
    }

    /// Large lists are paged; the cursor is the offset of the next page
    /// (only ever one this server handed out as `nextCursor`): the page's
    /// start, end and next cursor.
    fn page(
        &self,
        request: Option<PaginatedRequestParams>,
        len: usize,
        what: &str,
    ) -> Result<(usize, usize, Option<String>), McpError> {
        let start = match request.and_then(|r| r.cursor) {
            Some(cursor) => cursor
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0 && *n < len)
                .ok_or_else(|| {
                    McpError::invalid_params(
                        format!("invalid {what} cursor: pass the nextCursor of the previous page, or no cursor for the first"),
                        None,
                    )
                })?,
            None => 0,
        };
        let page_size = match self.state.config().mcp.tools_page_size {
            0 => len,
            n => n,
        };
        let end = (start + page_size).min(len);
        Ok((start, end, (end < len).then(|| end.to_string())))
    }
}

impl ServerHandler for GatewayHandler {
    fn get_info(&self) -> ServerConfig {
        let mut capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .enable_tasks()
            .build();
        if self.state.config().mcp.apps {
            // MCP Apps: each agent's form is a `ui://` resource.
            capabilities.resources = Some(ResourcesCapability::default());
            capabilities
                .extensions
                .get_or_insert_with(Default::default)
                .insert(super::apps::EXTENSION.into(), Default::default());
        }
        ServerConfig::new(capabilities)
            .with_server_info(
                Implementation::new("vieagent", env!("CARGO_PKG_VERSION"))
                    .with_title("VieAgent Gateway"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let Some(user) = self.user(&context) else {
            return Err(McpError::invalid_request("not authenticated", None));
        };
        let snapshot = self.state.catalog().snapshot();
        let unavailable = |e: crate::store::StoreError| {
            tracing::error!(error = %e, "tools/list: entitlements unavailable");
            McpError::internal_error("the tool catalog is unavailable; try again shortly", None)
        };
        let scope = self.scope(&context);
        let pages = crate::calls::visible_pages_in(self.state.calls(), &snapshot, &user, &scope)
            .await
            .map_err(unavailable)?;
        let tools = match &pages {
            Some(pages) => pages.tools.clone(),
            None => crate::calls::visible_tools_in(self.state.calls(), &snapshot, &user, &scope)
                .await
                .map_err(unavailable)?,
        };
        let (start, end, next_cursor) = self.page(request, tools.len(), "tools/list")?;
        if super::apps::offered(self.state.config(), context.client_capabilities().as_ref()) {
            // Each tool names its app; no serialised page has that.
            let tools = tools[start..end]
                .iter()
                .map(|tool| match version(&snapshot, tool) {
                    Some(version) => super::apps::with_ui(tool, version),
                    None => tool.clone(),
                })
                .collect();
            let mut page = ListToolsResult::with_all_items(tools);
            page.next_cursor = next_cursor;
            return Ok(page);
        }
        // Over stateless HTTP the page goes out already serialised (see
        // `ToolsSlot`): rmcp answers with an empty one.
        let slot = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<ToolsSlot>());
        let serialised = || {
            pages
                .as_ref()
                .and_then(|pages| pages.page(start, end))
                .or_else(|| snapshot.tools_json(&tools[start..end]).map(Into::into))
        };
        if let Some(slot) = slot
            && let Some(json) = serialised()
        {
            slot.fill(json);
            let mut page = ListToolsResult::with_all_items(Vec::new());
            page.next_cursor = next_cursor;
            return Ok(page);
        }
        let mut page = ListToolsResult::with_all_items(tools[start..end].to_vec());
        page.next_cursor = next_cursor;
        Ok(page)
    }

    /// One app per visible agent, for clients offered apps (others get
    /// none: the resources are the apps).
    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let Some(user) = self.user(&context) else {
            return Err(McpError::invalid_request("not authenticated", None));
        };
        if !super::apps::offered(self.state.config(), context.client_capabilities().as_ref()) {
            return Ok(ListResourcesResult::default());
        }
        let snapshot = self.state.catalog().snapshot();
        let visible = self
            .visible(&user, &self.scope(&context), "resources/list")
            .await?;
        let apps: Vec<_> = visible
            .iter()
            .filter_map(|tool| Some((tool, version(&snapshot, tool)?)))
            .collect();
        let (start, end, next_cursor) = self.page(request, apps.len(), "resources/list")?;
        let page = &apps[start..end];
        Ok(super::apps::list(page, next_cursor))
    }

    /// An agent's app, to anyone who may see the agent.
    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let Some(user) = self.user(&context) else {
            return Err(McpError::invalid_request("not authenticated", None));
        };
        let not_found = || {
            McpError::resource_not_found(
                format!(
                    "no resource '{}': each agent's app is ui://vieagent/agents/<tool name>, for the tools you can see; call resources/list",
                    request.uri
                ),
                Some(json!({ "uri": request.uri })),
            )
        };
        let config = self.state.config();
        let Some(tool) = super::apps::tool_of(&request.uri).filter(|_| config.mcp.apps) else {
            return Err(not_found());
        };
        let visible = self
            .visible(&user, &self.scope(&context), "resources/read")
            .await?;
        if !visible.iter().any(|t| t.name == tool) {
            return Err(not_found());
        }
        let snapshot = self.state.catalog().snapshot();
        let entry = snapshot.get(tool).ok_or_else(not_found)?;
        Ok(super::apps::read(&request.uri, &entry.agent, config).into())
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.state
            .catalog()
            .snapshot()
            .get(name)
            .map(|entry| entry.tool.clone())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let Some(user) = self.user(&context) else {
            return Err(McpError::invalid_request("not authenticated", None));
        };
        let progress = context.meta.get_progress_token().map(|token| {
            Arc::new(McpProgress {
                peer: context.peer.clone(),
                token,
            }) as Arc<dyn Progress>
        });
        let tool_name = request.name.to_string();
        let scope = self.scope(&context);
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        let call = |arguments: Value| CallRequest {
            user: user.clone(),
            tool_name: tool_name.clone(),
            arguments,
            progress: progress.clone(),
            cancel: context.ct.clone(),
            session_id: None,
            transport: self.transport,
            scope: scope.clone(),
        };
        // An agent's own task mode; anything else (a discovery tool, an
        // unknown tool, an agent outside the scope) is answered at once.
        let agent = self
            .state
            .catalog()
            .snapshot()
            .get(&tool_name)
            .map(|entry| (entry.agent.id, entry.agent.task_mode));
        let mode = match agent {
            Some((id, mode)) if calls::in_scope(self.state.calls(), &user, &scope, id).await => {
                mode
            }
            _ => crate::store::TaskMode::Never,
        };
        let mut outcome = match super::tasks::plan(mode, context.client_capabilities().as_ref()) {
            super::tasks::Plan::Inline => {
                calls::call(self.state.calls(), call(arguments.clone())).await
            }
            super::tasks::Plan::Refuse => return Err(super::tasks::extension_required()),
            super::tasks::Plan::Task { wait_inline } => {
                // A task outlives this request: only tasks/cancel stops it.
                let request = CallRequest {
                    cancel: tokio_util::sync::CancellationToken::new(),
                    progress: None,
                    ..call(arguments)
                };
                return match super::tasks::call_as_task(&self.state, request, wait_inline).await {
                    Err(task) => Ok(task),
                    Ok(Ok(result)) => Ok(result.into()),
                    Ok(Err(e)) => call_error(&tool_name, e),
                };
            }
        };
        // A missing key: clients with URL elicitation get the connect link
        // as a request, and the call runs again once the key is stored.
        if let Ok(first) = &outcome
            && super::elicit::credentials_stored(&self.state, &context, user.id, &tool_name, first)
                .await
        {
            outcome = calls::call(self.state.calls(), call(arguments)).await;
        }
        match outcome {
            Ok(result) => Ok(tool_result(result).into()),
            Err(e) => call_error(&tool_name, e),
        }
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, McpError> {
        let Some(user) = self.user(&context) else {
            return Err(McpError::invalid_request("not authenticated", None));
        };
        super::tasks::get(&self.state, &user, &request.task_id).await
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let Some(user) = self.user(&context) else {
            return Err(McpError::invalid_request("not authenticated", None));
        };
        super::tasks::cancel(&self.state, &user, &request.task_id).await
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let user = self.fixed_user.as_ref().map(|u| u.id).or_else(|| {
            context
                .extensions
                .get::<http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<AuthUser>())
                .map(|auth| auth.user.id)
        });
        self.state
            .sessions()
            .register(context.peer.clone(), self.transport, user);
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.supported_by(&self.get_info().capabilities))
    }

    /// Protocol 2026-07-28: `subscriptions/listen` carries `tools/list_changed`:
    /// the catalog's changes, and those of the listening user's own list
    /// (a purchase, a revocation) on whichever replica they happen.
    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let mut changes = self.state.catalog().subscribe();
        changes.mark_unchanged();
        let mut users = self.state.sessions().subscribe_users();
        let me = self.user(context.request_context()).map(|u| u.id);
        let _active = self.state.sessions().track_listener(self.transport);
        loop {
            let changed = tokio::select! {
                () = context.cancelled() => return Ok(()),
                changed = changes.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    true
                }
                user = users.recv() => match user {
                    Ok(user) => Some(user) == me,
                    // Missed some: one of them may have been this user.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
                },
            };
            if changed
                && context.accepted().tools_list_changed == Some(true)
                && let Err(e) = context.sink().notify_tool_list_changed().await
            {
                tracing::debug!(error = %e, "subscription closed");
                return Ok(());
            }
        }
    }
}
