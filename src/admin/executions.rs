//! `/admin/v1/executions`, `/admin/v1/usage`, `/admin/v1/audit`.

use std::collections::BTreeMap;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::extract::{ApiPath, ApiQuery};
use super::{page_size, parse_time_cursor, time_cursor};
use crate::error::{Error, Problem, Result};
use crate::server::AppState;
use crate::store::{AuditEntry, ExecutionLog, ExecutionLogFilter, ExecutionStatus, UsageSample};

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
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_executions(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ExecutionQuery>,
) -> Result<axum::Json<ExecutionPage>> {
    let limit = page_size(q.limit)?;
    let before = q
        .cursor
        .as_deref()
        .map(parse_time_cursor)
        .transpose()?
        .flatten();
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
    let more = rows.len() > limit as usize;
    let items: Vec<ExecutionSummary> = rows
        .into_iter()
        .take(limit as usize)
        .map(ExecutionSummary::from)
        .collect();
    let next_cursor = more
        .then(|| items.last().map(|r| time_cursor(r.created_at, r.id)))
        .flatten();
    Ok(axum::Json(ExecutionPage { items, next_cursor }))
}

/// One execution with its input and output snapshots.
#[utoipa::path(get, path = "/executions/{id}", tag = "executions", params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = ExecutionView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
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
pub enum GroupBy {
    User,
    Agent,
    Day,
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
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageRow {
    /// User id, agent id, or date (YYYY-MM-DD).
    pub key: String,
    /// The user's email or the agent's tool name.
    pub label: Option<String>,
    pub calls: u64,
    pub successes: u64,
    pub failures: u64,
    pub p50_duration_ms: Option<i64>,
    pub p95_duration_ms: Option<i64>,
    pub credits_consumed: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageReport {
    pub from: chrono::DateTime<chrono::Utc>,
    pub to: chrono::DateTime<chrono::Utc>,
    #[schema(value_type = String, example = "day")]
    pub group_by: String,
    pub rows: Vec<UsageRow>,
    pub totals: UsageRow,
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

fn summarize(key: String, label: Option<String>, samples: &[&UsageSample]) -> UsageRow {
    let mut durations: Vec<i64> = samples
        .iter()
        .filter_map(|s| s.duration_ms.map(i64::from))
        .collect();
    durations.sort_unstable();
    let successes = samples
        .iter()
        .filter(|s| s.status == ExecutionStatus::Success)
        .count() as u64;
    UsageRow {
        key,
        label,
        calls: samples.len() as u64,
        successes,
        failures: samples.len() as u64 - successes,
        p50_duration_ms: percentile(&durations, 0.50),
        p95_duration_ms: percentile(&durations, 0.95),
        credits_consumed: samples.iter().map(|s| i64::from(s.credits_consumed)).sum(),
    }
}

/// Usage over a time range, grouped by user, agent or day: calls,
/// successes, failures, p50/p95 duration, credits consumed.
#[utoipa::path(get, path = "/usage", tag = "executions", params(UsageQuery),
    responses(
        (status = 200, body = UsageReport),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn usage(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<UsageQuery>,
) -> Result<axum::Json<UsageReport>> {
    let to = q.to.unwrap_or_else(chrono::Utc::now);
    let from = q.from.unwrap_or(to - chrono::Duration::days(30));
    if from >= to {
        return Err(Error::Validation(vec![crate::error::FieldError::new(
            "from",
            "before_to",
            "must be before to",
        )]));
    }
    let group_by = q.group_by.unwrap_or(GroupBy::Day);
    let samples = state.store().usage_samples(from, to).await?;
    let mut groups: BTreeMap<String, Vec<&UsageSample>> = BTreeMap::new();
    for s in &samples {
        let key = match group_by {
            GroupBy::User => s.user_id.to_string(),
            GroupBy::Agent => s.agent_id.to_string(),
            GroupBy::Day => s.created_at.date_naive().to_string(),
        };
        groups.entry(key).or_default().push(s);
    }
    let mut rows = Vec::with_capacity(groups.len());
    for (key, group) in &groups {
        let label = match group_by {
            GroupBy::User => match Uuid::parse_str(key) {
                Ok(id) => state.store().get_user(id).await?.map(|u| u.email),
                Err(_) => None,
            },
            GroupBy::Agent => match Uuid::parse_str(key) {
                Ok(id) => state.store().get_agent(id).await?.map(|a| a.tool_name),
                Err(_) => None,
            },
            GroupBy::Day => None,
        };
        rows.push(summarize(key.clone(), label, group));
    }
    let all: Vec<&UsageSample> = samples.iter().collect();
    Ok(axum::Json(UsageReport {
        from,
        to,
        group_by: match group_by {
            GroupBy::User => "user",
            GroupBy::Agent => "agent",
            GroupBy::Day => "day",
        }
        .into(),
        rows,
        totals: summarize("total".into(), None, &all),
    }))
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
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_audit(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<axum::Json<AuditPage>> {
    let limit = page_size(q.limit)?;
    let before = q
        .cursor
        .as_deref()
        .map(parse_time_cursor)
        .transpose()?
        .flatten();
    let rows = state.store().list_audit(before, limit + 1).await?;
    let more = rows.len() > limit as usize;
    let items: Vec<AuditView> = rows
        .into_iter()
        .take(limit as usize)
        .map(AuditView::from)
        .collect();
    let next_cursor = more
        .then(|| items.last().map(|r| time_cursor(r.created_at, r.id)))
        .flatten();
    Ok(axum::Json(AuditPage { items, next_cursor }))
}
