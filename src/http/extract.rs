//! Extractors whose rejections are problem+json errors that say what is
//! wrong: invalid JSON (with position), wrong content type (415), body too
//! large (413), bad path or query parameters (400).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::Error;

/// A JSON body.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Through `Value` first: serde would also build a struct from a JSON
        // array (`[]`), and every body here is an object.
        match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(value)) if !value.is_object() => {
                Err(Error::InvalidInput("the body must be a JSON object".into()))
            }
            Ok(axum::Json(value)) => {
                serde_path_to_error::deserialize(value)
                    .map(Self)
                    .map_err(|e| {
                        let path = e.path().to_string();
                        let inner = e.into_inner().to_string();
                        let message = if path == "." {
                            inner
                        } else {
                            format!("{path}: {inner}")
                        };
                        Error::InvalidInput(format!(
                            "the body does not match the expected shape: {}",
                            message.chars().take(500).collect::<String>()
                        ))
                    })
            }
            Err(JsonRejection::MissingJsonContentType(_)) => Err(Error::UnsupportedMediaType(
                "expected a JSON body with Content-Type: application/json".into(),
            )),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(Error::InvalidInput(format!(
                "the body is not valid JSON: {}",
                inner_message(&e.body_text())
            ))),
            Err(JsonRejection::JsonDataError(e)) => Err(Error::InvalidInput(format!(
                "the body does not match the expected shape: {}",
                inner_message(&e.body_text())
            ))),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(Error::PayloadTooLarge(
                    "the request body is larger than the 1 MiB limit".into(),
                ))
            }
            Err(other) => Err(Error::InvalidInput(format!(
                "cannot read the request body: {}",
                other.body_text()
            ))),
        }
    }
}

/// Path parameters.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(Error::InvalidInput(
                format!("invalid path parameter: {}", e.body_text()),
            )),
            Err(other) => Err(Error::InvalidInput(other.body_text())),
        }
    }
}

/// Query-string parameters.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(Error::InvalidInput(
                format!("invalid query parameter: {}", inner_message(&e.body_text())),
            )),
            Err(other) => Err(Error::InvalidInput(other.body_text())),
        }
    }
}

/// axum prefixes its messages ("Failed to deserialize …: "); keep the part
/// that names the field and the problem.
fn inner_message(text: &str) -> String {
    let message = text
        .split_once(": ")
        .map(|(_, rest)| rest)
        .unwrap_or(text)
        .trim();
    message.chars().take(500).collect()
}
