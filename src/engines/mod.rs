//! Workflow engines: the [`Engine`] trait and one adapter per engine.
//!
//! Adapters own HTTP to their engine, request mapping (arguments and injected
//! credentials), input-schema generation from a live flow, and error
//! classification. They know nothing about users, billing or MCP.
//!
//! Rules every adapter follows:
//! * one shared `reqwest::Client` per engine (pooled, rustls, redirects off);
//! * a whole-call deadline (connect + send + body), per agent overridable;
//! * **no retry once a request may have reached the engine** (flows have side
//!   effects); a single retry only when the connection could not be opened;
//! * response bodies capped (default 10 MiB);
//! * error messages are short, actionable and carry no secret.

pub mod activepieces;
pub mod demo;
pub mod flowise;
mod http;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

use crate::config::EnginesConfig;
use crate::store::EngineType;
use crate::vault::Credentials;

pub(crate) use http::root_cause;
pub use http::valid_flow_id;

/// Per-call settings from the agent row.
#[derive(Debug, Clone, Copy)]
pub struct InvokeOptions<'a> {
    /// The agent's `engine_config` (engine-specific request mapping).
    pub engine_config: &'a Value,
    /// Overrides the engine's default call timeout.
    pub timeout: Option<Duration>,
    /// Conversation/session id to pass to the engine, if any.
    pub session_id: Option<&'a str>,
    /// The gateway's id for this call: engines that keep per-call records
    /// file them under it when the caller gave no session, so they can be
    /// found and purged even when the call's answer never arrived.
    pub call_id: Option<uuid::Uuid>,
}

impl<'a> InvokeOptions<'a> {
    pub fn new(engine_config: &'a Value) -> Self {
        Self {
            engine_config,
            timeout: None,
            session_id: None,
            call_id: None,
        }
    }
}

/// One call's run as its engine knows it: enough to ask the engine to stop
/// it. Flowise keys a running prediction by flow and conversation (`chatId`,
/// which the gateway sets to the caller's session or, without one, to the
/// call's own id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRef {
    pub flow_id: String,
    pub conversation: String,
}

impl RunRef {
    /// The run of a call made with `options`, if it has a conversation.
    pub fn of(flow_id: &str, options: &InvokeOptions<'_>) -> Option<Self> {
        let conversation = match (options.session_id, options.call_id) {
            (Some(session), _) => session.to_string(),
            (None, Some(call)) => call.to_string(),
            (None, None) => return None,
        };
        Some(Self {
            flow_id: flow_id.to_string(),
            conversation,
        })
    }
}

/// What asking an engine to stop a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The engine was asked and accepted (it stops what it can; see its adapter).
    Requested,
    /// The engine offers no way to stop a running run (why, for the log).
    Unsupported(&'static str),
}

/// What a successful engine call produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineOutput {
    /// The result as JSON (engine-internal trace fields removed).
    pub result: Value,
    /// A plain-text rendering for chat clients.
    pub text: String,
    /// The engine's own execution id (stored as `external_execution_id`).
    pub external_execution_id: Option<String>,
    /// Engine-side records this call created that hold what it sent
    /// (Flowise executions): what a purge deletes.
    #[serde(skip)]
    pub kept_records: Vec<String>,
}

/// What an engine keeps of a call that carried the user's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retention {
    /// Nothing that holds them.
    Nothing,
    /// Records the gateway deletes after the call ([`Engine::purge`]).
    Purgeable,
    /// Records the gateway cannot delete (why, for the operator).
    Kept(String),
}

/// Where one call's engine-side records are, for [`Engine::purge`]:
/// stored with the purge job, so a job outlives the process.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PurgeTarget {
    pub flow_id: String,
    /// The records the engine named in its answer.
    #[serde(default)]
    pub record_ids: Vec<String>,
    /// The conversation the gateway opened for this call alone (its
    /// records may all go), when the caller gave no session.
    #[serde(default)]
    pub call_chat_id: Option<String>,
    /// The caller's session, when it gave one (only this call's records go).
    #[serde(default)]
    pub session_id: Option<String>,
    /// When the call began (a lookup by session looks no earlier).
    pub since: chrono::DateTime<chrono::Utc>,
    /// Whether the engine answered (otherwise its records are looked up).
    #[serde(default)]
    pub answered: bool,
    /// Whether the engine was asked to stop the call's run (its caller went
    /// away, or its gateway died), so it is asked once.
    #[serde(default)]
    pub stop_requested: bool,
}

impl PurgeTarget {
    /// The run of a call that ended without the engine's answer, in the
    /// conversation the gateway opened for it alone: a run still going
    /// there is abandoned, and may be stopped. (In a caller's own session
    /// a later run may be the caller's next call: never stopped from here.)
    pub fn abandoned_run(&self) -> Option<RunRef> {
        let conversation = self.call_chat_id.as_ref().filter(|_| !self.answered)?;
        Some(RunRef {
            flow_id: self.flow_id.clone(),
            conversation: conversation.clone(),
        })
    }
}

/// Why a purge did not finish (it is tried again later).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PurgeError {
    /// The engine is down, slow or refused for now.
    #[error("{0}")]
    Engine(#[from] EngineError),
    /// The engine's records of the call are not final yet (its run is
    /// still going, or not filed yet).
    #[error("the engine's records of the call are not final yet")]
    InProgress,
}

/// A flow as read from its engine, mapped to what an agent row needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FlowDescription {
    pub name: String,
    pub description: String,
    /// JSON Schema (draft 2020-12) of the tool's arguments; `None` when the
    /// flow cannot tell (e.g. a plain Activepieces webhook): take it from the manifest.
    pub input_schema: Option<Value>,
    pub required_credential_types: Vec<String>,
    /// Engine request mapping to store on the agent (`engine_config`).
    pub engine_config: Value,
    /// Worth knowing, not blocking.
    pub warnings: Vec<String>,
    /// Reasons the agent must not be published as it is.
    pub publish_blockers: Vec<String>,
}

/// Why an engine call failed. Every message is safe to show a user: it holds
/// no credential value (adapters scrub engine text before it lands here).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("the {engine} engine is not configured on this gateway")]
    NotConfigured { engine: &'static str },
    #[error("engine unreachable: {detail}")]
    Unreachable { detail: String },
    #[error("engine timed out after {} s", after.as_secs_f64())]
    Timeout { after: Duration },
    #[error(
        "the engine rejected the gateway's API key (HTTP {status}); this is a gateway configuration problem, not yours"
    )]
    GatewayRejected { status: u16 },
    #[error("flow not found in engine: {detail}")]
    FlowNotFound { detail: String },
    #[error("the flow is disabled in the engine")]
    FlowDisabled,
    #[error(
        "your stored {provider} credential was rejected by the provider; update it (vieagent credentials set --provider {provider})"
    )]
    CredentialRejected { provider: String },
    #[error("the engine is rate-limiting requests; try again later")]
    RateLimited,
    #[error("the engine refused the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("engine failed (HTTP {status}): {excerpt}")]
    Failed { status: u16, excerpt: String },
    #[error(
        "no response from flow: it did not answer within the engine's webhook timeout ({} s); the run may still be going, or it failed or never started (see the flow's runs in the engine)",
        after.as_secs()
    )]
    NoResponse { after: Duration },
    #[error("the engine's response was invalid: {detail}")]
    InvalidResponse { detail: String },
    #[error("the engine's response is larger than {limit} bytes")]
    ResponseTooLarge { limit: usize },
    #[error("the request is too large for the engine")]
    PayloadTooLarge,
    #[error("{0}")]
    BadInput(String),
    #[error("engine connection failed: {detail}")]
    Transport { detail: String },
}

impl EngineError {
    /// A short machine-friendly kind, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            EngineError::NotConfigured { .. } => "not_configured",
            EngineError::Unreachable { .. } => "unreachable",
            EngineError::Timeout { .. } => "timeout",
            EngineError::GatewayRejected { .. } => "gateway_rejected",
            EngineError::FlowNotFound { .. } => "flow_not_found",
            EngineError::FlowDisabled => "flow_disabled",
            EngineError::CredentialRejected { .. } => "credential_rejected",
            EngineError::RateLimited => "rate_limited",
            EngineError::Rejected { .. } => "rejected",
            EngineError::Failed { .. } => "failed",
            EngineError::NoResponse { .. } => "no_response",
            EngineError::InvalidResponse { .. } => "invalid_response",
            EngineError::ResponseTooLarge { .. } => "response_too_large",
            EngineError::PayloadTooLarge => "payload_too_large",
            EngineError::BadInput(_) => "bad_input",
            EngineError::Transport { .. } => "transport",
        }
    }
}

/// One workflow engine.
#[async_trait]
pub trait Engine: Send + Sync + 'static {
    fn engine_type(&self) -> EngineType;

    /// Run a flow with the user's arguments and decrypted credentials.
    async fn invoke(
        &self,
        flow_id: &str,
        arguments: &Value,
        credentials: &Credentials,
        options: &InvokeOptions<'_>,
    ) -> Result<EngineOutput, EngineError>;

    /// Read a flow and derive name, description, input schema and credentials.
    async fn describe(&self, flow_id: &str) -> Result<FlowDescription, EngineError>;

    /// Dry-run of publishing: flow reachable and every credential the agent
    /// injects will really be used. Returns the blocking problems (empty = ok).
    async fn validate(
        &self,
        flow_id: &str,
        required_credential_types: &[String],
        engine_config: &Value,
    ) -> Result<Vec<String>, EngineError>;

    async fn health(&self) -> Result<(), EngineError>;

    /// What this engine keeps of a call that carried credentials.
    fn retention(&self) -> Retention {
        Retention::Nothing
    }

    /// Delete the records of one call ([`Retention::Purgeable`]). Deleting
    /// what is gone already is success. Returns how many were deleted.
    async fn purge(&self, _target: &PurgeTarget) -> Result<u64, PurgeError> {
        Ok(0)
    }

    /// Ask the engine to stop a run whose caller is gone (cancelled, timed
    /// out, or its gateway died), so it spends no more of the user's key.
    /// Stopping what has ended already is success.
    async fn stop(&self, _run: &RunRef) -> Result<Stop, EngineError> {
        Ok(Stop::Unsupported("this engine cannot stop a run"))
    }
}

/// The configured engines, shared by every call.
#[derive(Clone)]
pub struct Engines {
    flowise: Option<Arc<dyn Engine>>,
    activepieces: Option<Arc<dyn Engine>>,
    demo: Arc<demo::DemoEngine>,
}

impl Engines {
    pub fn from_config(config: &EnginesConfig) -> Result<Self, EngineError> {
        let flowise = match &config.flowise.base_url {
            Some(_) => {
                Some(Arc::new(flowise::FlowiseEngine::new(&config.flowise)?) as Arc<dyn Engine>)
            }
            None => None,
        };
        let activepieces = match &config.activepieces.base_url {
            Some(_) => Some(
                Arc::new(activepieces::ActivepiecesEngine::new(&config.activepieces)?)
                    as Arc<dyn Engine>,
            ),
            None => None,
        };
        Ok(Self {
            flowise,
            activepieces,
            demo: Arc::new(demo::DemoEngine),
        })
    }

    /// Replace an engine (tests, embedding).
    pub fn with_engine(mut self, engine: Arc<dyn Engine>) -> Self {
        match engine.engine_type() {
            EngineType::Flowise => self.flowise = Some(engine),
            EngineType::Activepieces => self.activepieces = Some(engine),
        }
        self
    }

    /// The engine an agent runs in. Agents whose `engine_config` names the
    /// built-in demo engine run there, whatever their engine type.
    pub fn for_agent(
        &self,
        engine_type: EngineType,
        engine_config: &Value,
    ) -> Result<Arc<dyn Engine>, EngineError> {
        if demo::is_demo(engine_config) {
            return Ok(self.demo.clone());
        }
        self.get(engine_type)
    }

    pub fn get(&self, engine_type: EngineType) -> Result<Arc<dyn Engine>, EngineError> {
        let engine = match engine_type {
            EngineType::Flowise => &self.flowise,
            EngineType::Activepieces => &self.activepieces,
        };
        engine.clone().ok_or(EngineError::NotConfigured {
            engine: engine_type.as_str(),
        })
    }

    pub fn configured(&self) -> Vec<EngineType> {
        let mut out = Vec::new();
        if self.flowise.is_some() {
            out.push(EngineType::Flowise);
        }
        if self.activepieces.is_some() {
            out.push(EngineType::Activepieces);
        }
        out
    }
}

/// A plain-text rendering of a JSON result for chat clients.
pub(crate) fn render_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

/// Cut an engine message to a short excerpt (on a char boundary).
pub(crate) fn excerpt(message: &str, max_chars: usize) -> String {
    let message = message.trim();
    let mut out: String = message.chars().take(max_chars).collect();
    if message.chars().count() > max_chars {
        out.push('…');
    }
    out
}
