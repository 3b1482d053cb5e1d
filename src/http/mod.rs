//! HTTP plumbing shared by the HTTP edges (chat-tools, admin, the MCP
//! transports): extractors whose rejections are problem documents, the
//! authentication middleware, the problem responses of the OpenAPI
//! documents, the audit log, and users' credentials (admin and self-service).

pub mod audit;
pub mod auth;
pub mod credentials;
pub mod extract;
pub mod openapi;
