//! Black-box tests of the web app: each spawns the real router, workers and embedded adapters
//! on port 0 with its own data directory, and talks HTTP to it.

mod admin;
mod bad_input;
mod binary;
mod browser;
mod captioning;
mod docs;
mod editing;
mod harness;
mod lifecycle;
mod metadata;
mod moto;
mod oidc;
mod oidc_provider;
mod openapi;
mod pages;
mod providers;
mod users;
