//! Running it like production: leader election between replicas, and the operational helpers
//! (`rotate`, `status`, also `kubectl trackvia ...`). Run through `make test`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use std::process::Command;
use std::time::Duration;

use kube::Api;
use serde_json::json;
use support::operator::{Emulators, Operator, eventually, free_port, metric_sum};
use support::sandbox;
use support::world::{WAIT, wait_ready};
use trackvia_operator::api::{CredentialRotation, IntegrationAccount, TrackViaAccount};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn two_replicas_never_reconcile_at_once_and_the_standby_takes_over() {
    let (client, ns) = support::cluster("leader").await;
    let emu = Emulators::start(sandbox::SEED).await;
    sandbox::admin_secret(&client, &ns).await;
    let mut a = Operator::start_as(&ns, &format!("{ns}-a"));
    let holder = || sandbox::lease_holder(&client, &ns);
    eventually(Duration::from_secs(30), "replica a leads", || async {
        (holder().await? == format!("{ns}-a")).then_some(())
    })
    .await;
    let mut b = Operator::start_as(&ns, &format!("{ns}-b"));
    sandbox::account(&client, &ns, &emu, "first").await;
    eventually(Duration::from_secs(30), "first Ready", || {
        sandbox::account_ready(&client, &ns, "first")
    })
    .await;
    // Evidence that the standby has decided not to lead (its only decision) before asserting it
    // reconciled nothing, while the leader reconciled `first`.
    eventually(
        Duration::from_secs(30),
        "replica b waits for leadership",
        || async { b.log_text().contains("waiting for leadership").then_some(()) },
    )
    .await;
    assert!(
        std::fs::read_to_string(&b.log)
            .unwrap()
            .contains("waiting for leadership")
    );
    assert!(
        !std::fs::read_to_string(&b.log)
            .unwrap()
            .contains("reconciling object"),
        "the standby reconciled"
    );

    // The leader dies: the standby takes over once the Lease expires, and reconciles.
    a.kill();
    sandbox::account(&client, &ns, &emu, "second").await;
    eventually(Duration::from_secs(40), "replica b leads", || async {
        (holder().await? == format!("{ns}-b")).then_some(())
    })
    .await;
    eventually(
        Duration::from_secs(30),
        "second Ready under the new leader",
        || sandbox::account_ready(&client, &ns, "second"),
    )
    .await;
    b.kill();
}

/// A rolling update starts the new pod and stops the old one only once the new one is Ready. So a
/// standby is Ready while it waits for the Lease (it can serve: it is up and can take over), and a
/// leader that is told to stop (SIGTERM) gives the Lease up as it goes, so the standby leads at
/// once instead of after the Lease expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_standby_is_ready_and_a_stopped_leader_hands_the_lease_over() {
    let (client, ns) = support::cluster("handover").await;
    let emu = Emulators::start(sandbox::SEED).await;
    sandbox::admin_secret(&client, &ns).await;
    let holder = || sandbox::lease_holder(&client, &ns);
    let (mut a, mut b) = sandbox::leader_and_standby(&client, &ns).await;
    eventually(Duration::from_secs(30), "the leader is Ready", || async {
        (a.readyz().await? == 200).then_some(())
    })
    .await;
    eventually(Duration::from_secs(30), "the standby is Ready", || async {
        (b.readyz().await? == 200).then_some(())
    })
    .await;
    let gauge = |m: String| {
        m.lines()
            .find(|l| l.starts_with("trackvia_operator_leader "))
            .map(str::to_owned)
    };
    assert_eq!(
        gauge(a.metrics().await.unwrap()).as_deref(),
        Some("trackvia_operator_leader 1")
    );
    assert_eq!(
        gauge(b.metrics().await.unwrap()).as_deref(),
        Some("trackvia_operator_leader 0")
    );

    // The leader is told to stop: it exits cleanly and the Lease is no longer its own when it is
    // gone (released, or already taken by b), long before it would have expired.
    let stopped = std::time::Instant::now();
    a.terminate();
    let status = a.exit_within(Duration::from_secs(30)).await;
    assert!(
        status.success(),
        "a SIGTERM ends the operator cleanly: {status:?}"
    );
    assert_ne!(
        holder().await,
        Some(format!("{ns}-a")),
        "the stopped leader still holds the Lease"
    );
    assert!(a.log_text().contains("released the leader Lease"));
    eventually(Duration::from_secs(30), "replica b leads", || async {
        (holder().await? == format!("{ns}-b")).then_some(())
    })
    .await;
    // A figure, not a bound: the standby's next attempt comes within its 5 s renew period.
    eprintln!(
        "handover: SIGTERM to the standby leading in {:.1} s",
        stopped.elapsed().as_secs_f64()
    );
    sandbox::account(&client, &ns, &emu, "after").await;
    eventually(
        Duration::from_secs(30),
        "an account Ready under the new leader",
        || sandbox::account_ready(&client, &ns, "after"),
    )
    .await;
    let leads = eventually(Duration::from_secs(30), "b's leader gauge", || async {
        gauge(b.metrics().await?)
    })
    .await;
    assert_eq!(leads, "trackvia_operator_leader 1");
    b.kill();
}

/// A standby watches the Lease: when the leader lets it go, the standby takes it at once, not at
/// its next attempt. Here attempts are 20 s apart, and the leader stops just after the standby's
/// first one: before the watch, the handover waited for the next attempt, about 20 s later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_released_lease_is_taken_at_once_not_at_the_next_attempt() {
    let (client, ns) = support::cluster("release-watch").await;
    let slow = [
        "--lease-duration",
        "60s",
        "--lease-renew-interval",
        "20s",
        "--lease-renew-deadline",
        "40s",
    ];
    let holder = || sandbox::lease_holder(&client, &ns);
    let (mut a, mut b) = sandbox::leader_and_standby_with(&client, &ns, &slow).await;
    a.terminate();
    let status = a.exit_within(Duration::from_secs(15)).await;
    assert!(
        status.success(),
        "a SIGTERM ends the operator cleanly: {status:?}"
    );
    let released = std::time::Instant::now();
    eventually(
        Duration::from_secs(8),
        "replica b leads well before its next attempt",
        || async { (holder().await? == format!("{ns}-b")).then_some(()) },
    )
    .await;
    eprintln!(
        "handover: release to the standby leading in {:.1} s",
        released.elapsed().as_secs_f64()
    );
    b.kill();
}

/// A standby told to stop (a rolling update scaling the old ReplicaSet down, a drain) exits at
/// once. It used to go on waiting for the Lease and take it when the leader let go: a terminating
/// pod then led, its stop request already spent, until the kubelet killed it at the end of its
/// grace period, and the Lease expired after that (failovers of 27 and 40 s in `make e2e`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_standby_told_to_stop_exits_and_never_leads() {
    let (client, ns) = support::cluster("standby-stop").await;
    let (mut a, mut b) = sandbox::leader_and_standby(&client, &ns).await;
    let stopped = std::time::Instant::now();
    b.terminate();
    let status = b.exit_within(Duration::from_secs(10)).await;
    assert!(status.success(), "a SIGTERM ends a standby cleanly: {status:?}");
    eprintln!(
        "standby: SIGTERM to exit in {:.1} s",
        stopped.elapsed().as_secs_f64()
    );
    assert_eq!(sandbox::lease_holder(&client, &ns).await, Some(format!("{ns}-a")));
    assert!(!b.log_text().contains("leadership acquired"));
    a.kill();
}

fn cli(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_trackvia-operator"))
        .args(args)
        .output()
        .expect("running the binary");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn the_helpers_show_an_account_and_request_rotations() {
    let (client, ns) = support::cluster("cli").await;
    let emu = Emulators::start(sandbox::SEED).await;
    sandbox::admin_secret(&client, &ns).await;
    support::create_secret(&client, &ns, "sf-token", &[("token", "sf-token-0000000001")]).await;
    sandbox::account(&client, &ns, &emu, "acme").await;
    support::create::<IntegrationAccount>(&client, &ns, json!({
        "apiVersion": support::API, "kind": "IntegrationAccount", "metadata": {"name": "sf"},
        "spec": {"accountRef": {"name": "acme"}, "system": "Salesforce", "email": "salesforce.integration@acme.example",
                 "tokenSecretRef": {"name": "sf-token", "key": "token"}, "credentialsSecret": {"name": "sf-credentials"}}
    })).await;
    let _op = Operator::start(&ns);
    let ias: Api<IntegrationAccount> = Api::namespaced(client.clone(), &ns);
    wait_ready::<IntegrationAccount>(&client, &ns, "sf").await;

    let status = cli(&["status", "sf", "-n", &ns]);
    assert!(
        status.contains("IntegrationAccount")
            && status.contains("Salesforce Integration <salesforce.integration@acme.example>"),
        "{status}"
    );
    assert!(
        status.contains("TokenValid") && status.contains("TrackViaAccount acme (sandbox"),
        "{status}"
    );
    assert!(
        !status.contains("sf-token-0000000001"),
        "the status view shows no token"
    );
    // The last events of what is shown (issue 15), and several accounts at once.
    let events = eventually(
        WAIT,
        "the published credentials' event in the status view",
        || async {
            let s = cli(&["status", "sf", "-n", &ns]);
            s.contains("CredentialsPublished").then_some(s)
        },
    )
    .await;
    let recent = events
        .split("Recent events:")
        .nth(1)
        .expect("a recent events section");
    assert!(
        recent.lines().filter(|l| !l.trim().is_empty()).count() <= 5,
        "{recent}"
    );
    assert!(recent.contains("integrationaccount/sf"), "{recent}");
    let two = cli(&["status", "sf", "sf", "-n", &ns]);
    assert_eq!(two.matches("IntegrationAccount ").count(), 2, "{two}");

    let out = cli(&["rotate", "sf", "-n", &ns, "--dry-run", "--reason", "checking"]);
    assert!(out.contains("credentialrotation/sf-manual-"), "{out}");
    let rots: Api<CredentialRotation> = Api::namespaced(client.clone(), &ns);
    let list = rots.list(&Default::default()).await.unwrap().items;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].spec.dry_run, Some(true));
    let out = cli(&["rotate", "sf", "-n", &ns, "--declarative"]);
    assert!(out.contains("spec.rotation.requestedAt"), "{out}");
    assert!(
        ias.get("sf")
            .await
            .unwrap()
            .spec
            .rotation
            .unwrap()
            .requested_at
            .is_some()
    );
    // As a kubectl plugin, the same binary under the name kubectl-trackvia.
    let dir = support::repo_root().join("target/test-plugin");
    std::fs::create_dir_all(&dir).unwrap();
    let plugin = dir.join("kubectl-trackvia");
    let _ = std::fs::remove_file(&plugin);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_trackvia-operator"), &plugin).unwrap();
    let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new(support::kubectl())
        .args(["trackvia", "status", "sf", "-n", &ns])
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl trackvia: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("IntegrationAccount"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn probes_and_metrics_are_served_and_ready_follows_the_caches() {
    let (client, ns) = support::cluster("probes").await;
    let port = free_port();
    let mut op = Command::new(env!("CARGO_BIN_EXE_trackvia-operator"))
        .args([
            "run",
            "--namespace",
            &ns,
            "--operator-namespace",
            &ns,
            "--admin-addr",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    trackvia_operator::external::http::install_crypto_provider();
    let http = reqwest::Client::new();
    let get = |path: &'static str| {
        let http = http.clone();
        async move {
            http.get(format!("http://127.0.0.1:{port}{path}"))
                .send()
                .await
                .ok()
        }
    };
    eventually(Duration::from_secs(30), "/healthz", || async {
        get("/healthz")
            .await
            .filter(|r| r.status().is_success())
            .map(|_| ())
    })
    .await;
    eventually(
        Duration::from_secs(30),
        "/readyz 200 once the caches synced",
        || async {
            get("/readyz")
                .await
                .filter(|r| r.status().is_success())
                .map(|_| ())
        },
    )
    .await;
    // One reconcile (an account whose Secret is missing) shows up in the metrics.
    support::create::<TrackViaAccount>(&client, &ns, json!({
        "apiVersion": support::API, "kind": "TrackViaAccount", "metadata": {"name": "nosecret"},
        "spec": {"baseUrl": "https://go.trackvia.com", "environment": "sandbox",
                 "adminCredentials": {"apiKey": {"name": "absent", "key": "apiKey"}, "authToken": {"name": "absent", "key": "authToken"}}}
    })).await;
    let metrics = eventually(Duration::from_secs(30), "a reconcile in /metrics", || async {
        let text = get("/metrics").await?.text().await.ok()?;
        // The counter exists at 0 from the start: wait for it to count.
        (metric_sum(
            &text,
            "trackvia_operator_reconciles_total",
            &["controller=\"TrackViaAccount\""],
        ) > 0.0)
            .then_some(text)
    })
    .await;
    // A checked account shows its TrackVia request, latency and budget wait.
    let emu = Emulators::start(sandbox::SEED).await;
    sandbox::admin_secret(&client, &ns).await;
    sandbox::account(&client, &ns, &emu, "checked").await;
    let metrics_after = eventually(
        Duration::from_secs(30),
        "the TrackVia request in /metrics",
        || async {
            let text = get("/metrics").await?.text().await.ok()?;
            text.contains(
                "external_requests_total{system=\"trackvia\",operation=\"list users\",status=\"200\"}",
            )
            .then_some(text)
        },
    )
    .await;
    assert!(
        metrics_after.contains(
            "external_request_duration_seconds_count{system=\"trackvia\",operation=\"list users\"}"
        )
    );
    assert!(metrics_after.contains("rate_limiter_wait_seconds_count{budget=\"trackvia\"}"));
    let _ = op.kill();
    let _ = op.wait();
    assert!(
        metrics.contains("condition_transitions_total{controller=\"TrackViaAccount\",condition=\"Ready\",status=\"False\",reason=\"SecretMissing\"}"),
        "{metrics}"
    );
    assert!(
        metrics.trim_end().ends_with("# EOF"),
        "OpenMetrics text ends with # EOF"
    );
}

/// A candidate counts a Lease's expiry from when it saw the Lease last change, on its own clock,
/// never from the `renewTime` the holder wrote: the holder runs on another node, whose clock may be
/// behind. A holder renewing every second with a clock a minute slow keeps its Lease; once it
/// stops renewing, the candidate takes the Lease a Lease duration later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_live_holder_with_a_slow_clock_keeps_its_lease() {
    use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    use trackvia_operator::controller::leader::{self, LeaseConfig};

    let (client, ns) = support::cluster("lease-skew").await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let slow_now = || MicroTime(jiff::Timestamp::now() - jiff::SignedDuration::from_secs(60));
    let lease = Lease {
        metadata: kube::api::ObjectMeta {
            name: Some("skew".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("slow-clock".into()),
            lease_duration_seconds: Some(5),
            renew_time: Some(slow_now()),
            ..Default::default()
        }),
    };
    leases.create(&Default::default(), &lease).await.unwrap();
    let renewing = {
        let leases = leases.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let mut l = leases.get("skew").await.unwrap();
                l.spec.as_mut().unwrap().renew_time = Some(slow_now());
                let _ = leases.replace("skew", &Default::default(), &l).await;
            }
        })
    };
    let cfg = LeaseConfig {
        name: "skew".into(),
        namespace: ns.clone(),
        identity: "candidate".into(),
        duration: Duration::from_secs(5),
        renew: Duration::from_millis(500),
        renew_deadline: Duration::from_secs(3),
    };
    let standing_by = std::sync::atomic::AtomicBool::new(false);
    let early = tokio::time::timeout(
        Duration::from_secs(8),
        leader::acquire(&client, &cfg, &standing_by),
    )
    .await;
    assert!(
        early.is_err(),
        "took the Lease from a holder that renews every second"
    );
    renewing.abort();
    let stopped = std::time::Instant::now();
    tokio::time::timeout(
        Duration::from_secs(15),
        leader::acquire(&client, &cfg, &standing_by),
    )
    .await
    .expect("the Lease of a holder that stopped renewing is taken over")
    .unwrap();
    eprintln!(
        "holder stopped renewing; Lease taken {:.1} s later (duration 5 s)",
        stopped.elapsed().as_secs_f64()
    );
    let holder = leases.get("skew").await.unwrap().spec.unwrap().holder_identity;
    assert_eq!(holder.as_deref(), Some("candidate"));
}

/// A leader cut off from the API server (a partition: its requests hang, nothing fails) stops
/// leading within its renew deadline, before its Lease could be taken over, and does not exit:
/// once the link heals it takes its own Lease back and reconciles again. Cut off again and told
/// to stop while it stands by, it exits cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_leader_cut_off_from_the_api_server_steps_down_and_leads_again_when_it_heals() {
    let (client, ns) = support::cluster("partition").await;
    let emu = Emulators::start(sandbox::SEED).await;
    sandbox::admin_secret(&client, &ns).await;
    let link = support::partition::Partition::start().await;
    let kubeconfig = link.kubeconfig();
    let identity = format!("{ns}-a");
    let mut a = Operator::start_with(
        &ns,
        &identity,
        &[
            "--lease-duration=6s",
            "--lease-renew-interval=1s",
            "--lease-renew-deadline=4s",
        ],
        &[("KUBECONFIG", kubeconfig.to_str().unwrap())],
    );
    eventually(WAIT, "replica a leads", || async {
        (sandbox::lease_holder(&client, &ns).await? == identity).then_some(())
    })
    .await;
    sandbox::account(&client, &ns, &emu, "before").await;
    eventually(WAIT, "before Ready", || {
        sandbox::account_ready(&client, &ns, "before")
    })
    .await;

    link.cut(true);
    let cut = std::time::Instant::now();
    eventually(Duration::from_secs(20), "replica a stops leading", || async {
        a.log_text().contains("stopped leading").then_some(())
    })
    .await;
    let stepped_down = cut.elapsed();
    eprintln!(
        "link cut; leading stopped {:.1} s later (renew deadline 4 s, Lease 6 s)",
        stepped_down.as_secs_f64()
    );
    assert!(
        stepped_down < Duration::from_secs(6),
        "still leading {stepped_down:?} after the cut, when the Lease (6 s) could be taken over"
    );
    assert!(
        a.exited().is_none(),
        "stepping down ended the process:\n{}",
        a.log_tail(20)
    );

    link.cut(false);
    sandbox::account(&client, &ns, &emu, "after").await;
    eventually(WAIT, "after Ready under the same process", || {
        sandbox::account_ready(&client, &ns, "after")
    })
    .await;
    assert_eq!(a.log_text().matches("leadership acquired").count(), 2);
    assert!(a.exited().is_none());

    // Cut off again, it stands by again; told to stop then, with the API server still out of
    // reach, it exits cleanly and at once (nothing of a standby waits for the API server).
    link.cut(true);
    eventually(
        Duration::from_secs(20),
        "replica a stops leading again",
        || async { (a.log_text().matches("stopped leading").count() == 2).then_some(()) },
    )
    .await;
    let stop = std::time::Instant::now();
    a.terminate();
    let status = a.exit_within(Duration::from_secs(15)).await;
    assert!(
        status.success(),
        "a SIGTERM ends a replica standing by again cleanly: {status:?}\n{}",
        a.log_tail(20)
    );
    eprintln!(
        "standing by again: SIGTERM to exit in {:.1} s",
        stop.elapsed().as_secs_f64()
    );
    assert_eq!(a.log_text().matches("leadership acquired").count(), 2);
}
