//! `/admin/v1/users/{id}/entitlements`, `/admin/v1/entitlements/{id}`,
//! `/admin/v1/users/{id}/credits`, `/admin/v1/users/{id}/ledger`.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{AdminActor, audit, page};
use crate::agents::PriceInput;
use crate::billing::{self, Grant};
use crate::error::{Error, FieldError, Result};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::openapi::{AdminAuth, BadBody, Conflict, Invalid, NotFound};
use crate::state::AppState;
use crate::store::{CreditAccount, Entitlement, EntitlementKind, LedgerEntry, User};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_entitlements, grant_entitlement))
        .routes(routes!(revoke_entitlement))
        .routes(routes!(get_credits, adjust_credits))
        .routes(routes!(list_ledger))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntitlementView {
    pub id: Uuid,
    pub user_id: Uuid,
    pub agent_id: Uuid,
    pub kind: EntitlementKind,
    pub starts_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub reference: Option<String>,
    /// What was paid (decimal string), for revenue reports.
    #[schema(example = "9.99")]
    pub price: Option<String>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
    /// In force now: started, not expired, not revoked.
    pub active: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<Entitlement> for EntitlementView {
    fn from(e: Entitlement) -> Self {
        Self {
            active: e.is_active(chrono::Utc::now()),
            id: e.id,
            user_id: e.user_id,
            agent_id: e.agent_id,
            kind: e.kind,
            starts_at: e.starts_at,
            expires_at: e.expires_at,
            reference: e.reference,
            price: e.price.map(|p| p.to_string()),
            revoked_at: e.revoked_at,
            created_at: e.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntitlementList {
    pub items: Vec<EntitlementView>,
}

/// Grant a user access to a priced agent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntitlementGrant {
    /// The agent: its tool name or id.
    #[schema(example = "support_qa")]
    pub agent: String,
    /// `one_time` (never expires), `monthly` (one calendar month from
    /// `starts_at` unless `expires_at` is given), `free` or `grant`.
    pub kind: EntitlementKind,
    /// Default: now.
    pub starts_at: Option<chrono::DateTime<chrono::Utc>>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// An order or invoice number.
    #[schema(max_length = 200)]
    pub reference: Option<String>,
    /// What was paid; default: the agent's price for `one_time`/`monthly`,
    /// nothing for `free`/`grant`.
    pub price: Option<PriceInput>,
}

async fn load_user(state: &AppState, id: Uuid) -> Result<User> {
    state
        .store()
        .get_user(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no user with id {id}")))
}

/// A user's entitlements (active or not), newest first.
#[utoipa::path(get, path = "/users/{id}/entitlements", tag = "billing", params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = EntitlementList),
        Invalid, AdminAuth, NotFound,
    ))]
async fn list_entitlements(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<EntitlementList>> {
    load_user(&state, id).await?;
    let items = state
        .store()
        .list_entitlements(id)
        .await?
        .into_iter()
        .map(EntitlementView::from)
        .collect();
    Ok(axum::Json(EntitlementList { items }))
}

/// Grant an entitlement; the user's MCP sessions hear `tools/list_changed`.
#[utoipa::path(post, path = "/users/{id}/entitlements", tag = "billing", params(("id" = Uuid, Path)),
    request_body = EntitlementGrant,
    responses(
        (status = 201, body = EntitlementView),
        Invalid, AdminAuth, NotFound, BadBody,
    ))]
async fn grant_entitlement(
    State(state): State<AppState>,
    Extension(actor): Extension<AdminActor>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<EntitlementGrant>,
) -> Result<(StatusCode, axum::Json<EntitlementView>)> {
    let user = load_user(&state, id).await?;
    let price = match &body.price {
        None => None,
        Some(p) => {
            Some(crate::agents::parse_price("price", p).map_err(|e| Error::Validation(vec![e]))?)
        }
    };
    let agent = billing::find_agent(state.store(), &body.agent)
        .await?
        .ok_or_else(|| {
            Error::Validation(vec![FieldError::new(
                "agent",
                "exists",
                format!("no agent with tool name or id '{}'", body.agent),
            )])
        })?;
    let grant = Grant {
        kind: body.kind,
        starts_at: body.starts_at,
        expires_at: body.expires_at,
        reference: body.reference,
        price,
        join_toolbox: state.config().catalog.toolbox_add_purchases,
    };
    let created = billing::grant_entitlement(
        state.store(),
        Some(state.entitlements()),
        user.id,
        &agent,
        &grant,
    )
    .await?;
    audit(
        &state,
        &actor,
        "entitlement.grant",
        "entitlement",
        Some(created.id.to_string()),
        json!({"user_id": user.id, "agent": agent.tool_name, "kind": created.kind,
               "expires_at": created.expires_at, "price": created.price.map(|p| p.to_string())}),
    )
    .await;
    // The grant may have joined the toolbox too (one transaction).
    state.calls().toolboxes().invalidate(user.id);
    billing::entitlements_changed(state.entitlements(), state.sessions(), user.id).await;
    Ok((StatusCode::CREATED, axum::Json(created.into())))
}

/// Revoke an entitlement (the row stays, with `revoked_at`, for the record).
#[utoipa::path(delete, path = "/entitlements/{entitlement_id}", tag = "billing",
    params(("entitlement_id" = Uuid, Path)),
    responses(
        (status = 200, body = EntitlementView),
        Invalid, AdminAuth, NotFound, Conflict,
    ))]
async fn revoke_entitlement(
    State(state): State<AppState>,
    Extension(actor): Extension<AdminActor>,
    ApiPath(entitlement_id): ApiPath<Uuid>,
) -> Result<axum::Json<EntitlementView>> {
    let revoked =
        billing::revoke_entitlement(state.store(), Some(state.entitlements()), entitlement_id)
            .await?;
    audit(
        &state,
        &actor,
        "entitlement.revoke",
        "entitlement",
        Some(revoked.id.to_string()),
        json!({"user_id": revoked.user_id, "agent_id": revoked.agent_id}),
    )
    .await;
    billing::entitlements_changed(state.entitlements(), state.sessions(), revoked.user_id).await;
    Ok(axum::Json(revoked.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreditsView {
    pub user_id: Uuid,
    pub balance: i64,
    /// Held by calls in flight.
    pub reserved: i64,
    /// `balance - reserved`: what new calls can use.
    pub available: i64,
}

impl CreditsView {
    fn new(user_id: Uuid, a: CreditAccount) -> Self {
        Self {
            user_id,
            balance: a.balance,
            reserved: a.reserved,
            available: a.available(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditAdjustment {
    /// Credits to add (positive) or remove (negative).
    #[schema(minimum = -1_000_000_000, maximum = 1_000_000_000, example = 500)]
    #[serde(deserialize_with = "crate::agents::int64_like")]
    pub amount: i64,
    /// Why (kept in the ledger).
    #[schema(min_length = 1, max_length = 500, example = "November top-up")]
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerEntryView {
    pub id: Uuid,
    pub user_id: Uuid,
    pub delta: i64,
    /// `signup`, `call` (a settled call) or the reason given with a grant.
    pub reason: String,
    /// The call this entry settled.
    pub execution_log_id: Option<Uuid>,
    pub balance_after: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<LedgerEntry> for LedgerEntryView {
    fn from(e: LedgerEntry) -> Self {
        Self {
            id: e.id,
            user_id: e.user_id,
            delta: e.delta,
            reason: e.reason,
            execution_log_id: e.execution_log_id,
            balance_after: e.balance_after,
            created_at: e.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerPage {
    pub items: Vec<LedgerEntryView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    pub cursor: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// A user's credits.
#[utoipa::path(get, path = "/users/{id}/credits", tag = "billing", params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = CreditsView),
        Invalid, AdminAuth, NotFound,
    ))]
async fn get_credits(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<CreditsView>> {
    load_user(&state, id).await?;
    let account = state.store().credit_account(id).await?;
    Ok(axum::Json(CreditsView::new(id, account)))
}

/// Add or remove credits, with a reason; answers with the ledger entry.
/// Credits held by calls in flight cannot be removed (409).
#[utoipa::path(post, path = "/users/{id}/credits", tag = "billing", params(("id" = Uuid, Path)),
    request_body = CreditAdjustment,
    responses(
        (status = 201, body = LedgerEntryView),
        Invalid, AdminAuth, NotFound, Conflict, BadBody,
    ))]
async fn adjust_credits(
    State(state): State<AppState>,
    Extension(actor): Extension<AdminActor>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<CreditAdjustment>,
) -> Result<(StatusCode, axum::Json<LedgerEntryView>)> {
    billing::check_adjustment(body.amount, &body.reason).map_err(Error::Validation)?;
    load_user(&state, id).await?;
    let entry = billing::adjust_credits(state.store(), id, body.amount, &body.reason).await?;
    audit(
        &state,
        &actor,
        "credits.adjust",
        "user",
        Some(id.to_string()),
        json!({"amount": body.amount, "reason": entry.reason, "balance_after": entry.balance_after}),
    )
    .await;
    Ok((StatusCode::CREATED, axum::Json(entry.into())))
}

/// A user's credit ledger, newest first.
#[utoipa::path(get, path = "/users/{id}/ledger", tag = "billing",
    params(("id" = Uuid, Path), LedgerQuery),
    responses(
        (status = 200, body = LedgerPage),
        Invalid, AdminAuth, NotFound,
    ))]
async fn list_ledger(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<LedgerQuery>,
) -> Result<axum::Json<LedgerPage>> {
    load_user(&state, id).await?;
    let limit = page::page_size(q.limit)?;
    let before = page::before_time(q.cursor.as_deref())?;
    let rows = state.store().list_ledger(id, before, limit + 1).await?;
    let (items, next_cursor) = page::page(rows, limit, LedgerEntryView::from, |r| {
        page::time_cursor(r.created_at, r.id)
    });
    Ok(axum::Json(LedgerPage { items, next_cursor }))
}
