//! Admission: may this call run at all? The arguments against the tool's
//! schema, the account and the entitlement, the user's credentials from the
//! Vault. A refusal becomes one `failed` row (written by [`super::settle`]);
//! an admitted call carries its credentials, the scrubber built from them,
//! and the input snapshot with them redacted.

use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::billing::{self, Access};
use crate::scrub::Scrubber;
use chrono::{DateTime, Utc};

use crate::store::{Agent, CreditAccount, Entitlement, Role, StoreError, User};
use crate::vault::{Credentials, ResolveError, VaultError};

use super::pipeline::{Call, Pipeline};
use super::{ArgumentError, CallError, Problem, argument_errors, redact};

pub(super) enum Admission {
    Admitted(Admitted),
    Refused(Rejection),
}

/// A call that may run.
pub(super) struct Admitted {
    /// Decrypted for this call only; dropped as soon as the engine answers.
    pub credentials: Credentials,
    /// Removes the credentials' values from whatever the engine returns.
    pub scrubber: Scrubber,
    pub input_snapshot: Value,
}

/// Why a call may not run: a tool error the caller can act on.
pub(super) struct Rejection {
    pub kind: &'static str,
    pub message: String,
    /// Boxed: keeps the `Err` of the checks small.
    pub details: Box<Value>,
    /// The row's `error` when it must differ from `message` (which may
    /// carry a connect link: a link works as a password, so it is not
    /// journaled).
    pub journaled: Option<String>,
}

/// Validate → access → credentials. `Err` only when the database could
/// not answer (the call is not run, and not journaled).
pub(super) async fn admit(p: &Pipeline, call: &Call<'_>) -> Result<Admission, CallError> {
    match checks(p, call).await {
        Ok(admitted) => Ok(Admission::Admitted(admitted)),
        Err(Stop::Refused(rejection)) => Ok(Admission::Refused(rejection)),
        Err(Stop::Failed(e)) => Err(e),
    }
}

/// Why a check stopped the call.
enum Stop {
    Refused(Rejection),
    Failed(CallError),
}

impl From<Rejection> for Stop {
    fn from(rejection: Rejection) -> Self {
        Stop::Refused(rejection)
    }
}

async fn checks(p: &Pipeline, call: &Call<'_>) -> Result<Admitted, Stop> {
    valid_arguments(call)?;
    check_access(p, call.agent(), call.user()).await?;
    let credentials = credentials(p, call).await?;
    let scrubber = Scrubber::new(credentials.iter().map(|c| c.value.expose_secret()));
    let input_snapshot = redact::input_snapshot(&call.request.arguments, &scrubber);
    Ok(Admitted {
        credentials,
        scrubber,
        input_snapshot,
    })
}

/// The arguments against the tool's schema: every failing field and rule.
fn valid_arguments(call: &Call<'_>) -> Result<(), Rejection> {
    let problems = argument_errors(
        &call.entry.validator,
        &call.agent().input_schema,
        &call.request.arguments,
    );
    if problems.is_empty() {
        return Ok(());
    }
    let (message, details) = invalid_arguments(&call.agent().tool_name, &problems);
    Err(Rejection {
        kind: "invalid_arguments",
        message,
        details: Box::new(details),
        journaled: None,
    })
}

/// What an assistant is told of arguments its tool's schema refused: the
/// message (every problem on its own line) and the details — `errors`,
/// those lines, and `fields`, where and which rule, for a form to mark its
/// fields (the MCP App).
pub(super) fn invalid_arguments(tool: &str, problems: &[ArgumentError]) -> (String, Value) {
    let errors: Vec<String> = problems.iter().map(ArgumentError::assistant_line).collect();
    let fields: Vec<Value> = problems
        .iter()
        .map(|p| match &p.problem {
            Problem::Unexpected(names) => {
                json!({"pointer": p.pointer, "rule": p.rule, "unexpected": names})
            }
            _ => json!({"pointer": p.pointer, "rule": p.rule}),
        })
        .collect();
    let message = format!(
        "Invalid arguments for tool '{tool}':\n{}",
        errors
            .iter()
            .map(|e| format!("- {e}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    (message, json!({"errors": errors, "fields": fields}))
}

/// The user's credentials for the agent's providers, decrypted for this
/// call only.
async fn credentials(p: &Pipeline, call: &Call<'_>) -> Result<Credentials, Stop> {
    let (agent, user) = (call.agent(), call.user());
    match p
        .vault()
        .resolve(user.id, &agent.required_credential_types)
        .await
    {
        Ok(credentials) => Ok(credentials),
        Err(ResolveError::Vault(VaultError::MissingCredentials { providers })) => Err(
            Stop::Refused(missing_credentials(p, agent, user, providers)),
        ),
        Err(ResolveError::Vault(VaultError::Undecryptable { provider, .. })) => {
            Err(Stop::Refused(Rejection {
                kind: "credential_unreadable",
                message: format!(
                    "Your stored {provider} credential cannot be decrypted; store it again \
                     (web app: {}app/credentials?provider={provider}, or PUT /v1/me/credentials/{provider}).",
                    p.config().public_base_url()
                ),
                details: Box::new(json!({"provider": provider})),
                journaled: None,
            }))
        }
        Err(ResolveError::Store(e)) => {
            Err(Stop::Failed(CallError::JournalUnavailable(e.to_string())))
        }
    }
}

/// The account must be enabled; a priced agent needs an active entitlement.
/// (Credits are checked atomically when the journal reserves them.)
async fn check_access(p: &Pipeline, agent: &Agent, user: &User) -> Result<(), Stop> {
    if user.disabled_at.is_some() {
        return Err(Stop::Refused(Rejection {
            kind: "access_denied",
            message: "Your account is disabled; contact VieAgent support.".into(),
            details: Box::new(json!({})),
            journaled: None,
        }));
    }
    if !billing::is_priced(agent) {
        return Ok(());
    }
    let unavailable = |e: StoreError| Stop::Failed(CallError::journal(&e));
    let entitlements = p
        .entitlements()
        .for_user(p.store(), user.id)
        .await
        .map_err(unavailable)?;
    let now = chrono::Utc::now();
    let Access::NeedsPurchase { lapsed } = billing::access(agent, &entitlements, now) else {
        return Ok(());
    };
    let balance = p
        .store()
        .credit_account(user.id)
        .await
        .map_err(unavailable)?;
    let currency = &p.config().billing.currency;
    let buy = p
        .config()
        .marketplace
        .agent_page(&agent.id.to_string(), &agent.tool_name, None);
    Err(Stop::Refused(purchase_required(
        agent, user, currency, balance, lapsed, now, buy,
    )))
}

/// A priced agent the user has no active entitlement to: what it costs,
/// why access lapsed (if it did), and how to get it — where to buy it for
/// a buyer, the command only for an admin.
fn purchase_required(
    agent: &Agent,
    user: &User,
    currency: &str,
    balance: CreditAccount,
    lapsed: Option<Entitlement>,
    now: DateTime<Utc>,
    buy: Option<url::Url>,
) -> Rejection {
    let why = match &lapsed {
        Some(e) => format!("{}.", capitalize(&billing::lapsed_reason(e, now))),
        None => "You have not bought it.".into(),
    };
    let kind = if agent
        .price_one_time
        .is_some_and(|p| p > rust_decimal::Decimal::ZERO)
    {
        "one_time"
    } else {
        "monthly"
    };
    Rejection {
        kind: "purchase_required",
        message: format!(
            "Tool '{}' ({}) requires a purchase: {}. {why} Your balance: {} credits ({} per call). {}",
            agent.tool_name,
            agent.name,
            billing::price_text(agent, currency),
            balance.available(),
            agent.credits_per_call,
            how_to_get_access(agent, user, kind, buy.as_ref()),
        ),
        details: Box::new(json!({
            "buy_url": buy.as_ref().map(url::Url::as_str),
            "agent": agent.tool_name,
            "price_one_time": agent.price_one_time.map(|p| p.to_string()),
            "price_monthly": agent.price_monthly.map(|p| p.to_string()),
            "currency": currency,
            "balance": balance.balance,
            "available": balance.available(),
            "lapsed_entitlement": lapsed.map(|e| json!({
                "id": e.id,
                "kind": e.kind,
                "expires_at": e.expires_at,
                "revoked_at": e.revoked_at,
            })),
        })),
        journaled: None,
    }
}

/// The way to access: the marketplace for a buyer (never an admin
/// command: buyers have no administrator), the command for an admin.
fn how_to_get_access(agent: &Agent, user: &User, kind: &str, buy: Option<&url::Url>) -> String {
    if user.role == Role::Admin {
        return format!(
            "As an admin: vieagent entitlements grant --user {} --agent {} --kind {kind}",
            user.email, agent.tool_name
        );
    }
    match buy {
        Some(url) => format!("Buy it at {url}, then call the tool again."),
        None => "Buy it on the marketplace, then call the tool again.".into(),
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The user lacks credentials the agent needs: a connect link to the web
/// app's page for them (signed, single-use, short-lived, bound to the user),
/// so the key goes from the user's browser to the Vault and never through
/// the assistant's chat.
fn missing_credentials(
    p: &Pipeline,
    agent: &Agent,
    user: &User,
    providers: Vec<String>,
) -> Rejection {
    let links = p.connect_links();
    let link = links.issue(user.id, &providers);
    let minutes = links.ttl().as_secs().div_ceil(60);
    let names = providers.join(", ");
    Rejection {
        kind: "missing_credentials",
        message: format!(
            "Tool '{}' needs your credentials for: {names}. Open this link in your browser to add \
             them (it works once, for {minutes} min; the key goes straight to the gateway's \
             encrypted Vault, never through this chat): {} — then call the tool again.",
            agent.tool_name, link.url,
        ),
        details: Box::new(json!({
            "missing_credentials": providers,
            "connect_url": link.url.as_str(),
            "connect_url_expires_at": link.expires_at,
        })),
        journaled: Some(format!(
            "missing credentials for {names}; a connect link was sent (expires {})",
            link.expires_at.to_rfc3339()
        )),
    }
}
