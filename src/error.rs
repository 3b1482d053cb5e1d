//! The one error type. Mapped once to an HTTP status + RFC 9457 problem
//! document here; 500s are opaque to clients and logged with their cause.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::config::ConfigError;
use crate::store::{ConnectError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The server cannot start (database unreachable, schema too new, ...).
    #[error("{0}")]
    Startup(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidInput(String),
    /// Well-formed input that breaks named rules (422): each failing field and the rule.
    #[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A value that must be unique is taken (409, naming the field).
    #[error("{}: {}", .0.field, .0.message)]
    Duplicate(FieldError),
    /// A state change refused, with the reasons (e.g. publish checks).
    #[error("{message}")]
    Refused {
        message: String,
        problems: Vec<String>,
    },
    #[error("missing, invalid or revoked API key")]
    Unauthorized,
    /// An OAuth access token refused (401, RFC 6750 `invalid_token`): the
    /// message says why, without echoing the token.
    #[error("{0}")]
    InvalidToken(String),
    /// A signed request (a marketplace event) whose signature or timestamp
    /// does not check out (401, without a Bearer challenge).
    #[error("{0}")]
    BadSignature(String),
    #[error("{0}")]
    Forbidden(String),
    /// Temporarily unable to serve (503 with `Retry-After`); the message is
    /// safe to show (e.g. "journal unavailable: the call was not run").
    #[error("{0}")]
    Unavailable(String),
    /// A rate or concurrency limit (429 with `Retry-After`).
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after: std::time::Duration,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<ConnectError> for Error {
    fn from(err: ConnectError) -> Self {
        match err {
            ConnectError::Config(e) => Error::Config(e),
            other => Error::Startup(other.to_string()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a constraint violation means for the request at hand: the error the
/// caller sees when a value is taken ([`StoreError::UniqueViolation`]) or
/// refers to a row that does not exist ([`StoreError::ForeignKeyViolation`]).
/// Every other store error converts as usual.
pub trait OnConstraint<T> {
    fn on_unique(self, error: impl FnOnce() -> Error) -> Result<T>;
    fn on_foreign_key(self, error: impl FnOnce() -> Error) -> Result<T>;
}

impl<T> OnConstraint<T> for std::result::Result<T, StoreError> {
    fn on_unique(self, error: impl FnOnce() -> Error) -> Result<T> {
        self.map_err(|e| match e {
            StoreError::UniqueViolation { .. } => error(),
            other => other.into(),
        })
    }

    fn on_foreign_key(self, error: impl FnOnce() -> Error) -> Result<T> {
        self.map_err(|e| match e {
            StoreError::ForeignKeyViolation { .. } => error(),
            other => other.into(),
        })
    }
}

/// One failing field of a request: where, which rule, and a readable message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's path, e.g. `tool_name` or `input_schema.properties.x`.
    pub field: String,
    /// The rule it breaks, e.g. `pattern`, `minimum`, `max_decimals`, `unique`.
    pub rule: String,
    pub message: String,
}

impl FieldError {
    pub fn new(
        field: impl Into<String>,
        rule: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
            message: message.into(),
        }
    }
}

/// RFC 9457 problem details, as every error response carries them.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Error::NotFound(_) | Error::Store(StoreError::NotFound { .. }) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::Conflict(_) | Error::Store(StoreError::UniqueViolation { .. }) => {
                StatusCode::CONFLICT
            }
            Error::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::InvalidInput(_)
            | Error::Store(StoreError::CheckViolation { .. })
            | Error::Store(StoreError::NotNullViolation { .. }) => StatusCode::BAD_REQUEST,
            Error::Store(StoreError::ForeignKeyViolation { .. })
            | Error::Refused { .. }
            | Error::Duplicate(_) => StatusCode::CONFLICT,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Unauthorized | Error::InvalidToken(_) | Error::BadSignature(_) => {
                StatusCode::UNAUTHORIZED
            }
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::Store(StoreError::Unavailable(_)) | Error::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the client is told: the message, except for server errors,
    /// which are opaque (their cause goes to the log, here).
    pub fn public_detail(&self) -> String {
        let status = self.status();
        if let Error::Unavailable(message) = self {
            tracing::warn!(error = %message, "request refused: unavailable");
            message.clone()
        } else if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
            match status {
                StatusCode::SERVICE_UNAVAILABLE => {
                    "the service is temporarily unavailable".to_string()
                }
                _ => "internal server error".to_string(),
            }
        } else {
            self.to_string()
        }
    }

    /// The process exit code for a CLI failure: 2 for configuration mistakes.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) => 2,
            _ => 1,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = match &self {
            Error::Unavailable(_) => Some(5),
            Error::TooManyRequests { retry_after, .. } => {
                Some(retry_after.as_secs_f64().ceil().max(1.0) as u64)
            }
            _ => None,
        };
        let detail = self.public_detail();
        let challenge =
            status == StatusCode::UNAUTHORIZED && !matches!(self, Error::BadSignature(_));
        let (errors, problems) = match self {
            Error::Validation(errors) => (errors, Vec::new()),
            Error::Duplicate(error) => (vec![error], Vec::new()),
            Error::Refused { problems, .. } => (Vec::new(), problems),
            _ => (Vec::new(), Vec::new()),
        };
        let body = Problem {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("error").into(),
            status: status.as_u16(),
            detail,
            errors,
            problems,
        };
        let mut response = (status, axum::Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
