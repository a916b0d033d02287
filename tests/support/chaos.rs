//! Helpers of the reliability tests (`tests/fault_campaign/`, `tests/apiserver_restart.rs`): the
//! API server restart; kube reads that outlast an API server restart; a seeded random source.
//! (The operator process they SIGKILL and restart is `support::operator::Operator`.)

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kube::Api;

/// Runs `scripts/control-plane.sh restart-apiserver` for the cluster of this test run
/// (`TVO_CLUSTER_DIR`, or the script's default, which `make cluster-up` uses). Returns how long
/// the API server was away, or the script's output when it failed.
pub fn restart_apiserver() -> Result<Duration, String> {
    let start = Instant::now();
    let out = Command::new(super::repo_root().join("scripts/control-plane.sh"))
        .arg("restart-apiserver")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running scripts/control-plane.sh: {e}"))?;
    if out.status.success() {
        Ok(start.elapsed())
    } else {
        Err(format!(
            "restart-apiserver failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Reads `name` through `api`, retrying any error for up to `timeout` (the API server may be
/// restarting). `None` when the object does not exist.
pub async fn get_retry<K>(api: &Api<K>, name: &str, timeout: Duration) -> Option<K>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let start = Instant::now();
    loop {
        match api.get_opt(name).await {
            Ok(v) => return v,
            Err(e) => {
                assert!(
                    start.elapsed() < timeout,
                    "reading {name} failed for {timeout:?}: {e}"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

/// Lists through `api`, retrying any error for up to `timeout`.
pub async fn list_retry<K>(api: &Api<K>, timeout: Duration) -> Vec<K>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let start = Instant::now();
    loop {
        match api.list(&Default::default()).await {
            Ok(l) => return l.items,
            Err(e) => {
                assert!(start.elapsed() < timeout, "listing failed for {timeout:?}: {e}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

/// A seed from `FAULT_SEED`, else from the clock; printed by the caller so a run can be repeated.
pub fn seed_from_env() -> u64 {
    std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}
