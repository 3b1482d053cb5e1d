//! Signing in to the web app with the marketplace account: OpenID Connect
//! authorization code flow with PKCE (S256), the web app being a
//! confidential client (`web.oidc`) of the same issuer whose access tokens
//! the gateway accepts (`auth.oidc`).
//!
//! [`Oidc::start_sign_in`] makes the authorization URL with a fresh
//! `state`, `nonce` and PKCE verifier (the browser keeps them, signed, in a
//! short-lived cookie); [`Oidc::finish_sign_in`] redeems the code at the
//! token endpoint with the verifier and the client's secret, checks the ID
//! token (signature by the issuer's published keys, `iss`, `aud` = the
//! client, `exp`, and the `nonce`), then finds, links or provisions the
//! user exactly as for an access token (identities, verified email,
//! `auto_provision`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::Validation;
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{Claims, Oidc, keys};
use crate::config::WebOidcConfig;
use crate::error::Error;
use crate::store::{Store, User};

/// A sign-in begun: where to send the browser, and what it must bring back.
pub struct SignIn {
    pub url: url::Url,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("url", &self.url.origin())
            .finish_non_exhaustive()
    }
}

/// Why a sign-in did not finish.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The identity provider cannot be reached, or does not offer the flow.
    #[error("{0}")]
    Unavailable(String),
    /// The code, or the ID token, was refused.
    #[error("{0}")]
    Refused(String),
    /// The identity maps to no usable account (not provisioned, disabled,
    /// email not verified…): the account rules' own message.
    #[error("{0}")]
    Account(Error),
}

/// 32 random bytes, base64url (43 characters: a valid PKCE verifier).
fn random() -> Result<String, SignInError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| SignInError::Unavailable(format!("no randomness: {e}")))?;
    Ok(B64.encode(bytes))
}

/// The PKCE S256 challenge of a verifier.
pub fn challenge(verifier: &str) -> String {
    B64.encode(Sha256::digest(verifier.as_bytes()))
}

/// The token endpoint's answer (RFC 6749 5.1; OIDC Core 3.1.3.3).
#[derive(Deserialize)]
struct Tokens {
    id_token: Option<String>,
    access_token: Option<String>,
}

/// An ID token's claims: the account claims and the `nonce`.
#[derive(Deserialize)]
struct IdClaims {
    #[serde(default)]
    nonce: Option<String>,
    #[serde(flatten)]
    claims: Claims,
}

impl Oidc {
    async fn endpoints(&self) -> Result<keys::Metadata, SignInError> {
        let metadata = self.keys.metadata().await.ok_or_else(|| {
            SignInError::Unavailable(format!(
                "the identity provider {} cannot be reached",
                self.config.issuer
            ))
        })?;
        if metadata.authorization_endpoint.is_none() || metadata.token_endpoint.is_none() {
            return Err(SignInError::Unavailable(format!(
                "the identity provider {} publishes no authorization_endpoint and token_endpoint",
                self.config.issuer
            )));
        }
        Ok(metadata)
    }

    /// Begin a sign-in: the authorization URL and the secrets to keep.
    pub async fn start_sign_in(
        &self,
        client: &WebOidcConfig,
        redirect_uri: &str,
        locale: &str,
    ) -> Result<SignIn, SignInError> {
        let metadata = self.endpoints().await?;
        let endpoint = metadata.authorization_endpoint.unwrap_or_default();
        let mut url = url::Url::parse(&endpoint)
            .map_err(|e| SignInError::Unavailable(format!("authorization_endpoint: {e}")))?;
        let (state, nonce, verifier) = (random()?, random()?, random()?);
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &client.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &client.scopes.join(" "))
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge(&verifier))
            .append_pair("code_challenge_method", "S256")
            .append_pair("ui_locales", locale);
        Ok(SignIn {
            url,
            state,
            nonce,
            verifier,
        })
    }

    /// Finish a sign-in: redeem the code, check the ID token, and find,
    /// link or provision its user. Also the ID token (a hint for signing
    /// out at the provider).
    pub async fn finish_sign_in(
        &self,
        store: &dyn Store,
        client: &WebOidcConfig,
        redirect_uri: &str,
        code: &str,
        verifier: &str,
        nonce: &str,
    ) -> Result<(User, String), SignInError> {
        let metadata = self.endpoints().await?;
        let token_endpoint = metadata.token_endpoint.unwrap_or_default();
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("code_verifier", verifier)
            .finish();
        let response = self
            .client_form_post(
                &token_endpoint,
                &client.client_id,
                client.client_secret.expose_secret(),
                body,
            )
            .send()
            .await
            .map_err(|e| {
                SignInError::Unavailable(format!(
                    "the identity provider's token endpoint cannot be reached: {}",
                    crate::engines::root_cause(&e)
                ))
            })?;
        let status = response.status();
        if !status.is_success() {
            // RFC 6749 5.2: `error` names why (invalid_grant: a used, expired
            // or foreign code, or a wrong verifier).
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            let error = body["error"].as_str().unwrap_or("no error code");
            return Err(if status.is_server_error() {
                SignInError::Unavailable(format!("the token endpoint answered {status}"))
            } else {
                SignInError::Refused(format!("the identity provider refused the code: {error}"))
            });
        }
        let tokens: Tokens = response.json().await.map_err(|e| {
            SignInError::Refused(format!("the token endpoint's answer is not JSON: {e}"))
        })?;
        let id_token = tokens
            .id_token
            .ok_or_else(|| SignInError::Refused("the token endpoint sent no id_token".into()))?;
        let claims = self.id_token_claims(&id_token, client, nonce).await?;
        // The access token, when there is one, lets a provider that keeps
        // email out of ID tokens answer at userinfo.
        let bearer = tokens.access_token.unwrap_or_default();
        let user = self
            .user_for(store, &claims, &bearer)
            .await
            .map_err(SignInError::Account)?;
        Ok((user, id_token))
    }

    /// An ID token's claims, once its signature, issuer, audience, lifetime
    /// and nonce check out.
    async fn id_token_claims(
        &self,
        token: &str,
        client: &WebOidcConfig,
        nonce: &str,
    ) -> Result<Claims, SignInError> {
        let refused = |m: String| SignInError::Refused(m);
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| refused("the ID token is not a well-formed signed JWT".into()))?;
        if !keys::accepted(header.alg) {
            return Err(refused(format!(
                "the ID token is signed with {:?}; only asymmetric signatures are accepted",
                header.alg
            )));
        }
        let key = self
            .keys
            .find(header.kid.as_deref())
            .await
            .map_err(|e| match e {
                keys::KeyError::Unknown(m) => SignInError::Refused(m),
                keys::KeyError::Unavailable(m) => SignInError::Unavailable(m),
            })?;
        if !key.algorithms.contains(&header.alg) {
            return Err(refused(
                "the ID token's algorithm does not match its signing key".into(),
            ));
        }
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.leeway = self.config.leeway.as_secs();
        validation.set_issuer(&[
            self.config.issuer.as_str(),
            self.config.issuer.trim_end_matches('/'),
        ]);
        validation.set_audience(&[client.client_id.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<IdClaims>(token, &key.key, &validation)
            .map_err(|e| refused(format!("the ID token was refused: {e}")))?;
        let sent = data.claims.nonce.unwrap_or_default();
        let same: bool = subtle::ConstantTimeEq::ct_eq(sent.as_bytes(), nonce.as_bytes()).into();
        if !same || nonce.is_empty() {
            return Err(refused(
                "the ID token's nonce is not this sign-in's (a replayed or foreign token)".into(),
            ));
        }
        if data.claims.claims.sub.is_empty() {
            return Err(refused("the ID token has an empty subject".into()));
        }
        Ok(data.claims.claims)
    }

    /// Where to send the browser to sign out at the provider too, if it
    /// offers RP-initiated logout.
    pub async fn end_session_url(
        &self,
        client: &WebOidcConfig,
        id_token_hint: Option<&str>,
        post_logout_redirect_uri: &str,
    ) -> Option<url::Url> {
        let endpoint = self.keys.metadata().await?.end_session_endpoint?;
        let mut url = url::Url::parse(&endpoint).ok()?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &client.client_id);
            q.append_pair("post_logout_redirect_uri", post_logout_redirect_uri);
            if let Some(hint) = id_token_hint {
                q.append_pair("id_token_hint", hint);
            }
        }
        Some(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn secrets_are_fresh_and_long_enough() {
        let a = random().expect("random");
        let b = random().expect("random");
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
    }
}
