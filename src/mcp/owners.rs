//! Every MCP session belongs to the principal who opened it: the user,
//! however authenticated (API key or OAuth token). A request naming a
//! session of another user is answered as if the session did not exist
//! (404), changes nothing, and is logged and counted. A session whose user
//! is disabled, or one of whose API keys is revoked, is closed by the sweep
//! ([`Recheck`]) that runs every half `auth_cache_ttl`, so its access ends
//! within that time even for a stream that sends no further request.

use std::collections::HashMap;
use std::sync::Mutex;

use uuid::Uuid;

use crate::auth::AuthUser;
use crate::store::{Store, StoreError};

/// Most API keys remembered per session (a client uses one).
const MAX_KEYS: usize = 8;

/// Whose session this is, and the API keys it has been used with.
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    user: Uuid,
    keys: Vec<Uuid>,
}

impl Principal {
    pub fn of(auth: &AuthUser) -> Self {
        Self {
            user: auth.user.id,
            keys: auth.key_id.into_iter().collect(),
        }
    }

    pub fn user(&self) -> Uuid {
        self.user
    }

    /// Whether `auth` may use this session; remembers the API key it came
    /// with, so revoking that key closes the session.
    pub fn admits(&mut self, auth: &AuthUser) -> bool {
        if auth.user.id != self.user {
            return false;
        }
        if let Some(key) = auth.key_id
            && !self.keys.contains(&key)
            && self.keys.len() < MAX_KEYS
        {
            self.keys.push(key);
        }
        true
    }
}

/// What became of a request for a session.
pub(crate) enum Access {
    /// No such session here (rmcp answers, usually 404).
    Unknown,
    Owner,
    /// Someone else's: answer 404 and change nothing.
    OtherUser {
        owner: Uuid,
    },
}

/// The owners of the open streamable-HTTP sessions, by session id.
#[derive(Default)]
pub(crate) struct SessionOwners {
    sessions: Mutex<HashMap<String, Principal>>,
}

impl SessionOwners {
    pub fn bind(&self, id: String, auth: &AuthUser) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.insert(id, Principal::of(auth));
        }
    }

    pub fn check(&self, id: &str, auth: &AuthUser) -> Access {
        let Ok(mut sessions) = self.sessions.lock() else {
            return Access::Unknown;
        };
        match sessions.get_mut(id) {
            None => Access::Unknown,
            Some(owner) => {
                if owner.admits(auth) {
                    Access::Owner
                } else {
                    Access::OtherUser { owner: owner.user }
                }
            }
        }
    }

    pub fn remove(&self, id: &str) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.remove(id);
        }
    }

    /// The sessions and their owners, for the sweep.
    pub fn all(&self) -> Vec<(String, Principal)> {
        self.sessions
            .lock()
            .map(|s| s.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }
}

/// Log and count a request refused for naming another user's session.
pub(crate) fn refused(transport: &'static str, method: &str, caller: Uuid, owner: Uuid) {
    tracing::warn!(
        transport,
        method,
        caller = %caller,
        owner = %owner,
        "MCP session request refused: the session belongs to another user"
    );
    metrics::counter!("vieagent_mcp_session_refusals_total", "transport" => transport, "reason" => "other_user")
        .increment(1);
}

/// Log and count a session closed because its user or key lost access.
pub(crate) fn closed(transport: &'static str, owner: Uuid) {
    tracing::info!(
        transport,
        owner = %owner,
        "MCP session closed: its user was disabled or its API key revoked"
    );
    metrics::counter!("vieagent_mcp_sessions_closed_total", "transport" => transport, "reason" => "access_withdrawn")
        .increment(1);
}

/// One sweep's checks of principals against the store: each user and key
/// looked up once per sweep.
pub(crate) struct Recheck<'a> {
    store: &'a dyn Store,
    users: HashMap<Uuid, bool>,
    keys: HashMap<Uuid, bool>,
}

impl<'a> Recheck<'a> {
    pub fn new(store: &'a dyn Store) -> Self {
        Self {
            store,
            users: HashMap::new(),
            keys: HashMap::new(),
        }
    }

    /// Whether the principal may still use its session: the user exists and
    /// is enabled, and no key it used is revoked.
    pub async fn allows(&mut self, principal: &Principal) -> Result<bool, StoreError> {
        let user = principal.user;
        let enabled = match self.users.get(&user) {
            Some(enabled) => *enabled,
            None => {
                let enabled = self
                    .store
                    .get_user(user)
                    .await?
                    .is_some_and(|u| u.disabled_at.is_none());
                self.users.insert(user, enabled);
                enabled
            }
        };
        if !enabled {
            return Ok(false);
        }
        for key in &principal.keys {
            let live = match self.keys.get(key) {
                Some(live) => *live,
                None => {
                    let live = self
                        .store
                        .get_api_key(*key)
                        .await?
                        .is_some_and(|k| k.revoked_at.is_none() && k.user_id == user);
                    self.keys.insert(*key, live);
                    live
                }
            };
            if !live {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
