//! Black-box tests of the web app: each spawns the real router, workers and adapters on port 0
//! with its own data directory (and AWS resources in the emulator), and talks HTTP to it; plus
//! the contract suite every adapter of a port passes (`contract`).

mod admin;
mod aws_mode;
mod aws_resources;
mod bad_input;
mod binary;
mod browser;
mod captioning;
mod cloudwatch;
mod cognito_pages;
mod contract;
mod docs;
mod editing;
mod export;
mod first_start;
mod hardening;
mod harness;
mod lifecycle;
mod metadata;
mod metrics;
mod moto;
mod oidc;
mod oidc_provider;
mod openapi;
// Shared with the inference server's tests, which read the batch span's links.
#[allow(dead_code)]
#[path = "../../../tests/support/otlp_collector.rs"]
mod otlp_collector;
mod pages;
mod provenance;
mod providers;
mod rate_limits;
mod search;
mod server_limits;
mod sign_in_throttle;
mod sign_up;
mod traces;
mod users;
