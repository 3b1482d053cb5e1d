//! OAuth 2.1 access tokens from the marketplace's authorization server
//! (Keycloak, Auth0, Okta, Entra ID, authentik…): the gateway is an OAuth
//! protected resource (MCP authorization, RFC 9728).
//!
//! A token is a JWT verified against the issuer's published keys
//! ([`keys`]): an asymmetric signature (RS*/PS*/ES256/ES384/EdDSA; never
//! `none`, never HMAC), `iss`, `aud` (RFC 8707: a token for another
//! resource is refused), `exp`/`nbf` with `leeway`; or an opaque token,
//! introspected (RFC 7662) and held to the same rules, when
//! `auth.oidc.introspection` is set. Its identity (issuer, subject) maps to a gateway user (`user_identities`); the first sign-in
//! links a user by verified email or provisions one
//! (`auth.oidc.auto_provision`). Scopes are checked by the edge that knows
//! what the request needs. The token itself goes nowhere but to its issuer
//! (introspection, userinfo): it is not logged, not stored and not passed to
//! engines.

mod keys;
mod signin;

pub use signin::{SignIn, SignInError};

pub use keys::Reach;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::{Validation, errors::ErrorKind};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::accounts;
use crate::config::{Config, OidcConfig};
use crate::error::{Error, Result};
use crate::store::{NewAuditEntry, NewIdentity, Role, Store, User};

/// The paths whose URLs are this gateway's OAuth resource identifiers.
pub const RESOURCE_PATHS: &[&str] = &["/mcp", "/sse", "/v1"];

/// A verified token's caller.
#[derive(Debug, Clone)]
pub struct TokenUser {
    pub user: Arc<User>,
    pub scopes: Arc<[String]>,
}

impl TokenUser {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

const MAX_CACHED: usize = 10_000;

/// The verifier: keys, identity mapping and a short cache of verified tokens.
pub struct Oidc {
    config: OidcConfig,
    /// `public_url` without a trailing slash.
    base: String,
    audiences: Vec<String>,
    keys: keys::KeySet,
    http: reqwest::Client,
    signup_credits: i64,
    cache_ttl: Duration,
    verified: Mutex<HashMap<[u8; 32], (TokenUser, Instant)>>,
    /// Bumped by [`Oidc::forget`]: a verification that began before it is
    /// not cached (its user may have been disabled meanwhile).
    generation: AtomicU64,
    /// Opaque tokens refused after introspection, and why, briefly (so a
    /// flood of junk tokens is not a flood of introspection requests).
    refused: Mutex<HashMap<[u8; 32], (String, Instant)>>,
    /// Introspection requests in flight at once.
    introspecting: tokio::sync::Semaphore,
}

/// The longest bearer token considered (Entra ID's run to a few KiB).
const MAX_TOKEN_LEN: usize = 16 * 1024;
const MAX_INTROSPECTIONS: usize = 16;

const INACTIVE: &str =
    "the access token is not active at the authorization server (expired, revoked or unknown)";

/// RFC 6750 §2.1 `b64token`: the only shape a bearer token has.
fn well_formed(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("issuer", &self.config.issuer)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

/// The claims the gateway reads.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    scope: Option<String>,
    /// Okta and Entra ID put scopes here (an array or a string).
    #[serde(default)]
    scp: Option<Value>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<Value>,
    #[serde(default)]
    name: Option<String>,
    /// A sender-constrained token's key binding (DPoP, mTLS).
    #[serde(default)]
    cnf: Option<Value>,
}

impl Oidc {
    /// A form POST to one of the authorization server's endpoints as a
    /// confidential client: RFC 6749 §2.3.1, the client id and secret
    /// form-encoded, then in HTTP Basic (token introspection, the web
    /// sign-in's code exchange).
    fn client_form_post(
        &self,
        url: &str,
        client_id: &str,
        client_secret: &str,
        form: String,
    ) -> reqwest::RequestBuilder {
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        self.http
            .post(url)
            .basic_auth(encode(client_id), Some(encode(client_secret)))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form)
    }

    /// The verifier for `config.auth.oidc`, if OAuth is configured.
    pub fn from_config(config: &Config) -> Result<Option<Self>> {
        let Some(oidc) = &config.auth.oidc else {
            return Ok(None);
        };
        crate::crypto::install_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(oidc.http_timeout)
            .connect_timeout(oidc.http_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("vieagent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Startup(format!("cannot build the OAuth HTTP client: {e}")))?;
        let base = config
            .public_base_url()
            .as_str()
            .trim_end_matches('/')
            .to_string();
        let audiences = if oidc.audience.is_empty() {
            RESOURCE_PATHS
                .iter()
                .map(|p| format!("{base}{p}"))
                .collect()
        } else {
            oidc.audience.clone()
        };
        Ok(Some(Self {
            keys: keys::KeySet::new(oidc, http.clone()),
            config: oidc.clone(),
            base,
            audiences,
            http,
            signup_credits: config.billing.signup_credits,
            cache_ttl: config.auth_cache_ttl,
            verified: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            refused: Mutex::new(HashMap::new()),
            introspecting: tokio::sync::Semaphore::new(MAX_INTROSPECTIONS),
        }))
    }

    /// Forget every verified token (after a user was disabled or unlinked here).
    pub fn forget(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut cache) = self.verified.lock() {
            cache.clear();
        }
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// Whether the authorization server answered the last time it was asked
    /// (`/readyz` shows it; the gateway stays ready either way).
    pub fn reach(&self) -> keys::Reach {
        self.keys.reach()
    }

    /// Fetch the issuer's metadata and keys now, and again in the
    /// background whenever it has not answered, until `stop`.
    pub async fn keep_trying(&self, stop: tokio_util::sync::CancellationToken) {
        self.keys.keep_trying(stop).await
    }

    /// The resource identifier of one of the gateway's endpoints (`/mcp`…).
    pub fn resource(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The path of `public_url` (`/vie` in `https://gw.example.com/vie`),
    /// `""` at the root.
    pub fn public_path(&self) -> &str {
        let scheme_end = self.base.find("://").map_or(0, |i| i + 3);
        self.base[scheme_end..]
            .find('/')
            .map_or("", |i| &self.base[scheme_end + i..])
    }

    /// Where the Protected Resource Metadata of `path` is (RFC 9728 §3.1):
    /// the well-known path inserted between the host and the resource's
    /// path, `https://gw.example.com/.well-known/oauth-protected-resource/vie/mcp`
    /// for `https://gw.example.com/vie/mcp`.
    pub fn metadata_url(&self, path: &str) -> String {
        let origin = &self.base[..self.base.len() - self.public_path().len()];
        format!(
            "{origin}/.well-known/oauth-protected-resource{}{path}",
            self.public_path()
        )
    }

    /// The scope a challenge asks for: `scope` and the extra scopes.
    pub fn challenge_scope(&self, scope: &str) -> String {
        std::iter::once(scope)
            .chain(self.config.extra_scopes.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// RFC 9728 Protected Resource Metadata for the endpoint at `path`.
    pub fn protected_resource_metadata(&self, path: &str) -> Value {
        let scopes: Vec<&str> = [&self.config.tools_scope, &self.config.admin_scope]
            .into_iter()
            .chain(&self.config.extra_scopes)
            .map(String::as_str)
            .collect();
        json!({
            "resource": self.resource(path),
            "authorization_servers": [self.config.issuer],
            "scopes_supported": scopes,
            "bearer_methods_supported": ["header"],
            "resource_name": "VieAgent Gateway",
            "resource_documentation": format!("{}/v1/docs", self.base),
        })
    }

    /// Whether a bearer token looks like a JWT (three base64url parts).
    pub fn looks_like_jwt(token: &str) -> bool {
        token.split('.').count() == 3
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    }

    /// Verify an access token and resolve its user. `Error::InvalidToken`
    /// (401) says what is wrong; `Error::Unavailable` (503) when the
    /// authorization server's keys cannot be had at all.
    #[tracing::instrument(skip_all, fields(issuer = %self.config.issuer))]
    pub async fn verify(&self, store: &dyn Store, token: &str) -> Result<TokenUser> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Ok(cache) = self.verified.lock()
            && let Some((user, until)) = cache.get(&digest)
            && Instant::now() < *until
        {
            return Ok(user.clone());
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let outcome = self.verify_uncached(store, token).await;
        let label = match &outcome {
            Ok(_) => "ok",
            Err(Error::InvalidToken(_)) => "invalid",
            Err(_) => "error",
        };
        metrics::counter!("vieagent_oauth_tokens_total", "outcome" => label).increment(1);
        let (user, exp) = outcome?;
        let mut until = Instant::now() + self.cache_ttl;
        if let Some(exp) = exp {
            let left = exp - chrono::Utc::now().timestamp();
            until = until.min(Instant::now() + Duration::from_secs(left.max(0) as u64));
        }
        if let Ok(mut cache) = self.verified.lock()
            && self.generation.load(Ordering::SeqCst) == generation
        {
            if cache.len() >= MAX_CACHED {
                let now = Instant::now();
                cache.retain(|_, (_, until)| now < *until);
                if cache.len() >= MAX_CACHED {
                    cache.clear();
                }
            }
            cache.insert(digest, (user.clone(), until));
        }
        Ok(user)
    }

    async fn verify_uncached(
        &self,
        store: &dyn Store,
        token: &str,
    ) -> Result<(TokenUser, Option<i64>)> {
        if !well_formed(token) {
            return Err(Error::InvalidToken(
                "the bearer token is malformed (RFC 6750 b64token, at most 16 KiB)".into(),
            ));
        }
        let claims = if Self::looks_like_jwt(token) {
            self.jwt_claims(token).await?
        } else {
            self.introspect(token).await?
        };
        if claims.sub.is_empty() {
            return Err(Error::InvalidToken(
                "the access token has an empty subject (sub)".into(),
            ));
        }
        // This gateway checks no proof of possession: taking a
        // sender-constrained token as a plain bearer token would undo
        // what the binding is for.
        if claims.cnf.is_some() {
            return Err(Error::InvalidToken(
                "the access token is sender-constrained (cnf: DPoP or mTLS); \
                 this gateway accepts bearer tokens only"
                    .into(),
            ));
        }
        let scopes = scopes(&claims);
        let user = self.user_for(store, &claims, token).await?;
        Ok((
            TokenUser {
                user: Arc::new(user),
                scopes: scopes.into(),
            },
            claims.exp,
        ))
    }

    /// A JWT access token's claims, once its signature and claims check out.
    async fn jwt_claims(&self, token: &str) -> Result<Claims> {
        let invalid = |m: &str| Error::InvalidToken(m.to_string());
        // `decode_header` refuses `alg: none` (not an algorithm it knows).
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid("the access token is not a well-formed signed JWT"))?;
        if !keys::accepted(header.alg) {
            return Err(invalid(&format!(
                "the access token is signed with {:?}; only asymmetric signatures (RS256, ES256, EdDSA...) are accepted",
                header.alg
            )));
        }
        let key = self
            .keys
            .find(header.kid.as_deref())
            .await
            .map_err(|e| match e {
                keys::KeyError::Unknown(m) => Error::InvalidToken(m),
                keys::KeyError::Unavailable(m) => Error::Unavailable(format!(
                    "{m}; OAuth access tokens cannot be checked right now"
                )),
            })?;
        if !key.algorithms.contains(&header.alg) {
            return Err(invalid(&format!(
                "the access token's algorithm {:?} does not match its signing key",
                header.alg
            )));
        }
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.leeway = self.config.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[
            self.config.issuer.as_str(),
            self.config.issuer.trim_end_matches('/'),
        ]);
        validation.set_audience(&self.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map_err(|e| Error::InvalidToken(describe(e.kind(), &self.audiences)))?;
        Ok(data.claims)
    }

    /// An opaque token's claims from the authorization server (RFC 7662),
    /// held to the same rules as a JWT's: active, our issuer, our audience,
    /// within its lifetime.
    async fn introspect(&self, token: &str) -> Result<Claims> {
        let Some(conf) = &self.config.introspection else {
            return Err(Error::InvalidToken(
                "the access token is not a JWT, and opaque tokens are not accepted here \
                 (auth.oidc.introspection is not configured)"
                    .into(),
            ));
        };
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Ok(refused) = self.refused.lock()
            && let Some((why, until)) = refused.get(&digest)
            && Instant::now() < *until
        {
            return Err(Error::InvalidToken(why.clone()));
        }
        let outcome = async {
            let _turn =
                tokio::time::timeout(self.config.http_timeout, self.introspecting.acquire())
                    .await
                    .map_err(|_| {
                        Error::Unavailable(
                            "too many opaque tokens are waiting for introspection; try again"
                                .into(),
                        )
                    })?
                    .map_err(|_| Error::Internal("the introspection semaphore closed".into()))?;
            self.introspect_uncached(conf, token).await
        }
        .await;
        if let Err(Error::InvalidToken(why)) = &outcome
            && let Ok(mut refused) = self.refused.lock()
        {
            if refused.len() >= MAX_CACHED {
                let now = Instant::now();
                refused.retain(|_, (_, until)| now < *until);
                if refused.len() >= MAX_CACHED {
                    refused.clear();
                }
            }
            refused.insert(digest, (why.clone(), Instant::now() + self.cache_ttl));
        }
        outcome
    }

    async fn introspect_uncached(
        &self,
        conf: &crate::config::IntrospectionConfig,
        token: &str,
    ) -> Result<Claims> {
        let endpoint = match &conf.url {
            Some(url) => url.to_string(),
            None => self
                .keys
                .metadata()
                .await
                .and_then(|m| m.introspection_endpoint)
                .ok_or_else(|| {
                    Error::Unavailable(
                        "the authorization server publishes no introspection_endpoint \
                         (set auth.oidc.introspection.url); opaque tokens cannot be checked"
                            .into(),
                    )
                })?,
        };
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .append_pair("token_type_hint", "access_token")
            .finish();
        let response = self
            .client_form_post(
                &endpoint,
                &conf.client_id,
                conf.client_secret.expose_secret(),
                form,
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| {
                Error::Unavailable(format!(
                    "the authorization server's introspection endpoint cannot be reached ({}); \
                     opaque tokens cannot be checked",
                    crate::engines::root_cause(&e)
                ))
            })?;
        if !response.status().is_success() {
            return Err(Error::Unavailable(format!(
                "the authorization server's introspection endpoint answered {} \
                 (check auth.oidc.introspection's client); opaque tokens cannot be checked",
                response.status()
            )));
        }
        let info: Value = response.json().await.map_err(|_| {
            Error::Unavailable("the introspection endpoint's answer is not JSON".into())
        })?;
        if info.get("active") != Some(&Value::Bool(true)) {
            return Err(Error::InvalidToken(INACTIVE.into()));
        }
        if let Some(iss) = info.get("iss").and_then(Value::as_str)
            && !keys::same_issuer(iss, &self.config.issuer)
        {
            return Err(Error::InvalidToken(describe(
                &ErrorKind::InvalidIssuer,
                &self.audiences,
            )));
        }
        if let Some(kind) = info.get("token_type").and_then(Value::as_str)
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(Error::InvalidToken(format!(
                "the token is a {kind:?} token, not a bearer access token"
            )));
        }
        let audiences: Vec<&str> = match info.get("aud") {
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !audiences
            .iter()
            .any(|a| self.audiences.iter().any(|ours| ours == a))
        {
            return Err(Error::InvalidToken(describe(
                &ErrorKind::InvalidAudience,
                &self.audiences,
            )));
        }
        let now = chrono::Utc::now().timestamp();
        let leeway = i64::try_from(self.config.leeway.as_secs()).unwrap_or(i64::MAX);
        if info
            .get("exp")
            .and_then(Value::as_i64)
            .is_some_and(|exp| exp < now.saturating_sub(leeway))
        {
            return Err(Error::InvalidToken(describe(
                &ErrorKind::ExpiredSignature,
                &self.audiences,
            )));
        }
        if info
            .get("nbf")
            .and_then(Value::as_i64)
            .is_some_and(|nbf| nbf > now.saturating_add(leeway))
        {
            return Err(Error::InvalidToken(describe(
                &ErrorKind::ImmatureSignature,
                &self.audiences,
            )));
        }
        serde_json::from_value(info)
            .map_err(|_| Error::InvalidToken("the introspected token has no subject (sub)".into()))
    }

    /// The user an identity belongs to; at its first sign-in, the user
    /// with its verified email, or a new one when provisioning is on.
    /// Account-level refusals (disabled, no account, not linkable) are
    /// `Error::Forbidden`: the token is good, signing in again will not help.
    async fn user_for(&self, store: &dyn Store, claims: &Claims, token: &str) -> Result<User> {
        let issuer = self.config.issuer.as_str();
        if let Some(user) = store.user_by_identity(issuer, &claims.sub).await? {
            return active(user);
        }
        if store.identity_unlinked(issuer, &claims.sub).await? {
            return Err(Error::Forbidden(
                "this sign-in was unlinked from its gateway account by an administrator; \
                 ask them to link it again"
                    .into(),
            ));
        }
        let (email, verified, name) = self.email_of(claims, token).await;
        let email = match (email, verified) {
            (Some(email), true) => accounts::normalize_email(&email).map_err(|_| {
                Error::Forbidden("the identity's email address is not usable".into())
            })?,
            (Some(_), false) => {
                return Err(Error::Forbidden(
                    "this identity's email address is not verified at the identity provider; \
                     verify it there, then sign in again"
                        .into(),
                ));
            }
            (None, _) => {
                return Err(Error::Forbidden(
                    "the access token carries no email address to find the account by; \
                     the identity provider must include `email` and `email_verified` in access tokens \
                     (or serve them at its userinfo endpoint), or an administrator links the identity"
                        .into(),
                ));
            }
        };
        let (user, provisioned) = match store.get_user_by_email(&email).await? {
            Some(user) => {
                self.may_link_by_email(store, &user).await?;
                (user, false)
            }
            None if self.config.auto_provision => {
                match accounts::create_user(
                    store,
                    &email,
                    name.as_deref().and_then(display_name),
                    Role::User,
                    "free",
                    self.signup_credits,
                )
                .await
                {
                    Ok(user) => (user, true),
                    // Provisioned by a concurrent first request.
                    Err(Error::Conflict(_)) => match store.get_user_by_email(&email).await? {
                        Some(user) => (user, false),
                        None => return Err(Error::Internal("user vanished".into())),
                    },
                    Err(e) => return Err(e),
                }
            }
            None => {
                return Err(Error::Forbidden(format!(
                    "there is no gateway account for {email}; ask the marketplace to create one"
                )));
            }
        };
        let linked = store
            .link_identity(&NewIdentity {
                issuer: issuer.to_string(),
                subject: claims.sub.clone(),
                user_id: user.id,
                email: Some(email.clone()),
            })
            .await?;
        if !linked {
            // Linked by a concurrent first request: the first link wins.
            return match store.user_by_identity(issuer, &claims.sub).await? {
                Some(user) => active(user),
                None => Err(Error::Internal("identity vanished".into())),
            };
        }
        let entry = NewAuditEntry {
            actor_user_id: Some(user.id),
            actor: format!("oauth:{email}"),
            action: if provisioned {
                "user.provision"
            } else {
                "identity.link"
            }
            .into(),
            target_type: "user".into(),
            target_id: Some(user.id.to_string()),
            details: json!({"issuer": issuer, "subject": claims.sub, "email": email}),
        };
        if let Err(e) = store.insert_audit(&entry).await {
            tracing::error!(error = %e, "could not write the audit log");
        }
        tracing::info!(user_id = %user.id, provisioned, "OAuth identity linked to a user");
        active(user)
    }

    /// Whether a new identity may take over an existing account by its
    /// verified email alone. Not an admin's (an identity provider that
    /// lets anyone assert that address would own the gateway), and not an
    /// account that signs in with another identity at this issuer already
    /// (a second identity claiming the same email is suspicious): those
    /// are linked by an administrator.
    async fn may_link_by_email(&self, store: &dyn Store, user: &User) -> Result<()> {
        let refuse = |why: &str| {
            Error::Forbidden(format!(
                "the gateway account with this email address {why}, so it is not linked to a new \
                 sign-in automatically; an administrator can link it \
                 (POST /admin/v1/users/{{id}}/identities)"
            ))
        };
        if user.role == Role::Admin {
            return Err(refuse("is an administrator's"));
        }
        let issuer = &self.config.issuer;
        if store
            .list_identities(user.id)
            .await?
            .iter()
            .any(|i| keys::same_issuer(&i.issuer, issuer))
        {
            return Err(refuse("signs in with another identity at this provider"));
        }
        Ok(())
    }

    /// The issuer as identities are stored: the configured spelling when
    /// `issuer` names the configured authorization server (a trailing slash
    /// aside), else `issuer` as given.
    pub fn canonical_issuer(&self, issuer: &str) -> String {
        if keys::same_issuer(issuer, &self.config.issuer) {
            self.config.issuer.clone()
        } else {
            issuer.to_string()
        }
    }

    /// The email claims of the token, else of the userinfo endpoint.
    async fn email_of(
        &self,
        claims: &Claims,
        token: &str,
    ) -> (Option<String>, bool, Option<String>) {
        if let Some(email) = &claims.email {
            return (
                Some(email.clone()),
                truthy(claims.email_verified.as_ref()),
                claims.name.clone(),
            );
        }
        let Some(endpoint) = self.keys.metadata().await.and_then(|m| m.userinfo_endpoint) else {
            return (None, false, None);
        };
        let info: Option<Value> = async {
            let response = self
                .http
                .get(&endpoint)
                .bearer_auth(token)
                .send()
                .await
                .ok()?;
            if !response.status().is_success() {
                return None;
            }
            response.json().await.ok()
        }
        .await;
        match info {
            // The userinfo must be about the same subject (OIDC Core 5.3.2).
            Some(info) if info.get("sub").and_then(Value::as_str) == Some(claims.sub.as_str()) => (
                info.get("email").and_then(Value::as_str).map(String::from),
                truthy(info.get("email_verified")),
                info.get("name").and_then(Value::as_str).map(String::from),
            ),
            _ => (None, false, None),
        }
    }
}

fn active(user: User) -> Result<User> {
    if user.disabled_at.is_some() {
        return Err(Error::Forbidden("this gateway account is disabled".into()));
    }
    Ok(user)
}

/// A provisioned user's display name from the token's `name`: printable,
/// at most 200 characters, or none.
fn display_name(name: &str) -> Option<String> {
    let clean: String = name
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect::<String>()
        .trim()
        .to_string();
    (!clean.is_empty()).then_some(clean)
}

/// `email_verified` as a boolean (some providers send the string "true").
fn truthy(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// `scope` (space-separated) and `scp` (an array or a string).
fn scopes(claims: &Claims) -> Vec<String> {
    let mut out: Vec<String> = claims
        .scope
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .map(String::from)
        .collect();
    match &claims.scp {
        Some(Value::String(s)) => out.extend(s.split_whitespace().map(String::from)),
        Some(Value::Array(items)) => {
            out.extend(items.iter().filter_map(Value::as_str).map(String::from))
        }
        _ => {}
    }
    out
}

/// What a refused token is told (no key material, no token content).
fn describe(kind: &ErrorKind, audiences: &[String]) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "the access token has expired".into(),
        ErrorKind::ImmatureSignature => "the access token is not valid yet (nbf)".into(),
        ErrorKind::InvalidIssuer => {
            "the access token was issued by another authorization server (iss)".into()
        }
        ErrorKind::InvalidAudience => format!(
            "the access token is for another resource (aud); this gateway accepts {}",
            audiences.join(", ")
        ),
        ErrorKind::InvalidSignature => "the access token's signature does not verify".into(),
        ErrorKind::InvalidAlgorithm => {
            "the access token's algorithm does not match its signing key".into()
        }
        ErrorKind::MissingRequiredClaim(claim) => {
            format!("the access token has no {claim} claim")
        }
        _ => "the access token is not a well-formed signed JWT".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_shape() {
        assert!(Oidc::looks_like_jwt("eyJh.eyJz.c2ln"));
        assert!(!Oidc::looks_like_jwt("vk_live_abc"));
        assert!(!Oidc::looks_like_jwt("a.b"));
        assert!(!Oidc::looks_like_jwt("a.b.c d"));
    }

    #[test]
    fn scopes_from_scope_and_scp() {
        let claims: Claims = serde_json::from_value(json!({
            "sub": "x", "scope": "openid vieagent:tools", "scp": ["vieagent:admin"]
        }))
        .unwrap();
        assert_eq!(
            scopes(&claims),
            ["openid", "vieagent:tools", "vieagent:admin"]
        );
        let claims: Claims = serde_json::from_value(json!({"sub": "x", "scp": "a b"})).unwrap();
        assert_eq!(scopes(&claims), ["a", "b"]);
    }

    #[test]
    fn email_verified_accepts_the_string_form() {
        assert!(truthy(Some(&json!(true))));
        assert!(truthy(Some(&json!("true"))));
        assert!(!truthy(Some(&json!("false"))));
        assert!(!truthy(None));
    }

    #[test]
    fn issuers_compare_but_for_a_trailing_slash() {
        assert!(keys::same_issuer(
            "https://a/realms/x",
            "https://a/realms/x/"
        ));
        assert!(!keys::same_issuer(
            "https://a/realms/x",
            "https://a/realms/y"
        ));
    }
}
