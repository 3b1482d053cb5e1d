//! The one integration-test binary: every suite is a module here.

mod helpers;

mod a11y;
mod activepieces_recorded;
mod admin;
mod architecture;
mod billing;
mod browser;
mod browser_buyer;
mod buyer_links;
mod cli;
mod corpus;
mod deploy;
mod engines;
mod engines_recorded;
mod field_order;
mod fuzz;
mod hardening;
mod manifests;
mod marketplace;
mod mcp;
mod mcp_apps;
mod mcp_client;
mod oauth;
mod openapi;
mod operations;
mod purge;
mod server;
mod sessions;
mod soak;
mod store_story;
mod tasks;
mod vault;
mod web;
mod web_signin;
