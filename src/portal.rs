//! The user's own way in: **connect links** (signed, single-use,
//! short-lived URLs to the web app's credential page, handed out when a call
//! lacks a credential, so the key never passes through the assistant's chat)
//! and **browser sessions** of the web app.
//!
//! A connect link carries its claims (link id, user, providers, expiry)
//! signed with HMAC-SHA256 under a key derived from the Vault's master key:
//! nothing is stored when one is issued, every replica sharing the master
//! key can check it, and a tampered link fails. Its first use is recorded
//! (`connect_link_uses`), so it works once.
//!
//! A session cookie is 256 random bits; only its SHA-256 is stored.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::accounts;
use crate::store::{Store, StoreError, WebSession};
use crate::vault::Vault;

/// Where the web app's connect page is, under the public URL.
pub const CONNECT_PATH: &str = "/app/connect";

/// Issues and checks connect links.
#[derive(Clone, Debug)]
pub struct ConnectLinks {
    vault: Vault,
    base: url::Url,
    ttl: Duration,
}

/// A link as handed out.
#[derive(Debug, Clone)]
pub struct ConnectLink {
    pub url: url::Url,
    pub expires_at: DateTime<Utc>,
}

/// What a valid link says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkClaims {
    #[serde(rename = "l")]
    pub link_id: Uuid,
    #[serde(rename = "u")]
    pub user_id: Uuid,
    /// The providers whose credentials the call lacked.
    #[serde(rename = "p")]
    pub providers: Vec<String>,
    /// Unix seconds.
    #[serde(rename = "e")]
    pub expires: i64,
}

impl LinkClaims {
    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.expires, 0).unwrap_or_default()
    }
}

/// Why a link is refused. The texts are shown to the person who opened it.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("This link is not a valid connect link (it may be incomplete: copy the whole link).")]
    Malformed,
    #[error("This link is not valid: it was changed after the gateway issued it.")]
    Tampered,
    #[error("This link expired at {0}. Call the tool again from your assistant to get a new link.")]
    Expired(String),
    #[error(
        "This link was already used. Call the tool again from your assistant to get a new link, \
         or sign in to manage your keys."
    )]
    Used,
    #[error(
        "This link belongs to another account than the one signed in here. Sign out first, \
         or open the link in another browser."
    )]
    OtherUser,
    #[error("The gateway could not check this link right now; try again in a moment.")]
    Store(#[from] StoreError),
}

const LINK_LABEL: &[u8] = b"vieagent/connect-link/v1\0";

impl ConnectLinks {
    pub fn new(vault: Vault, base: url::Url, ttl: Duration) -> Self {
        Self { vault, base, ttl }
    }

    /// How long a new link works.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new link for `user_id` to store credentials for `providers`.
    pub fn issue(&self, user_id: Uuid, providers: &[String]) -> ConnectLink {
        let now = Utc::now();
        let expires_at = now
            + chrono::Duration::from_std(self.ttl)
                .unwrap_or_else(|_| chrono::Duration::minutes(15));
        let claims = LinkClaims {
            link_id: Uuid::new_v4(),
            user_id,
            providers: providers.to_vec(),
            expires: expires_at.timestamp(),
        };
        let payload = B64.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let (version, tag) = self.vault.keyring().sign(&signed_bytes(&payload));
        let token = format!("{version}.{payload}.{}", B64.encode(tag));
        let mut url = self.base.clone();
        let path = format!("{}{CONNECT_PATH}", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url.query_pairs_mut().clear().append_pair("token", &token);
        ConnectLink { url, expires_at }
    }

    /// The claims of a genuine, unexpired link (not yet whether it was used).
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<LinkClaims, LinkError> {
        let mut parts = token.trim().splitn(3, '.');
        let (Some(version), Some(payload), Some(tag)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(LinkError::Malformed);
        };
        let version: i32 = version.parse().map_err(|_| LinkError::Malformed)?;
        let tag = B64.decode(tag).map_err(|_| LinkError::Malformed)?;
        if !self
            .vault
            .keyring()
            .verify(version, &signed_bytes(payload), &tag)
        {
            return Err(LinkError::Tampered);
        }
        let claims: LinkClaims = B64
            .decode(payload)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(LinkError::Malformed)?;
        if claims.expires <= now.timestamp() {
            return Err(LinkError::Expired(claims.expires_at().to_rfc3339()));
        }
        Ok(claims)
    }

    /// Refuse a link that was already used.
    pub async fn check_unused(
        &self,
        store: &dyn Store,
        claims: &LinkClaims,
    ) -> Result<(), LinkError> {
        if store.connect_link_used(claims.link_id).await? {
            return Err(LinkError::Used);
        }
        Ok(())
    }

    /// Use the link up: `Err(Used)` if it was used before.
    pub async fn consume(&self, store: &dyn Store, claims: &LinkClaims) -> Result<(), LinkError> {
        if store
            .use_connect_link(claims.link_id, claims.user_id, claims.expires_at())
            .await?
        {
            Ok(())
        } else {
            Err(LinkError::Used)
        }
    }
}

fn signed_bytes(payload: &str) -> Vec<u8> {
    let mut bytes = LINK_LABEL.to_vec();
    bytes.extend_from_slice(payload.as_bytes());
    bytes
}

/// A new browser session: the cookie value (shown once, to the browser) and
/// its row.
pub struct NewSession {
    pub cookie: secrecy::SecretString,
    pub session: WebSession,
}

/// A fresh random token (256 bits, URL-safe base64).
pub fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut())?;
    Ok(B64.encode(bytes.as_ref()))
}

/// Start a session for `user_id`, lasting `ttl`. Expired sessions and link
/// uses are swept on the way (cheap: both are indexed by expiry).
pub async fn start_session(
    store: &dyn Store,
    user_id: Uuid,
    ttl: Duration,
) -> Result<NewSession, crate::error::Error> {
    let token =
        random_token().map_err(|e| crate::error::Error::Internal(format!("random token: {e}")))?;
    let now = Utc::now();
    let session = WebSession {
        id: Uuid::new_v4(),
        user_id,
        token_hash: accounts::hash_key(&token),
        created_at: now,
        expires_at: now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(12)),
    };
    if let Err(e) = store.purge_expired_web(now).await {
        tracing::warn!(error = %e, "could not sweep expired web sessions");
    }
    store.create_web_session(&session).await?;
    Ok(NewSession {
        cookie: secrecy::SecretString::from(token),
        session,
    })
}

/// The live session a cookie value names, if any.
pub async fn session(store: &dyn Store, cookie: &str) -> Result<Option<WebSession>, StoreError> {
    store
        .web_session(&accounts::hash_key(cookie), Utc::now())
        .await
}

/// Sign out.
pub async fn end_session(store: &dyn Store, cookie: &str) -> Result<bool, StoreError> {
    store.delete_web_session(&accounts::hash_key(cookie)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_round_trip_through_the_compact_names() {
        let claims = LinkClaims {
            link_id: Uuid::nil(),
            user_id: Uuid::nil(),
            providers: vec!["openai".into()],
            expires: 42,
        };
        let json = serde_json::to_value(&claims).expect("json");
        assert_eq!(json["p"][0], "openai");
        assert_eq!(
            serde_json::from_value::<LinkClaims>(json).expect("back"),
            claims
        );
    }
}
