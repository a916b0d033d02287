//! The process's stop request (SIGTERM, Ctrl-C), listened for once from the start. Every phase
//! of a run ends on it: waiting for the API server, standing by for the Lease, and the
//! controllers (which finish their reconciles first). A signal is never spent on one listener
//! or lost because it arrived before a phase began: a standby told to stop used to keep waiting
//! for the Lease and lead, as a terminating pod, until the kubelet killed it.

use tokio::sync::watch;

/// Whether a stop was requested; cheap to clone, one per waiter.
#[derive(Clone, Debug)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Starts listening for SIGTERM and Ctrl-C (call it first thing in the runtime).
    pub fn listen() -> Self {
        let (requested, rx) = watch::channel(false);
        tokio::spawn(async move {
            signal().await;
            tracing::info!("stop requested");
            let _ = requested.send(true);
            // Keep the sender: receivers then never see the channel closed, only `true`.
            std::future::pending::<()>().await;
        });
        Self(rx)
    }

    /// Resolves once a stop is requested (at once if it already was).
    pub async fn requested(mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// Runs `work` unless a stop is requested first: `None` then.
    pub async fn unless_requested<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            out = work => Some(out),
            () = self.clone().requested() => None,
        }
    }
}

async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_reaches_every_waiter_even_one_that_came_late() {
        let (requested, rx) = watch::channel(false);
        let shutdown = Shutdown(rx);
        let early = tokio::spawn(shutdown.clone().requested());
        requested.send(true).unwrap();
        early.await.unwrap();
        // A waiter that starts after the request resolves at once.
        shutdown.clone().requested().await;
        assert_eq!(
            shutdown.unless_requested(std::future::pending::<()>()).await,
            None
        );
    }
}
