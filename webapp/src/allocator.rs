//! mimalloc's options for a process whose largest allocations are decoded images.
//!
//! mimalloc keeps freed pages committed for `purge_delay` (1 s by default) so that a following
//! allocation can reuse them cheaply. An image decode frees hundreds of MB at once, and the next
//! decode of that size usually does not fit the span just freed: for that second the process
//! holds both. Under a burst of large uploads this raised the peak resident set to 1.3–1.4× the
//! image memory budget (`cargo run --release -p imgcap-webapp --example memory_budget`); handing
//! freed pages back at once keeps it close to the budget, at the cost of more `madvise` calls.

/// `mi_option_purge_delay` in mimalloc.h (v3, the version libmimalloc-sys builds by default),
/// which libmimalloc-sys does not name; the test below checks it against that option's default.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The variable with which an operator sets the delay instead (mimalloc reads it at start-up).
const PURGE_DELAY_VAR: &str = "MIMALLOC_PURGE_DELAY";

/// Returns freed memory to the OS without delay, unless `MIMALLOC_PURGE_DELAY` says otherwise.
/// Call it first thing in `main`: it applies to memory freed from then on.
pub fn return_freed_memory_promptly() {
    if std::env::var_os(PURGE_DELAY_VAR).is_some() {
        return;
    }
    // SAFETY: `mi_option_set` only stores an integer in mimalloc's option table; every option
    // may be changed at any time, from any thread.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_is_the_purge_delay() {
        if std::env::var_os(PURGE_DELAY_VAR).is_some() {
            return;
        }
        // SAFETY: reads an integer from mimalloc's option table.
        let delay = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        // 1000 ms is mimalloc v3's default for purge_delay and no other option's.
        assert_eq!(delay, 1000, "option {PURGE_DELAY} is not the purge delay");
    }
}
