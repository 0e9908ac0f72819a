//! The daemon's local API: REST + WebSocket on 127.0.0.1, for the `tern` commands themselves,
//! UIs and bots.
//!
//! - [`model`]: the JSON shapes, one stable schema shared by the API and `--json` output;
//! - [`service`]: what each operation does on a [`tern_node::Node`], used by the server and by
//!   commands that open the account themselves when no daemon runs;
//! - [`server`]: the axum router, bearer-token auth, the OpenAPI document generated from the
//!   same route table, and the event WebSocket;
//! - [`client`]: the HTTP + WebSocket client the commands use to talk to a daemon.

pub(crate) mod auth;
pub(crate) mod client;
pub(crate) mod model;
pub(crate) mod server;
pub(crate) mod service;

pub(crate) use client::{CallError, Client};
pub(crate) use model::ApiError;
