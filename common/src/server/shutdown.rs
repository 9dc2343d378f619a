//! The signal a server stops on.

/// Completes on the first SIGINT (ctrl-c) or SIGTERM (what container runtimes send). A signal
/// that cannot be listened for is logged and never completes, so the other one still stops the
/// server.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn sigterm_completes_it() {
        // Listening first keeps tokio's handler installed, so no SIGTERM ends the test process.
        let _installed =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
        let mut waiting = tokio::spawn(shutdown_signal());
        // Raised until seen: one raised before the wait has started listening is not.
        let seen = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                // SAFETY: raising a signal this process handles.
                assert_eq!(unsafe { libc::raise(libc::SIGTERM) }, 0);
                if tokio::time::timeout(Duration::from_millis(50), &mut waiting)
                    .await
                    .is_ok()
                {
                    break;
                }
            }
        });
        seen.await.expect("SIGTERM ends the wait");
    }
}
