//! HTTP plumbing shared by the HTTP edges (chat-tools, admin, the MCP
//! transports): extractors whose rejections are problem documents, the
//! authentication middleware, the problem responses of the OpenAPI
//! documents, the audit log, users' credentials (admin and self-service), and
//! the OAuth Protected Resource Metadata.

pub mod audit;
pub mod auth;
pub mod cors;
pub mod credentials;
pub mod extract;
pub mod openapi;
pub mod resource;
