//! What every scenario needs: the release operator binary as a process (its metrics, RSS and CPU
//! time), object manifests, and waiting for objects to be Ready.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use serde_json::{Value, json};
use trackvia_operator::api::{
    CredentialRotation, IntegrationAccount, TrackViaAccount, WorkatoConnection, WorkatoWorkspace,
};

pub const GROUP: &str = "integrations.trackvia-operator.dev/v1alpha1";

/// The operator binary built by `cargo bench` (release profile), watching one namespace.
pub struct OperatorProcess {
    child: Child,
    pub admin: String,
    pub log: PathBuf,
}

impl OperatorProcess {
    /// Starts `trackvia-operator run` on `ns` with the default intervals, overridden by `extra`.
    pub fn start(ns: &str, extra: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let admin = format!("127.0.0.1:{port}");
        let dir = super::support::repo_root().join("target/bench-logs");
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join(format!("{ns}.log"));
        let out = std::fs::File::create(&log).unwrap();
        // BENCH_OPERATOR_WRAPPER runs the operator under a tool (e.g. `heaptrack`; the RSS and
        // CPU figures are then the tool's).
        let mut command = match std::env::var("BENCH_OPERATOR_WRAPPER") {
            Ok(w) if !w.is_empty() => {
                let mut c = Command::new(w);
                c.arg(env!("CARGO_BIN_EXE_trackvia-operator"));
                c
            }
            _ => Command::new(env!("CARGO_BIN_EXE_trackvia-operator")),
        };
        let child = command
            .args([
                "run",
                "--namespace",
                ns,
                "--operator-namespace",
                ns,
                "--admin-addr",
                &admin,
            ])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Self { child, admin, log }
    }

    /// Waits for `/readyz`.
    pub async fn wait_ready(&self) {
        let url = format!("http://{}/readyz", self.admin);
        let start = Instant::now();
        loop {
            if let Ok(r) = reqwest::get(&url).await
                && r.status().is_success()
            {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "operator not ready; log: {}",
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every sample of `/metrics`: series (name and labels) -> value.
    pub async fn metrics(&self) -> Samples {
        let text = reqwest::get(format!("http://{}/metrics", self.admin))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        Samples(
            text.lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .filter_map(|l| l.rsplit_once(' '))
                .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
                .collect(),
        )
    }

    /// (current, peak) resident set size in MiB.
    pub fn rss_mib(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or_default()
                / 1024.0
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// User + system CPU time so far, in seconds.
    pub fn cpu_secs(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
        let rest = stat.rsplit_once(')').unwrap().1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
        ticks / 100.0
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Samples of one `/metrics` scrape.
#[derive(Default, Clone)]
pub struct Samples(pub BTreeMap<String, f64>);

impl Samples {
    /// Sum of the samples of `metric` whose labels include every `k="v"` of `labels`.
    pub fn sum(&self, metric: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|(k, _)| k.split('{').next() == Some(metric))
            .filter(|(k, _)| labels.iter().all(|(l, v)| k.contains(&format!("{l}=\"{v}\""))))
            .map(|(_, v)| v)
            .sum::<f64>()
            .max(0.0) // an empty sum is -0.0, printed "-0"
    }

    /// `self - before` for one sum.
    pub fn delta(&self, before: &Samples, metric: &str, labels: &[(&str, &str)]) -> f64 {
        self.sum(metric, labels) - before.sum(metric, labels)
    }
}

/// A Secret as JSON.
pub fn secret(name: &str, data: &[(&str, &str)]) -> Value {
    let data: serde_json::Map<String, Value> =
        data.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data})
}

/// A TrackViaAccount and its admin Secret.
pub fn account(name: &str, base_url: &str, api_key: &str, admin_token: &str) -> Vec<Value> {
    let secret_name = format!("{name}-admin");
    vec![
        secret(&secret_name, &[("apiKey", api_key), ("authToken", admin_token)]),
        json!({"apiVersion": GROUP, "kind": "TrackViaAccount", "metadata": {"name": name},
               "spec": {"baseUrl": base_url, "environment": "sandbox",
                        "adminCredentials": {"apiKey": {"name": secret_name, "key": "apiKey"},
                                             "authToken": {"name": secret_name, "key": "authToken"}}}}),
    ]
}

/// A WorkatoWorkspace and its API token Secret.
pub fn workspace(name: &str, base_url: &str, token: &str) -> Vec<Value> {
    let secret_name = format!("{name}-api");
    vec![
        secret(&secret_name, &[("token", token)]),
        json!({"apiVersion": GROUP, "kind": "WorkatoWorkspace", "metadata": {"name": name},
               "spec": {"baseUrl": base_url, "environment": "sandbox",
                        "apiToken": {"name": secret_name, "key": "token"}}}),
    ]
}

/// An IntegrationAccount and its token Secret.
pub fn integration(name: &str, account: &str, system: &str, email: &str, token: &str) -> Vec<Value> {
    let token_secret = format!("{name}-token");
    vec![
        secret(&token_secret, &[("token", token)]),
        json!({"apiVersion": GROUP, "kind": "IntegrationAccount", "metadata": {"name": name},
               "spec": {"accountRef": {"name": account}, "system": system, "email": email,
                        "access": {"apps": ["CRM"], "views": [{"name": "Accounts", "app": "CRM"}]},
                        "tokenSecretRef": {"name": token_secret, "key": "token"},
                        "credentialsSecret": {"name": format!("{name}-credentials")},
                        "rotation": {"newTokenTimeout": "1h", "revocationGracePeriod": "1h"}}}),
    ]
}

/// The objects of a population named `prefix` (the names its emulator seed uses): `accounts`
/// TrackViaAccounts, `workspaces` WorkatoWorkspaces, `integrations` IntegrationAccounts (user `i`
/// in account `i % accounts`), each followed by its `per_integration` WorkatoConnections
/// (connection `k` in workspace `k % workspaces`, adopting Workato connection `first_connection + k`).
pub struct Population<'a> {
    pub prefix: &'a str,
    pub accounts: usize,
    pub workspaces: usize,
    pub integrations: usize,
    pub per_integration: usize,
    pub first_connection: i64,
}

impl Population<'_> {
    /// Every object, accounts and workspaces first.
    pub fn objects(&self, trackvia_url: &str, workato_url: &str) -> Vec<Value> {
        let p = self.prefix;
        let mut out = Vec::new();
        for a in 0..self.accounts {
            out.extend(account(
                &format!("acct-{a}"),
                trackvia_url,
                &format!("{p}-key-{a:04}"),
                &format!("{p}-admin-{a:04}-token"),
            ));
        }
        for w in 0..self.workspaces {
            out.extend(workspace(
                &format!("ws-{w}"),
                workato_url,
                &format!("{p}-wk-{w:04}-token"),
            ));
        }
        for i in 0..self.integrations {
            out.extend(integration(
                &format!("ia-{i}"),
                &format!("acct-{}", i % self.accounts),
                &format!("Sys{i}"),
                &format!("sys{i}.integration@{p}.example"),
                &format!("{p}-token-{i:06}"),
            ));
            for k in i * self.per_integration..(i + 1) * self.per_integration {
                out.push(connection(
                    &format!("wc-{k}"),
                    &format!("ws-{}", k % self.workspaces),
                    &format!("ia-{i}"),
                    self.first_connection + k as i64,
                ));
            }
        }
        out
    }
}

/// A WorkatoConnection adopting connection `id`.
pub fn connection(name: &str, workspace: &str, integration: &str, id: i64) -> Value {
    json!({"apiVersion": GROUP, "kind": "WorkatoConnection", "metadata": {"name": name},
           "spec": {"workspaceRef": {"name": workspace}, "integrationAccountRef": {"name": integration},
                    "connection": {"id": id}}})
}

/// Creates the objects through the API, `concurrency` at a time.
pub async fn create_all(client: &Client, ns: &str, objects: &[Value], concurrency: usize) {
    futures::stream::iter(objects.iter().cloned())
        .map(|o| create(client.clone(), ns.to_owned(), o))
        .buffer_unordered(concurrency)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
}

async fn create(client: Client, ns: String, obj: Value) -> Result<(), kube::Error> {
    let pp = PostParams::default();
    macro_rules! post {
        ($t:ty) => {
            Api::<$t>::namespaced(client, &ns)
                .create(&pp, &serde_json::from_value(obj).unwrap())
                .await
                .map(|_| ())
        };
    }
    match obj["kind"].as_str().unwrap() {
        "Secret" => post!(Secret),
        "TrackViaAccount" => post!(TrackViaAccount),
        "WorkatoWorkspace" => post!(WorkatoWorkspace),
        "IntegrationAccount" => post!(IntegrationAccount),
        "WorkatoConnection" => post!(WorkatoConnection),
        "CredentialRotation" => post!(CredentialRotation),
        other => panic!("unexpected kind {other}"),
    }
}

/// Writes the objects as one `List` for `kubectl apply -f`.
pub fn write_list(name: &str, objects: &[Value]) -> PathBuf {
    let dir = super::support::repo_root().join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    std::fs::write(&path, serde_json::to_vec(&list).unwrap()).unwrap();
    path
}

/// Runs `kubectl apply -f file -n ns`; returns how long it took.
pub fn kubectl_apply(ns: &str, file: &std::path::Path) -> Duration {
    let start = Instant::now();
    let out = Command::new(super::support::kubectl())
        .args(["apply", "-n", ns, "-f"])
        .arg(file)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed()
}

/// Whether the object's conditions say `Ready=True`.
pub fn is_ready(conditions: Option<&Vec<trackvia_operator::api::Condition>>) -> bool {
    conditions.is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Number of IntegrationAccounts and WorkatoConnections that are Ready.
pub async fn ready_counts(client: &Client, ns: &str) -> (usize, usize) {
    let ias =
        count_ready::<IntegrationAccount>(client, ns, |i| i.status.as_ref().map(|s| &s.common.conditions));
    let wcs =
        count_ready::<WorkatoConnection>(client, ns, |w| w.status.as_ref().map(|s| &s.common.conditions));
    (ias.await, wcs.await)
}

async fn count_ready<K>(
    client: &Client,
    ns: &str,
    conditions: impl Fn(&K) -> Option<&Vec<trackvia_operator::api::Condition>>,
) -> usize
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    Api::<K>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map(|l| l.items.iter().filter(|o| is_ready(conditions(o))).count())
        .unwrap_or_default()
}

/// Waits until `ias` IntegrationAccounts and `wcs` WorkatoConnections are Ready; panics after
/// `timeout`. Watches the operator's count of transitions to Ready (a scrape of /metrics), and
/// confirms with one list at the end: listing thousands of objects every second would load the
/// API server more than the operator does. A scrape is not free either (about a dozen series per
/// object): it is taken every 250 ms, and every 2 s beyond 2000 objects, so that the bench does not
/// load the operator more than a Prometheus would.
pub async fn wait_all_ready(
    client: &Client,
    op: &OperatorProcess,
    ns: &str,
    ias: usize,
    wcs: usize,
    timeout: Duration,
) {
    let start = Instant::now();
    let ready = |m: &Samples, c: &str| {
        m.sum(
            "trackvia_operator_condition_transitions_total",
            &[("controller", c), ("condition", "Ready"), ("status", "True")],
        ) as usize
    };
    loop {
        let m = op.metrics().await;
        if ready(&m, "IntegrationAccount") >= ias && ready(&m, "WorkatoConnection") >= wcs {
            let (i, w) = ready_counts(client, ns).await;
            if i >= ias && w >= wcs {
                return;
            }
        }
        assert!(
            start.elapsed() < timeout,
            "after {:?}: {}/{ias} IntegrationAccounts and {}/{wcs} WorkatoConnections turned Ready in {ns}",
            start.elapsed(),
            ready(&m, "IntegrationAccount"),
            ready(&m, "WorkatoConnection"),
        );
        tokio::time::sleep(if ias + wcs > 2000 {
            Duration::from_secs(2)
        } else {
            Duration::from_millis(250)
        })
        .await;
    }
}

/// Seconds with one decimal.
pub fn secs(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}
