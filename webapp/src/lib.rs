//! The imgcap web app: upload pipeline, storage, caption jobs, history and the REST API, built
//! as ports and adapters (`ports` are the traits, `embedded` the single-machine adapters).

pub mod allocator;
pub mod aws;
pub mod captioner;
pub mod config;
pub mod domain;
pub mod embedded;
pub mod error;
pub mod http;
pub mod oidc;
pub mod outbound;
pub mod pipeline;
pub mod ports;
pub mod readiness;
pub mod server;
pub mod service;
pub mod signing;
pub mod startup;
pub mod telemetry;
pub mod token_bucket;
pub mod tokens;
pub mod worker;

pub use config::Config;
pub use http::{app, AppState};
pub use startup::Application;
