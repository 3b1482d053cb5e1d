//! The authorization server's metadata and signing keys: discovered from
//! the issuer, cached, refreshed when stale or when a token names an
//! unknown key id (at most once per `jwks_min_refresh`), and kept when the
//! issuer cannot be reached. Whether the issuer answered the last time is
//! tracked ([`Reach`]): going unreachable is logged once (not per token),
//! [`KeySet::keep_trying`] retries in the background until it answers, and
//! a token naming a key id not seen yet is then a 503 (the issuer may have
//! rotated its keys), not a verdict on the token.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use tokio::sync::{Mutex, Notify, RwLock};
use tokio_util::sync::CancellationToken;

use crate::config::OidcConfig;

/// The parts of RFC 8414 / OpenID Discovery metadata the gateway uses.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Metadata {
    pub issuer: String,
    pub jwks_uri: Option<String>,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub introspection_endpoint: Option<String>,
    /// Sign-in to the web app (OpenID Connect authorization code).
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// RP-initiated logout, where the provider offers it.
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

/// A verification key from the JWKS.
pub(super) struct Key {
    pub key: DecodingKey,
    /// The algorithms this key may verify: the JWK's `alg` when it names
    /// one, else every asymmetric algorithm of the key's type.
    pub algorithms: Vec<Algorithm>,
}

/// Why a key could not be found.
#[derive(Debug)]
pub(super) enum KeyError {
    /// The keys are known and this `kid` is not among them.
    Unknown(String),
    /// No keys could be fetched at all.
    Unavailable(String),
}

/// Whether the authorization server answered the last fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Reach {
    /// Not asked yet.
    Pending = 0,
    Ok = 1,
    Unreachable = 2,
}

impl Reach {
    pub fn as_str(self) -> &'static str {
        match self {
            Reach::Pending => "pending",
            Reach::Ok => "ok",
            Reach::Unreachable => "unreachable",
        }
    }

    fn from_u8(n: u8) -> Self {
        match n {
            1 => Reach::Ok,
            2 => Reach::Unreachable,
            _ => Reach::Pending,
        }
    }
}

/// The background retry's first and longest wait.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Cached {
    metadata: Option<Metadata>,
    keys: HashMap<String, Arc<Key>>,
    /// Keys without a `kid` (usable only by tokens without one).
    anonymous: Vec<Arc<Key>>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
}

pub(super) struct KeySet {
    http: reqwest::Client,
    issuer: String,
    jwks_url: Option<String>,
    max_age: Duration,
    min_refresh: Duration,
    cached: RwLock<Cached>,
    /// One fetch at a time.
    fetching: Mutex<()>,
    /// A [`Reach`], as its number.
    reach: AtomicU8,
    /// Wakes [`KeySet::keep_trying`] when the issuer stops answering.
    lost: Notify,
}

impl KeySet {
    pub fn new(config: &OidcConfig, http: reqwest::Client) -> Self {
        Self {
            http,
            issuer: config.issuer.clone(),
            jwks_url: config.jwks_url.as_ref().map(|u| u.to_string()),
            max_age: config.jwks_max_age,
            min_refresh: config.jwks_min_refresh,
            cached: RwLock::new(Cached::default()),
            fetching: Mutex::new(()),
            reach: AtomicU8::new(Reach::Pending as u8),
            lost: Notify::new(),
        }
    }

    pub fn reach(&self) -> Reach {
        Reach::from_u8(self.reach.load(Ordering::SeqCst))
    }

    /// Record what the last fetch found; what it was before.
    fn reached(&self, now: Reach) -> Reach {
        Reach::from_u8(self.reach.swap(now as u8, Ordering::SeqCst))
    }

    /// Until `stop`: whenever the issuer has not answered (at start, or
    /// since a fetch failed), fetch its metadata and keys again, waiting
    /// 1 s, 2 s, … up to a minute between tries.
    pub async fn keep_trying(&self, stop: CancellationToken) {
        let mut wait = RETRY_FIRST;
        loop {
            if self.reach() != Reach::Ok {
                if self.refresh_now(true).await.is_ok() {
                    wait = RETRY_FIRST;
                    continue;
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 2).min(RETRY_MAX);
                continue;
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.lost.notified() => {}
            }
        }
    }

    /// The issuer's metadata (fetched once, then with the keys).
    pub async fn metadata(&self) -> Option<Metadata> {
        if let Some(m) = self.cached.read().await.metadata.clone() {
            return Some(m);
        }
        let _ = self.refresh().await;
        self.cached.read().await.metadata.clone()
    }

    /// The key a token's header names.
    pub async fn find(&self, kid: Option<&str>) -> Result<Arc<Key>, KeyError> {
        let (found, stale, may_refetch) = {
            let c = self.cached.read().await;
            (
                lookup(&c, kid),
                c.fetched_at.is_none_or(|at| at.elapsed() >= self.max_age),
                c.attempted_at
                    .is_none_or(|at| at.elapsed() >= self.min_refresh),
            )
        };
        match found {
            Some(key) if !stale => return Ok(key),
            // Stale keys are refreshed when allowed, and still used when
            // the issuer cannot be reached.
            Some(key) if !may_refetch => return Ok(key),
            _ => {}
        }
        if may_refetch {
            let _ = self.refresh().await;
        }
        let c = self.cached.read().await;
        if let Some(key) = lookup(&c, kid) {
            return Ok(key);
        }
        if c.fetched_at.is_none() {
            return Err(KeyError::Unavailable(
                "cannot fetch the authorization server's signing keys".into(),
            ));
        }
        // The issuer may have rotated to a key it cannot tell us about now.
        if self.reach() == Reach::Unreachable {
            return Err(KeyError::Unavailable(format!(
                "the token is signed with a key id ({:?}) this gateway has not seen, and the \
                 authorization server cannot be reached to fetch its current keys",
                kid.unwrap_or("none").chars().take(64).collect::<String>()
            )));
        }
        Err(KeyError::Unknown(match kid {
            Some(kid) => format!(
                "the token is signed with key id {:?}, which the authorization server does not publish",
                kid.chars().take(64).collect::<String>()
            ),
            None => "the token names no key id (kid) and the authorization server publishes several keys".into(),
        }))
    }

    /// Fetch metadata (if needed) and keys: at most once per
    /// `min_refresh`, and never concurrently.
    async fn refresh(&self) -> Result<(), String> {
        self.refresh_now(false).await
    }

    /// [`Self::refresh`]; `retry` (the background retry) ignores
    /// `min_refresh`, which only bounds what tokens can make it fetch.
    async fn refresh_now(&self, retry: bool) -> Result<(), String> {
        let _one = self.fetching.lock().await;
        // Someone else may have fetched while this one waited.
        if !retry
            && self
                .cached
                .read()
                .await
                .attempted_at
                .is_some_and(|at| at.elapsed() < self.min_refresh)
        {
            return Ok(());
        }
        let result = self.fetch().await;
        let mut c = self.cached.write().await;
        c.attempted_at = Some(Instant::now());
        match result {
            Ok((metadata, keys, anonymous)) => {
                if metadata.is_some() {
                    c.metadata = metadata;
                }
                c.keys = keys;
                c.anonymous = anonymous;
                c.fetched_at = Some(Instant::now());
                metrics::counter!("vieagent_oauth_jwks_fetches_total", "outcome" => "ok")
                    .increment(1);
                let was = self.reached(Reach::Ok);
                if was == Reach::Unreachable {
                    tracing::info!(issuer = %self.issuer,
                        "the authorization server answers again; OAuth access tokens are checked against its current keys");
                }
                Ok(())
            }
            Err(e) => {
                metrics::counter!("vieagent_oauth_jwks_fetches_total", "outcome" => "failed")
                    .increment(1);
                let was = self.reached(Reach::Unreachable);
                if was == Reach::Unreachable {
                    tracing::debug!(issuer = %self.issuer, error = %e,
                        "the authorization server still cannot be reached");
                } else {
                    let cached = c.keys.len() + c.anonymous.len();
                    if cached > 0 {
                        tracing::warn!(issuer = %self.issuer, error = %e, cached_keys = cached,
                            "cannot reach the authorization server: tokens signed with the {cached} \
                             signing key(s) fetched before are still accepted, others are refused \
                             with 503; API keys keep working; retrying in the background");
                    } else {
                        tracing::warn!(issuer = %self.issuer, error = %e,
                            "cannot reach the authorization server: no signing key is known yet, so \
                             OAuth access tokens are refused with 503 until it answers; API keys keep \
                             working; retrying in the background");
                    }
                    self.lost.notify_one();
                }
                Err(e)
            }
        }
    }

    #[allow(clippy::type_complexity)]
    async fn fetch(
        &self,
    ) -> Result<(Option<Metadata>, HashMap<String, Arc<Key>>, Vec<Arc<Key>>), String> {
        let cached = self.cached.read().await.metadata.clone();
        // With `jwks_url` set, the keys do not wait on discovery (which
        // only adds the userinfo and introspection endpoints).
        let metadata = match (cached, &self.jwks_url) {
            (Some(m), _) => Some(m),
            (None, None) => Some(self.discover().await?),
            (None, Some(_)) => match self.discover().await {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::debug!(error = %e, "no authorization server metadata; using auth.oidc.jwks_url");
                    None
                }
            },
        };
        let jwks_url = self
            .jwks_url
            .clone()
            .or_else(|| metadata.as_ref().and_then(|m| m.jwks_uri.clone()))
            .ok_or("the authorization server's metadata has no jwks_uri; set auth.oidc.jwks_url")?;
        let set: JwkSet = self.get_json(&jwks_url).await?;
        let mut keys = HashMap::new();
        let mut anonymous = Vec::new();
        for jwk in &set.keys {
            let Some(key) = verification_key(jwk) else {
                continue;
            };
            match &jwk.common.key_id {
                Some(kid) => {
                    keys.insert(kid.clone(), Arc::new(key));
                }
                None => anonymous.push(Arc::new(key)),
            }
        }
        if keys.is_empty() && anonymous.is_empty() {
            return Err(format!(
                "{jwks_url} holds no usable signing key (RSA, EC or Ed25519)"
            ));
        }
        Ok((metadata, keys, anonymous))
    }

    /// OpenID Discovery, then RFC 8414; the metadata must name our issuer.
    async fn discover(&self) -> Result<Metadata, String> {
        let base = self.issuer.trim_end_matches('/');
        let mut urls = vec![format!("{base}/.well-known/openid-configuration")];
        if let Ok(parsed) = url::Url::parse(base) {
            let path = parsed.path().trim_end_matches('/');
            let origin = parsed.origin().ascii_serialization();
            urls.push(format!(
                "{origin}/.well-known/oauth-authorization-server{path}"
            ));
        }
        let mut last = String::new();
        for url in urls {
            match self.get_json::<Metadata>(&url).await {
                Ok(m) if same_issuer(&m.issuer, &self.issuer) => return secure(m),
                Ok(m) => {
                    return Err(format!(
                        "{url} names issuer {:?}, not the configured {:?} (auth.oidc.issuer)",
                        m.issuer, self.issuer
                    ));
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("{url}: {}", crate::engines::root_cause(&e)))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("{url}: {}", crate::engines::root_cause(&e)))?;
        serde_json::from_slice(&body).map_err(|e| format!("{url}: not the expected JSON: {e}"))
    }
}

/// The metadata, its endpoints held to `https_or_loopback`: the keys
/// must come over TLS, and tokens are sent to userinfo and introspection.
fn secure(mut m: Metadata) -> Result<Metadata, String> {
    let ok = |u: &str| url::Url::parse(u).is_ok_and(|u| crate::config::https_or_loopback(&u));
    if let Some(jwks) = &m.jwks_uri
        && !ok(jwks)
    {
        return Err(format!(
            "the authorization server's jwks_uri {jwks:?} is not https://; set auth.oidc.jwks_url"
        ));
    }
    for endpoint in [
        &mut m.userinfo_endpoint,
        &mut m.introspection_endpoint,
        &mut m.token_endpoint,
        &mut m.authorization_endpoint,
        &mut m.end_session_endpoint,
    ] {
        if endpoint.as_deref().is_some_and(|u| !ok(u)) {
            tracing::warn!(endpoint = ?endpoint, "ignoring an authorization server endpoint that is not https://");
            *endpoint = None;
        }
    }
    Ok(m)
}

fn lookup(c: &Cached, kid: Option<&str>) -> Option<Arc<Key>> {
    match kid {
        Some(kid) => c.keys.get(kid).cloned(),
        None if c.keys.len() + c.anonymous.len() == 1 => {
            c.keys.values().next().or(c.anonymous.first()).cloned()
        }
        None => None,
    }
}

/// Issuers compare exactly, but for one trailing slash.
pub(super) fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// The algorithms an RSA key may verify.
const RSA: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// The asymmetric algorithms the gateway accepts. Never `none`, never HMAC:
/// a public key is public, so a "MAC" made with it proves nothing.
pub(super) fn accepted(alg: Algorithm) -> bool {
    RSA.contains(&alg) || matches!(alg, Algorithm::ES256 | Algorithm::ES384 | Algorithm::EdDSA)
}

/// A JWK usable to verify signatures, with the algorithms it may verify;
/// symmetric keys and encryption keys are skipped.
fn verification_key(jwk: &Jwk) -> Option<Key> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let family: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => RSA.to_vec(),
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            jsonwebtoken::jwk::EllipticCurve::P256 => vec![Algorithm::ES256],
            jsonwebtoken::jwk::EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(p) => match p.curve {
            jsonwebtoken::jwk::EllipticCurve::Ed25519 => vec![Algorithm::EdDSA],
            _ => return None,
        },
        _ => return None,
    };
    let algorithms = match jwk.common.key_algorithm {
        Some(alg) => {
            let alg = from_key_algorithm(alg)?;
            if !family.contains(&alg) {
                return None;
            }
            vec![alg]
        }
        None => family,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(Key { key, algorithms })
}

fn from_key_algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}
