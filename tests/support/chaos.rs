//! Helpers of the reliability tests (`tests/fault_campaign.rs`, `tests/bad_input.rs`): an operator
//! process with extra flags and a known admin port that can be SIGKILLed and restarted and tells
//! whether it died by itself; the API server restart; kube reads that outlast an API server
//! restart; `/metrics` parsing; a seeded random source.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use kube::Api;

/// The operator under test, as a separate process.
pub struct Supervised {
    child: Option<Child>,
    namespace: String,
    identity: String,
    extra: Vec<String>,
    /// Port of `/metrics`, `/healthz`, `/readyz` on 127.0.0.1 (the same across restarts).
    pub admin_port: u16,
    /// Its log (appended to across restarts).
    pub log: PathBuf,
    /// SIGKILLs sent.
    pub kills: u32,
    /// Processes started.
    pub starts: u32,
}

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Supervised {
    /// Starts `trackvia-operator run` for `namespace` with the intervals of the other API-server
    /// tests (`support::operator::Operator`) plus `extra` flags.
    pub fn start(namespace: &str, identity: &str, extra: &[&str]) -> Self {
        let dir = super::repo_root().join("target/test-logs");
        std::fs::create_dir_all(&dir).expect("creating target/test-logs");
        let log = dir.join(format!("{identity}.log"));
        let _ = std::fs::remove_file(&log);
        let mut op = Self {
            child: None,
            namespace: namespace.to_owned(),
            identity: identity.to_owned(),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            admin_port: free_port(),
            log,
            kills: 0,
            starts: 0,
        };
        op.spawn();
        op
    }

    fn spawn(&mut self) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("opening operator log");
        let admin = format!("127.0.0.1:{}", self.admin_port);
        let mut args: Vec<&str> = vec![
            "run",
            "--namespace",
            &self.namespace,
            "--operator-namespace",
            &self.namespace,
            "--admin-addr",
            &admin,
            "--token-check-interval",
            "10m",
            "--user-poll-interval",
            "1s",
            "--account-check-interval",
            "10m",
            "--workspace-check-interval",
            "5s",
            "--revocation-probe-interval",
            "1s",
            // A restarted process keeps its identity (as a restarted pod keeps its name), so it
            // takes its own Lease back at once.
            "--identity",
            &self.identity,
        ];
        args.extend(self.extra.iter().map(String::as_str));
        let child = Command::new(env!("CARGO_BIN_EXE_trackvia-operator"))
            .args(&args)
            .env("RUST_LOG", "info,trackvia_operator=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("starting the operator");
        self.child = Some(child);
        self.starts += 1;
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            self.kills += 1;
        }
    }

    /// Starts a fresh process (after a kill, or after it died).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// `Some(status)` when the process ended by itself (not by [`Supervised::kill`]).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(status)
    }

    /// Everything it logged.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of its log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// `/metrics` now, if it answers.
    pub async fn metrics(&self) -> Option<String> {
        let url = format!("http://127.0.0.1:{}/metrics", self.admin_port);
        let r = reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        r.status().is_success().then_some(())?;
        r.text().await.ok()
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The sum of every sample of `name` whose labels contain all of `labels` (`key="value"`), in
/// Prometheus/OpenMetrics text. 0 when there is none.
pub fn metric_sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            (metric == name && labels.iter().all(|lab| rest.contains(lab)))
                .then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

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
