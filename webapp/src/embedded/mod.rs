//! The embedded adapters: everything on one machine, no cloud account. SQLite holds records,
//! jobs, rate limits, accounts, sign-in failures, sessions and API tokens; blobs are files;
//! secrets come from env or files.

pub mod accounts;
pub mod auth;
pub mod blobs;
pub mod db;
pub mod private_files;
pub mod queue;
pub mod ratelimit;
pub mod repo;
pub mod secrets;
pub mod sessions;
pub mod sign_in_throttle;
pub mod sign_up;
