//! The HTTP plumbing engine adapters share: one pooled client, a whole-call
//! deadline, a single retry for connection failures only, capped bodies, and
//! secret-free descriptions of transport errors.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};

use super::EngineError;
use crate::config::EngineHttpConfig;

/// A response read whole (up to the cap).
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub elapsed: Duration,
}

#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    client: reqwest::Client,
    pub config: EngineHttpConfig,
}

impl HttpClient {
    pub fn new(config: EngineHttpConfig) -> Result<Self, EngineError> {
        crate::crypto::install_tls_provider();
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            // Redirects are never followed: a flow endpoint that redirects is
            // misconfigured or hostile, and credentials must not travel on.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .user_agent(concat!("vieagent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| EngineError::Transport {
                detail: format!("cannot build the HTTP client: {}", root_cause(&e)),
            })?;
        Ok(Self { client, config })
    }

    /// Send a request built by `build` and read the whole body, all within
    /// `timeout`. A connection that cannot be opened is retried once; nothing
    /// is retried after the request may have been sent.
    pub async fn send(
        &self,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
        timeout: Duration,
    ) -> Result<RawResponse, EngineError> {
        let started = Instant::now();
        let limit = self.config.max_response_bytes;
        let attempt = async {
            let mut response = match build(&self.client).send().await {
                Ok(r) => r,
                Err(e) if e.is_connect() => {
                    tracing::debug!(error = %root_cause(&e), "engine connection failed; retrying once");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    build(&self.client).send().await.map_err(classify)?
                }
                Err(e) => return Err(classify(e)),
            };
            if response
                .content_length()
                .is_some_and(|len| len > limit as u64)
            {
                return Err(EngineError::ResponseTooLarge { limit });
            }
            let status = response.status();
            let headers = response.headers().clone();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(classify)? {
                if body.len() + chunk.len() > limit {
                    return Err(EngineError::ResponseTooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(RawResponse {
                status,
                headers,
                body: Bytes::from(body),
                elapsed: started.elapsed(),
            })
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(EngineError::Timeout { after: timeout }),
        }
    }
}

/// Map a reqwest error to an [`EngineError`] without its URL (which could
/// carry userinfo) — only the innermost cause's text.
fn classify(e: reqwest::Error) -> EngineError {
    if e.is_timeout() {
        return EngineError::Transport {
            detail: "the connection timed out".into(),
        };
    }
    if e.is_connect() {
        return EngineError::Unreachable {
            detail: root_cause(&e),
        };
    }
    if e.is_body() || e.is_decode() {
        return EngineError::Transport {
            detail: format!("the response broke off: {}", root_cause(&e)),
        };
    }
    EngineError::Transport {
        detail: root_cause(&e),
    }
}

/// The innermost error's message (e.g. "Connection refused (os error 111)").
pub(crate) fn root_cause(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    if text.contains("://") {
        // Never echo a URL.
        "connection error".to_string()
    } else {
        text
    }
}

/// Flow ids are opaque identifiers (Flowise UUIDs, Activepieces nanoids):
/// letters, digits, `-` and `_` only, so an id can never steer a request to
/// another path of the engine.
pub fn valid_flow_id(flow_id: &str) -> Result<(), EngineError> {
    let ok = !flow_id.is_empty()
        && flow_id.len() <= 128
        && flow_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(EngineError::BadInput(
            "invalid engine flow id: only letters, digits, '-' and '_' are allowed".into(),
        ))
    }
}

/// `base` + path segments, each percent-encoded as one segment.
pub(crate) fn endpoint(base: &url::Url, segments: &[&str]) -> url::Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        for s in segments {
            path.push(s);
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_ids_cannot_steer_paths() {
        assert!(valid_flow_id("3f1c0a9e-1b2c-4d5e-8f90-123456789abc").is_ok());
        assert!(valid_flow_id("Xy12_ab-CD").is_ok());
        for bad in [
            "",
            "../chatflows",
            "a/b",
            "a?b=1",
            "a#x",
            "a b",
            "%2e%2e",
            "a\u{0}",
        ] {
            assert!(valid_flow_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn endpoints_keep_base_paths_and_encode_segments() {
        let base = url::Url::parse("http://h:3000/flowise/").expect("url");
        assert_eq!(
            endpoint(&base, &["api", "v1", "prediction", "abc"]).as_str(),
            "http://h:3000/flowise/api/v1/prediction/abc"
        );
        let base = url::Url::parse("http://h:3000").expect("url");
        assert_eq!(
            endpoint(&base, &["api", "v1", "x/y"]).as_str(),
            "http://h:3000/api/v1/x%2Fy"
        );
    }
}
