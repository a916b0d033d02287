//! The secret ledger (`TVO_SECRET_LEDGER`): the seed's credentials, minted tokens and presented
//! credentials are appended to the file, each once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::json;

#[tokio::test]
async fn the_ledger_records_seeded_minted_and_presented_credentials_once() {
    let dir = std::env::temp_dir().join(format!("emulator-ledger-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // The file's directory does not exist yet: the emulator creates it.
    let ledger = dir.join("nested/ledger.txt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_emulator"))
        .arg("--seed")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed.yaml"))
        .args(["--recipe-poll-interval-ms", "0"])
        .env("TVO_SECRET_LEDGER", &ledger)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let urls: serde_json::Value = serde_json::from_str(&line).unwrap();
    let (tv, wk) = (
        urls["trackvia"].as_str().unwrap(),
        urls["workato"].as_str().unwrap(),
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    let minted: serde_json::Value = http
        .post(format!("{tv}/_emulator/trackvia/accounts/21508/tokens"))
        .json(&json!({"user": 2, "name": "ledger", "expiresAt": "2030-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let minted = minted["token"].as_str().unwrap().to_owned();
    // Presented credentials, known or not, in the query and as Bearer tokens, twice each.
    for _ in 0..2 {
        http.get(format!("{tv}/openapi/views"))
            .query(&[
                ("user_key", "sbx-api-key"),
                ("access_token", "made-up-query-token"),
            ])
            .bearer_auth("made-up-bearer-token")
            .send()
            .await
            .unwrap();
        http.put(format!("{wk}/api/connections/100"))
            .bearer_auth("wk-dev-token")
            .json(&json!({"input": {"access_token": "placed-input-token"}}))
            .send()
            .await
            .unwrap();
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let text = std::fs::read_to_string(&ledger).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for expected in [
        "sbx-api-key",
        "sbx-admin-token",
        "sbx-deactivated-token",
        "prod-admin-token",
        "slow-api-key",
        "wk-dev-token",
        "wk-prod-token",
        "sbx-sf-token",
        minted.as_str(),
        "made-up-query-token",
        "made-up-bearer-token",
        "placed-input-token",
    ] {
        assert_eq!(
            lines.iter().filter(|l| **l == expected).count(),
            1,
            "{expected} once in the ledger:\n{text}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
