//! Billing: entitlements to priced agents, credits, and the usage/revenue
//! report. The admin API and the CLI call these; the call pipeline uses
//! [`Access`] and the [`EntitlementCache`].
//!
//! Rules: an agent with no price (neither one-time nor monthly, or both 0)
//! is free to use; a priced agent needs an active entitlement (one-time:
//! forever; monthly: until `expires_at`; free/grant: until `expires_at` if
//! set). Every call also needs the agent's `credits_per_call` available; the
//! journal reserves and settles them (see `store::credits`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Months, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{Error, FieldError, OnConstraint, Result};
use crate::notify::SessionRegistry;
use crate::store::{
    Agent, Entitlement, EntitlementKind, ExecutionStatus, LedgerEntry, NewEntitlement, Store,
    StoreError, StoreResult, UsageSample,
};

/// Largest single credit grant or removal.
pub const MAX_CREDIT_ADJUSTMENT: i64 = 1_000_000_000;

fn positive(price: Option<Decimal>) -> Option<Decimal> {
    price.filter(|p| *p > Decimal::ZERO)
}

/// Whether using the agent needs an entitlement.
pub fn is_priced(agent: &Agent) -> bool {
    positive(agent.price_one_time).is_some() || positive(agent.price_monthly).is_some()
}

/// "9.99 USD one-time", "4.99 USD a month", or both joined by "or".
pub fn price_text(agent: &Agent, currency: &str) -> String {
    let mut parts = Vec::new();
    if let Some(p) = positive(agent.price_one_time) {
        parts.push(format!("{p:.2} {currency} one-time"));
    }
    if let Some(p) = positive(agent.price_monthly) {
        parts.push(format!("{p:.2} {currency} a month"));
    }
    if parts.is_empty() {
        "free".into()
    } else {
        parts.join(" or ")
    }
}

/// May this user call this agent (credits aside)?
#[derive(Debug, Clone, PartialEq)]
pub enum Access {
    /// Free agent, or an active entitlement.
    Allowed,
    /// Priced and not bought; `lapsed` is the most recent entitlement that
    /// no longer applies (an expired monthly subscription, a revoked grant).
    NeedsPurchase { lapsed: Option<Entitlement> },
}

pub fn access(agent: &Agent, entitlements: &[Entitlement], now: DateTime<Utc>) -> Access {
    if !is_priced(agent) {
        return Access::Allowed;
    }
    let mine = entitlements.iter().filter(|e| e.agent_id == agent.id);
    let mut lapsed: Option<&Entitlement> = None;
    for e in mine {
        if e.is_active(now) {
            return Access::Allowed;
        }
        if lapsed.is_none_or(|l| e.created_at > l.created_at) {
            lapsed = Some(e);
        }
    }
    Access::NeedsPurchase {
        lapsed: lapsed.cloned(),
    }
}

/// Why a lapsed entitlement no longer applies, for the denial message.
pub fn lapsed_reason(e: &Entitlement, now: DateTime<Utc>) -> String {
    if let Some(at) = e.revoked_at {
        format!(
            "your {} access was revoked on {}",
            e.kind,
            at.format("%Y-%m-%d")
        )
    } else if e.starts_at > now {
        format!(
            "your {} access starts on {}",
            e.kind,
            e.starts_at.format("%Y-%m-%d")
        )
    } else if let Some(at) = e.expires_at {
        let what = match e.kind {
            EntitlementKind::Monthly => "monthly subscription",
            _ => "access",
        };
        format!("your {what} expired on {}", at.format("%Y-%m-%d %H:%M UTC"))
    } else {
        "your access is not active".into()
    }
}

/// The user-facing line for a priced tool the user has not bought: what
/// it costs and where it is bought (buyers have no administrator).
pub fn purchase_line(agent: &Agent, currency: &str, buy: Option<&url::Url>) -> String {
    let price = price_text(agent, currency);
    match buy {
        Some(url) => {
            format!("Requires purchase ({price}); not yet available to you — buy it at {url}.")
        }
        None => format!(
            "Requires purchase ({price}); not yet available to you — buy it on the marketplace."
        ),
    }
}

type CacheEntry = (Arc<Vec<Entitlement>>, Instant);

/// Each user's entitlements, cached for `ttl` (like API keys): a grant or
/// revocation made through this process applies at once (it invalidates);
/// one made elsewhere at once on PostgreSQL (NOTIFY), within `ttl` on
/// SQLite (e.g. by the CLI).
pub struct EntitlementCache {
    ttl: Duration,
    entries: Mutex<HashMap<Uuid, CacheEntry>>,
}

const MAX_CACHED_USERS: usize = 100_000;

impl EntitlementCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub async fn for_user(
        &self,
        store: &dyn Store,
        user_id: Uuid,
    ) -> StoreResult<Arc<Vec<Entitlement>>> {
        if let Ok(entries) = self.entries.lock()
            && let Some((found, at)) = entries.get(&user_id)
            && at.elapsed() < self.ttl
        {
            return Ok(found.clone());
        }
        let found = Arc::new(store.list_entitlements(user_id).await?);
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_CACHED_USERS {
                let ttl = self.ttl;
                entries.retain(|_, (_, at)| at.elapsed() < ttl);
            }
            entries.insert(user_id, (found.clone(), Instant::now()));
        }
        Ok(found)
    }

    /// Agents the user may use right now (entitlements only; free agents
    /// need none).
    pub async fn active_agents(
        &self,
        store: &dyn Store,
        user_id: Uuid,
    ) -> StoreResult<HashSet<Uuid>> {
        let now = Utc::now();
        Ok(self
            .for_user(store, user_id)
            .await?
            .iter()
            .filter(|e| e.is_active(now))
            .map(|e| e.agent_id)
            .collect())
    }

    /// Forget every user's (changes may have been missed).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }

    pub fn invalidate(&self, user_id: Uuid) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&user_id);
        }
    }
}

/// A user's entitlements changed: forget the cached ones and tell the
/// user's MCP sessions `tools/list_changed`. Called by whoever changed them
/// in this process (admin API, marketplace events) and, on PostgreSQL, by
/// every replica when the database announces the change (NOTIFY
/// `vieagent_entitlements`, a trigger on `entitlements`, whoever wrote it:
/// see [`crate::store::BillingStore::watch_entitlements`]). The replica that
/// made the change hears it twice; `tools/list_changed` is idempotent.
pub async fn entitlements_changed(
    cache: &EntitlementCache,
    sessions: &SessionRegistry,
    user_id: Uuid,
) {
    cache.invalidate(user_id);
    sessions.notify_user_tool_list_changed(user_id).await;
}

/// An entitlement to grant, as the admin API and CLI take it.
#[derive(Debug, Clone)]
pub struct Grant {
    pub kind: EntitlementKind,
    pub starts_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub reference: Option<String>,
    /// What was paid; default: the agent's price for `one_time`/`monthly`,
    /// nothing for `free`/`grant`.
    pub price: Option<Decimal>,
    /// Also add the agent to the user's toolbox (`catalog.toolbox_add_purchases`).
    pub join_toolbox: bool,
}

/// Check a grant and fill its defaults: a monthly entitlement runs one
/// calendar month from its start unless `expires_at` says otherwise; a
/// one-time purchase never expires.
pub fn plan_grant(
    user_id: Uuid,
    agent: &Agent,
    grant: &Grant,
    now: DateTime<Utc>,
) -> std::result::Result<NewEntitlement, Vec<FieldError>> {
    let mut errors = Vec::new();
    let starts_at = grant.starts_at.unwrap_or(now);
    let expires_at = match grant.kind {
        EntitlementKind::OneTime => {
            if grant.expires_at.is_some() {
                errors.push(FieldError::new(
                    "expires_at",
                    "one_time_never_expires",
                    "a one_time entitlement never expires; use kind monthly, grant or free for time-limited access",
                ));
            }
            None
        }
        EntitlementKind::Monthly => Some(
            grant
                .expires_at
                .or_else(|| starts_at.checked_add_months(Months::new(1)))
                .unwrap_or(starts_at),
        ),
        EntitlementKind::Free | EntitlementKind::Grant => grant.expires_at,
    };
    if let Some(end) = expires_at
        && end <= starts_at
    {
        errors.push(FieldError::new(
            "expires_at",
            "after_starts_at",
            "must be after starts_at",
        ));
    }
    if let Some(r) = &grant.reference
        && (r.chars().count() > 200 || r.chars().any(char::is_control))
    {
        errors.push(FieldError::new(
            "reference",
            "max_length",
            "must be at most 200 printable characters",
        ));
    }
    let price = match grant.price {
        Some(p) if p < Decimal::ZERO || p.scale() > 2 || p >= Decimal::from(100_000_000) => {
            errors.push(FieldError::new(
                "price",
                "decimal_10_2",
                "must be between 0 and 99999999.99 with at most 2 decimals",
            ));
            None
        }
        Some(p) => Some(p),
        None => match grant.kind {
            EntitlementKind::OneTime => positive(agent.price_one_time),
            EntitlementKind::Monthly => positive(agent.price_monthly),
            EntitlementKind::Free | EntitlementKind::Grant => None,
        },
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(NewEntitlement {
        user_id,
        agent_id: agent.id,
        kind: grant.kind,
        starts_at,
        expires_at,
        reference: grant.reference.clone().filter(|r| !r.is_empty()),
        price,
        join_toolbox: grant.join_toolbox,
    })
}

pub async fn grant_entitlement(
    store: &dyn Store,
    cache: Option<&EntitlementCache>,
    user_id: Uuid,
    agent: &Agent,
    grant: &Grant,
) -> Result<Entitlement> {
    let new = plan_grant(user_id, agent, grant, Utc::now()).map_err(Error::Validation)?;
    let created = store
        .create_entitlement(&new)
        .await
        .on_foreign_key(|| Error::NotFound("no such user or agent".into()))?;
    if let Some(cache) = cache {
        cache.invalidate(user_id);
    }
    Ok(created)
}

/// An agent by tool name or id.
pub async fn find_agent(store: &dyn Store, reference: &str) -> Result<Option<Agent>> {
    if let Ok(id) = Uuid::parse_str(reference)
        && let Some(agent) = store.get_agent(id).await?
    {
        return Ok(Some(agent));
    }
    Ok(store.get_agent_by_tool_name(reference).await?)
}

/// Revoke an entitlement: 404 if unknown, 409 if already revoked.
pub async fn revoke_entitlement(
    store: &dyn Store,
    cache: Option<&EntitlementCache>,
    id: Uuid,
) -> Result<Entitlement> {
    let Some(existing) = store.get_entitlement(id).await? else {
        return Err(Error::NotFound(format!("no entitlement with id {id}")));
    };
    if !store.revoke_entitlement(id).await? {
        return Err(Error::Conflict(format!(
            "entitlement {id} is already revoked"
        )));
    }
    if let Some(cache) = cache {
        cache.invalidate(existing.user_id);
    }
    store
        .get_entitlement(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no entitlement with id {id}")))
}

/// Check a credit adjustment's amount and reason.
pub fn check_adjustment(amount: i64, reason: &str) -> std::result::Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    if amount == 0 || amount.abs() > MAX_CREDIT_ADJUSTMENT {
        errors.push(FieldError::new(
            "amount",
            "range",
            format!("must be a non-zero whole number between -{MAX_CREDIT_ADJUSTMENT} and {MAX_CREDIT_ADJUSTMENT}"),
        ));
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "reason",
            "length",
            "must be 1 to 500 printable characters",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Add (or, negative, remove) credits with a ledger entry.
pub async fn adjust_credits(
    store: &dyn Store,
    user_id: Uuid,
    amount: i64,
    reason: &str,
) -> Result<LedgerEntry> {
    check_adjustment(amount, reason).map_err(Error::Validation)?;
    store
        .adjust_credits(user_id, amount, reason.trim())
        .await
        .map_err(|e| match e {
            StoreError::InsufficientCredits { available } => Error::Refused {
                message: format!(
                    "cannot remove {} credits: only {available} are available (credits held by calls \
                     in flight cannot be removed)",
                    amount.unsigned_abs()
                ),
                problems: Vec::new(),
            },
            StoreError::ForeignKeyViolation { .. } => Error::NotFound("no such user".into()),
            other => other.into(),
        })
}

/// How to group a usage report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    User,
    Agent,
    Day,
}

impl GroupBy {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::User => "user",
            GroupBy::Agent => "agent",
            GroupBy::Day => "day",
        }
    }
}

impl std::str::FromStr for GroupBy {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "user" => Ok(Self::User),
            "agent" => Ok(Self::Agent),
            "day" => Ok(Self::Day),
            other => Err(format!("'{other}' is not one of user, agent, day")),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
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
    /// Credits charged for the calls (Σ execution_logs.credits_consumed).
    pub credits_consumed: i64,
    /// Entitlements sold in the period (Σ entitlements.price), a decimal string.
    #[schema(example = "19.98")]
    pub revenue: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsageReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[schema(example = "day")]
    pub group_by: String,
    #[schema(example = "USD")]
    pub currency: String,
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

#[derive(Default)]
struct Group<'a> {
    calls: Vec<&'a UsageSample>,
    revenue: Decimal,
}

fn summarize(key: String, label: Option<String>, group: &Group<'_>) -> UsageRow {
    let mut durations: Vec<i64> = group
        .calls
        .iter()
        .filter_map(|s| s.duration_ms.map(i64::from))
        .collect();
    durations.sort_unstable();
    let successes = group
        .calls
        .iter()
        .filter(|s| s.status == ExecutionStatus::Success)
        .count() as u64;
    UsageRow {
        key,
        label,
        calls: group.calls.len() as u64,
        successes,
        failures: group.calls.len() as u64 - successes,
        p50_duration_ms: percentile(&durations, 0.50),
        p95_duration_ms: percentile(&durations, 0.95),
        credits_consumed: group
            .calls
            .iter()
            .map(|s| i64::from(s.credits_consumed))
            .sum(),
        revenue: format!("{:.2}", group.revenue),
    }
}

/// Usage and revenue over `[from, to)`, grouped by user, agent or day.
pub async fn usage_report(
    store: &dyn Store,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    group_by: GroupBy,
    currency: &str,
) -> Result<UsageReport> {
    if from >= to {
        return Err(Error::Validation(vec![FieldError::new(
            "from",
            "before_to",
            "must be before to",
        )]));
    }
    let samples = store.usage_samples(from, to).await?;
    let sales = store.revenue_samples(from, to).await?;
    let key = |user: Uuid, agent: Uuid, at: DateTime<Utc>| match group_by {
        GroupBy::User => user.to_string(),
        GroupBy::Agent => agent.to_string(),
        GroupBy::Day => at.date_naive().to_string(),
    };
    let mut groups: BTreeMap<String, Group<'_>> = BTreeMap::new();
    let mut total = Group::default();
    for s in &samples {
        groups
            .entry(key(s.user_id, s.agent_id, s.created_at))
            .or_default()
            .calls
            .push(s);
        total.calls.push(s);
    }
    for sale in &sales {
        groups
            .entry(key(sale.user_id, sale.agent_id, sale.created_at))
            .or_default()
            .revenue += sale.price;
        total.revenue += sale.price;
    }
    let mut rows = Vec::with_capacity(groups.len());
    for (key, group) in &groups {
        let label = match (group_by, Uuid::parse_str(key)) {
            (GroupBy::User, Ok(id)) => store.get_user(id).await?.map(|u| u.email),
            (GroupBy::Agent, Ok(id)) => store.get_agent(id).await?.map(|a| a.tool_name),
            _ => None,
        };
        rows.push(summarize(key.clone(), label, group));
    }
    Ok(UsageReport {
        from,
        to,
        group_by: group_by.as_str().into(),
        currency: currency.into(),
        rows,
        totals: summarize("total".into(), None, &total),
    })
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// The report as CSV (RFC 4180): a header, one line per row, then the totals.
pub fn report_csv(report: &UsageReport) -> String {
    let mut out = String::from(
        "key,label,calls,successes,failures,p50_duration_ms,p95_duration_ms,credits_consumed,revenue,currency\r\n",
    );
    let opt = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    for row in report.rows.iter().chain(std::iter::once(&report.totals)) {
        let fields = [
            csv_field(&row.key),
            csv_field(row.label.as_deref().unwrap_or("")),
            row.calls.to_string(),
            row.successes.to_string(),
            row.failures.to_string(),
            opt(row.p50_duration_ms),
            opt(row.p95_duration_ms),
            row.credits_consumed.to_string(),
            row.revenue.clone(),
            csv_field(&report.currency),
        ];
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AgentStatus, EngineType};
    use std::str::FromStr;

    fn agent(one_time: Option<&str>, monthly: Option<&str>) -> Agent {
        Agent {
            id: Uuid::new_v4(),
            name: "Writer".into(),
            tool_name: "writer".into(),
            description: String::new(),
            engine_type: EngineType::Flowise,
            engine_flow_id: "f".into(),
            input_schema: serde_json::json!({"type": "object"}),
            required_credential_types: Vec::new(),
            price_one_time: one_time.map(|p| Decimal::from_str(p).expect("decimal")),
            price_monthly: monthly.map(|p| Decimal::from_str(p).expect("decimal")),
            credits_per_call: 1,
            status: AgentStatus::Published,
            engine_config: serde_json::json!({}),
            timeout_ms: None,
            charge_failed_calls: false,
            task_mode: Default::default(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn entitlement(
        agent: &Agent,
        kind: EntitlementKind,
        expires_in_days: Option<i64>,
    ) -> Entitlement {
        let now = Utc::now();
        Entitlement {
            id: Uuid::new_v4(),
            user_id: Uuid::new_v4(),
            agent_id: agent.id,
            kind,
            starts_at: now - chrono::Duration::days(40),
            expires_at: expires_in_days.map(|d| now + chrono::Duration::days(d)),
            reference: None,
            price: None,
            revoked_at: None,
            created_at: now - chrono::Duration::days(40),
        }
    }

    #[test]
    fn free_agents_need_nothing_and_zero_prices_are_free() {
        assert_eq!(access(&agent(None, None), &[], Utc::now()), Access::Allowed);
        assert_eq!(
            access(&agent(Some("0"), Some("0.00")), &[], Utc::now()),
            Access::Allowed
        );
        assert_eq!(price_text(&agent(Some("0"), None), "USD"), "free");
    }

    #[test]
    fn priced_agents_need_an_active_entitlement() {
        let a = agent(Some("9.99"), Some("2.50"));
        assert_eq!(
            price_text(&a, "EUR"),
            "9.99 EUR one-time or 2.50 EUR a month"
        );
        let now = Utc::now();
        assert_eq!(access(&a, &[], now), Access::NeedsPurchase { lapsed: None });
        let forever = entitlement(&a, EntitlementKind::OneTime, None);
        assert_eq!(
            access(&a, std::slice::from_ref(&forever), now),
            Access::Allowed
        );
        let expired = entitlement(&a, EntitlementKind::Monthly, Some(-10));
        match access(&a, std::slice::from_ref(&expired), now) {
            Access::NeedsPurchase { lapsed: Some(e) } => {
                assert!(
                    lapsed_reason(&e, now).starts_with("your monthly subscription expired on ")
                );
            }
            other => panic!("expected a lapsed subscription, got {other:?}"),
        }
        let running = entitlement(&a, EntitlementKind::Monthly, Some(10));
        assert_eq!(access(&a, &[expired, running], now), Access::Allowed);
        let mut revoked = forever;
        revoked.revoked_at = Some(now);
        assert!(matches!(
            access(&a, &[revoked], now),
            Access::NeedsPurchase { lapsed: Some(_) }
        ));
        // Someone else's agent does not count.
        let other = entitlement(&agent(Some("1"), None), EntitlementKind::OneTime, None);
        assert_eq!(
            access(&a, &[other], now),
            Access::NeedsPurchase { lapsed: None }
        );
    }

    #[test]
    fn grants_fill_defaults_and_check_rules() {
        let a = agent(Some("9.99"), Some("2.50"));
        let now = Utc::now();
        let grant = |kind, expires_at| Grant {
            kind,
            starts_at: None,
            expires_at,
            reference: None,
            price: None,
            join_toolbox: false,
        };
        let monthly =
            plan_grant(Uuid::nil(), &a, &grant(EntitlementKind::Monthly, None), now).expect("ok");
        assert_eq!(monthly.expires_at, now.checked_add_months(Months::new(1)));
        assert_eq!(
            monthly.price,
            Some(Decimal::from_str("2.50").expect("decimal"))
        );
        let once =
            plan_grant(Uuid::nil(), &a, &grant(EntitlementKind::OneTime, None), now).expect("ok");
        assert_eq!((once.expires_at, once.price), (None, a.price_one_time));
        let gift =
            plan_grant(Uuid::nil(), &a, &grant(EntitlementKind::Grant, None), now).expect("ok");
        assert_eq!(gift.price, None);
        let errors = plan_grant(
            Uuid::nil(),
            &a,
            &grant(
                EntitlementKind::OneTime,
                Some(now + chrono::Duration::days(1)),
            ),
            now,
        )
        .expect_err("one_time cannot expire");
        assert_eq!(errors[0].rule, "one_time_never_expires");
        let errors = plan_grant(
            Uuid::nil(),
            &a,
            &grant(
                EntitlementKind::Grant,
                Some(now - chrono::Duration::days(1)),
            ),
            now,
        )
        .expect_err("expiry before start");
        assert_eq!(errors[0].field, "expires_at");
    }

    #[test]
    fn credit_adjustments_are_checked() {
        assert!(check_adjustment(5, "promo").is_ok());
        assert!(check_adjustment(-5, "refund").is_ok());
        assert_eq!(
            check_adjustment(0, "x").expect_err("zero")[0].field,
            "amount"
        );
        assert_eq!(
            check_adjustment(1, "  ").expect_err("blank")[0].field,
            "reason"
        );
        assert!(check_adjustment(MAX_CREDIT_ADJUSTMENT + 1, "x").is_err());
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
