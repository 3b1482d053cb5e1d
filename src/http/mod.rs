//! HTTP plumbing shared by the HTTP edges (chat-tools, admin, the MCP
//! transports): extractors whose rejections are problem documents, and the
//! authentication middleware.

pub mod auth;
pub mod extract;
