//! The embedded adapters: everything on one machine, no cloud account. SQLite holds records,
//! jobs, rate limits, accounts, sessions and API tokens; blobs are files; secrets come from env
//! or files.

pub mod accounts;
pub mod auth;
pub mod blobs;
pub mod db;
pub mod queue;
pub mod ratelimit;
pub mod repo;
pub mod secrets;
pub mod sessions;
