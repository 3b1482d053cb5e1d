//! The one integration-test binary: every suite is a module here.

mod helpers;

mod cli;
mod engines;
mod engines_recorded;
mod mcp;
mod mcp_client;
mod server;
mod store_story;
mod vault;
