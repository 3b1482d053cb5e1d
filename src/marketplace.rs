//! Marketplace events: what the marketplace (VieAgent.vn) sold, told to the
//! gateway by `POST /v1/marketplace/events`. Verified before parsing, over
//! the raw body; applied exactly once.
//!
//! * **Signature**: `VieAgent-Signature: t=<unix seconds>,v1=<hex>` where
//!   `<hex>` is HMAC-SHA256(`marketplace.webhook_secret`, `"<t>.<raw body>"`).
//!   Several `v1=` values may be sent while the secret is rotated: one
//!   match is enough. `t` must be within [`TOLERANCE_SECS`] of now, either
//!   way. Tags are compared in constant time.
//! * **Exactly once**: the event id is the primary key of
//!   `marketplace_events`, inserted in the transaction that makes the
//!   change ([`crate::store::MarketplaceStore`]). A redelivery answers the
//!   outcome recorded the first time and changes nothing.
//! * **Refused events change nothing and are not recorded** (a bad
//!   signature, a malformed body, an unknown type, an unknown user or
//!   agent): the marketplace may deliver the same id again once the cause
//!   is fixed (e.g. after the user signed up).
//! * **Unknown users**: by `user_email`, created (verified by the
//!   marketplace's signature) when `auth.oidc.auto_provision` is on;
//!   otherwise, and always for an unknown `user_id`, refused (422).
//!
//! An applied event writes an audit row (actor `marketplace`), drops the
//! user's cached entitlements and tells the user's MCP sessions
//! `tools/list_changed`; other replicas hear it from PostgreSQL (NOTIFY
//! `vieagent_entitlements`, see [`billing::entitlements_changed`]).

use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::billing::{self, EntitlementCache, Grant};
use crate::error::{Error, FieldError, Result};
use crate::notify::SessionRegistry;
use crate::store::{
    EntitlementKind, EventApplication, MarketplaceChange, MarketplaceEffect, NewAuditEntry, Role,
    Store, StoreError, User,
};

/// The request header carrying the signature.
pub const SIGNATURE_HEADER: &str = "VieAgent-Signature";
/// How far `t` may be from now, in the past or the future.
pub const TOLERANCE_SECS: i64 = 300;
/// Most `v1=` values read from one header.
const MAX_SIGNATURES: usize = 8;

type HmacSha256 = hmac::Hmac<Sha256>;

fn mac(secret: &SecretString, t: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value a sender computes: `t=<t>,v1=<hex>`.
pub fn signature_header(secret: &SecretString, t: i64, body: &[u8]) -> String {
    format!(
        "t={t},v1={}",
        hex::encode(mac(secret, t, body).finalize().into_bytes())
    )
}

/// Check the signature header against the raw body, at `now` (unix seconds).
pub fn verify(secret: &SecretString, header: Option<&str>, body: &[u8], now: i64) -> Result<()> {
    let refuse = |why: &str| Err(Error::BadSignature(format!("{SIGNATURE_HEADER}: {why}")));
    let Some(header) = header else {
        return refuse("missing; sign the request (t=<unix seconds>,v1=<hex HMAC-SHA256>)");
    };
    let mut t = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) if tags.len() < MAX_SIGNATURES => {
                if let Ok(tag) = hex::decode(v) {
                    tags.push(tag);
                }
            }
            _ => {} // other schemes (v0, …) are ignored
        }
    }
    let Some(t) = t else {
        return refuse("no timestamp (t=<unix seconds>)");
    };
    if tags.is_empty() {
        return refuse("no v1= signature");
    }
    if (now - t).abs() > TOLERANCE_SECS {
        return refuse(&format!(
            "the timestamp is more than {TOLERANCE_SECS} seconds from the gateway's clock"
        ));
    }
    let expected = mac(secret, t, body);
    // Every tag is checked (constant-time each); one match is enough.
    let matched = tags.iter().fold(false, |ok, tag| {
        expected.clone().verify_slice(tag).is_ok() | ok
    });
    if matched {
        Ok(())
    } else {
        refuse("no signature matches")
    }
}

/// An event as the marketplace sends it.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct Event {
    /// The event's id: applied once, whatever the deliveries.
    #[schema(example = "evt_01JD6Q3V6Z", min_length = 1, max_length = 200)]
    pub id: String,
    /// `entitlement.granted`, `entitlement.revoked` or `credits.purchased`.
    #[serde(rename = "type")]
    #[schema(example = "entitlement.granted")]
    pub kind: String,
    /// The type's fields (see the types' schemas).
    #[schema(value_type = Object)]
    pub data: Value,
}

/// `entitlement.granted`
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct EntitlementGranted {
    /// The buyer, by gateway user id …
    pub user_id: Option<Uuid>,
    /// … or by (marketplace-verified) email.
    #[schema(example = "ada@example.com")]
    pub user_email: Option<String>,
    /// The agent: its tool name or id.
    #[schema(example = "premium_analyst")]
    pub agent: String,
    pub kind: PurchaseKind,
    /// `monthly`: default one calendar month from now.
    pub expires_at: Option<DateTime<Utc>>,
    /// The marketplace's order reference (revocations name it).
    #[schema(example = "order-2026-1042", min_length = 1, max_length = 200)]
    pub reference: String,
}

/// `entitlement.revoked`: the user's entitlements to the agent carrying `reference`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct EntitlementRevoked {
    pub user_id: Option<Uuid>,
    pub user_email: Option<String>,
    pub agent: String,
    #[schema(example = "order-2026-1042")]
    pub reference: String,
}

/// `credits.purchased`
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreditsPurchased {
    pub user_id: Option<Uuid>,
    pub user_email: Option<String>,
    /// Credits bought: a whole number, at least 1.
    #[schema(minimum = 1, maximum = 1_000_000_000, example = 500)]
    pub amount: i64,
    #[schema(example = "order-2026-1043")]
    pub reference: String,
}

/// What the marketplace can sell: `one_time` (forever) or `monthly`.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PurchaseKind {
    OneTime,
    Monthly,
}

/// The answer to a delivery: the first time and on every replay.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventOutcome {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub user_id: Uuid,
    /// `true` when this delivery found the event already applied (nothing changed).
    pub replayed: bool,
    pub received_at: DateTime<Utc>,
    /// What applying it did (the same on every delivery), e.g.
    /// `{"entitlement_id": "…", "kind": "monthly", "expires_at": "…"}`,
    /// `{"revoked": ["…"]}` or `{"ledger_entry_id": "…", "amount": 500, "balance_after": 600}`.
    #[schema(value_type = Object)]
    pub outcome: Value,
}

/// What applying an event needs.
pub struct Marketplace<'a> {
    pub store: &'a dyn Store,
    pub entitlements: &'a EntitlementCache,
    pub sessions: &'a SessionRegistry,
    /// Forgotten for the buyer when a purchase joins their toolbox.
    pub toolboxes: &'a crate::toolbox::Toolboxes,
    /// `auth.oidc.auto_provision`: create unknown users (by email).
    pub auto_provision: bool,
    pub signup_credits: i64,
    /// `catalog.toolbox_add_purchases`: a purchase adds the agent to the
    /// buyer's toolbox.
    pub join_toolbox: bool,
}

fn bad_body(what: impl std::fmt::Display) -> Error {
    Error::InvalidInput(format!("malformed event: {what}"))
}

fn invalid(field: &str, rule: &str, message: impl Into<String>) -> Error {
    Error::Validation(vec![FieldError::new(field, rule, message)])
}

fn data<T: for<'de> Deserialize<'de>>(value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| bad_body(format_args!("data: {e}")))
}

fn check_reference(field: &str, reference: &str) -> Result<String> {
    let r = reference.trim();
    if r.is_empty() || r.chars().count() > 200 || r.chars().any(char::is_control) {
        return Err(invalid(
            field,
            "length",
            "must be 1 to 200 printable characters",
        ));
    }
    Ok(r.to_string())
}

/// Parse a verified body: malformed JSON or fields → 400, an unknown type → 422.
pub fn parse(body: &[u8]) -> Result<Event> {
    let event: Event = serde_json::from_slice(body).map_err(bad_body)?;
    if event.id.is_empty()
        || event.id.chars().count() > 200
        || event.id.chars().any(char::is_control)
    {
        return Err(invalid(
            "id",
            "length",
            "must be 1 to 200 printable characters",
        ));
    }
    if !matches!(
        event.kind.as_str(),
        "entitlement.granted" | "entitlement.revoked" | "credits.purchased"
    ) {
        return Err(invalid(
            "type",
            "one_of",
            format!(
                "unknown event type '{}': expected entitlement.granted, entitlement.revoked or \
                 credits.purchased",
                event.kind
            ),
        ));
    }
    Ok(event)
}

/// The outcome recorded with an event (the domain's words for what the store did).
fn outcome_of(effect: &MarketplaceEffect) -> Value {
    match effect {
        MarketplaceEffect::Granted(e) => json!({
            "entitlement_id": e.id,
            "agent_id": e.agent_id,
            "kind": e.kind,
            "starts_at": e.starts_at,
            "expires_at": e.expires_at,
            "reference": e.reference,
        }),
        MarketplaceEffect::Revoked(revoked) => json!({
            "revoked": revoked.iter().map(|e| e.id).collect::<Vec<_>>(),
            "already_revoked": revoked.is_empty(),
        }),
        MarketplaceEffect::Credited(entry) => json!({
            "ledger_entry_id": entry.id,
            "amount": entry.delta,
            "balance_after": entry.balance_after,
        }),
    }
}

impl Marketplace<'_> {
    /// Apply a parsed event once. Refusals change nothing and record nothing.
    pub async fn apply(&self, event: Event) -> Result<EventOutcome> {
        // A redelivery answers what the first delivery did, even if the
        // user or agent changed since (concurrent first deliveries are
        // settled by the store's transaction).
        if let Some(row) = self.store.get_marketplace_event(&event.id).await? {
            return Ok(EventOutcome {
                id: row.id,
                kind: row.kind,
                user_id: row.user_id,
                replayed: true,
                received_at: row.received_at,
                outcome: row.outcome,
            });
        }
        let (change, user) = match event.kind.as_str() {
            "entitlement.granted" => {
                let d: EntitlementGranted = data(event.data.clone())?;
                let reference = check_reference("data.reference", &d.reference)?;
                // Everything that can refuse the event is checked before
                // an account may be provisioned: a refused event creates
                // nothing.
                let agent = self.agent(&d.agent).await?;
                let grant = Grant {
                    kind: match d.kind {
                        PurchaseKind::OneTime => EntitlementKind::OneTime,
                        PurchaseKind::Monthly => EntitlementKind::Monthly,
                    },
                    starts_at: None,
                    expires_at: d.expires_at,
                    reference: Some(reference),
                    price: None,
                    join_toolbox: self.join_toolbox,
                };
                let in_data = |errors: Vec<crate::error::FieldError>| {
                    Error::Validation(
                        errors
                            .into_iter()
                            .map(|mut e| {
                                e.field = format!("data.{}", e.field);
                                e
                            })
                            .collect(),
                    )
                };
                billing::plan_grant(Uuid::nil(), &agent, &grant, Utc::now()).map_err(in_data)?;
                let user = self.user(d.user_id, d.user_email.as_deref(), true).await?;
                let new =
                    billing::plan_grant(user.id, &agent, &grant, Utc::now()).map_err(in_data)?;
                (MarketplaceChange::Grant(new), user)
            }
            "entitlement.revoked" => {
                let d: EntitlementRevoked = data(event.data.clone())?;
                let reference = check_reference("data.reference", &d.reference)?;
                let agent = self.agent(&d.agent).await?;
                // Never provisioned: a new account holds no entitlement.
                let user = self.user(d.user_id, d.user_email.as_deref(), false).await?;
                let change = MarketplaceChange::Revoke {
                    user_id: user.id,
                    agent_id: agent.id,
                    reference,
                };
                (change, user)
            }
            _ => {
                let d: CreditsPurchased = data(event.data.clone())?;
                let reference = check_reference("data.reference", &d.reference)?;
                if d.amount < 1 || d.amount > billing::MAX_CREDIT_ADJUSTMENT {
                    return Err(invalid(
                        "data.amount",
                        "range",
                        format!(
                            "must be a whole number from 1 to {}",
                            billing::MAX_CREDIT_ADJUSTMENT
                        ),
                    ));
                }
                let user = self.user(d.user_id, d.user_email.as_deref(), true).await?;
                let change = MarketplaceChange::Credit {
                    user_id: user.id,
                    amount: d.amount,
                    reason: format!("marketplace purchase {reference}"),
                };
                (change, user)
            }
        };
        let applied = self
            .store
            .apply_marketplace_event(&event.id, &event.kind, &change, outcome_of)
            .await
            .map_err(|e| match e {
                StoreError::NotFound {
                    entity: "entitlement with that reference",
                } => invalid(
                    "data.reference",
                    "exists",
                    format!(
                        "{} has no entitlement to this agent with this reference",
                        user.email
                    ),
                ),
                StoreError::ForeignKeyViolation { .. } => {
                    invalid("data", "exists", "the user or agent no longer exists")
                }
                other => other.into(),
            })?;
        let (row, replayed) = match applied {
            EventApplication::Replayed(row) => (row, true),
            EventApplication::Applied(effect, row) => {
                self.applied(&event, &user, &effect).await;
                (row, false)
            }
        };
        Ok(EventOutcome {
            id: row.id,
            kind: row.kind,
            user_id: row.user_id,
            replayed,
            received_at: row.received_at,
            outcome: row.outcome,
        })
    }

    /// After the commit: the audit row, the cache, the user's sessions.
    async fn applied(&self, event: &Event, user: &User, effect: &MarketplaceEffect) {
        let (target_type, target_id) = match effect {
            MarketplaceEffect::Granted(e) => ("entitlement", e.id.to_string()),
            MarketplaceEffect::Revoked(_) | MarketplaceEffect::Credited(_) => {
                ("user", user.id.to_string())
            }
        };
        let mut details = outcome_of(effect);
        details["event_id"] = json!(event.id);
        details["user_id"] = json!(user.id);
        let entry = NewAuditEntry {
            actor_user_id: None,
            actor: "marketplace".into(),
            action: format!("marketplace.{}", event.kind),
            target_type: target_type.into(),
            target_id: Some(target_id),
            details,
        };
        if let Err(e) = self.store.insert_audit(&entry).await {
            tracing::error!(error = %e, event_id = %event.id, "could not write the audit log");
        }
        if !matches!(effect, MarketplaceEffect::Credited(_)) {
            // A grant may have joined the toolbox too (one transaction).
            self.toolboxes.invalidate(user.id);
            billing::entitlements_changed(self.entitlements, self.sessions, user.id).await;
        }
        tracing::info!(event_id = %event.id, kind = %event.kind, user_id = %user.id, "marketplace event applied");
    }

    async fn agent(&self, reference: &str) -> Result<crate::store::Agent> {
        billing::find_agent(self.store, reference)
            .await?
            .ok_or_else(|| {
                invalid(
                    "data.agent",
                    "exists",
                    format!("no agent with tool name or id '{reference}'"),
                )
            })
    }

    /// The buyer: by id, else by email; with `provision`, created when
    /// unknown (by email, with `auto_provision` on).
    async fn user(&self, id: Option<Uuid>, email: Option<&str>, provision: bool) -> Result<User> {
        let email = match email {
            Some(e) => Some(crate::accounts::normalize_email(e).map_err(|_| {
                invalid(
                    "data.user_email",
                    "email",
                    "must look like name@example.com",
                )
            })?),
            None => None,
        };
        if let Some(id) = id {
            let user = self.store.get_user(id).await?.ok_or_else(|| {
                invalid(
                    "data.user_id",
                    "exists",
                    format!("no gateway user with id {id}"),
                )
            })?;
            if email.as_ref().is_some_and(|e| *e != user.email) {
                return Err(invalid(
                    "data.user_email",
                    "matches_user_id",
                    "user_email and user_id name different users",
                ));
            }
            return Ok(user);
        }
        let Some(email) = email else {
            return Err(invalid(
                "data.user_email",
                "required",
                "name the buyer by user_email or user_id",
            ));
        };
        if let Some(user) = self.store.get_user_by_email(&email).await? {
            return Ok(user);
        }
        if !self.auto_provision || !provision {
            return Err(invalid(
                "data.user_email",
                "exists",
                format!(
                    "there is no gateway account for {email}, and it is not created here \
                     (auth.oidc.auto_provision is off, or the event cannot concern a new \
                     account); nothing was changed: \
                     deliver the event again once the account exists"
                ),
            ));
        }
        match crate::accounts::create_user(
            self.store,
            &email,
            None,
            Role::User,
            "free",
            self.signup_credits,
        )
        .await
        {
            Ok(user) => {
                let entry = NewAuditEntry {
                    actor_user_id: None,
                    actor: "marketplace".into(),
                    action: "user.provision".into(),
                    target_type: "user".into(),
                    target_id: Some(user.id.to_string()),
                    details: json!({"email": email, "by": "marketplace event"}),
                };
                if let Err(e) = self.store.insert_audit(&entry).await {
                    tracing::error!(error = %e, "could not write the audit log");
                }
                Ok(user)
            }
            // Created by a concurrent delivery.
            Err(Error::Conflict(_)) => self
                .store
                .get_user_by_email(&email)
                .await?
                .ok_or_else(|| Error::Internal("user vanished".into())),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    #[test]
    fn signatures_verify_over_the_raw_body_within_the_tolerance() {
        let key = secret("whsec_test_0123456789");
        let body = br#"{"id":"evt_1"}"#;
        let now = 1_800_000_000;
        let header = signature_header(&key, now, body);
        assert!(verify(&key, Some(&header), body, now).is_ok());
        assert!(verify(&key, Some(&header), body, now + 300).is_ok());
        assert!(verify(&key, Some(&header), body, now - 300).is_ok());
        for (why, h, b, at) in [
            ("late", header.as_str(), &body[..], now + 301),
            ("early", header.as_str(), &body[..], now - 301),
            ("body", header.as_str(), &br#"{"id":"evt_2"}"#[..], now),
            ("garbage", "nonsense", &body[..], now),
            ("no tag", &format!("t={now}"), &body[..], now),
        ] {
            assert!(
                matches!(verify(&key, Some(h), b, at), Err(Error::BadSignature(_))),
                "{why}"
            );
        }
        assert!(verify(&key, None, body, now).is_err());
        let other = signature_header(&secret("another-secret-456789"), now, body);
        assert!(verify(&key, Some(&other), body, now).is_err());
        // Rotation: one of several v1 values matches.
        let tag = header.split_once(",v1=").expect("v1").1;
        let both = format!("t={now},v1={},v1={tag}", "ab".repeat(32));
        assert!(verify(&key, Some(&both), body, now).is_ok());
    }

    #[test]
    fn bodies_are_parsed_strictly() {
        assert!(matches!(parse(b"{"), Err(Error::InvalidInput(_))));
        assert!(matches!(
            parse(br#"{"id":"e","type":"x.y","data":{}}"#),
            Err(Error::Validation(_))
        ));
        assert!(matches!(
            parse(br#"{"id":"","type":"credits.purchased","data":{}}"#),
            Err(Error::Validation(_))
        ));
        assert!(parse(br#"{"id":"e","type":"credits.purchased","data":{}}"#).is_ok());
    }
}
