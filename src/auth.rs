//! API-key authentication: a presented key resolved to a user by the key's
//! SHA-256, cached briefly. A revoked key or disabled user stops working
//! within `auth_cache_ttl`. (The HTTP middleware that reads the key from
//! `Authorization: Bearer` is [`crate::http::auth`].)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use uuid::Uuid;

use crate::accounts;
use crate::error::Error;
use crate::store::{Store, User};

/// The authenticated caller, inserted into request extensions.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: Arc<User>,
    /// The API key used; `None` for an OAuth access token.
    pub key_id: Option<Uuid>,
}

const MAX_ENTRIES: usize = 10_000;
const TOUCH_EVERY: Duration = Duration::from_secs(60);

type Entry = (Option<AuthUser>, Instant);

pub struct AuthCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
    touched: Mutex<HashMap<Uuid, Instant>>,
}

impl AuthCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
            touched: Mutex::new(HashMap::new()),
        }
    }

    /// Resolve a presented key (cached for `ttl`, including misses).
    pub async fn authenticate(
        &self,
        store: &Arc<dyn Store>,
        presented: &str,
    ) -> Result<Option<AuthUser>, Error> {
        let hash = accounts::hash_key(presented);
        if let Ok(entries) = self.entries.lock()
            && let Some((found, at)) = entries.get(&hash)
            && at.elapsed() < self.ttl
        {
            return Ok(found.clone());
        }
        let found = accounts::resolve_key(store.as_ref(), &SecretString::from(presented))
            .await?
            .map(|(key, user)| AuthUser {
                user: Arc::new(user),
                key_id: Some(key.id),
            });
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                let ttl = self.ttl;
                entries.retain(|_, (_, at)| at.elapsed() < ttl);
                if entries.len() >= MAX_ENTRIES {
                    entries.clear();
                }
            }
            entries.insert(hash, (found.clone(), Instant::now()));
        }
        if let Some(key_id) = found.as_ref().and_then(|a| a.key_id) {
            self.touch(store, key_id);
        }
        Ok(found)
    }

    /// Record `last_used_at`, at most once a minute per key, off the request path.
    fn touch(&self, store: &Arc<dyn Store>, key_id: Uuid) {
        let due = match self.touched.lock() {
            Ok(mut touched) => {
                let due = touched
                    .get(&key_id)
                    .is_none_or(|at| at.elapsed() >= TOUCH_EVERY);
                if due {
                    if touched.len() >= MAX_ENTRIES {
                        touched.clear();
                    }
                    touched.insert(key_id, Instant::now());
                }
                due
            }
            Err(_) => false,
        };
        if due {
            let store = store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.touch_api_key(key_id).await {
                    tracing::debug!(error = %e, "could not record API key use");
                }
            });
        }
    }

    /// Forget everything (after revocations made in this process).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}
