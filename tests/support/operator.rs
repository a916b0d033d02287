//! Runs the operator binary as a separate process (so tests can SIGKILL and restart it, and read
//! its `/metrics`) and the emulators in-process, with helpers to drive the emulator's control API
//! and wait on objects.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use trackvia_emulator::{Config, Emulator, RunningEmulator, Seed};

/// The operator, running against the test API server and watching one namespace.
pub struct Operator {
    child: Option<Child>,
    namespace: String,
    identity: String,
    extra: Vec<String>,
    env: Vec<(String, String)>,
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

impl Operator {
    /// Starts `trackvia-operator run` for `namespace`, with short intervals for tests.
    pub fn start(namespace: &str) -> Self {
        Self::start_as(namespace, &format!("{namespace}-operator"))
    }

    /// Starts a replica with its own identity in the leader Lease.
    pub fn start_as(namespace: &str, identity: &str) -> Self {
        Self::start_with(namespace, identity, &[], &[])
    }

    /// Starts the operator with extra environment (e.g. its own `KUBECONFIG`).
    pub fn start_with_env(namespace: &str, identity: &str, env: &[(&str, &str)]) -> Self {
        Self::start_with(namespace, identity, &[], env)
    }

    /// Starts the operator with `extra` flags after the test intervals, and extra environment.
    pub fn start_with(namespace: &str, identity: &str, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = super::repo_root().join("target/test-logs");
        std::fs::create_dir_all(&dir).expect("creating target/test-logs");
        let log = dir.join(format!("{identity}.log"));
        let _ = std::fs::remove_file(&log);
        let mut op = Self {
            child: None,
            namespace: namespace.to_owned(),
            identity: identity.to_owned(),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
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
            // Long enough that no periodic account check lands inside a test's
            // "a no-op reconcile calls no vendor" window, however slow the machine.
            "--account-check-interval",
            "10m",
            "--workspace-check-interval",
            "5s",
            "--revocation-probe-interval",
            "1s",
            // A restarted process keeps its identity, as a restarted pod keeps its name, so it
            // takes its own Lease back at once.
            "--identity",
            &self.identity,
        ];
        args.extend(self.extra.iter().map(String::as_str));
        let child = Command::new(env!("CARGO_BIN_EXE_trackvia-operator"))
            .args(&args)
            .env("RUST_LOG", "info,trackvia_operator=debug")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
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

    /// SIGTERM, as the kubelet sends when it stops a pod: the process may finish what it does.
    pub fn terminate(&mut self) {
        if let Some(c) = self.child.as_ref() {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        }
    }

    /// The status code of `/readyz` now, if the admin server answers.
    pub async fn readyz(&self) -> Option<u16> {
        let url = format!("http://127.0.0.1:{}/readyz", self.admin_port);
        Some(get(&url).await?.status().as_u16())
    }

    /// Starts a fresh process (after a kill, or after it died).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// `Some(status)` when the process ended by itself (not by [`Operator::kill`]).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(status)
    }

    /// How the process ended, once it does by itself within `limit` (panics otherwise).
    pub async fn exit_within(&mut self, limit: Duration) -> ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(s) = self.exited() {
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the operator did not exit within {limit:?}; log tail:\n{}",
                self.log_tail(20)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Everything the operator logged.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of its log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The URL of its `/metrics`.
    pub fn metrics_url(&self) -> String {
        format!("http://127.0.0.1:{}/metrics", self.admin_port)
    }

    /// `/metrics` now, if it answers.
    pub async fn metrics(&self) -> Option<String> {
        try_scrape(&self.metrics_url()).await
    }

    /// Scrapes `/metrics` until `pred` holds for the text (as Prometheus scrapes periodically:
    /// the per-object series are read from the operator's caches, which may lag a status write
    /// by a moment); returns that scrape.
    pub async fn scrape_until(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        let mut last = None;
        loop {
            if let Some(m) = self.metrics().await {
                if pred(&m) {
                    return m;
                }
                last = Some(m);
            }
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "timed out after 90s waiting for {what}; the last scrape:\n{}",
                last.as_deref().unwrap_or("(none)")
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Reconciles `controller` (a kind: `IntegrationAccount`, `CredentialRotation`, ...) has
    /// finished since this process started (`trackvia_operator_reconciles_total`); waits for
    /// `/metrics` to answer.
    pub async fn reconciles(&self, controller: &str) -> f64 {
        let label = format!("controller=\"{controller}\"");
        eventually(Duration::from_secs(30), "the operator's /metrics", || async {
            let m = self.metrics().await?;
            Some(metric_sum(&m, "trackvia_operator_reconciles_total", &[&label]))
        })
        .await
    }

    /// Waits until a reconcile of `controller` has finished after `since` (a value of
    /// [`Operator::reconciles`] read earlier, in this process); returns the new count.
    pub async fn reconciled_since(&self, controller: &str, since: f64) -> f64 {
        let label = format!("controller=\"{controller}\"");
        eventually(
            Duration::from_secs(90),
            &format!("a {controller} reconcile after the {since}th"),
            || async {
                let m = self.metrics().await?;
                let n = metric_sum(&m, "trackvia_operator_reconciles_total", &[&label]);
                (n > since).then_some(n)
            },
        )
        .await
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A GET of `url` (5 s at most), if it answers.
async fn get(url: &str) -> Option<reqwest::Response> {
    reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()
}

/// `metrics_url` now, if it answers with a success.
pub async fn try_scrape(metrics_url: &str) -> Option<String> {
    let r = get(metrics_url).await?;
    r.status().is_success().then_some(())?;
    r.text().await.ok()
}

/// One scrape of `metrics_url` (an operator's `/metrics`): its text; panics if it does not answer.
pub async fn scrape(metrics_url: &str) -> String {
    try_scrape(metrics_url)
        .await
        .unwrap_or_else(|| panic!("no answer from {metrics_url}"))
}

/// The samples of `name` whose labels contain all of `labels` (`key="value"`): each sample's
/// label text (inside the braces) and value.
pub fn samples(text: &str, name: &str, labels: &[&str]) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            (metric == name && labels.iter().all(|lab| rest.contains(lab)))
                .then(|| Some((rest.trim_end_matches('}').to_owned(), value.parse::<f64>().ok()?)))?
        })
        .collect()
}

/// The sum of every sample of `name` whose labels contain all of `labels` (`key="value"`), in
/// Prometheus/OpenMetrics text. 0 when there is none.
pub fn metric_sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    samples(text, name, labels).iter().map(|(_, v)| v).sum()
}

/// The emulators with a client for their control API.
pub struct Emulators {
    pub running: RunningEmulator,
    http: reqwest::Client,
}

impl Emulators {
    /// Starts both emulators from a YAML seed.
    pub async fn start(seed_yaml: &str) -> Self {
        Self::start_with(seed_yaml, Duration::ZERO).await
    }

    /// Starts both emulators with `latency` added to every vendor call.
    pub async fn start_with(seed_yaml: &str, latency: Duration) -> Self {
        Self::start_seed(Seed::from_yaml_str(seed_yaml).expect("valid seed"), latency).await
    }

    /// Starts both emulators from a seed built in code (large seeds: the YAML reader has a budget).
    pub async fn start_seed(seed: Seed, latency: Duration) -> Self {
        Self::start_configured(seed, latency, |_| {}).await
    }

    /// Starts both emulators with the test configuration changed by `change`.
    pub async fn start_configured(seed: Seed, latency: Duration, change: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config {
            recipe_poll_interval: Duration::ZERO,
            latency,
            ..Config::default()
        };
        change(&mut config);
        let running = Emulator::start(seed, config).await.expect("emulator starts");
        trackvia_operator::external::http::install_crypto_provider();
        Self {
            running,
            http: reqwest::Client::new(),
        }
    }

    /// TrackVia base URL.
    pub fn trackvia(&self) -> String {
        self.running.trackvia_url().to_string()
    }

    /// Workato base URL.
    pub fn workato(&self) -> String {
        self.running.workato_url().to_string()
    }

    /// POSTs to the control API and returns the JSON answer; panics on a non-2xx answer.
    pub async fn control(&self, path: &str, body: Value) -> Value {
        let url = format!(
            "{}/_emulator/{}",
            self.trackvia().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        let r = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .expect("control call");
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert!(status.is_success(), "POST {url} -> {status}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// GETs from the control API.
    pub async fn get(&self, path: &str) -> Value {
        let url = format!(
            "{}/_emulator/{}",
            self.trackvia().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        self.http
            .get(&url)
            .send()
            .await
            .expect("control call")
            .json()
            .await
            .expect("JSON")
    }

    /// DELETEs on the control API (`faults`, `faults/{id}`, `rate-limits`, ...); panics on a
    /// non-2xx answer.
    pub async fn delete(&self, path: &str) {
        let url = format!(
            "{}/_emulator/{}",
            self.trackvia().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        let r = self.http.delete(&url).send().await.expect("control call");
        assert!(r.status().is_success(), "DELETE {url} -> {}", r.status());
    }

    /// Forgets the vendor calls so far.
    pub async fn reset_calls(&self) {
        self.delete("calls").await;
    }

    /// Removes every pending fault.
    pub async fn delete_faults(&self) {
        self.delete("faults").await;
    }

    /// The vendor calls so far.
    pub async fn calls(&self) -> Vec<Value> {
        self.get("calls").await["calls"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The person's UI steps for a user: accept the invitation, Set As API User, assign a role.
    pub async fn make_api_user(&self, account: i64, email: &str, role: &str) {
        self.control(
            &format!("trackvia/accounts/{account}/users/{email}/verify"),
            json!({}),
        )
        .await;
        self.control(
            &format!("trackvia/accounts/{account}/users/{email}/api-user"),
            json!({"enabled": true}),
        )
        .await;
        self.control(
            &format!("trackvia/accounts/{account}/users/{email}/role"),
            json!({"role": role}),
        )
        .await;
    }

    /// API Access -> create a token for the user; returns its value.
    pub async fn create_token(&self, account: i64, email: &str, expires_at: &str) -> String {
        let r = self
            .control(
                &format!("trackvia/accounts/{account}/tokens"),
                json!({"user": email, "name": "integration", "expiresAt": expires_at}),
            )
            .await;
        r["token"].as_str().expect("token in answer").to_owned()
    }
}

/// Polls `f` every 200 ms until it returns `Some`, or panics after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
