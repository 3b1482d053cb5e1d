//! The error responses of the HTTP APIs, for their OpenAPI documents: every
//! error is an RFC 9457 problem document ([`crate::error::Problem`]), so an
//! endpoint lists only the statuses it can answer, grouped by cause:
//! `#[utoipa::path(..., responses((status = 200, body = T), Invalid, AdminAuth))]`.
//! Each API's document registers the `Problem` schema these refer to.

use std::collections::BTreeMap;

use utoipa::IntoResponses;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder, response::Response};

/// `status` → a problem document.
fn problems(statuses: &[u16]) -> BTreeMap<String, RefOr<Response>> {
    statuses
        .iter()
        .map(|status| {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build();
            let response = ResponseBuilder::new()
                .content("application/problem+json", content)
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

macro_rules! problem_groups {
    ($($(#[$doc:meta])* $name:ident = [$($status:literal),+];)+) => {$(
        $(#[$doc])*
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                problems(&[$($status),+])
            }
        }
    )+};
}

problem_groups! {
    /// 400 malformed, 422 breaks a named rule (a parameter, the body).
    Invalid = [400, 422];
    /// 400 malformed (a parameter).
    BadRequest = [400];
    /// 401: no valid API key.
    Unauthorized = [401];
    /// 401 no valid key, 403 not an admin's: every admin endpoint.
    AdminAuth = [401, 403];
    /// 404: the resource does not exist (or is not the caller's).
    NotFound = [404];
    /// 409: taken, referenced, or refused in its current state.
    Conflict = [409];
    /// 413 too large, 415 not JSON: endpoints that take a JSON body.
    BadBody = [413, 415];
    /// 429: a rate or concurrency limit, with `Retry-After`.
    TooManyRequests = [429];
    /// 503: temporarily unable (journal unavailable, shutting down), with `Retry-After`.
    Unavailable = [503];
}
