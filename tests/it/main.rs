//! The one integration-test binary: every suite is a module here.

mod helpers;

mod cli;
mod server;
mod store_story;
mod vault;
