//! VieAgent Gateway: publishes marketplace agents (Flowise and Activepieces
//! flows) as MCP tools, with a credential Vault, billing and a Shadow Journal.
//!
//! `run(config, listener, shutdown)` starts the whole server on a listener the
//! caller bound (tests use port 0); `cli` is the `vieagent` binary.

pub mod accounts;
pub mod admin;
pub mod agents;
pub mod auth;
pub mod billing;
pub mod calls;
pub mod catalog;
pub mod chat;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod engines;
pub mod error;
pub mod http;
pub mod lifecycle;
pub mod limits;
pub mod manifests;
pub mod marketplace;
pub mod mcp;
pub mod metrics;
pub mod notify;
pub mod oidc;
pub mod portal;
pub mod scrub;
pub mod server;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod toolbox;
pub mod vault;
pub mod web;

pub use config::Config;
pub use error::{Error, Result};
pub use server::run;
pub use state::AppState;

pub use crypto::install_tls_provider as install_crypto_provider;
