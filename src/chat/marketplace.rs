//! `POST /v1/marketplace/events`: what the marketplace sold, signed with
//! the shared secret instead of a user's key. The rules (signature,
//! exactly-once, application) are the domain's ([`crate::marketplace`]);
//! this edge reads the raw body and headers and answers.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{Error, Result};
use crate::http::openapi::{Invalid, Unauthorized, Unavailable};
use crate::marketplace::{self, Event, EventOutcome, Marketplace};
use crate::state::AppState;

/// Largest event body.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// The route, outside the user-key middleware (the signature authenticates).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive_marketplace_event))
}

/// Receive a marketplace event (`entitlement.granted`, `entitlement.revoked`,
/// `credits.purchased`). Signed: `VieAgent-Signature: t=<unix seconds>,v1=<hex
/// HMAC-SHA256(secret, "<t>.<raw body>")>` (several `v1=` while rotating;
/// 5 minutes' tolerance). Applied once per event `id`: a redelivery answers
/// 200 with the first outcome (`replayed: true`) and changes nothing.
/// Refusals (401, 400, 422) change nothing and are not recorded, so the
/// same event may be delivered again once fixed — e.g. 422 for an unknown
/// user when accounts are not created automatically. 503 while
/// `marketplace.webhook_secret` is not set.
#[utoipa::path(post, path = "/marketplace/events", tag = "marketplace",
    security(("marketplace_signature" = [])),
    params(
        ("VieAgent-Signature" = String, Header,
         description = "`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>`"),
    ),
    request_body(content = Event, examples(
        ("entitlement.granted" = (value = json!({"id": "evt_1042", "type": "entitlement.granted",
            "data": {"user_email": "ada@example.com", "agent": "premium_analyst", "kind": "monthly",
                     "reference": "order-1042"}}))),
        ("entitlement.revoked" = (value = json!({"id": "evt_1043", "type": "entitlement.revoked",
            "data": {"user_email": "ada@example.com", "agent": "premium_analyst", "reference": "order-1042"}}))),
        ("credits.purchased" = (value = json!({"id": "evt_1044", "type": "credits.purchased",
            "data": {"user_id": "0f9c1a52-6f1e-4c55-9f57-3a2b8f0d8c11", "amount": 500, "reference": "order-1044"}})))
    )),
    responses(
        (status = 200, body = EventOutcome, example = json!({
            "id": "evt_1042", "type": "entitlement.granted", "user_id": "0f9c1a52-6f1e-4c55-9f57-3a2b8f0d8c11",
            "replayed": false, "received_at": "2026-12-07T10:00:00Z",
            "outcome": {"entitlement_id": "5b1d…", "agent_id": "9a7e…", "kind": "monthly",
                        "starts_at": "2026-12-07T10:00:00Z", "expires_at": "2027-01-07T10:00:00Z",
                        "reference": "order-1042"}})),
        Invalid, Unauthorized, Unavailable,
        (status = 413, description = "The body is over 64 KiB", body = crate::error::Problem,
         content_type = "application/problem+json"),
    ))]
async fn receive_marketplace_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<EventOutcome>> {
    let Some(secret) = &state.config().marketplace.webhook_secret else {
        return Err(Error::Unavailable(
            "marketplace events are not enabled on this gateway: its operator sets \
             marketplace.webhook_secret (VIEAGENT_MARKETPLACE_WEBHOOK_SECRET)"
                .into(),
        ));
    };
    let body = axum::body::to_bytes(body, MAX_EVENT_BYTES)
        .await
        .map_err(|_| {
            Error::PayloadTooLarge(format!("an event is at most {MAX_EVENT_BYTES} bytes"))
        })?;
    let header = headers
        .get(marketplace::SIGNATURE_HEADER)
        .map(|v| v.to_str().unwrap_or(""));
    marketplace::verify(secret, header, &body, chrono::Utc::now().timestamp())?;
    let event = marketplace::parse(&body)?;
    let applier = Marketplace {
        store: state.store(),
        entitlements: state.entitlements(),
        sessions: state.sessions(),
        toolboxes: state.calls().toolboxes(),
        auto_provision: state
            .config()
            .auth
            .oidc
            .as_ref()
            .is_some_and(|o| o.auto_provision),
        signup_credits: state.config().billing.signup_credits,
        join_toolbox: state.config().catalog.toolbox_add_purchases,
    };
    Ok(Json(applier.apply(event).await?))
}
