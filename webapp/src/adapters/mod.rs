//! The ports' implementations: `embedded` (SQLite, files: one machine, no cloud account) and
//! `aws` (S3, DynamoDB, SQS, Secrets Manager, Rekognition), the caption `providers`, and what
//! several of them share.

pub mod aws;
pub mod embedded;
pub mod outbound;
pub mod providers;
pub mod token_bucket;
