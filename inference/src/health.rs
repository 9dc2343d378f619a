//! The server's health: loading, ready, or unhealthy for good after a device failure. Set by
//! the model's loader and its queue, read by `/ping` and `/health` without waiting on anything.

use std::sync::atomic::{AtomicBool, Ordering};

use imgcap_common::ServerStatus;

/// Readiness, set once the model is loaded and warmed up, cleared for good by a device failure.
#[derive(Default)]
pub struct Health {
    ready: AtomicBool,
    unhealthy: AtomicBool,
}

impl Health {
    pub fn status(&self) -> ServerStatus {
        if self.unhealthy.load(Ordering::Acquire) {
            ServerStatus::Unhealthy
        } else if self.ready.load(Ordering::Acquire) {
            ServerStatus::Ready
        } else {
            ServerStatus::Loading
        }
    }

    pub fn mark_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    pub fn mark_unhealthy(&self) {
        self.unhealthy.store(true, Ordering::Release);
    }
}
