//! The imgcap web app: upload pipeline, storage, caption jobs, history and the REST API, built
//! as ports and adapters, one folder per layer:
//!
//! - `core`: the domain types, the ports (traits), the engine, the upload pipeline, the workers;
//! - `adapters`: the ports' implementations (`embedded` on one machine, `aws`), the caption
//!   providers, and what they share;
//! - `auth`: local accounts, sign-up and sign-in throttling, API tokens, signing keys, OIDC;
//! - `http`: the server, the REST API, the pages, sessions;
//!
//! wired together by `startup` from the typed `config`.

pub mod adapters;
pub mod allocator;
pub mod auth;
pub mod config;
pub mod core;
pub mod error;
pub mod http;
pub mod startup;
pub mod telemetry;

pub use config::Config;
pub use http::{app, AppState};
pub use startup::Application;
