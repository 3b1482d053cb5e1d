//! `/admin/v1/executions`, `/admin/v1/usage`, `/admin/v1/audit`.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::page;
use crate::billing::{self, GroupBy, UsageReport};
use crate::error::{Error, Result};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::http::openapi::{AdminAuth, Invalid, NotFound};
use crate::state::AppState;
use crate::store::{AuditEntry, EngineCopy, ExecutionLog, ExecutionLogFilter, ExecutionStatus};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_executions))
        .routes(routes!(get_execution))
        .routes(routes!(usage))
        .routes(routes!(list_audit))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionView {
    pub id: Uuid,
    pub user_id: Uuid,
    pub agent_id: Uuid,
    pub status: ExecutionStatus,
    pub external_execution_id: Option<String>,
    /// What became of the engine's copy of a call that carried the user's
    /// credentials: `pending` (a purge is due or being retried), `purged`,
    /// `kept` (the engine keeps it beyond the gateway's reach); absent when
    /// the call sent none.
    pub engine_copy: Option<EngineCopy>,
    #[schema(value_type = Option<Object>)]
    pub input_snapshot: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub output_snapshot: Option<Value>,
    pub duration_ms: Option<i32>,
    pub credits_consumed: i32,
    pub error: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<ExecutionLog> for ExecutionView {
    fn from(l: ExecutionLog) -> Self {
        Self {
            id: l.id,
            user_id: l.user_id,
            agent_id: l.agent_id,
            status: l.status,
            external_execution_id: l.external_execution_id,
            engine_copy: l.engine_copy,
            input_snapshot: l.input_snapshot,
            output_snapshot: l.output_snapshot,
            duration_ms: l.duration_ms,
            credits_consumed: l.credits_consumed,
            error: l.error,
            created_at: l.created_at,
            finished_at: l.finished_at,
        }
    }
}

/// A row in a list: without the snapshots (get one for those).
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionSummary {
    pub id: Uuid,
    pub user_id: Uuid,
    pub agent_id: Uuid,
    pub status: ExecutionStatus,
    pub external_execution_id: Option<String>,
    /// What became of the engine's copy of a call that carried the user's
    /// credentials: `pending` (a purge is due or being retried), `purged`,
    /// `kept` (the engine keeps it beyond the gateway's reach); absent when
    /// the call sent none.
    pub engine_copy: Option<EngineCopy>,
    pub duration_ms: Option<i32>,
    pub credits_consumed: i32,
    pub error: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<ExecutionLog> for ExecutionSummary {
    fn from(l: ExecutionLog) -> Self {
        Self {
            id: l.id,
            user_id: l.user_id,
            agent_id: l.agent_id,
            status: l.status,
            external_execution_id: l.external_execution_id,
            engine_copy: l.engine_copy,
            duration_ms: l.duration_ms,
            credits_consumed: l.credits_consumed,
            error: l.error,
            created_at: l.created_at,
            finished_at: l.finished_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionPage {
    pub items: Vec<ExecutionSummary>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExecutionQuery {
    pub user_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    pub status: Option<ExecutionStatus>,
    /// Created at or after (RFC 3339).
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Created before (RFC 3339).
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    pub cursor: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// Query the Shadow Journal, newest first (keyset pagination: stable while
/// new calls are recorded).
#[utoipa::path(get, path = "/executions", tag = "executions", params(ExecutionQuery),
    responses(
        (status = 200, body = ExecutionPage),
        Invalid, AdminAuth,
    ))]
async fn list_executions(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ExecutionQuery>,
) -> Result<axum::Json<ExecutionPage>> {
    let limit = page::page_size(q.limit)?;
    let before = page::before_time(q.cursor.as_deref())?;
    let rows = state
        .store()
        .list_execution_logs(&ExecutionLogFilter {
            user_id: q.user_id,
            agent_id: q.agent_id,
            status: q.status,
            from: q.from,
            to: q.to,
            before,
            limit: Some(limit + 1),
        })
        .await?;
    let (items, next_cursor) = page::page(rows, limit, ExecutionSummary::from, |r| {
        page::time_cursor(r.created_at, r.id)
    });
    Ok(axum::Json(ExecutionPage { items, next_cursor }))
}

/// One execution with its input and output snapshots.
#[utoipa::path(get, path = "/executions/{id}", tag = "executions", params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = ExecutionView),
        Invalid, AdminAuth, NotFound,
    ))]
async fn get_execution(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<ExecutionView>> {
    let row = state
        .store()
        .get_execution_log(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no execution with id {id}")))?;
    Ok(axum::Json(row.into()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    Json,
    Csv,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// Start (inclusive, RFC 3339); default 30 days before `to`.
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// End (exclusive, RFC 3339); default now.
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    /// Default `day`.
    #[param(inline)]
    pub group_by: Option<GroupBy>,
    /// `json` (default) or `csv`.
    #[param(inline)]
    pub format: Option<ReportFormat>,
}

/// Usage and revenue over a time range, grouped by user, agent or day:
/// calls, successes, failures, p50/p95 duration, credits consumed, and
/// revenue from entitlements sold. `format=csv` answers `text/csv`.
#[utoipa::path(get, path = "/usage", tag = "executions", params(UsageQuery),
    responses(
        (status = 200, description = "The report (JSON, or CSV with `format=csv`)",
            content((UsageReport = "application/json"), (String = "text/csv"))),
        Invalid, AdminAuth,
    ))]
async fn usage(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<UsageQuery>,
) -> Result<Response> {
    let to = q.to.unwrap_or_else(chrono::Utc::now);
    let from = q.from.unwrap_or(to - chrono::Duration::days(30));
    let report = billing::usage_report(
        state.store(),
        from,
        to,
        q.group_by.unwrap_or(GroupBy::Day),
        &state.config().billing.currency,
    )
    .await?;
    Ok(match q.format.unwrap_or(ReportFormat::Json) {
        ReportFormat::Json => axum::Json(report).into_response(),
        ReportFormat::Csv => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            billing::report_csv(&report),
        )
            .into_response(),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: Uuid,
    pub actor_user_id: Option<Uuid>,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    #[schema(value_type = Object)]
    pub details: Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<AuditEntry> for AuditView {
    fn from(a: AuditEntry) -> Self {
        Self {
            id: a.id,
            actor_user_id: a.actor_user_id,
            actor: a.actor,
            action: a.action,
            target_type: a.target_type,
            target_id: a.target_id,
            details: a.details,
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub cursor: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// The audit log: every admin change, newest first.
#[utoipa::path(get, path = "/audit", tag = "executions", params(AuditQuery),
    responses(
        (status = 200, body = AuditPage),
        Invalid, AdminAuth,
    ))]
async fn list_audit(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<axum::Json<AuditPage>> {
    let limit = page::page_size(q.limit)?;
    let before = page::before_time(q.cursor.as_deref())?;
    let rows = state.store().list_audit(before, limit + 1).await?;
    let (items, next_cursor) = page::page(rows, limit, AuditView::from, |r| {
        page::time_cursor(r.created_at, r.id)
    });
    Ok(axum::Json(AuditPage { items, next_cursor }))
}
