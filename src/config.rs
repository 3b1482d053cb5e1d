//! Layered configuration: defaults < `vieagent.toml` < `VIEAGENT_*` environment < CLI flags.
//!
//! This is the only module that reads the process environment for settings.
//! Secrets are held in [`secrecy`] types: their `Debug` output is redacted and
//! [`Config::redacted`] is the only way the effective configuration is shown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The default config file, read when present and no `--config` is given.
pub const DEFAULT_CONFIG_FILE: &str = "vieagent.toml";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://vieagent.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// A setting that could not be understood. The CLI exits with code 2 on these.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {setting}: {message}")]
pub struct ConfigError {
    pub setting: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(setting: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Which database backend a `database_url` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

/// The effective configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `sqlite://path.db` (embedded, created if missing) or `postgres://user:pass@host/db`.
    #[serde(default = "default_database_url")]
    pub database_url: SecretString,
    /// Address the HTTP server (MCP, admin, health) listens on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// A `tracing` filter directive, e.g. `info` or `info,vieagent=debug`.
    /// `rmcp` stays at `info` unless named here (its debug lines print whole
    /// MCP messages, connect links included).
    #[serde(default = "default_log_level")]
    pub log_level: String,
    #[serde(default)]
    pub log_format: LogFormat,
    /// How long `serve` keeps retrying an unreachable database before giving up.
    #[serde(default = "default_db_connect_timeout", with = "humantime_serde")]
    pub db_connect_timeout: Duration,
    /// Upper bound on pooled database connections.
    #[serde(default = "default_db_max_connections")]
    pub db_max_connections: u32,
    /// PostgreSQL: journal batch writers (concurrent group commits). One
    /// writer with growing batches was never slower on the benchmark
    /// machine (README, Performance); measure before raising it. SQLite
    /// always uses one (it has one writer).
    #[serde(default = "default_journal_writers")]
    pub journal_writers: u32,
    /// The Vault's master key: base64 of 32 random bytes (`vieagent vault generate-key`).
    #[serde(default)]
    pub master_key: Option<SecretString>,
    /// A file holding the base64 master key (alternative to `master_key`).
    #[serde(default)]
    pub master_key_file: Option<PathBuf>,
    /// More key files the Vault may decrypt with (other key versions during a rotation).
    #[serde(default)]
    pub keyring_files: Vec<PathBuf>,
    /// Workflow engines the gateway calls.
    #[serde(default)]
    pub engines: EnginesConfig,
    /// MCP transports.
    #[serde(default)]
    pub mcp: McpConfig,
    /// Credits and prices.
    #[serde(default)]
    pub billing: BillingConfig,
    /// What the tool catalog shows each user.
    #[serde(default)]
    pub catalog: CatalogConfig,
    /// Bootstrap token for the admin API (besides admin users' API keys).
    #[serde(default)]
    pub admin_token: Option<SecretString>,
    /// `vieagent stdio`: the API key of the user the session acts for.
    #[serde(default)]
    pub api_key: Option<SecretString>,
    /// `vieagent stdio`: serve this toolset of the user's instead of the
    /// catalog or their toolbox.
    #[serde(default)]
    pub toolset: Option<String>,
    /// How long a resolved API key is trusted before it is looked up again
    /// (a revoked key stops working within this time).
    #[serde(default = "default_auth_cache_ttl", with = "humantime_serde")]
    pub auth_cache_ttl: Duration,
    /// How often SQLite deployments check for catalog changes made by other
    /// processes (PostgreSQL is notified at once; this is its safety net ×10).
    #[serde(default = "default_catalog_poll_interval", with = "humantime_serde")]
    pub catalog_poll_interval: Duration,
    /// How often calls left `running` by a dead process are looked for.
    #[serde(default = "default_recovery_interval", with = "humantime_serde")]
    pub recovery_interval: Duration,
    /// Seed the built-in demo agent: unset = only on a fresh embedded SQLite database.
    #[serde(default)]
    pub demo: Option<bool>,
    /// Serve `/metrics` on this address instead of the main listener.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// On SIGTERM: how long in-flight calls may run on before they are
    /// stopped (their rows failed with `shutdown`, their credits released).
    #[serde(default = "default_shutdown_grace", with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// How often this process records that it is alive (multi-replica
    /// recovery: calls of a replica silent for 3 intervals are failed).
    #[serde(default = "default_heartbeat_interval", with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// Rate and concurrency limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// OTLP/HTTP collector base URL (e.g. `http://otel-collector:4318`) to
    /// export spans to; needs a binary built with the `otel` feature.
    #[serde(default)]
    pub otlp_endpoint: Option<url::Url>,
    /// The gateway's address as users' browsers reach it (e.g.
    /// `https://gateway.example.com` behind a proxy): the base of connect
    /// links. Unset: the address the server listens on.
    #[serde(default)]
    pub public_url: Option<url::Url>,
    /// The Easy Mode web app at `/app`.
    #[serde(default)]
    pub web: WebConfig,
    /// Who may call: OAuth 2.1 access tokens besides API keys.
    #[serde(default)]
    pub auth: AuthConfig,
    /// The marketplace (VieAgent.vn) that sells agents and credits.
    #[serde(default)]
    pub marketplace: MarketplaceConfig,
}

/// `[marketplace]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketplaceConfig {
    /// The shared secret that signs `POST /v1/marketplace/events`
    /// (HMAC-SHA256). Unset: the endpoint answers 503.
    #[serde(default)]
    pub webhook_secret: Option<SecretString>,
    /// An agent's page at the marketplace, where it is bought: a template
    /// with `{agent_id}` and `{tool}`, e.g.
    /// `https://vieagent.vn/agents/{agent_id}`.
    #[serde(default)]
    pub agent_url: Option<String>,
    /// Where credits are bought (topped up).
    #[serde(default)]
    pub credits_url: Option<url::Url>,
    /// Where a visitor creates a marketplace account.
    #[serde(default)]
    pub signup_url: Option<url::Url>,
}

impl MarketplaceConfig {
    /// The page where `agent` is bought, with `return_to` (where the buyer
    /// comes back to), if the marketplace's address is configured.
    pub fn agent_page(
        &self,
        agent_id: &str,
        tool: &str,
        return_to: Option<&str>,
    ) -> Option<url::Url> {
        let template = self.agent_url.as_deref()?;
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let filled = template
            .replace("{agent_id}", &encode(agent_id))
            .replace("{tool}", &encode(tool));
        with_return(url::Url::parse(&filled).ok()?, return_to)
    }

    /// The page where credits are bought, with `return_to`.
    pub fn credits_page(&self, return_to: Option<&str>) -> Option<url::Url> {
        with_return(self.credits_url.clone()?, return_to)
    }
}

fn with_return(mut url: url::Url, return_to: Option<&str>) -> Option<url::Url> {
    if let Some(back) = return_to {
        url.query_pairs_mut().append_pair("return_to", back);
    }
    Some(url)
}

/// `[auth]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Accept OAuth 2.1 access tokens from this authorization server (the
    /// gateway is then an OAuth protected resource, RFC 9728). Unset: API
    /// keys only.
    #[serde(default)]
    pub oidc: Option<OidcConfig>,
}

/// `[auth.oidc]`: the marketplace's identity provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The authorization server's issuer URL, exactly as it appears in its
    /// tokens' `iss` (e.g. `https://sso.example.com/realms/marketplace`).
    pub issuer: String,
    /// Accepted `aud` values (RFC 8707 resource indicators). Empty: the
    /// gateway's own resource URLs (`<public_url>/mcp`, `/sse`, `/v1`).
    #[serde(default, deserialize_with = "one_or_many")]
    pub audience: Vec<String>,
    /// The JWKS URL; unset: `jwks_uri` from the issuer's metadata.
    #[serde(default)]
    pub jwks_url: Option<url::Url>,
    /// The scope a token needs to list and call tools (MCP, chat-tools).
    #[serde(default = "default_tools_scope")]
    pub tools_scope: String,
    /// The scope a token needs for the admin API (its user must also be an admin).
    #[serde(default = "default_admin_scope")]
    pub admin_scope: String,
    /// Scopes named beside the tools or admin scope in `WWW-Authenticate`
    /// challenges and listed in the Protected Resource Metadata, so
    /// assistants ask for them too: e.g. `offline_access`, for a refresh
    /// token that keeps a session past the access token's hour. Tokens
    /// need not carry them.
    #[serde(default, deserialize_with = "one_or_many")]
    pub extra_scopes: Vec<String>,
    /// Create a user (with the signup credits) at the first sign-in of an
    /// identity whose verified email matches no user. Off: such identities
    /// are refused until an admin creates the user.
    #[serde(default)]
    pub auto_provision: bool,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(default = "default_oidc_leeway", with = "humantime_serde")]
    pub leeway: Duration,
    /// How long fetched signing keys are used before they are fetched again
    /// (a failed fetch keeps the old keys).
    #[serde(default = "default_jwks_max_age", with = "humantime_serde")]
    pub jwks_max_age: Duration,
    /// At most one fetch of the signing keys per this interval when a token
    /// names an unknown key id (so forged `kid`s cannot flood the issuer).
    #[serde(default = "default_jwks_min_refresh", with = "humantime_serde")]
    pub jwks_min_refresh: Duration,
    /// Timeout of each request to the authorization server.
    #[serde(default = "default_oidc_timeout", with = "humantime_serde")]
    pub http_timeout: Duration,
    /// Opaque (non-JWT) access tokens: ask the authorization server (RFC 7662).
    #[serde(default)]
    pub introspection: Option<IntrospectionConfig>,
}

/// `[auth.oidc.introspection]`: the gateway's own client at the
/// authorization server, allowed to introspect tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionConfig {
    pub client_id: String,
    pub client_secret: SecretString,
    /// Unset: `introspection_endpoint` from the issuer's metadata.
    #[serde(default)]
    pub url: Option<url::Url>,
}

fn default_tools_scope() -> String {
    "vieagent:tools".into()
}
fn default_admin_scope() -> String {
    "vieagent:admin".into()
}
fn default_oidc_leeway() -> Duration {
    Duration::from_secs(60)
}
fn default_jwks_max_age() -> Duration {
    Duration::from_secs(3600)
}
fn default_jwks_min_refresh() -> Duration {
    Duration::from_secs(30)
}
fn default_oidc_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Whether the gateway may send tokens to, or trust keys from, `url`:
/// https, or http to a loopback host (a provider on this machine).
pub fn https_or_loopback(url: &url::Url) -> bool {
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

impl OidcConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let issuer = url::Url::parse(&self.issuer).map_err(|e| {
            ConfigError::new("auth.oidc.issuer (VIEAGENT_OIDC_ISSUER)", e.to_string())
        })?;
        if !matches!(issuer.scheme(), "http" | "https") || issuer.host().is_none() {
            return Err(ConfigError::new(
                "auth.oidc.issuer (VIEAGENT_OIDC_ISSUER)",
                "must be the authorization server's http(s) issuer URL",
            ));
        }
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(ConfigError::new(
                "auth.oidc.issuer (VIEAGENT_OIDC_ISSUER)",
                "must not have a ?query or #fragment (RFC 8414)",
            ));
        }
        let insecure = "must be https:// (plain http:// only on loopback, for development)";
        if !https_or_loopback(&issuer) {
            return Err(ConfigError::new(
                "auth.oidc.issuer (VIEAGENT_OIDC_ISSUER)",
                insecure,
            ));
        }
        if self
            .jwks_url
            .as_ref()
            .is_some_and(|u| !https_or_loopback(u))
        {
            return Err(ConfigError::new(
                "auth.oidc.jwks_url (VIEAGENT_OIDC_JWKS_URL)",
                insecure,
            ));
        }
        if let Some(i) = &self.introspection
            && i.url.as_ref().is_some_and(|u| !https_or_loopback(u))
        {
            return Err(ConfigError::new(
                "auth.oidc.introspection.url (VIEAGENT_OIDC_INTROSPECTION_URL)",
                insecure,
            ));
        }
        let extra = self
            .extra_scopes
            .iter()
            .map(|s| ("auth.oidc.extra_scopes (VIEAGENT_OIDC_EXTRA_SCOPES)", s));
        for (name, scope) in [
            ("auth.oidc.tools_scope", &self.tools_scope),
            ("auth.oidc.admin_scope", &self.admin_scope),
        ]
        .into_iter()
        .chain(extra)
        {
            if scope.is_empty()
                || scope
                    .chars()
                    .any(|c| c.is_whitespace() || c == '"' || c == '\\')
            {
                return Err(ConfigError::new(
                    name,
                    "must be one scope name (no spaces or quotes)",
                ));
            }
        }
        if self.audience.iter().any(|a| a.trim().is_empty()) {
            return Err(ConfigError::new(
                "auth.oidc.audience (VIEAGENT_OIDC_AUDIENCE)",
                "must not contain an empty value",
            ));
        }
        if self.http_timeout.is_zero() || self.jwks_max_age.is_zero() {
            return Err(ConfigError::new(
                "auth.oidc",
                "http_timeout and jwks_max_age must be more than 0",
            ));
        }
        Ok(())
    }

    fn table(&self) -> toml::Table {
        let mut t = toml::Table::new();
        t.insert("issuer".into(), redact_url(&self.issuer).into());
        t.insert(
            "audience".into(),
            toml::Value::Array(self.audience.iter().map(|a| a.clone().into()).collect()),
        );
        if let Some(url) = &self.jwks_url {
            t.insert("jwks_url".into(), redact_url(url.as_str()).into());
        }
        t.insert("tools_scope".into(), self.tools_scope.clone().into());
        t.insert("admin_scope".into(), self.admin_scope.clone().into());
        t.insert(
            "extra_scopes".into(),
            toml::Value::Array(self.extra_scopes.iter().map(|a| a.clone().into()).collect()),
        );
        t.insert("auto_provision".into(), self.auto_provision.into());
        for (name, d) in [
            ("leeway", self.leeway),
            ("jwks_max_age", self.jwks_max_age),
            ("jwks_min_refresh", self.jwks_min_refresh),
            ("http_timeout", self.http_timeout),
        ] {
            t.insert(
                name.into(),
                humantime::format_duration(d).to_string().into(),
            );
        }
        if let Some(i) = &self.introspection {
            let mut it = toml::Table::new();
            it.insert("client_id".into(), i.client_id.clone().into());
            it.insert("client_secret".into(), "<redacted>".into());
            if let Some(url) = &i.url {
                it.insert("url".into(), redact_url(url.as_str()).into());
            }
            t.insert("introspection".into(), it.into());
        }
        t
    }
}

/// A list given as one string (an environment variable: comma-separated)
/// or as an array.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

fn comma_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// A list given as one string (an environment variable) or as an array.
fn one_or_many<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(s) => comma_list(&s),
        OneOrMany::Many(v) => v,
    })
}

/// [`one_or_many`], for a list that may be unset. An empty string (an
/// environment variable set to nothing, as `VAR=${X:-}` writes it) is
/// unset, not an empty list: for `mcp.allowed_hosts` an empty list means
/// "any host", which must be written out as `[]`.
fn maybe_one_or_many<'de, D>(deserializer: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(s) if s.trim().is_empty() => None,
        OneOrMany::One(s) => Some(comma_list(&s)),
        OneOrMany::Many(v) => Some(v),
    })
}

/// `[web]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// How long a browser stays signed in.
    #[serde(default = "default_session_ttl", with = "humantime_serde")]
    pub session_ttl: Duration,
    /// How long a connect link (sent when a call lacks a credential) works.
    #[serde(default = "default_connect_link_ttl", with = "humantime_serde")]
    pub connect_link_ttl: Duration,
    /// MCP clients with URL elicitation: how long a call waits for the user
    /// to store the missing credential after accepting the link.
    #[serde(default = "default_elicitation_wait", with = "humantime_serde")]
    pub elicitation_wait: Duration,
    /// The web app's language when the browser asks for none we speak and
    /// the person chose none: `vi` (VieAgent.vn's buyers) or `en`.
    #[serde(default = "default_locale")]
    pub default_locale: String,
    /// Sign in to `/app` with the marketplace account (OpenID Connect
    /// authorization code + PKCE, as a confidential client of
    /// `auth.oidc.issuer`).
    #[serde(default)]
    pub oidc: Option<WebOidcConfig>,
    /// Whether `/app` also accepts an API key to sign in (the fallback).
    #[serde(default = "default_true")]
    pub api_key_sign_in: bool,
}

/// `[web.oidc]`: the web app's client at the marketplace's identity provider.
#[derive(Debug, Clone, Deserialize)]
pub struct WebOidcConfig {
    pub client_id: String,
    pub client_secret: SecretString,
    /// Scopes asked for at sign-in.
    #[serde(default = "default_web_oidc_scopes", deserialize_with = "one_or_many")]
    pub scopes: Vec<String>,
}

fn default_web_oidc_scopes() -> Vec<String> {
    vec!["openid".into(), "email".into(), "profile".into()]
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            session_ttl: default_session_ttl(),
            connect_link_ttl: default_connect_link_ttl(),
            elicitation_wait: default_elicitation_wait(),
            default_locale: default_locale(),
            oidc: None,
            api_key_sign_in: true,
        }
    }
}

fn default_locale() -> String {
    "vi".into()
}

fn default_session_ttl() -> Duration {
    Duration::from_secs(12 * 3600)
}
fn default_connect_link_ttl() -> Duration {
    Duration::from_secs(15 * 60)
}
fn default_elicitation_wait() -> Duration {
    Duration::from_secs(5 * 60)
}

/// `[limits]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Tool calls per user per minute (unset: no limit).
    #[serde(default)]
    pub calls_per_minute: Option<u32>,
    /// Calls one agent may run at once (unset: no limit).
    #[serde(default)]
    pub agent_concurrency: Option<u32>,
    /// Engine calls in flight across the process; more wait (backpressure).
    #[serde(default = "default_max_inflight_calls")]
    pub max_inflight_calls: u32,
    /// How long a call may wait for an engine slot before it is refused.
    #[serde(default = "default_queue_timeout", with = "humantime_serde")]
    pub queue_timeout: Duration,
    /// Largest request body on any HTTP route.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            calls_per_minute: None,
            agent_concurrency: None,
            max_inflight_calls: default_max_inflight_calls(),
            queue_timeout: default_queue_timeout(),
            max_body_bytes: default_max_body_bytes(),
        }
    }
}

fn default_max_inflight_calls() -> u32 {
    1024
}
fn default_queue_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_max_body_bytes() -> usize {
    8 * 1024 * 1024
}
fn default_shutdown_grace() -> Duration {
    Duration::from_secs(30)
}
fn default_heartbeat_interval() -> Duration {
    Duration::from_secs(5)
}

/// `[billing]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingConfig {
    /// Credits a new user starts with (a `signup` ledger entry).
    #[serde(default = "default_signup_credits")]
    pub signup_credits: i64,
    /// Currency of agent prices, shown in messages and reports.
    #[serde(default = "default_currency")]
    pub currency: String,
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            signup_credits: default_signup_credits(),
            currency: default_currency(),
        }
    }
}

fn default_signup_credits() -> i64 {
    100
}
fn default_currency() -> String {
    "USD".into()
}

/// `[catalog]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// List priced tools the user has not bought (with a line saying they
    /// need a purchase), so an assistant can tell the user; `false` hides them.
    #[serde(default = "default_true")]
    pub show_unpurchased: bool,
    /// What a user's assistant is shown at `/mcp` and `GET /v1/tools`:
    /// the whole catalog (`all`), or the agents the user chose (`chosen`)
    /// plus the discovery tools that search the marketplace and change the
    /// choice.
    #[serde(default)]
    pub toolbox: ToolboxMode,
    /// A purchase adds the agent to the buyer's toolbox.
    #[serde(default = "default_true")]
    pub toolbox_add_purchases: bool,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            show_unpurchased: true,
            toolbox: ToolboxMode::default(),
            toolbox_add_purchases: true,
        }
    }
}

/// `catalog.toolbox`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolboxMode {
    /// Every published agent (small catalogs, the demo).
    #[default]
    All,
    /// Each user's toolbox, and the discovery tools.
    Chosen,
}

impl ToolboxMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ToolboxMode::All => "all",
            ToolboxMode::Chosen => "chosen",
        }
    }
}

fn default_true() -> bool {
    true
}

/// `[mcp]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpConfig {
    /// Host names accepted on MCP endpoints (DNS-rebinding protection). Unset:
    /// localhost names when listening on loopback, any host otherwise.
    #[serde(default, deserialize_with = "maybe_one_or_many")]
    pub allowed_hosts: Option<Vec<String>>,
    /// Browser origins accepted (e.g. `http://localhost:6274` for MCP Inspector); empty = no Origin check.
    #[serde(default, deserialize_with = "one_or_many")]
    pub allowed_origins: Vec<String>,
    /// Largest MCP request body.
    #[serde(default = "default_mcp_max_request_bytes")]
    pub max_request_bytes: usize,
    /// `tools/list` page size for large catalogs (0 = one page).
    #[serde(default = "default_tools_page_size")]
    pub tools_page_size: usize,
    /// Tasks extension: how long an `auto` agent's call may take and still
    /// be answered inline rather than as a task.
    #[serde(default = "default_task_inline_budget", with = "humantime_serde")]
    pub task_inline_budget: Duration,
    /// Tasks extension: how long a task stays readable (`ttlMs`) after it
    /// was created.
    #[serde(default = "default_task_ttl", with = "humantime_serde")]
    pub task_ttl: Duration,
    /// While a call waits on its engine, a progress notification this often
    /// (to callers that asked for progress; it keeps some clients from
    /// timing the call out).
    #[serde(default = "default_progress_interval", with = "humantime_serde")]
    pub progress_interval: Duration,
    /// MCP Apps (`io.modelcontextprotocol/ui`): every agent's Easy Mode form
    /// and result shown inside hosts that declare the extension. `false`:
    /// no host is offered it, and every client sees plain tools.
    #[serde(default = "default_true")]
    pub apps: bool,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            allowed_hosts: None,
            allowed_origins: Vec::new(),
            max_request_bytes: default_mcp_max_request_bytes(),
            tools_page_size: default_tools_page_size(),
            task_inline_budget: default_task_inline_budget(),
            task_ttl: default_task_ttl(),
            progress_interval: default_progress_interval(),
            apps: true,
        }
    }
}

fn default_task_inline_budget() -> Duration {
    Duration::from_secs(5)
}
fn default_progress_interval() -> Duration {
    Duration::from_secs(15)
}
fn default_task_ttl() -> Duration {
    Duration::from_secs(24 * 3600)
}

fn default_tools_page_size() -> usize {
    1000
}
fn default_mcp_max_request_bytes() -> usize {
    4 * 1024 * 1024
}
fn default_auth_cache_ttl() -> Duration {
    Duration::from_secs(10)
}
fn default_catalog_poll_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_recovery_interval() -> Duration {
    Duration::from_secs(30)
}

/// `[engines.flowise]` and `[engines.activepieces]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnginesConfig {
    #[serde(default)]
    pub flowise: FlowiseConfig,
    #[serde(default)]
    pub activepieces: ActivepiecesConfig,
    /// The first wait before a failed engine-side purge is tried again
    /// (doubling up to an hour; a purge is never given up).
    #[serde(default = "default_purge_retry", with = "humantime_serde")]
    pub purge_retry: Duration,
}

impl EnginesConfig {
    /// The longest whole-call deadline of any engine.
    pub fn slowest_call_timeout(&self) -> Duration {
        self.flowise
            .call_timeout
            .max(self.activepieces.call_timeout)
    }
}

impl Default for EnginesConfig {
    fn default() -> Self {
        Self {
            flowise: FlowiseConfig::default(),
            activepieces: ActivepiecesConfig::default(),
            purge_retry: default_purge_retry(),
        }
    }
}

fn default_purge_retry() -> Duration {
    Duration::from_secs(30)
}

/// What publishing a Flowise agent that injects credentials does when the
/// gateway's Flowise API key may not delete executions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PurgeCheck {
    /// Refuse to publish (the user's keys would stay in Flowise).
    #[default]
    Refuse,
    /// Publish, with a warning in the log.
    Warn,
}

/// Timeouts and limits shared by every engine client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineHttpConfig {
    pub connect_timeout: Duration,
    pub call_timeout: Duration,
    pub max_response_bytes: usize,
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_call_timeout() -> Duration {
    Duration::from_secs(120)
}
fn default_max_response_bytes() -> usize {
    10 * 1024 * 1024
}

/// How one credential type reaches a Flowise flow.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowiseCredentialMapping {
    /// Flowise credential component names that mean this type (e.g. `openAIApi`).
    pub credential_names: Vec<String>,
    /// `overrideConfig` keys the decrypted value is injected as (e.g. `openAIApiKey`).
    pub override_keys: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowiseConfig {
    /// e.g. `http://localhost:3000`; the engine is disabled while unset.
    #[serde(default)]
    pub base_url: Option<url::Url>,
    /// Flowise API key: sent as the per-flow key on predictions and as the
    /// workspace key on management routes (describe/import).
    #[serde(default)]
    pub api_key: Option<SecretString>,
    /// TCP/TLS connect timeout.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Whole-call timeout (agents may override it with `timeout_ms`).
    #[serde(default = "default_call_timeout", with = "humantime_serde")]
    pub call_timeout: Duration,
    /// Largest engine response body accepted.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
    /// Extra or replacement credential-type mappings, merged over the built-in ones.
    #[serde(default)]
    pub credentials: std::collections::BTreeMap<String, FlowiseCredentialMapping>,
    /// Delete Flowise's record of every call that injected credentials
    /// (its executions and, for calls without a session, their chat
    /// messages): Flowise stores the injected key in plain text there. Off
    /// only for a Flowise you trust with users' keys.
    #[serde(default = "default_true")]
    pub purge: bool,
    /// Publishing an agent that injects credentials checks that `api_key`
    /// may view and delete executions: `refuse` or `warn`.
    #[serde(default)]
    pub purge_check: PurgeCheck,
}

impl Default for FlowiseConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            api_key: None,
            connect_timeout: default_connect_timeout(),
            call_timeout: default_call_timeout(),
            max_response_bytes: default_max_response_bytes(),
            credentials: Default::default(),
            purge: true,
            purge_check: PurgeCheck::Refuse,
        }
    }
}

impl FlowiseConfig {
    pub fn http(&self) -> EngineHttpConfig {
        EngineHttpConfig {
            connect_timeout: self.connect_timeout,
            call_timeout: self.call_timeout,
            max_response_bytes: self.max_response_bytes,
        }
    }
}

impl ActivepiecesConfig {
    pub fn http(&self) -> EngineHttpConfig {
        EngineHttpConfig {
            connect_timeout: self.connect_timeout,
            call_timeout: self.call_timeout,
            max_response_bytes: self.max_response_bytes,
        }
    }
}

/// Authentication the Activepieces Catch Webhook trigger demands.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum WebhookAuth {
    Basic {
        username: String,
        password: SecretString,
    },
    Header {
        name: String,
        value: SecretString,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivepiecesConfig {
    /// e.g. `https://cloud.activepieces.com`; the engine is disabled while unset.
    #[serde(default)]
    pub base_url: Option<url::Url>,
    /// API key for the flows API (describe/import); webhooks need none.
    #[serde(default)]
    pub token: Option<SecretString>,
    /// TCP/TLS connect timeout.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Whole-call timeout (agents may override it with `timeout_ms`).
    #[serde(default = "default_call_timeout", with = "humantime_serde")]
    pub call_timeout: Duration,
    /// Largest engine response body accepted.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
    /// Auth configured on the flows' Catch Webhook trigger, if any.
    #[serde(default)]
    pub webhook_auth: Option<WebhookAuth>,
    /// Body field the user's credentials are sent in (`trigger.body._credentials.<provider>`).
    #[serde(default = "default_credentials_field")]
    pub credentials_field: String,
    /// Activepieces' own sync webhook timeout (`AP_WEBHOOK_TIMEOUT_SECONDS`),
    /// used when the server's flags do not say it: a 204 arriving after it
    /// means the flow did not answer in time.
    #[serde(default = "default_ap_sync_timeout", with = "humantime_serde")]
    pub sync_timeout: Duration,
    /// The project a platform API key acts for (`X-PROJECT-ID` on the
    /// flows API, which project resources need).
    #[serde(default)]
    pub project_id: Option<String>,
}

impl Default for ActivepiecesConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            token: None,
            connect_timeout: default_connect_timeout(),
            call_timeout: default_call_timeout(),
            max_response_bytes: default_max_response_bytes(),
            webhook_auth: None,
            credentials_field: default_credentials_field(),
            sync_timeout: default_ap_sync_timeout(),
            project_id: None,
        }
    }
}

fn default_credentials_field() -> String {
    "_credentials".into()
}
fn default_ap_sync_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_database_url() -> SecretString {
    SecretString::from(DEFAULT_DATABASE_URL)
}
fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN
        .parse()
        .expect("valid default listen address")
}
fn default_log_level() -> String {
    "info,sqlx=warn".into()
}
fn default_db_connect_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_db_max_connections() -> u32 {
    16
}
fn default_journal_writers() -> u32 {
    1
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: default_database_url(),
            listen: default_listen(),
            log_level: default_log_level(),
            log_format: LogFormat::default(),
            db_connect_timeout: default_db_connect_timeout(),
            db_max_connections: default_db_max_connections(),
            journal_writers: default_journal_writers(),
            master_key: None,
            master_key_file: None,
            keyring_files: Vec::new(),
            engines: EnginesConfig::default(),
            mcp: McpConfig::default(),
            billing: BillingConfig::default(),
            catalog: CatalogConfig::default(),
            api_key: None,
            toolset: None,
            admin_token: None,
            auth_cache_ttl: default_auth_cache_ttl(),
            catalog_poll_interval: default_catalog_poll_interval(),
            recovery_interval: default_recovery_interval(),
            metrics_listen: None,
            shutdown_grace: default_shutdown_grace(),
            heartbeat_interval: default_heartbeat_interval(),
            limits: LimitsConfig::default(),
            otlp_endpoint: None,
            public_url: None,
            web: WebConfig::default(),
            auth: AuthConfig::default(),
            marketplace: MarketplaceConfig::default(),
            demo: None,
        }
    }
}

/// Values given on the command line; `None` leaves the lower layers in charge.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub demo: Option<bool>,
}

/// Environment variables this program reads, as `VIEAGENT_<NAME>` → config key.
/// Anything else under the prefix (e.g. `VIEAGENT_TEST_DATABASE_URL`) is ignored.
const ENV_KEYS: &[(&str, &str)] = &[
    ("DATABASE_URL", "database_url"),
    ("LISTEN", "listen"),
    ("LOG_LEVEL", "log_level"),
    ("LOG_FORMAT", "log_format"),
    ("DB_CONNECT_TIMEOUT", "db_connect_timeout"),
    ("DB_MAX_CONNECTIONS", "db_max_connections"),
    ("JOURNAL_WRITERS", "journal_writers"),
    ("MASTER_KEY", "master_key"),
    ("MASTER_KEY_FILE", "master_key_file"),
    ("KEYRING_FILES", "keyring_files"),
    ("FLOWISE_URL", "engines.flowise.base_url"),
    ("FLOWISE_API_KEY", "engines.flowise.api_key"),
    ("FLOWISE_CALL_TIMEOUT", "engines.flowise.call_timeout"),
    ("FLOWISE_PURGE", "engines.flowise.purge"),
    ("FLOWISE_PURGE_CHECK", "engines.flowise.purge_check"),
    ("ENGINE_PURGE_RETRY", "engines.purge_retry"),
    ("ACTIVEPIECES_URL", "engines.activepieces.base_url"),
    ("ACTIVEPIECES_TOKEN", "engines.activepieces.token"),
    ("ACTIVEPIECES_PROJECT_ID", "engines.activepieces.project_id"),
    (
        "ACTIVEPIECES_CALL_TIMEOUT",
        "engines.activepieces.call_timeout",
    ),
    ("API_KEY", "api_key"),
    ("TOOLSET", "toolset"),
    ("ADMIN_TOKEN", "admin_token"),
    ("AUTH_CACHE_TTL", "auth_cache_ttl"),
    ("CATALOG_POLL_INTERVAL", "catalog_poll_interval"),
    ("RECOVERY_INTERVAL", "recovery_interval"),
    ("DEMO", "demo"),
    ("MCP_ALLOWED_HOSTS", "mcp.allowed_hosts"),
    ("MCP_ALLOWED_ORIGINS", "mcp.allowed_origins"),
    ("MCP_APPS", "mcp.apps"),
    ("METRICS_LISTEN", "metrics_listen"),
    ("SHUTDOWN_GRACE", "shutdown_grace"),
    ("HEARTBEAT_INTERVAL", "heartbeat_interval"),
    ("OTLP_ENDPOINT", "otlp_endpoint"),
    ("PUBLIC_URL", "public_url"),
    ("WEB_SESSION_TTL", "web.session_ttl"),
    ("CONNECT_LINK_TTL", "web.connect_link_ttl"),
    ("ELICITATION_WAIT", "web.elicitation_wait"),
    ("WEB_DEFAULT_LOCALE", "web.default_locale"),
    ("WEB_OIDC_CLIENT_ID", "web.oidc.client_id"),
    ("WEB_OIDC_CLIENT_SECRET", "web.oidc.client_secret"),
    ("WEB_OIDC_SCOPES", "web.oidc.scopes"),
    ("WEB_API_KEY_SIGN_IN", "web.api_key_sign_in"),
    ("OIDC_ISSUER", "auth.oidc.issuer"),
    ("OIDC_AUDIENCE", "auth.oidc.audience"),
    ("OIDC_JWKS_URL", "auth.oidc.jwks_url"),
    ("OIDC_TOOLS_SCOPE", "auth.oidc.tools_scope"),
    ("OIDC_ADMIN_SCOPE", "auth.oidc.admin_scope"),
    ("OIDC_EXTRA_SCOPES", "auth.oidc.extra_scopes"),
    ("OIDC_AUTO_PROVISION", "auth.oidc.auto_provision"),
    (
        "OIDC_INTROSPECTION_CLIENT_ID",
        "auth.oidc.introspection.client_id",
    ),
    (
        "OIDC_INTROSPECTION_CLIENT_SECRET",
        "auth.oidc.introspection.client_secret",
    ),
    ("OIDC_INTROSPECTION_URL", "auth.oidc.introspection.url"),
    ("RATE_LIMIT_PER_MINUTE", "limits.calls_per_minute"),
    ("AGENT_CONCURRENCY", "limits.agent_concurrency"),
    ("MAX_INFLIGHT_CALLS", "limits.max_inflight_calls"),
    ("QUEUE_TIMEOUT", "limits.queue_timeout"),
    ("MAX_BODY_BYTES", "limits.max_body_bytes"),
    ("SIGNUP_CREDITS", "billing.signup_credits"),
    ("CURRENCY", "billing.currency"),
    ("SHOW_UNPURCHASED", "catalog.show_unpurchased"),
    ("TOOLBOX", "catalog.toolbox"),
    ("TOOLBOX_ADD_PURCHASES", "catalog.toolbox_add_purchases"),
    ("MARKETPLACE_WEBHOOK_SECRET", "marketplace.webhook_secret"),
    ("MARKETPLACE_AGENT_URL", "marketplace.agent_url"),
    ("MARKETPLACE_CREDITS_URL", "marketplace.credits_url"),
    ("MARKETPLACE_SIGNUP_URL", "marketplace.signup_url"),
];

/// Where configuration comes from; tests build this by hand.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// An explicit config file (must exist). Without it `vieagent.toml` is read if present.
    pub file: Option<PathBuf>,
    pub overrides: Overrides,
    /// Read `VIEAGENT_*` variables (on by default for the CLI; tests turn it off).
    pub skip_env: bool,
}

impl Config {
    /// Load and validate the layered configuration.
    pub fn load(sources: &Sources) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        match &sources.file {
            Some(path) => {
                if !path.exists() {
                    return Err(ConfigError::new(
                        "--config",
                        format!("file {} does not exist", path.display()),
                    ));
                }
                figment = figment.merge(Toml::file_exact(path));
            }
            None => {
                if Path::new(DEFAULT_CONFIG_FILE).exists() {
                    figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE));
                }
            }
        }
        if !sources.skip_env {
            figment = figment.merge(Env::prefixed("VIEAGENT_").filter_map(|key| {
                ENV_KEYS
                    .iter()
                    .find(|(env, _)| key.as_str().eq_ignore_ascii_case(env))
                    .map(|(_, path)| (*path).into())
            }));
        }
        figment = figment.merge(Serialized::defaults(&sources.overrides));
        let config: Config = figment.extract().map_err(figment_error)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.database_kind()?;
        tracing_subscriber::EnvFilter::try_new(&self.log_level)
            .map_err(|e| ConfigError::new("log_level", e.to_string()))?;
        if self.db_max_connections == 0 {
            return Err(ConfigError::new("db_max_connections", "must be at least 1"));
        }
        if self.journal_writers == 0
            || (self.database_kind()? == DatabaseKind::Postgres
                && self.journal_writers >= self.db_max_connections)
        {
            return Err(ConfigError::new(
                "journal_writers",
                format!(
                    "must be at least 1 and below db_max_connections ({}), which calls and the admin API also need",
                    self.db_max_connections
                ),
            ));
        }
        if self.limits.calls_per_minute == Some(0) {
            return Err(ConfigError::new(
                "limits.calls_per_minute (VIEAGENT_RATE_LIMIT_PER_MINUTE)",
                "must be at least 1 (leave it unset for no limit)",
            ));
        }
        if self.limits.agent_concurrency == Some(0) {
            return Err(ConfigError::new(
                "limits.agent_concurrency (VIEAGENT_AGENT_CONCURRENCY)",
                "must be at least 1 (leave it unset for no limit)",
            ));
        }
        if self.limits.max_inflight_calls == 0 {
            return Err(ConfigError::new(
                "limits.max_inflight_calls",
                "must be at least 1",
            ));
        }
        if let Some(url) = &self.public_url {
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                return Err(ConfigError::new(
                    "public_url (VIEAGENT_PUBLIC_URL)",
                    "must be an http:// or https:// URL with a host, e.g. https://gateway.example.com",
                ));
            }
            if url.query().is_some() || url.fragment().is_some() {
                return Err(ConfigError::new(
                    "public_url (VIEAGENT_PUBLIC_URL)",
                    "must be a base URL without ?query or #fragment",
                ));
            }
        }
        for (name, d) in [
            ("web.session_ttl", self.web.session_ttl),
            ("web.connect_link_ttl", self.web.connect_link_ttl),
        ] {
            if d < Duration::from_secs(1) {
                return Err(ConfigError::new(name, "must be at least 1s"));
            }
        }
        if !matches!(self.web.default_locale.as_str(), "vi" | "en") {
            return Err(ConfigError::new(
                "web.default_locale (VIEAGENT_WEB_DEFAULT_LOCALE)",
                "must be vi or en",
            ));
        }
        if let Some(oidc) = &self.auth.oidc {
            oidc.validate()?;
        }
        if let Some(web) = &self.web.oidc {
            if self.auth.oidc.is_none() {
                return Err(ConfigError::new(
                    "web.oidc (VIEAGENT_WEB_OIDC_CLIENT_ID)",
                    "signing in to /app with the marketplace account needs auth.oidc.issuer \
                     (VIEAGENT_OIDC_ISSUER): the identity provider it signs in at",
                ));
            }
            if web.client_id.trim().is_empty() || web.client_secret.expose_secret().is_empty() {
                return Err(ConfigError::new(
                    "web.oidc.client_id / client_secret",
                    "both are needed (the web app's confidential client at the identity provider)",
                ));
            }
            if !web.scopes.iter().any(|s| s == "openid") {
                return Err(ConfigError::new("web.oidc.scopes", "must include openid"));
            }
        } else if !self.web.api_key_sign_in {
            return Err(ConfigError::new(
                "web.api_key_sign_in (VIEAGENT_WEB_API_KEY_SIGN_IN)",
                "turning API-key sign-in off leaves /app without any sign-in: configure web.oidc",
            ));
        }
        if let Some(url) = &self.otlp_endpoint {
            if !cfg!(feature = "otel") {
                return Err(ConfigError::new(
                    "otlp_endpoint (VIEAGENT_OTLP_ENDPOINT)",
                    "this binary was built without OpenTelemetry export; \
                     rebuild with `cargo build --release --features otel` or unset it",
                ));
            }
            if !matches!(url.scheme(), "http" | "https") {
                return Err(ConfigError::new(
                    "otlp_endpoint (VIEAGENT_OTLP_ENDPOINT)",
                    "must be an http:// or https:// URL (OTLP over HTTP)",
                ));
            }
        }
        if self.heartbeat_interval.is_zero() {
            return Err(ConfigError::new(
                "heartbeat_interval",
                "must be more than 0",
            ));
        }
        if self.billing.signup_credits < 0 {
            return Err(ConfigError::new(
                "billing.signup_credits (VIEAGENT_SIGNUP_CREDITS)",
                "must be 0 or more",
            ));
        }
        if self.billing.currency.trim().is_empty() {
            return Err(ConfigError::new("billing.currency", "must not be empty"));
        }
        if self.master_key.is_some() && self.master_key_file.is_some() {
            return Err(ConfigError::new(
                "master_key",
                "set only one of master_key (VIEAGENT_MASTER_KEY) and master_key_file (VIEAGENT_MASTER_KEY_FILE)",
            ));
        }
        let flowise = &self.engines.flowise;
        if flowise.api_key.is_some() && flowise.base_url.is_none() {
            return Err(ConfigError::new(
                "engines.flowise.base_url (VIEAGENT_FLOWISE_URL)",
                "is required when engines.flowise.api_key is set",
            ));
        }
        let ap = &self.engines.activepieces;
        if (ap.token.is_some() || ap.webhook_auth.is_some()) && ap.base_url.is_none() {
            return Err(ConfigError::new(
                "engines.activepieces.base_url (VIEAGENT_ACTIVEPIECES_URL)",
                "is required when the Activepieces token or webhook auth is set",
            ));
        }
        for (setting, url) in [
            ("engines.flowise.base_url", &flowise.base_url),
            ("engines.activepieces.base_url", &ap.base_url),
        ] {
            if let Some(url) = url
                && !matches!(url.scheme(), "http" | "https")
            {
                return Err(ConfigError::new(
                    setting,
                    "must be an http:// or https:// URL",
                ));
            }
        }
        if let Some(secret) = &self.marketplace.webhook_secret
            && secret.expose_secret().trim().len() < 16
        {
            return Err(ConfigError::new(
                "marketplace.webhook_secret (VIEAGENT_MARKETPLACE_WEBHOOK_SECRET)",
                "must be at least 16 characters",
            ));
        }
        if let Some(template) = &self.marketplace.agent_url {
            let sample = self.marketplace.agent_page(
                "00000000-0000-4000-8000-000000000000",
                "sample_tool",
                None,
            );
            if !sample.is_some_and(|u| matches!(u.scheme(), "http" | "https"))
                || !(template.contains("{agent_id}") || template.contains("{tool}"))
            {
                return Err(ConfigError::new(
                    "marketplace.agent_url (VIEAGENT_MARKETPLACE_AGENT_URL)",
                    "must be an http(s) URL template naming {agent_id} or {tool}, \
                     e.g. https://vieagent.vn/agents/{agent_id}",
                ));
            }
        }
        for (setting, url) in [
            (
                "marketplace.credits_url (VIEAGENT_MARKETPLACE_CREDITS_URL)",
                &self.marketplace.credits_url,
            ),
            (
                "marketplace.signup_url (VIEAGENT_MARKETPLACE_SIGNUP_URL)",
                &self.marketplace.signup_url,
            ),
        ] {
            if url
                .as_ref()
                .is_some_and(|u| !matches!(u.scheme(), "http" | "https"))
            {
                return Err(ConfigError::new(
                    setting,
                    "must be an http:// or https:// URL",
                ));
            }
        }
        if let Some(key) = &self.master_key {
            crate::crypto::MasterKey::from_base64(key.expose_secret())
                .map_err(|reason| ConfigError::new("master_key (VIEAGENT_MASTER_KEY)", reason))?;
        }
        Ok(())
    }

    /// The largest MCP message accepted over HTTP: `mcp.max_request_bytes`,
    /// or the every-route `limits.max_body_bytes` if that is smaller (so a
    /// refusal names the limit that applied).
    pub fn mcp_http_message_limit(&self) -> usize {
        self.mcp.max_request_bytes.min(self.limits.max_body_bytes)
    }

    /// The backend selected by `database_url`, after checking it parses.
    pub fn database_kind(&self) -> Result<DatabaseKind, ConfigError> {
        database_kind(self.database_url.expose_secret())
    }

    /// The base of links to this gateway: `public_url`, else the listen
    /// address (`localhost` for a wildcard address).
    pub fn public_base_url(&self) -> url::Url {
        if let Some(url) = &self.public_url {
            return url.clone();
        }
        let host = match self.listen.ip() {
            ip if ip.is_unspecified() => "localhost".to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        url::Url::parse(&format!("http://{host}:{}/", self.listen.port()))
            .unwrap_or_else(|_| url::Url::parse("http://localhost/").expect("a valid URL"))
    }

    /// Whether this configuration uses the embedded database (SQLite).
    pub fn is_embedded(&self) -> bool {
        matches!(self.database_kind(), Ok(DatabaseKind::Sqlite))
    }

    /// The effective configuration as TOML, with every secret redacted.
    pub fn redacted(&self) -> String {
        let mut table = toml::Table::new();
        table.insert(
            "database_url".into(),
            redact_url(self.database_url.expose_secret()).into(),
        );
        table.insert("listen".into(), self.listen.to_string().into());
        table.insert("log_level".into(), self.log_level.clone().into());
        table.insert(
            "log_format".into(),
            match self.log_format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            }
            .into(),
        );
        table.insert(
            "db_connect_timeout".into(),
            humantime::format_duration(self.db_connect_timeout)
                .to_string()
                .into(),
        );
        table.insert(
            "db_max_connections".into(),
            i64::from(self.db_max_connections).into(),
        );
        table.insert(
            "journal_writers".into(),
            i64::from(self.journal_writers).into(),
        );
        if self.master_key.is_some() {
            table.insert("master_key".into(), "<redacted>".into());
        }
        if let Some(path) = &self.master_key_file {
            table.insert("master_key_file".into(), path.display().to_string().into());
        }
        table.insert(
            "keyring_files".into(),
            toml::Value::Array(
                self.keyring_files
                    .iter()
                    .map(|p| p.display().to_string().into())
                    .collect(),
            ),
        );
        let mut engines = toml::Table::new();
        let f = &self.engines.flowise;
        let mut flowise = toml::Table::new();
        if let Some(url) = &f.base_url {
            flowise.insert("base_url".into(), redact_url(url.as_str()).into());
        }
        if f.api_key.is_some() {
            flowise.insert("api_key".into(), "<redacted>".into());
        }
        http_table(&mut flowise, &f.http());
        flowise.insert("purge".into(), f.purge.into());
        flowise.insert(
            "purge_check".into(),
            match f.purge_check {
                PurgeCheck::Refuse => "refuse",
                PurgeCheck::Warn => "warn",
            }
            .into(),
        );
        engines.insert("flowise".into(), flowise.into());
        engines.insert(
            "purge_retry".into(),
            humantime::format_duration(self.engines.purge_retry)
                .to_string()
                .into(),
        );
        let a = &self.engines.activepieces;
        let mut ap = toml::Table::new();
        if let Some(url) = &a.base_url {
            ap.insert("base_url".into(), redact_url(url.as_str()).into());
        }
        if a.token.is_some() {
            ap.insert("token".into(), "<redacted>".into());
        }
        if let Some(auth) = &a.webhook_auth {
            ap.insert(
                "webhook_auth".into(),
                match auth {
                    WebhookAuth::Basic { .. } => "basic <redacted>",
                    WebhookAuth::Header { .. } => "header <redacted>",
                }
                .into(),
            );
        }
        ap.insert(
            "credentials_field".into(),
            a.credentials_field.clone().into(),
        );
        ap.insert(
            "sync_timeout".into(),
            humantime::format_duration(a.sync_timeout)
                .to_string()
                .into(),
        );
        http_table(&mut ap, &a.http());
        engines.insert("activepieces".into(), ap.into());
        table.insert("engines".into(), engines.into());
        if self.api_key.is_some() {
            table.insert("api_key".into(), "<redacted>".into());
        }
        if self.admin_token.is_some() {
            table.insert("admin_token".into(), "<redacted>".into());
        }
        for (name, d) in [
            ("auth_cache_ttl", self.auth_cache_ttl),
            ("catalog_poll_interval", self.catalog_poll_interval),
            ("recovery_interval", self.recovery_interval),
            ("shutdown_grace", self.shutdown_grace),
            ("heartbeat_interval", self.heartbeat_interval),
        ] {
            table.insert(
                name.into(),
                humantime::format_duration(d).to_string().into(),
            );
        }
        if let Some(demo) = self.demo {
            table.insert("demo".into(), demo.into());
        }
        if let Some(url) = &self.otlp_endpoint {
            table.insert("otlp_endpoint".into(), redact_url(url.as_str()).into());
        }
        if let Some(url) = &self.public_url {
            table.insert("public_url".into(), redact_url(url.as_str()).into());
        }
        let mut web = toml::Table::new();
        for (name, d) in [
            ("session_ttl", self.web.session_ttl),
            ("connect_link_ttl", self.web.connect_link_ttl),
            ("elicitation_wait", self.web.elicitation_wait),
        ] {
            web.insert(
                name.into(),
                humantime::format_duration(d).to_string().into(),
            );
        }
        web.insert(
            "default_locale".into(),
            self.web.default_locale.clone().into(),
        );
        web.insert("api_key_sign_in".into(), self.web.api_key_sign_in.into());
        if let Some(o) = &self.web.oidc {
            let mut t = toml::Table::new();
            t.insert("client_id".into(), o.client_id.clone().into());
            t.insert("client_secret".into(), "<redacted>".into());
            t.insert(
                "scopes".into(),
                toml::Value::Array(o.scopes.iter().map(|s| s.clone().into()).collect()),
            );
            web.insert("oidc".into(), t.into());
        }
        table.insert("web".into(), web.into());
        if let Some(oidc) = &self.auth.oidc {
            let mut auth = toml::Table::new();
            auth.insert("oidc".into(), oidc.table().into());
            table.insert("auth".into(), auth.into());
        }
        let mut mcp = toml::Table::new();
        if let Some(hosts) = &self.mcp.allowed_hosts {
            mcp.insert(
                "allowed_hosts".into(),
                toml::Value::Array(hosts.iter().map(|h| h.clone().into()).collect()),
            );
        }
        mcp.insert(
            "allowed_origins".into(),
            toml::Value::Array(
                self.mcp
                    .allowed_origins
                    .iter()
                    .map(|h| h.clone().into())
                    .collect(),
            ),
        );
        mcp.insert(
            "tools_page_size".into(),
            i64::try_from(self.mcp.tools_page_size)
                .unwrap_or(i64::MAX)
                .into(),
        );
        mcp.insert("apps".into(), self.mcp.apps.into());
        mcp.insert(
            "max_request_bytes".into(),
            i64::try_from(self.mcp.max_request_bytes)
                .unwrap_or(i64::MAX)
                .into(),
        );
        table.insert("mcp".into(), mcp.into());
        let mut billing = toml::Table::new();
        billing.insert("signup_credits".into(), self.billing.signup_credits.into());
        billing.insert("currency".into(), self.billing.currency.clone().into());
        table.insert("billing".into(), billing.into());
        let mut catalog = toml::Table::new();
        catalog.insert(
            "show_unpurchased".into(),
            self.catalog.show_unpurchased.into(),
        );
        catalog.insert("toolbox".into(), self.catalog.toolbox.as_str().into());
        catalog.insert(
            "toolbox_add_purchases".into(),
            self.catalog.toolbox_add_purchases.into(),
        );
        table.insert("catalog".into(), catalog.into());
        if let Some(addr) = self.metrics_listen {
            table.insert("metrics_listen".into(), addr.to_string().into());
        }
        let mut limits = toml::Table::new();
        if let Some(n) = self.limits.calls_per_minute {
            limits.insert("calls_per_minute".into(), i64::from(n).into());
        }
        if let Some(n) = self.limits.agent_concurrency {
            limits.insert("agent_concurrency".into(), i64::from(n).into());
        }
        limits.insert(
            "max_inflight_calls".into(),
            i64::from(self.limits.max_inflight_calls).into(),
        );
        limits.insert(
            "queue_timeout".into(),
            humantime::format_duration(self.limits.queue_timeout)
                .to_string()
                .into(),
        );
        limits.insert(
            "max_body_bytes".into(),
            i64::try_from(self.limits.max_body_bytes)
                .unwrap_or(i64::MAX)
                .into(),
        );
        table.insert("limits".into(), limits.into());
        let mut marketplace = toml::Table::new();
        if self.marketplace.webhook_secret.is_some() {
            marketplace.insert("webhook_secret".into(), "<redacted>".into());
        }
        if let Some(t) = &self.marketplace.agent_url {
            marketplace.insert("agent_url".into(), t.clone().into());
        }
        for (name, url) in [
            ("credits_url", &self.marketplace.credits_url),
            ("signup_url", &self.marketplace.signup_url),
        ] {
            if let Some(u) = url {
                marketplace.insert(name.into(), redact_url(u.as_str()).into());
            }
        }
        if !marketplace.is_empty() {
            table.insert("marketplace".into(), marketplace.into());
        }
        toml::to_string(&table).unwrap_or_default()
    }
}

fn http_table(table: &mut toml::Table, http: &EngineHttpConfig) {
    table.insert(
        "connect_timeout".into(),
        humantime::format_duration(http.connect_timeout)
            .to_string()
            .into(),
    );
    table.insert(
        "call_timeout".into(),
        humantime::format_duration(http.call_timeout)
            .to_string()
            .into(),
    );
    table.insert(
        "max_response_bytes".into(),
        i64::try_from(http.max_response_bytes)
            .unwrap_or(i64::MAX)
            .into(),
    );
}

fn figment_error(err: figment::Error) -> ConfigError {
    // figment errors name the key path; never echo a value (it may be a secret).
    let setting = if err.path.is_empty() {
        "config".to_string()
    } else {
        err.path.join(".")
    };
    let message = match &err.kind {
        figment::error::Kind::InvalidType(actual, expected) => {
            format!("expected {expected}, found {actual}")
        }
        figment::error::Kind::UnknownField(field, _) => {
            return ConfigError::new(field.clone(), "unknown setting");
        }
        figment::error::Kind::Message(m) => {
            // Parse errors from files carry line information, never secret values of ours.
            m.clone()
        }
        other => other.to_string(),
    };
    ConfigError::new(setting, message)
}

/// Classify and syntax-check a database URL without ever echoing it.
pub fn database_kind(url: &str) -> Result<DatabaseKind, ConfigError> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
    match scheme {
        "sqlite" => {
            sqlx::sqlite::SqliteConnectOptions::from_str(url).map_err(|e| {
                ConfigError::new(
                    "database_url",
                    format!("not a valid sqlite URL ({})", scrub(&e.to_string(), url)),
                )
            })?;
            Ok(DatabaseKind::Sqlite)
        }
        "postgres" | "postgresql" => {
            let parsed = url::Url::parse(url).map_err(|e| {
                ConfigError::new("database_url", format!("not a valid PostgreSQL URL ({e})"))
            })?;
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(ConfigError::new(
                    "database_url",
                    "PostgreSQL URL has no host (expected postgres://user@host:5432/dbname)",
                ));
            }
            sqlx::postgres::PgConnectOptions::from_str(url).map_err(|e| {
                ConfigError::new(
                    "database_url",
                    format!(
                        "not a valid PostgreSQL URL ({})",
                        scrub(&e.to_string(), url)
                    ),
                )
            })?;
            Ok(DatabaseKind::Postgres)
        }
        "" => Err(ConfigError::new(
            "database_url",
            "has no scheme (expected sqlite://path.db or postgres://user@host/db)",
        )),
        other => Err(ConfigError::new(
            "database_url",
            format!(
                "unsupported scheme '{}' (expected sqlite: or postgres:)",
                other.chars().take(32).collect::<String>()
            ),
        )),
    }
}

/// Remove a secret string from a message before it is shown.
fn scrub(message: &str, secret: &str) -> String {
    if secret.is_empty() {
        message.to_string()
    } else {
        message.replace(secret, "<database_url>")
    }
}

/// This machine's name, as `replicas.hostname` records it: `HOSTNAME` (set
/// by container runtimes and Kubernetes), else `/etc/hostname`.
pub fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            let mut out = parsed.to_string();
            // Query parameters may carry a password too (`?password=`).
            if parsed.query_pairs().any(|(k, _)| k == "password") {
                let pairs: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(k, v)| {
                        if k == "password" {
                            (k.into_owned(), "***".to_string())
                        } else {
                            (k.into_owned(), v.into_owned())
                        }
                    })
                    .collect();
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
                out = parsed.to_string();
            }
            out
        }
        Err(_) => "<unparseable>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_with(overrides: Overrides) -> Result<Config, ConfigError> {
        Config::load(&Sources {
            file: None,
            overrides,
            skip_env: true,
        })
    }

    #[test]
    fn otlp_endpoint_needs_the_feature_and_http() {
        let mut config = Config {
            otlp_endpoint: Some(url::Url::parse("http://collector:4318").expect("url")),
            ..Config::default()
        };
        let result = config.validate();
        if cfg!(feature = "otel") {
            assert!(result.is_ok(), "{result:?}");
        } else {
            let e = result.expect_err("no silent no-op");
            assert!(e.to_string().contains("--features otel"), "{e}");
        }
        config.otlp_endpoint = Some(url::Url::parse("grpc://collector:4317").expect("url"));
        assert!(config.validate().is_err());
    }

    #[test]
    fn defaults() {
        let c = load_with(Overrides::default()).expect("defaults load");
        assert_eq!(c.database_url.expose_secret(), DEFAULT_DATABASE_URL);
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.database_kind().expect("kind"), DatabaseKind::Sqlite);
        assert_eq!(c.db_connect_timeout, Duration::from_secs(30));
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the closure's error type
    fn list_settings_take_commas_in_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env(
                "VIEAGENT_MCP_ALLOWED_ORIGINS",
                "https://chat.example.com, http://localhost:6274",
            );
            jail.set_env("VIEAGENT_MCP_ALLOWED_HOSTS", "gw.example.com,localhost");
            jail.set_env("VIEAGENT_MCP_APPS", "false");
            let c = Config::load(&Sources {
                skip_env: false,
                ..Default::default()
            })
            .expect("load");
            assert_eq!(
                c.mcp.allowed_origins,
                ["https://chat.example.com", "http://localhost:6274"]
            );
            assert_eq!(
                c.mcp.allowed_hosts.as_deref(),
                Some(&["gw.example.com".to_string(), "localhost".to_string()][..])
            );
            assert!(!c.mcp.apps);
            jail.set_env(
                "VIEAGENT_MCP_ALLOWED_ORIGINS",
                "[https://a.example.com,https://b.example.com]",
            );
            let c = Config::load(&Sources {
                skip_env: false,
                ..Default::default()
            })
            .expect("load");
            assert_eq!(
                c.mcp.allowed_origins.len(),
                2,
                "the bracket form still works"
            );
            // Set to nothing: unset (localhost names on loopback), never
            // "any host".
            jail.set_env("VIEAGENT_MCP_ALLOWED_HOSTS", "");
            let c = Config::load(&Sources {
                skip_env: false,
                ..Default::default()
            })
            .expect("load");
            assert_eq!(c.mcp.allowed_hosts, None);
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the closure's error type
    fn layering_file_then_env_then_cli() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("v.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nlog_level = \"debug\"\ndb_connect_timeout = \"5s\"\n",
        )
        .expect("write");
        figment::Jail::expect_with(|jail| {
            jail.set_env("VIEAGENT_LOG_LEVEL", "warn");
            jail.set_env("VIEAGENT_TEST_DATABASE_URL", "ignored://x");
            let c = Config::load(&Sources {
                file: Some(file.clone()),
                overrides: Overrides::default(),
                skip_env: false,
            })
            .expect("load");
            assert_eq!(c.listen.port(), 9000, "file beats default");
            assert_eq!(c.log_level, "warn", "env beats file");
            assert_eq!(c.db_connect_timeout, Duration::from_secs(5));
            let c = Config::load(&Sources {
                file: Some(file.clone()),
                overrides: Overrides {
                    log_level: Some("error".into()),
                    ..Default::default()
                },
                skip_env: false,
            })
            .expect("load");
            assert_eq!(c.log_level, "error", "cli beats env");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the closure's error type
    fn marketplace_secret_from_env_redacted_and_checked() {
        figment::Jail::expect_with(|jail| {
            let env = Sources {
                file: None,
                overrides: Overrides::default(),
                skip_env: false,
            };
            jail.set_env(
                "VIEAGENT_MARKETPLACE_WEBHOOK_SECRET",
                "whsec-mk7-0123456789",
            );
            let c = Config::load(&env).expect("load");
            let secret = c.marketplace.webhook_secret.as_ref().expect("secret");
            assert_eq!(secret.expose_secret(), "whsec-mk7-0123456789");
            let shown = format!("{} {c:?}", c.redacted());
            assert!(!shown.contains("whsec-mk7"), "{shown}");
            assert!(shown.contains("webhook_secret = \"<redacted>\""), "{shown}");
            jail.set_env("VIEAGENT_MARKETPLACE_WEBHOOK_SECRET", "short");
            let err = Config::load(&env).expect_err("too short");
            assert!(
                err.setting.starts_with("marketplace.webhook_secret"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the closure's error type
    fn oidc_settings_from_env_with_the_secret_redacted() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("VIEAGENT_OIDC_ISSUER", "https://sso.example.com/realms/m");
            jail.set_env(
                "VIEAGENT_OIDC_AUDIENCE",
                "https://gw.example.com/mcp, https://gw.example.com/sse",
            );
            jail.set_env("VIEAGENT_OIDC_AUTO_PROVISION", "true");
            jail.set_env("VIEAGENT_OIDC_INTROSPECTION_CLIENT_ID", "gateway");
            jail.set_env("VIEAGENT_OIDC_INTROSPECTION_CLIENT_SECRET", "intro-s3cret");
            let c = Config::load(&Sources {
                file: None,
                overrides: Overrides::default(),
                skip_env: false,
            })
            .expect("load");
            let oidc = c.auth.oidc.as_ref().expect("oidc");
            assert_eq!(oidc.issuer, "https://sso.example.com/realms/m");
            assert_eq!(
                oidc.audience,
                ["https://gw.example.com/mcp", "https://gw.example.com/sse"]
            );
            assert!(oidc.auto_provision);
            assert_eq!(oidc.tools_scope, "vieagent:tools");
            assert_eq!(oidc.admin_scope, "vieagent:admin");
            let shown = c.redacted();
            let debug = format!("{c:?}");
            assert!(!shown.contains("intro-s3cret") && !debug.contains("intro-s3cret"));
            assert!(shown.contains("[auth.oidc.introspection]"), "{shown}");

            jail.set_env("VIEAGENT_OIDC_ISSUER", "not a url");
            let err = Config::load(&Sources {
                file: None,
                overrides: Overrides::default(),
                skip_env: false,
            })
            .expect_err("bad issuer");
            assert!(err.setting.starts_with("auth.oidc.issuer"), "{err}");

            // Tokens and keys travel over TLS, but to a loopback provider.
            for (issuer, ok) in [
                ("http://sso.example.com/realms/m", false),
                ("http://127.0.0.1:8080/realms/m", true),
                ("http://localhost:8080", true),
                ("http://[::1]:8080", true),
            ] {
                jail.set_env("VIEAGENT_OIDC_ISSUER", issuer);
                let loaded = Config::load(&Sources {
                    file: None,
                    overrides: Overrides::default(),
                    skip_env: false,
                });
                match loaded {
                    Ok(_) => assert!(ok, "{issuer} should be refused"),
                    Err(e) => {
                        assert!(!ok, "{issuer}: {e}");
                        assert!(e.to_string().contains("https://"), "{e}");
                    }
                }
            }
            jail.set_env("VIEAGENT_OIDC_ISSUER", "https://sso.example.com/realms/m");
            jail.set_env(
                "VIEAGENT_OIDC_INTROSPECTION_URL",
                "http://sso.example.com/i",
            );
            let err = Config::load(&Sources {
                file: None,
                overrides: Overrides::default(),
                skip_env: false,
            })
            .expect_err("plain http introspection");
            assert!(
                err.setting.starts_with("auth.oidc.introspection.url"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn bad_database_urls_name_the_setting() {
        for url in ["mysql://x/y", "nonsense", "postgres://", ""] {
            let err = load_with(Overrides {
                database_url: Some(url.into()),
                ..Default::default()
            })
            .expect_err(url);
            assert_eq!(err.setting, "database_url", "{url}: {err}");
        }
    }

    #[test]
    fn secrets_are_redacted_everywhere() {
        let c = load_with(Overrides {
            database_url: Some("postgres://app:hunter2-secret@db.internal:5432/vie".into()),
            ..Default::default()
        })
        .expect("load");
        let shown = c.redacted();
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        assert!(
            shown.contains("postgres://app:***@db.internal:5432/vie"),
            "{shown}"
        );
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2-secret"), "{debug}");
        assert_eq!(
            redact_url("postgres://u@h/db?password=s3cr3t&sslmode=require"),
            "postgres://u@h/db?password=***&sslmode=require"
        );
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the closure's error type
    fn journal_writers_come_from_env_and_must_leave_connections_for_calls() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("VIEAGENT_DATABASE_URL", "postgres://u@db.example/vieagent");
            jail.set_env("VIEAGENT_JOURNAL_WRITERS", "3");
            let load = || {
                Config::load(&Sources {
                    file: None,
                    overrides: Overrides::default(),
                    skip_env: false,
                })
            };
            assert_eq!(load().expect("load").journal_writers, 3);
            jail.set_env("VIEAGENT_JOURNAL_WRITERS", "16");
            let err = load().expect_err("as many writers as connections");
            assert_eq!(err.setting, "journal_writers");
            assert!(
                err.message.contains("below db_max_connections (16)"),
                "{}",
                err.message
            );
            jail.set_env("VIEAGENT_JOURNAL_WRITERS", "0");
            assert_eq!(load().expect_err("zero").setting, "journal_writers");
            Ok(())
        });
        assert_eq!(
            load_with(Overrides::default())
                .expect("defaults")
                .journal_writers,
            1
        );
    }

    #[test]
    fn unknown_setting_in_file_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("v.toml");
        std::fs::write(&file, "lisen = \"127.0.0.1:9000\"\n").expect("write");
        let err = Config::load(&Sources {
            file: Some(file),
            overrides: Overrides::default(),
            skip_env: true,
        })
        .expect_err("typo must fail");
        assert_eq!(err.setting, "lisen");
    }
}
