//! The one integration-test binary: every suite is a module here.

mod helpers;

mod admin;
mod billing;
mod cli;
mod corpus;
mod deploy;
mod engines;
mod engines_recorded;
mod hardening;
mod manifests;
mod mcp;
mod mcp_client;
mod operations;
mod server;
mod store_story;
mod vault;
