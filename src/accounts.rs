//! Users and their API keys: creation rules shared by the CLI and the admin API.
//!
//! An API key is `vak_` + 40 random alphanumerics (~238 bits). It is shown
//! once; only its SHA-256 (hex) and a 12-character display prefix are stored.

use rand::Rng;
use rand::distr::Alphanumeric;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{Error, OnConstraint, Result};
use crate::store::{ApiKey, NewApiKey, NewUser, Role, Store, User};

pub const KEY_PREFIX: &str = "vak_";
const KEY_RANDOM_LEN: usize = 40;
const DISPLAY_PREFIX_LEN: usize = 12;

/// A freshly generated key: the secret is returned to the caller once.
pub struct GeneratedKey {
    pub secret: SecretString,
    pub prefix: String,
    pub hash: String,
}

pub fn generate_key() -> GeneratedKey {
    let random: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(KEY_RANDOM_LEN)
        .map(char::from)
        .collect();
    let key = format!("{KEY_PREFIX}{random}");
    GeneratedKey {
        prefix: display_prefix(&key),
        hash: hash_key(&key),
        secret: SecretString::from(key),
    }
}

/// Lower-case hex SHA-256 of a key, the form stored and looked up.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The first characters of a key, safe to show and log (`vak_AbCdEfGh`).
pub fn display_prefix(key: &str) -> String {
    key.chars().take(DISPLAY_PREFIX_LEN).collect()
}

/// Normalize and check an email address: trimmed, lower-case, one `@` with text on both sides.
pub fn normalize_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    if valid {
        Ok(email)
    } else {
        Err(Error::InvalidInput(
            "email: must look like name@example.com".to_string(),
        ))
    }
}

pub fn validate_plan(plan: &str) -> Result<()> {
    if plan.is_empty() || plan.chars().count() > 64 || plan.chars().any(char::is_control) {
        return Err(Error::InvalidInput(
            "plan: must be 1 to 64 printable characters".to_string(),
        ));
    }
    Ok(())
}

/// Create a user whose account starts with `initial_credits` (normally
/// `billing.signup_credits`).
pub async fn create_user(
    store: &dyn Store,
    email: &str,
    display_name: Option<String>,
    role: Role,
    plan: &str,
    initial_credits: i64,
) -> Result<User> {
    let email = normalize_email(email)?;
    validate_plan(plan)?;
    if initial_credits < 0 {
        return Err(Error::InvalidInput(
            "initial_credits: must be 0 or more".to_string(),
        ));
    }
    store
        .create_user(&NewUser {
            email: email.clone(),
            display_name,
            role,
            plan: plan.to_string(),
            initial_credits,
        })
        .await
        .on_unique(|| Error::Conflict(format!("a user with email {email} already exists")))
}

pub async fn user_by_email(store: &dyn Store, email: &str) -> Result<User> {
    let email = normalize_email(email)?;
    store
        .get_user_by_email(&email)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no user with email {email}")))
}

/// Create an API key for a user; the returned secret is the only copy.
pub async fn create_key(
    store: &dyn Store,
    user_id: Uuid,
    name: &str,
) -> Result<(ApiKey, SecretString)> {
    let name = name.trim();
    if name.is_empty() || name.len() > 128 {
        return Err(Error::InvalidInput(
            "name: must be 1 to 128 characters".to_string(),
        ));
    }
    let generated = generate_key();
    let key = store
        .create_api_key(&NewApiKey {
            user_id,
            name: name.to_string(),
            prefix: generated.prefix,
            key_hash: generated.hash,
        })
        .await
        .on_foreign_key(|| Error::NotFound("no such user".to_string()))?;
    Ok((key, generated.secret))
}

/// Resolve a presented key to its live key row and user. Disabled users and
/// revoked keys resolve to `None`.
pub async fn resolve_key(
    store: &dyn Store,
    presented: &SecretString,
) -> Result<Option<(ApiKey, User)>> {
    let presented = presented.expose_secret();
    if !presented.starts_with(KEY_PREFIX) || presented.len() > 256 {
        return Ok(None);
    }
    let found = store.find_api_key_by_hash(&hash_key(presented)).await?;
    Ok(found.filter(|(_, user)| user.disabled_at.is_none()))
}

/// Revoke by key id or by display prefix (which must match exactly one live key).
pub async fn revoke_key(store: &dyn Store, id_or_prefix: &str) -> Result<ApiKey> {
    let key = match Uuid::parse_str(id_or_prefix) {
        Ok(id) => store
            .get_api_key(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no API key with id {id}")))?,
        Err(_) => {
            let live: Vec<ApiKey> = store
                .find_api_keys_by_prefix(id_or_prefix)
                .await?
                .into_iter()
                .filter(|k| k.revoked_at.is_none())
                .collect();
            match live.len() {
                0 => {
                    return Err(Error::NotFound(format!(
                        "no live API key with prefix {id_or_prefix}"
                    )));
                }
                1 => live
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::Internal("key list changed while reading".to_string()))?,
                n => {
                    return Err(Error::Conflict(format!(
                        "{n} live keys share prefix {id_or_prefix}; revoke by id instead"
                    )));
                }
            }
        }
    };
    if key.revoked_at.is_some() {
        return Err(Error::Conflict(format!(
            "API key {} was already revoked",
            key.prefix
        )));
    }
    store.revoke_api_key(key.id).await?;
    store
        .get_api_key(key.id)
        .await?
        .ok_or_else(|| Error::NotFound("API key disappeared".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_prefixed_and_hashed() {
        let a = generate_key();
        let b = generate_key();
        assert_ne!(a.secret.expose_secret(), b.secret.expose_secret());
        assert!(a.secret.expose_secret().starts_with("vak_"));
        assert_eq!(a.secret.expose_secret().len(), 44);
        assert_eq!(a.prefix.len(), 12);
        assert!(a.secret.expose_secret().starts_with(&a.prefix));
        assert_eq!(a.hash, hash_key(a.secret.expose_secret()));
        assert_eq!(a.hash.len(), 64);
        assert!(!format!("{:?}", a.secret).contains(a.secret.expose_secret()));
    }

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            normalize_email("  Ada@Example.COM ").expect("valid"),
            "ada@example.com"
        );
        for bad in ["", "no-at", "@x.com", "a@", "a b@c.d", "a@b@c"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }
}
