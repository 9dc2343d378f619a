//! The embedded adapters: everything on one machine, no cloud account. SQLite holds records,
//! jobs, rate limits, accounts, sign-in failures, sessions and API tokens; blobs are files;
//! secrets come from env or files.

pub mod api_tokens;
pub mod blobs;
pub mod db;
pub mod private_files;
pub mod queue;
pub mod rate_limits;
pub mod repo;
pub mod secrets;
pub mod sessions;
