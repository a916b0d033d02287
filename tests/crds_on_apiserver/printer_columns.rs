//! `kubectl get` shows the printer columns, and the category lists every kind.

use std::process::Command;

use super::{create, example, kinds};

#[tokio::test]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn kubectl_get_shows_the_printer_columns() {
    let (client, ns) = crate::support::cluster("columns").await;
    for (ar, file) in kinds() {
        create(&client, &ns, &ar, &example(file))
            .await
            .expect("example accepted");
    }
    let expected: [(&str, &[&str]); 5] = [
        (
            "trackviaaccounts",
            &["NAME", "ENVIRONMENT", "URL", "READY", "REASON", "AGE"],
        ),
        (
            "workatoworkspaces",
            &["NAME", "ENVIRONMENT", "URL", "READY", "REASON", "AGE"],
        ),
        (
            "integrationaccounts",
            &[
                "NAME",
                "SYSTEM",
                "USER",
                "READY",
                "REASON",
                "TOKEN EXPIRES",
                "NEXT ACTION",
                "AGE",
            ],
        ),
        (
            "workatoconnections",
            &[
                "NAME",
                "ACCOUNT",
                "CONNECTION",
                "AUTHORIZATION",
                "RECIPES",
                "READY",
                "REASON",
                "AGE",
            ],
        ),
        (
            "credentialrotations",
            &[
                "NAME", "ACCOUNT", "STRATEGY", "PHASE", "READY", "REASON", "STARTED", "AGE",
            ],
        ),
    ];
    for (plural, columns) in expected {
        let out = Command::new(crate::support::kubectl())
            .args(["get", plural, "-n", &ns])
            .output()
            .expect("running kubectl");
        assert!(
            out.status.success(),
            "kubectl get {plural}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let header: Vec<&str> = stdout
            .lines()
            .next()
            .unwrap_or_default()
            .split("  ")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        assert_eq!(header, columns, "kubectl get {plural} header");
        assert_eq!(
            stdout.lines().count(),
            2,
            "one object listed for {plural}:\n{stdout}"
        );
    }
    // The category lists every kind at once.
    let out = Command::new(crate::support::kubectl())
        .args(["get", "trackvia", "-n", &ns, "-o", "name"])
        .output()
        .expect("kubectl");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        5,
        "kubectl get trackvia lists the five objects"
    );
}
