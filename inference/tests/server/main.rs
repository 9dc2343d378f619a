//! Black-box tests of the `imgcap-inference` binary. Each server test starts the real binary on a
//! free port (`--port 0`, the address read from its "listening" log line) with the tiny BLIP
//! checkpoint, and talks HTTP to it; the checkpoint tools run as the binary's subcommands.

mod batching;
mod connections;
mod docs;
mod eval;
mod faults;
mod harness;
mod hub;
mod images;
mod invocations;
mod lifecycle;
mod limits;
// Shared with the web app's tests, which use the span kinds this crate's spans do not have.
#[allow(dead_code)]
#[path = "../../../tests/support/otlp_collector.rs"]
mod otlp_collector;
mod tools;
mod traces;
