//! The `emulator` binary: flags, ready file, the URLs line on stdout, loopback-only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed.yaml")
}

#[tokio::test]
async fn binary_prints_urls_writes_the_ready_file_and_serves() {
    let dir = std::env::temp_dir().join(format!("emulator-ready-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ready = dir.join("ready.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_emulator"))
        .arg("--seed")
        .arg(fixture())
        .arg("--ready-file")
        .arg(&ready)
        .args([
            "--recipe-poll-interval-ms",
            "0",
            "--trackvia-input-keys",
            "user_key,access_token",
            "--trackvia-invalid-key-answer",
            "gateway",
            "--trackvia-hide-inactive-users",
            "--trackvia-max-page-size",
            "7",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let urls: serde_json::Value = serde_json::from_str(&line).unwrap();
    let from_file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ready).unwrap()).unwrap();
    assert_eq!(urls, from_file);
    // Built in one workspace with the operator, reqwest has rustls without a crypto provider of
    // its own (plain http is all these tests use, but building a client needs one).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    for service in ["trackvia", "workato"] {
        let url = format!("{}/_emulator/health", urls[service].as_str().unwrap());
        assert_eq!(http.get(url).send().await.unwrap().status(), 200);
    }
    // The TrackVia behaviour flags are the behaviour in force.
    let url = format!(
        "{}/_emulator/trackvia/behaviour",
        urls["trackvia"].as_str().unwrap()
    );
    let behaviour: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        behaviour,
        serde_json::json!({"invalidKey": "gateway", "inactiveStatus": null, "maxPageSize": 7})
    );
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn binary_refuses_non_loopback_addresses_and_bad_seeds() {
    let status = Command::new(env!("CARGO_BIN_EXE_emulator"))
        .arg("--seed")
        .arg(fixture())
        .args(["--workato-addr", "0.0.0.0:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
    let status = Command::new(env!("CARGO_BIN_EXE_emulator"))
        .args(["--seed", "/nonexistent/seed.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
    let status = Command::new(env!("CARGO_BIN_EXE_emulator"))
        .arg("--seed")
        .arg(fixture())
        .args(["--trackvia-input-keys", "only_one"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
    for bad in [
        ["--trackvia-max-page-size", "0"],
        ["--trackvia-invalid-key-answer", "nginx"],
    ] {
        let status = Command::new(env!("CARGO_BIN_EXE_emulator"))
            .arg("--seed")
            .arg(fixture())
            .args(bad)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(!status.success(), "{bad:?} accepted");
    }
}
