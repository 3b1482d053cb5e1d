//! HTTP plumbing shared by the HTTP edges (chat-tools, admin, the MCP
//! transports): extractors whose rejections are problem documents, the
//! authentication middleware, and the problem responses of the OpenAPI
//! documents.

pub mod auth;
pub mod extract;
pub mod openapi;
