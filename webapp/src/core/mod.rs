//! The domain, written against the ports only: nothing here knows which adapters run
//! underneath.

pub mod domain;
pub mod engine;
pub mod pipeline;
pub mod ports;
pub mod provenance;
pub mod readiness;
pub mod search;
pub mod worker;
